// Server: the SPICE server core, embeddable in a host that owns the process. It binds the
// configured ports (or takes listening sockets the host hands it), builds the desktop around
// one DisplaySource, and runs a fixed set of shards (core/shard.h), each on its own thread
// with its own reactor and its own listener on every port (SO_REUSEPORT: the kernel spreads
// connections over them). The desktop renders on its own thread and talks to the shards
// through queues only.
//
// It changes nothing process-wide: no signal dispositions, no signal mask of the host's
// threads (its own threads block every signal, so signals reach the host), nothing global
// but the route of log lines to stderr (through a writer thread while a server lives). A
// process may create, start and stop servers one after another. The host decides how the
// process ends (spiced-gpu's main() waits for SIGINT/SIGTERM and calls stop()).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "base/log.h"
#include "core/server_config.h"
#include "core/session_directory.h"
#include "display/desktop.h"
#include "encode/glz_budget.h"
#include "io/reactor.h"
#include "io/tcp.h"
#include "io/tls.h"
#include "io/unique_fd.h"

namespace spiced {

class Shard;

class Server {
public:
    // Without --shards: one shard per CPU we may run on, at most this many.
    static constexpr size_t kDefaultMaxShards = 8;

    // Checks the certificates, binds the configured ports and builds the desktop around
    // `source` (which renders its first frame now; `taps` watch display 0's frames); no
    // thread runs until start(). Errors are one sentence for the operator.
    static Expected<std::unique_ptr<Server>, std::string> create(
        ServerConfig config, std::unique_ptr<DisplaySource> source,
        std::vector<std::unique_ptr<FrameTap>> taps = {});
    // stop()s first.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Before start(): a listening stream socket the host made (a port it opened, an inherited
    // or socket-activated one); every shard accepts on it. `tls`: connections speak TLS.
    Expected<void, std::string> add_listener(UniqueFd listening, bool tls);
    // Starts the shards and the desktop and returns once every shard accepts. Once per server;
    // fails when a shard cannot start its event loop (nothing is left running then).
    Expected<void, std::string> start();
    // Says goodbye to every client, stops and joins every thread. Idempotent. Not from a
    // server thread.
    void stop();
    // After start(), any thread but not during stop(): serves a connected stream socket the
    // host accepted itself (spice_server_add_client). Fails for a socket that is not a
    // connected stream.
    Expected<void, std::string> add_client(UniqueFd connected, bool tls);

    // Any thread, after start(): new links must offer this password (QEMU's set_password).
    // With `disconnect_connected`, the clients connected now are disconnected.
    void set_ticket(const TicketPolicy& ticket, bool disconnect_connected);
    // Sessions connected now (any thread).
    size_t session_count() const;

    // The plain port, or 0 when there is none (only --tls-port or host-handed sockets).
    uint16_t port() const { return listeners_.empty() ? 0 : listeners_.front().port(); }
    // The TLS port, or 0 when there is none.
    uint16_t tls_port() const { return tls_listeners_.empty() ? 0 : tls_listeners_.front().port(); }
    size_t shard_count() const { return shard_count_; }
    const ServerConfig& config() const { return config_; }
    // "io_uring" or "epoll" (shard 0's; after start()).
    std::string_view backend_name() const;
    // The device --gpu chose (the CPU backend when none), for sources that read GPU buffers.
    const std::shared_ptr<gpu::GpuBackend>& gpu_backend() const { return desktop_->gpu_backend(); }

    // -- Used by shards ----------------------------------------------------------------------
    Desktop& desktop() { return *desktop_; }
    SessionDirectory& sessions() { return directory_; }
    const std::shared_ptr<const TlsContext>& tls() const { return tls_; }
    // --glz-memory-limit, shared by every display client of every shard.
    const std::shared_ptr<GlzMemoryBudget>& glz_budget() const { return glz_budget_; }
    // Runs `task` on every shard's own thread (including the caller's, later).
    void post_to_shards(const std::function<void(Shard&)>& task);
    // Runs `task` on shard `index`'s thread.
    void post_to_shard(size_t index, std::function<void(Shard&)> task);

private:
    struct ShardThread;
    struct Run;
    Server(ServerConfig config, size_t shards, std::vector<TcpListener> listeners,
           std::vector<TcpListener> tls_listeners, std::shared_ptr<const TlsContext> tls,
           std::unique_ptr<Desktop> desktop);
    // The CPUs shard `index` runs on: one of --cpus each, or no pinning without --cpus.
    std::vector<int> shard_cpus(size_t index) const;
    void shard_main(ShardThread& slot);

    // First, so it outlives every thread that logs: while a server exists its lines (and the
    // rest of the process's) are written by the log thread, never by an io thread.
    BackgroundLogging background_logging_;
    ServerConfig config_;
    size_t shard_count_;
    std::vector<TcpListener> listeners_;       // one per shard: plain SPICE (and HTTP/WebSocket)
    std::vector<TcpListener> tls_listeners_;   // the same, under TLS
    std::vector<TcpListener> host_listeners_;  // handed over: every shard accepts on each
    std::vector<TcpListener> host_tls_listeners_;  // the same, under TLS
    std::shared_ptr<const TlsContext> tls_;
    std::shared_ptr<GlzMemoryBudget> glz_budget_;
    SessionDirectory directory_;
    // Shards hold references into the desktop: it is destroyed after them (declared first).
    std::unique_ptr<Desktop> desktop_;
    std::unique_ptr<Run> run_;
    std::vector<std::unique_ptr<ShardThread>> shards_;
    std::atomic<size_t> next_client_shard_{0};
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace spiced
