#include "core/desktop_source.h"

#include <algorithm>

#include "base/log.h"
#include "demo/keymap.h"
#include "io/cpu_placement.h"

namespace spiced {

Expected<std::unique_ptr<DesktopSource>, std::string> DesktopSource::create(
    const ServerConfig& config, size_t shards) {
    // Timers and posted tasks only: epoll serves that on any thread, so the loop can be
    // built here and run on the source's own thread.
    ReactorOptions options;
    options.termination_signals = false;
    auto reactor = create_epoll_reactor(options);
    if (!reactor) return unexpected("desktop event loop: " + reactor.error());
    return std::unique_ptr<DesktopSource>(new DesktopSource(config, std::move(*reactor), shards));
}

DesktopSource::DesktopSource(const ServerConfig& config, std::unique_ptr<Reactor> reactor,
                             size_t shards)
    : reactor_(std::move(reactor)),
      pipeline_(std::make_unique<DisplayPipeline>(
          std::make_unique<DemoDesktop>(DemoConfig{config.demo_size, config.demo_seed}),
          PipelineOptions{config.demo_freeze, config.dump_frame})),
      frame_period_(std::chrono::nanoseconds(1'000'000'000 / config.fps)),
      client_mouse_mode_(config.client_mouse_mode) {
    for (size_t i = 0; i < shards; ++i) feeds_.push_back(std::make_unique<Feed>());
    pointer_ = {config.demo_size.width / 2, config.demo_size.height / 2};
    last_leds_ = pipeline_->desktop().keyboard_leds();
    reactor_->every(frame_period_, [this] { on_tick(); });
}

DesktopSource::~DesktopSource() {
    stop();
}

void DesktopSource::start(std::vector<int> cpus) {
    thread_ = std::thread([this, cpus = std::move(cpus)] {
        if (!cpus.empty()) {
            if (auto pinned = pin_current_thread(cpus); !pinned)
                LOG_WARN("display", "desktop thread: %s", pinned.error().c_str());
        }
        reactor_->run();
    });
}

void DesktopSource::stop() {
    if (!thread_.joinable()) return;
    reactor_->stop();
    thread_.join();
}

DesktopState DesktopSource::snapshot() const {
    return DesktopState{pipeline_->shared_current(),
                        pipeline_->frame_index(),
                        pointer_,
                        cursor_shape_,
                        cursor_hidden_,
                        client_mouse_mode_,
                        pipeline_->desktop().keyboard_leds()};
}

void DesktopSource::on_tick() {
    if (pipeline_->tick()) {
        next_.frame_changed = true;
        next_.moves = pipeline_->moves();
        next_.damage = pipeline_->damage();
    }
    note_leds();
    publish();
}

void DesktopSource::publish() {
    const bool fresh = next_.changes_anything();
    if (fresh) next_.state = snapshot();
    for (size_t i = 0; i < feeds_.size(); ++i) {
        std::optional<DesktopUpdate> update;
        if (fresh) update = i + 1 < feeds_.size() ? next_ : std::move(next_);
        offer(*feeds_[i], std::move(update));
    }
    if (fresh) next_ = DesktopUpdate{};
}

void DesktopSource::offer(Feed& feed, std::optional<DesktopUpdate> update) {
    if (update) {
        if (feed.waiting_) {
            feed.waiting_->merge(std::move(*update));
        } else {
            feed.waiting_ = std::move(update);
        }
    }
    if (!feed.waiting_ || !feed.ring_.try_push(std::move(*feed.waiting_))) return;
    feed.waiting_.reset();
    if (!feed.wake_pending_.exchange(true) && feed.wake_) feed.wake_();
}

void DesktopSource::note_leds() {
    const uint32_t leds = pipeline_->desktop().keyboard_leds();
    if (leds == last_leds_) return;
    last_leds_ = leds;
    next_.leds_changed = true;
}

void DesktopSource::update_cursor(bool moved_by_server) {
    const DemoCursor shape = pipeline_->desktop().cursor_at(pointer_);
    const bool reshape = shape != cursor_shape_ || cursor_hidden_;
    cursor_shape_ = shape;
    cursor_hidden_ = false;
    if (reshape) {
        next_.cursor_reshaped = true;
    } else if (moved_by_server) {
        next_.cursor_moved = true;
    } else {
        return;  // in client mode the client draws the pointer itself
    }
    publish();
}

void DesktopSource::key_event(uint16_t scancode, bool down) {
    reactor_->post([this, scancode, down] {
        pipeline_->desktop().key_event(scancode, down);
        // Like most desktops, hide the pointer while the user types into the editor.
        if (down && !cursor_hidden_ && scancode_to_ascii(scancode, false, false) != 0) {
            cursor_hidden_ = true;
            next_.cursor_hid = true;
        }
        note_leds();
        publish();
    });
}

void DesktopSource::sync_keyboard_leds(uint32_t client_leds) {
    reactor_->post([this, client_leds] {
        pipeline_->desktop().set_keyboard_leds(client_leds & 7u);
        note_leds();
        publish();
    });
}

void DesktopSource::pointer_moved_to(Point position, uint32_t buttons) {
    reactor_->post([this, position, buttons] {
        const Size size = pipeline_->current().size();
        pointer_ = {std::clamp(position.x, 0, size.width - 1),
                    std::clamp(position.y, 0, size.height - 1)};
        pipeline_->desktop().pointer_moved(pointer_, buttons);
        update_cursor(/*moved_by_server=*/false);
    });
}

void DesktopSource::pointer_moved_by(int32_t dx, int32_t dy, uint32_t buttons) {
    reactor_->post([this, dx, dy, buttons] {
        // Clamp the deltas first so hostile values can't overflow.
        const int32_t x = pointer_.x + std::clamp(dx, -100000, 100000);
        const int32_t y = pointer_.y + std::clamp(dy, -100000, 100000);
        const Size size = pipeline_->current().size();
        pointer_ = {std::clamp(x, 0, size.width - 1), std::clamp(y, 0, size.height - 1)};
        pipeline_->desktop().pointer_moved(pointer_, buttons);
        update_cursor(/*moved_by_server=*/true);
    });
}

void DesktopSource::button_event(int button, bool down) {
    reactor_->post(
        [this, button, down] { pipeline_->desktop().button_event(button, down, pointer_); });
}

void DesktopSource::request_mouse_mode(bool client) {
    reactor_->post([this, client] {
        client_mouse_mode_ = client;
        // Announced even when unchanged, so the requesting client learns the mode it has.
        next_.mouse_mode_announced = true;
        publish();
    });
}

}  // namespace spiced
