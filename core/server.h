// Server: the whole spiced-gpu process. It binds the ports, builds the desktop source, and
// runs a fixed set of shards (core/shard.h), each on its own thread with its own reactor and
// its own listener on every port (SO_REUSEPORT: the kernel spreads connections over them).
// Shard 0 runs on the thread that calls run() and takes SIGINT/SIGTERM; the desktop renders
// on its own thread and talks to the shards through queues only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "core/desktop_source.h"
#include "core/server_config.h"
#include "core/session_directory.h"
#include "io/reactor.h"
#include "io/tcp.h"
#include "io/tls.h"

namespace spiced {

class Shard;

class Server {
public:
    // Without --shards: one shard per CPU we may run on, at most this many.
    static constexpr size_t kDefaultMaxShards = 8;

    // Creates shard 0's event loop (call run() on this same thread), checks the certificates,
    // binds every port and renders the first frame; no thread runs yet. Errors are one
    // sentence for the operator.
    static Expected<std::unique_ptr<Server>, std::string> create(ServerConfig config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The plain port, or 0 when there is none (only --tls-port).
    uint16_t port() const { return listeners_.empty() ? 0 : listeners_.front().port(); }
    // The TLS port, or 0 when there is none.
    uint16_t tls_port() const { return tls_listeners_.empty() ? 0 : tls_listeners_.front().port(); }
    size_t shard_count() const { return shard_count_; }
    const ServerConfig& config() const { return config_; }

    // Starts the shards and the desktop, calls `on_listening` (with shard 0's backend name)
    // once every shard accepts, and serves until SIGINT or SIGTERM; then says goodbye to
    // every client and stops. Fails when a shard cannot start its event loop.
    Expected<void, std::string> run(
        const std::function<void(std::string_view backend)>& on_listening);

    // -- Used by shards ----------------------------------------------------------------------
    DesktopSource& desktop() { return *desktop_; }
    SessionDirectory& sessions() { return directory_; }
    const std::shared_ptr<const TlsContext>& tls() const { return tls_; }
    // Runs `task` on every shard's own thread (including the caller's, later).
    void post_to_shards(const std::function<void(Shard&)>& task);

private:
    struct ShardThread;
    Server(ServerConfig config, size_t shards, std::vector<TcpListener> listeners,
           std::vector<TcpListener> tls_listeners, std::shared_ptr<const TlsContext> tls,
           std::unique_ptr<DesktopSource> desktop, std::unique_ptr<Reactor> main_loop);
    // The CPUs shard `index` runs on: one of --cpus each, or no pinning without --cpus.
    std::vector<int> shard_cpus(size_t index) const;
    void shard_main(ShardThread& slot);

    ServerConfig config_;
    size_t shard_count_;
    std::vector<TcpListener> listeners_;      // one per shard: plain SPICE (and HTTP/WebSocket)
    std::vector<TcpListener> tls_listeners_;  // the same, under TLS
    std::shared_ptr<const TlsContext> tls_;
    SessionDirectory directory_;
    std::unique_ptr<DesktopSource> desktop_;
    std::unique_ptr<Reactor> main_loop_;  // shard 0's, created and run on the main thread
    std::vector<std::unique_ptr<ShardThread>> shards_;
};

}  // namespace spiced
