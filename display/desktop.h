// Desktop: the desktop thread. It runs one DisplaySource, turns what the source submits into
// DesktopUpdates (damage diffed inside the source's hint, moves kept exact), and publishes them
// to every consumer (shard) through its own bounded SPSC feed. Input, monitor requests and
// agent messages come in from any thread as tasks posted to its loop.
//
// Threads meet only at queues: tasks in (an unbounded lock-free inbox), updates out (one SPSC
// ring per consumer). A consumer that falls behind never stalls the desktop: when its ring is
// full, further updates merge into one waiting update (display damage is latest-wins, the rest
// is state), which goes as soon as the consumer makes room.
//
// Nothing is rendered while nobody watches: consumers report display channels coming and
// going (watch()), and the source is told when the count reaches or leaves zero. A frame tap
// (--dump-frame) watches display 0 for as long as it is installed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/expected.h"
#include "base/log_limiter.h"
#include "base/media_clock.h"
#include "display/frame_tap.h"
#include "display/source.h"
#include "display/state.h"
#include "display/stream_detector.h"
#include "encode/stream_rate_control.h"
#include "encode/video_encoders.h"
#include "gpu/compositor.h"
#include "gpu/scene_recording.h"
#include "io/reactor.h"
#include "io/spsc_ring.h"

namespace spiced {

struct DesktopOptions {
    // --mouse-mode: client mode is offered at all (it also needs a source that takes
    // absolute positions), and is the mode to start in.
    bool client_mouse_mode = true;
    // Video streams: regions the detector finds go out as video to clients that watch a
    // codec (watch_video()); off: never.
    bool streaming = true;
    StreamPolicy stream_policy;
    // Encoders to try per codec, best first (--video-codecs).
    std::vector<VideoBackend> video_backends = default_video_backends();
    // A stream's pictures at most this often (spice-server caps streams at 30).
    int max_stream_fps = 60;
    // Stamps pictures (clients show each at its stamp); the main channel's clock.
    std::shared_ptr<const MediaClock> media_clock = steady_media_clock();
    // Where each display's damage is found (--gpu); null: the CPU backend.
    std::shared_ptr<gpu::GpuBackend> gpu;
    // --gpu-tile-size: damage granularity in pixels.
    int32_t damage_tile = kDamageTileSize;
    // --record-scene: records every composition step; null: off.
    std::shared_ptr<gpu::SceneRecorder> scene_recorder;
};

class Desktop final : private DisplaySink {
public:
    // Updates a consumer has not taken yet; beyond this they merge (each holds frames).
    static constexpr size_t kFeedDepth = 4;
    // Agent messages a lagging consumer's merged update may hold; beyond this the oldest go
    // (with one log line): a consumer that stalls cannot make the desktop keep everything.
    static constexpr size_t kMaxAgentBacklog = size_t{32} << 20;
    // Pictures are stamped this far ahead of the media clock: clients show a picture at its
    // stamp, and one that arrives after it counts as a drop in their reports. 60 ms covers
    // encoding, a LAN round and decoding; spice-server's 400 ms is for lip sync with audio.
    static constexpr uint32_t kStreamPlayoutDelayMs = 60;

    // One consumer's stream of updates: the desktop produces, the consumer takes.
    class Feed {
    public:
        // Consumer thread: the oldest update not taken yet. Call until empty after each wake.
        std::optional<DesktopUpdate> take() { return ring_.try_pop(); }
        // Consumer thread, before draining: later updates will wake the consumer again.
        void rearm() { wake_pending_.store(false); }

    private:
        friend class Desktop;
        SpscRing<DesktopUpdate> ring_{kFeedDepth};
        std::atomic<bool> wake_pending_{false};
        std::function<void()> wake_;            // set before start(); runs on the desktop
        std::optional<DesktopUpdate> waiting_;  // desktop thread only: merged while full
    };

    // Starts `source` (it publishes its layouts and first frames here, on the calling thread,
    // already seen by `taps`); no thread runs until start().
    static Expected<std::unique_ptr<Desktop>, std::string> create(
        std::unique_ptr<DisplaySource> source, DesktopOptions options, size_t consumers,
        std::vector<std::unique_ptr<FrameTap>> taps = {});
    ~Desktop();
    Desktop(const Desktop&) = delete;
    Desktop& operator=(const Desktop&) = delete;

    // -- Before start() ----------------------------------------------------------------------
    DesktopState initial_state() const { return state_; }
    MonitorModel monitor_model() const { return model_; }
    uint32_t display_channels() const { return uint32_t(screens_.size()); }
    uint32_t max_heads() const { return max_heads_; }
    // The compositors' backend (--gpu; null: the CPU), unchanged for the desktop's life.
    const std::shared_ptr<gpu::GpuBackend>& gpu_backend() const { return options_.gpu; }
    Feed& feed(size_t consumer) { return *feeds_[consumer]; }
    // `wake` runs on the desktop thread; it should post a drain to the consumer's loop.
    void set_wake(size_t consumer, std::function<void()> wake) {
        feeds_[consumer]->wake_ = std::move(wake);
    }

    // Starts the thread (on `cpus` when not empty, all signals blocked); stop() ends it.
    void start(std::vector<int> cpus);
    void stop();

    // -- Any thread --------------------------------------------------------------------------
    // A display channel of `display` started (+1) or closed (-1).
    void watch(uint32_t display, int delta);
    // A display channel that shows `display`'s streams in `codec` started (+1) or stopped
    // (-1): streams are encoded in every codec someone watches, and only then.
    void watch_video(uint32_t display, VideoCodec codec, int delta);
    // A client cannot use the stream's next pictures without a key frame (it joined, or
    // skipped pictures): the next picture of `stream` in `codec` is one.
    void request_key_frame(uint32_t display, uint32_t stream, VideoCodec codec);
    // A client's STREAM_REPORT on `stream` in `codec`: rate control. Every client showing the
    // stream in that codec shares one encoder, so the latest report from any of them steers
    // it (one bad link lowers the rate for all of them in that codec). A report the rate
    // control rejects is logged and ignored.
    void stream_report(uint32_t display, uint32_t stream, VideoCodec codec,
                       StreamReportFigures figures);
    // What a display channel measured itself: its client's link could not take the stream's
    // pictures (`congested`: pictures were skipped), or `pictures_sent` went out without that
    // (counted only for clients that send no reports).
    void stream_flow(uint32_t display, uint32_t stream, VideoCodec codec, bool congested,
                     uint32_t pictures_sent);
    void key_event(uint16_t scancode, bool down);
    struct KeyEvent {
        uint16_t scancode;
        bool down;
    };
    // Many keys as one task (KEY_SCANCODE carries up to 256 KiB of them).
    void key_events(std::vector<KeyEvent> keys);
    // Runs `done` on the desktop thread once every input call made before it from the
    // calling thread has reached the source (tasks run in order): how a client's inputs
    // channel learns how much of its input is still queued here.
    void after_input(std::function<void()> done);
    void sync_keyboard_leds(uint32_t leds);
    void pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask);
    void pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask);
    void button_event(int button, bool down);
    void request_mouse_mode(bool client);
    void request_monitors(ClientId from, std::vector<MonitorRequest> monitors);
    // `consumed` runs on the desktop thread once the source has taken the message (the
    // caller returns the client's agent tokens then: backpressure up to the client).
    void agent_message(ClientId from, uint32_t type, std::vector<uint8_t> data,
                       std::function<void()> consumed);
    void client_gone(ClientId id);
    // Runs `task` with the source on the desktop thread: how a host that built the source
    // tells it about its own events (the drop-in library's keyboard LEDs, a tablet plugged).
    void with_source(std::function<void(DisplaySource&)> task);

private:
    struct Screen;

    Desktop(std::unique_ptr<DisplaySource> source, std::unique_ptr<Reactor> reactor,
            DesktopOptions options, size_t consumers);

    // DisplaySink (the source calls these on the desktop thread).
    void set_layout(uint32_t display, DisplayLayout layout) override;
    void submit_frame(uint32_t display, FrameSubmission submission) override;
    std::unique_ptr<gpu::DisplayCompositor> make_compositor(uint32_t display);
    // Hands the frame to the display's compositor; the damage it found when `want_damage`.
    Region compose(uint32_t display, const FrameSubmission& submission, bool want_damage);
    void set_cursor_shape(uint32_t display, std::shared_ptr<const PointerShape> shape) override;
    void move_cursor(uint32_t display, Point position) override;
    void hide_cursor(uint32_t display) override;
    void set_keyboard_leds(uint32_t leds) override;
    void capabilities_changed() override;
    void send_agent_message(ClientId to, uint32_t type, std::vector<uint8_t> data) override;
    Reactor& loop() override { return *reactor_; }

    // Runs `task` on the desktop thread.
    void run_on_loop(std::function<void()> task);
    // Publishes the pending change once the current batch of callbacks is over, so what one
    // source call does reaches the consumers as one update.
    void schedule_publish();
    void publish();
    void offer(Feed& feed, std::optional<DesktopUpdate> update);
    // Streams: the detector's view of a new frame, and the pictures of every watched codec.
    void update_streams(uint32_t display, const Frame& frame, DisplayChange& change);
    void apply_stream_events(uint32_t display, const StreamEvents& events);
    // `flush_quiet`: instead of damaged streams, those quiet for a while get their last
    // picture again (frame-threaded decoders then show it).
    void encode_streams(uint32_t display, const Frame& frame, DisplayChange& change,
                        bool flush_quiet = false);
    void end_all_streams(uint32_t display);
    // Runs `steer` on the rate control of `stream` in `codec` and applies a change.
    void steer_stream(uint32_t display, uint32_t stream, VideoCodec codec,
                      const std::function<StreamRateControl::Verdict(StreamRateControl&)>& steer,
                      const std::string& why);
    // Moves the backend called `name` to the front of the list (it opened on this machine).
    void prefer_backend(std::string_view name);
    // While streams run, a timer ends those gone idle when the source sends no frames.
    void arm_stream_timer();
    void trim_agent_backlog(DesktopUpdate& waiting);
    bool client_mouse_allowed() const;

    // The loop outlives the source: a source cancels its timers on it when destroyed.
    std::unique_ptr<Reactor> reactor_;
    std::unique_ptr<DisplaySource> source_;
    DesktopOptions options_;
    MonitorModel model_;
    uint32_t max_heads_;
    std::vector<std::unique_ptr<Feed>> feeds_;
    std::thread thread_;
    std::vector<std::unique_ptr<FrameTap>> taps_;
    // Desktop thread only (and the constructing thread before start()).
    std::vector<std::unique_ptr<Screen>> screens_;
    DesktopState state_;
    DesktopUpdate next_;
    bool publish_scheduled_ = false;
    Reactor::Id retry_timer_ = 0;  // while a consumer's ring is full
    int watchers_ = 0;
    Reactor::Id stream_timer_ = 0;
    std::vector<VideoBackend> video_backends_;
    std::map<VideoCodec, bool> backend_chosen_;
    LogLimiter report_log_limiter_;
    LogLimiter rate_log_limiter_{std::chrono::milliseconds(200)};
};

}  // namespace spiced
