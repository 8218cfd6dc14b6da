#include "core/server.h"

#include <algorithm>
#include <exception>
#include <future>
#include <latch>
#include <thread>

#include "base/log.h"
#include "base/service_thread.h"
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
};

// What the shard threads of one start() meet at.
struct Server::Run {
    explicit Run(size_t shards)
        : runs_done(static_cast<std::ptrdiff_t>(shards)),
          shards_gone(static_cast<std::ptrdiff_t>(shards)) {}
    std::latch go{1};
    std::latch runs_done;    // every loop has returned: no shard runs another's posts now
    std::latch shards_gone;  // every shard is destroyed: reactors may go
    // stop() has returned from its last post(): a shard that ran its stop task at once must
    // not destroy its reactor while stop() is still waking it.
    std::latch stop_posted{1};
    bool abort = false;  // written before `go`
};

Expected<std::unique_ptr<Server>, std::string> Server::create(
    ServerConfig config, std::unique_ptr<DisplaySource> source,
    std::vector<std::unique_ptr<FrameTap>> taps) {
    // A host that cleared it would otherwise crash the first MAIN_INIT or stream picture on
    // a server thread.
    if (!config.media_clock) return unexpected(std::string("no media clock"));
    std::shared_ptr<const TlsContext> tls = config.tls_context;
    if (config.tls_port && !tls) {
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
    DesktopOptions options;
    options.client_mouse_mode = config.client_mouse_mode;
    options.streaming = config.video.streaming != StreamingVideo::kOff;
    options.stream_policy = config.video.effective_detector();
    options.video_backends = backends_for(config.video.codecs, default_video_backends());
    options.max_stream_fps = config.video.max_fps;
    options.media_clock = config.media_clock;
    auto gpu = gpu::choose_gpu_backend(config.gpu);
    if (!gpu) return unexpected(gpu.error());
    LOG_INFO("gpu", "compositor: %s", gpu->note.c_str());
    options.gpu = std::move(gpu->backend);
    options.damage_tile = config.gpu_tile_size;
    if (!config.record_scene.empty()) {
        auto recorder = gpu::SceneRecorder::create(config.record_scene);
        if (!recorder) return unexpected("--record-scene " + recorder.error());
        LOG_INFO("display", "recording every composition step to %s (--record-scene)",
                 config.record_scene.c_str());
        options.scene_recorder = std::move(*recorder);
    }
    auto desktop = Desktop::create(std::move(source), options, shards, std::move(taps));
    if (!desktop) return unexpected(desktop.error());
    return std::unique_ptr<Server>(new Server(std::move(config), shards, std::move(plain),
                                              std::move(secure), std::move(tls),
                                              std::move(*desktop)));
}

Server::Server(ServerConfig config, size_t shards, std::vector<TcpListener> listeners,
               std::vector<TcpListener> tls_listeners, std::shared_ptr<const TlsContext> tls,
               std::unique_ptr<Desktop> desktop)
    : config_(std::move(config)),
      shard_count_(shards),
      listeners_(std::move(listeners)),
      tls_listeners_(std::move(tls_listeners)),
      tls_(std::move(tls)),
      glz_budget_(std::make_shared<GlzMemoryBudget>(config_.glz_memory_limit_bytes)),
      directory_(config_.multi_client, config_.bind_channels_to_host),
      desktop_(std::move(desktop)) {}

Server::~Server() {
    stop();
}

Expected<void, std::string> Server::add_listener(UniqueFd listening, bool tls) {
    if (started_) return unexpected(std::string("listeners are added before start()"));
    if (tls && !tls_)
        return unexpected(std::string("a TLS listener needs the TLS identity (--x509-dir)"));
    auto listener = TcpListener::adopt(std::move(listening));
    if (!listener) return unexpected(listener.error());
    (tls ? host_tls_listeners_ : host_listeners_).push_back(std::move(*listener));
    return {};
}

std::vector<int> Server::shard_cpus(size_t index) const {
    if (config_.cpus.empty()) return {};
    return {config_.cpus[index % config_.cpus.size()]};
}

std::string_view Server::backend_name() const {
    if (shards_.empty() || shards_.front()->reactor == nullptr) return "not started";
    return shards_.front()->reactor->backend_name();
}

void Server::post_to_shards(const std::function<void(Shard&)>& task) {
    for (auto& slot : shards_) {
        Shard* shard = slot->shard;
        slot->reactor->post([task, shard] { task(*shard); });
    }
}

void Server::set_ticket(const TicketPolicy& ticket, bool disconnect_connected) {
    post_to_shards([ticket, disconnect_connected](Shard& shard) {
        shard.set_ticket(ticket);
        if (disconnect_connected) shard.disconnect_all("the password changed");
    });
}

size_t Server::session_count() const {
    return directory_.size();
}

void Server::post_to_shard(size_t index, std::function<void(Shard&)> task) {
    ShardThread& slot = *shards_.at(index);
    Shard* shard = slot.shard;
    slot.reactor->post([task = std::move(task), shard] { task(*shard); });
}

void Server::shard_main(ShardThread& slot) {
    std::unique_ptr<Reactor> reactor;
    std::unique_ptr<Shard> shard;
    try {
        auto created = Reactor::create(config_.io);
        if (!created) {
            slot.ready.set_value(unexpected("shard " + std::to_string(slot.index) +
                                            ": cannot start the event loop: " + created.error()));
        } else {
            reactor = std::move(*created);
            std::vector<const TcpListener*> plain;
            std::vector<const TcpListener*> secure;
            if (!listeners_.empty()) plain.push_back(&listeners_[slot.index]);
            if (!tls_listeners_.empty()) secure.push_back(&tls_listeners_[slot.index]);
            for (const TcpListener& listener : host_listeners_) plain.push_back(&listener);
            for (const TcpListener& listener : host_tls_listeners_) secure.push_back(&listener);
            shard = std::make_unique<Shard>(slot.index, *this, *reactor, plain, secure);
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
    Run& run = *run_;
    run.go.wait();
    if (shard && !run.abort) reactor->run();
    run.runs_done.arrive_and_wait();
    shard.reset();  // may still post to other shards' reactors: all are alive until below
    run.shards_gone.arrive_and_wait();
    if (!run.abort) run.stop_posted.wait();
}

Expected<void, std::string> Server::start() {
    if (started_) return unexpected(std::string("the server was started already"));
    started_ = true;
    run_ = std::make_unique<Run>(shard_count_);
    for (size_t i = 0; i < shard_count_; ++i) {
        auto slot = std::make_unique<ShardThread>();
        slot->index = i;
        shards_.push_back(std::move(slot));
    }
    for (auto& slot : shards_) {
        ShardThread* shard = slot.get();
        slot->thread = start_service_thread("spiced-shard" + std::to_string(slot->index),
                                            [this, shard] { shard_main(*shard); });
    }
    std::string failure;
    for (auto& slot : shards_) {
        auto started = slot->ready.get_future().get();
        if (!started && failure.empty()) failure = started.error();
    }
    run_->abort = !failure.empty();
    if (run_->abort) {
        run_->go.count_down();
        for (auto& slot : shards_) slot->thread.join();
        shards_.clear();
        stopped_ = true;
        return unexpected(failure);
    }
    desktop_->start(config_.cpus);
    run_->go.count_down();
    return {};
}

void Server::stop() {
    if (!started_ || stopped_) return;
    stopped_ = true;
    desktop_->stop();
    // Every shard says goodbye to its clients on its own thread, then stops.
    for (auto& slot : shards_) {
        ShardThread* shard = slot.get();
        shard->reactor->post([shard] {
            shard->shard->shutdown();
            shard->reactor->stop();
        });
    }
    run_->stop_posted.count_down();
    for (auto& slot : shards_) slot->thread.join();
    shards_.clear();
}

Expected<void, std::string> Server::add_client(UniqueFd connected, bool tls) {
    if (!started_ || stopped_) return unexpected(std::string("the server is not running"));
    if (tls && !tls_) return unexpected(std::string("a TLS client needs the TLS identity"));
    auto stream = TcpStream::adopt(std::move(connected));
    if (!stream) return unexpected(stream.error());
    const size_t index = next_client_shard_.fetch_add(1) % shard_count_;
    // Tasks are copyable functions; the stream rides in a shared holder.
    auto held = std::make_shared<TcpStream>(std::move(*stream));
    post_to_shard(index, [held, tls](Shard& shard) { shard.adopt(std::move(*held), tls); });
    return {};
}

}  // namespace spiced
