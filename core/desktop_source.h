// DesktopSource: the desktop's own thread. It owns the DisplayPipeline and the state every
// client shares (pointer, cursor, mouse mode, keyboard LEDs), renders at --fps, applies the
// input that shards hand it, and publishes DesktopUpdates to every shard.
//
// Threads meet only at queues: input arrives as tasks posted to the source's reactor (an
// unbounded lock-free inbox: input is never dropped), and updates leave through one bounded
// SPSC ring per shard. A shard that falls behind never stalls the source: when its ring is
// full, further updates merge into one waiting update (display damage is latest-wins, the
// rest is state), which goes as soon as the shard makes room.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/expected.h"
#include "core/desktop_update.h"
#include "core/display_pipeline.h"
#include "core/server_config.h"
#include "io/reactor.h"
#include "io/spsc_ring.h"

namespace spiced {

class DesktopSource {
public:
    // Updates a shard has not taken yet; beyond this they merge (each holds a frame).
    static constexpr size_t kFeedDepth = 4;

    // One shard's stream of updates: the source produces, the shard consumes.
    class Feed {
    public:
        // Shard thread: the oldest update not taken yet. Call until empty after each wake-up.
        std::optional<DesktopUpdate> take() { return ring_.try_pop(); }
        // Shard thread, before draining: later updates will wake the shard again.
        void rearm() { wake_pending_.store(false); }

    private:
        friend class DesktopSource;
        SpscRing<DesktopUpdate> ring_{kFeedDepth};
        std::atomic<bool> wake_pending_{false};
        std::function<void()> wake_;            // set before start(); runs on the source
        std::optional<DesktopUpdate> waiting_;  // source thread only: merged while full
    };

    // Builds the pipeline and renders frame 0; no thread runs until start().
    static Expected<std::unique_ptr<DesktopSource>, std::string> create(const ServerConfig& config,
                                                                        size_t shards);
    ~DesktopSource();
    DesktopSource(const DesktopSource&) = delete;
    DesktopSource& operator=(const DesktopSource&) = delete;

    // Before start(): the state shards begin with, and how each learns of new updates
    // (`wake` is called on the source thread; it should post a drain to the shard's reactor).
    DesktopState initial_state() const { return snapshot(); }
    Feed& feed(size_t shard) { return *feeds_[shard]; }
    void set_wake(size_t shard, std::function<void()> wake) {
        feeds_[shard]->wake_ = std::move(wake);
    }

    // Starts the thread (on `cpus` when not empty); stop() ends and joins it.
    void start(std::vector<int> cpus);
    void stop();

    // Any thread: client input, applied on the source thread in order.
    void key_event(uint16_t scancode, bool down);
    void sync_keyboard_leds(uint32_t client_leds);
    void pointer_moved_to(Point position, uint32_t buttons);
    void pointer_moved_by(int32_t dx, int32_t dy, uint32_t buttons);
    void button_event(int button, bool down);
    void request_mouse_mode(bool client);

private:
    DesktopSource(const ServerConfig& config, std::unique_ptr<Reactor> reactor, size_t shards);
    DesktopState snapshot() const;
    void on_tick();
    // Sends CURSOR_SET / CURSOR_MOVE for the pointer's new place (through the next update).
    void update_cursor(bool moved_by_server);
    void note_leds();
    // Publishes `next_` when it changes anything, and retries shards that were full.
    void publish();
    void offer(Feed& feed, std::optional<DesktopUpdate> update);

    std::unique_ptr<Reactor> reactor_;
    std::unique_ptr<DisplayPipeline> pipeline_;
    std::vector<std::unique_ptr<Feed>> feeds_;
    std::chrono::nanoseconds frame_period_;
    std::thread thread_;
    // Source thread only (and the constructing thread before start()).
    DesktopUpdate next_;
    Point pointer_{};
    DemoCursor cursor_shape_ = DemoCursor::kArrow;
    bool cursor_hidden_ = false;
    bool client_mouse_mode_;
    uint32_t last_leds_ = 0;
};

}  // namespace spiced
