#include "core/server.h"

#include <algorithm>
#include <exception>
#include <future>
#include <latch>
#include <thread>

#include "base/log.h"
#include "core/channels.h"
#include "core/shard.h"
#include "io/cpu_placement.h"

namespace spiced {

// One shard's thread and what others may reach of it once every shard is up.
struct Server::ShardThread {
    size_t index = 0;
    std::thread thread;
    // Written by the shard's thread before `ready`; read by others only after `go`.
    Reactor* reactor = nullptr;
    Shard* shard = nullptr;
    std::promise<Expected<void, std::string>> ready;
    // Shared by all shards of one run().
    std::latch* go = nullptr;
    std::latch* runs_done = nullptr;
    std::latch* shards_gone = nullptr;
    const bool* abort = nullptr;
};

Expected<std::unique_ptr<Server>, std::string> Server::create(ServerConfig config) {
    // Shard 0's loop first, on this thread (which must be the one calling run()): it blocks
    // SIGINT/SIGTERM here, before any port is open or thread started, so a signal during
    // start-up is handled rather than killing us, and every later thread inherits the mask.
    auto main_loop = Reactor::create(config.io);
    if (!main_loop) return unexpected("cannot start the event loop: " + main_loop.error());
    std::shared_ptr<const TlsContext> tls;
    if (config.tls_port) {
        // Certificate problems are start-up errors, before any port is open.
        auto context = TlsContext::load_x509_dir(config.x509_dir);
        if (!context) return unexpected("TLS: " + context.error());
        tls = std::move(*context);
    }
    size_t shards = config.shards;
    if (shards == 0) {
        // All the CPUs we may run on, one shard each, up to a count where more rings only add
        // memory (each has its own receive buffers) rather than throughput for a display
        // server.
        shards = std::clamp<size_t>(online_cpus().size(), 1, kDefaultMaxShards);
    }
    std::vector<TcpListener> plain;
    if (config.plain_port_enabled) {
        auto group = TcpListener::listen_group(config.address, config.port, shards);
        if (!group) return unexpected("port " + std::to_string(config.port) + ": " + group.error());
        plain = std::move(*group);
    }
    std::vector<TcpListener> secure;
    if (config.tls_port) {
        auto group = TcpListener::listen_group(config.address, *config.tls_port, shards);
        if (!group)
            return unexpected("TLS port " + std::to_string(*config.tls_port) + ": " +
                              group.error());
        secure = std::move(*group);
    }
    auto desktop = DesktopSource::create(config, shards);
    if (!desktop) return unexpected(desktop.error());
    return std::unique_ptr<Server>(new Server(std::move(config), shards, std::move(plain),
                                              std::move(secure), std::move(tls),
                                              std::move(*desktop), std::move(*main_loop)));
}

Server::Server(ServerConfig config, size_t shards, std::vector<TcpListener> listeners,
               std::vector<TcpListener> tls_listeners, std::shared_ptr<const TlsContext> tls,
               std::unique_ptr<DesktopSource> desktop, std::unique_ptr<Reactor> main_loop)
    : config_(std::move(config)),
      shard_count_(shards),
      listeners_(std::move(listeners)),
      tls_listeners_(std::move(tls_listeners)),
      tls_(std::move(tls)),
      desktop_(std::move(desktop)),
      main_loop_(std::move(main_loop)) {}

Server::~Server() {
    desktop_->stop();
}

std::vector<int> Server::shard_cpus(size_t index) const {
    if (config_.cpus.empty()) return {};
    return {config_.cpus[index % config_.cpus.size()]};
}

void Server::post_to_shards(const std::function<void(Shard&)>& task) {
    for (auto& slot : shards_) {
        Shard* shard = slot->shard;
        slot->reactor->post([task, shard] { task(*shard); });
    }
}

void Server::shard_main(ShardThread& slot) {
    std::unique_ptr<Reactor> reactor;
    std::unique_ptr<Shard> shard;
    try {
        ReactorOptions options = config_.io;
        options.termination_signals = false;  // shard 0 takes them and stops the others
        auto created = Reactor::create(options);
        if (!created) {
            slot.ready.set_value(unexpected("shard " + std::to_string(slot.index) +
                                            ": cannot start the event loop: " + created.error()));
        } else {
            reactor = std::move(*created);
            shard = std::make_unique<Shard>(
                slot.index, *this, *reactor, listeners_.empty() ? nullptr : &listeners_[slot.index],
                tls_listeners_.empty() ? nullptr : &tls_listeners_[slot.index]);
            if (auto cpus = shard_cpus(slot.index); !cpus.empty()) {
                if (auto pinned = pin_current_thread(cpus); !pinned)
                    LOG_WARN("server", "shard %zu: %s", slot.index, pinned.error().c_str());
            }
            slot.reactor = reactor.get();
            slot.shard = shard.get();
            slot.ready.set_value({});
        }
    } catch (const std::exception& error) {
        slot.ready.set_value(
            unexpected("shard " + std::to_string(slot.index) + ": " + error.what()));
    }
    slot.go->wait();
    if (shard && !*slot.abort) reactor->run();
    slot.runs_done->arrive_and_wait();
    shard.reset();  // may still post to other shards' reactors: all are alive until below
    slot.shards_gone->arrive_and_wait();
}

Expected<void, std::string> Server::run(
    const std::function<void(std::string_view backend)>& on_listening) {
    const auto everyone = static_cast<std::ptrdiff_t>(shard_count_);
    std::latch go{1};
    std::latch runs_done{everyone};
    std::latch shards_gone{everyone};
    bool abort = false;
    for (size_t i = 0; i < shard_count_; ++i) {
        auto slot = std::make_unique<ShardThread>();
        slot->index = i;
        slot->go = &go;
        slot->runs_done = &runs_done;
        slot->shards_gone = &shards_gone;
        slot->abort = &abort;
        shards_.push_back(std::move(slot));
    }
    ShardThread& first = *shards_.front();
    for (size_t i = 1; i < shard_count_; ++i) {
        ShardThread& slot = *shards_[i];
        slot.thread = std::thread([this, &slot] { shard_main(slot); });
    }
    std::string failure;
    for (size_t i = 1; i < shard_count_; ++i) {
        auto started = shards_[i]->ready.get_future().get();
        if (!started && failure.empty()) failure = started.error();
    }
    auto shard0 = std::make_unique<Shard>(0, *this, *main_loop_,
                                          listeners_.empty() ? nullptr : &listeners_[0],
                                          tls_listeners_.empty() ? nullptr : &tls_listeners_[0]);
    first.reactor = main_loop_.get();
    first.shard = shard0.get();
    abort = !failure.empty();
    go.count_down();
    if (!abort) {
        desktop_->start(config_.cpus);
        if (auto cpus = shard_cpus(0); !cpus.empty()) {
            if (auto pinned = pin_current_thread(cpus); !pinned)
                LOG_WARN("server", "shard 0: %s", pinned.error().c_str());
        }
        on_listening(main_loop_->backend_name());
        main_loop_->run();
        desktop_->stop();
        // Every shard says goodbye to its clients on its own thread, then stops.
        for (size_t i = 1; i < shard_count_; ++i) {
            ShardThread& slot = *shards_[i];
            slot.reactor->post([&slot] {
                slot.shard->shutdown();
                slot.reactor->stop();
            });
        }
        shard0->shutdown();
    }
    runs_done.arrive_and_wait();
    shard0.reset();
    shards_gone.arrive_and_wait();
    for (auto& slot : shards_) {
        if (slot->thread.joinable()) slot->thread.join();
    }
    shards_.clear();
    if (abort) return unexpected(failure);
    return {};
}

}  // namespace spiced
