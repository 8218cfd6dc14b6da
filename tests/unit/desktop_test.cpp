// Desktop (display/desktop.h): the desktop thread between a source and the shards.
//  - With the demo source: a client that applies each update's moves (as COPY_BITS, in order)
//    and then its damage holds exactly the published frame after every update, and the moves
//    save damage. (The diff's exactness is FrameDiffer's, tested in frame_differ_test.)
//  - With a scripted source: exact damage is taken as given, a hint limits the diff, a new
//    layout replaces the surface, watchers wake and idle the source, a tap sees display 0,
//    a full feed merges and still delivers once the consumer makes room, mouse modes follow
//    the source and the configuration.
#include "display/desktop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "demo/demo_source.h"
#include "display/frame_pool.h"
#include "pixels/damage.h"
#include "tests/unit/client_picture.h"

namespace spiced {
namespace {

using namespace std::chrono_literals;

using testing_support::apply_moves;
using testing_support::first_difference;
using testing_support::repaint;

// The consumer side of one feed: waits for updates the desktop publishes.
class Consumer {
public:
    explicit Consumer(Desktop& desktop) : feed_(desktop.feed(0)) {
        desktop.set_wake(0, [this] {
            std::lock_guard lock(mutex_);
            woken_ = true;
            wake_.notify_one();
        });
    }
    // The next update, or nothing after `timeout`.
    std::optional<DesktopUpdate> next(std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            feed_.rearm();
            if (auto update = feed_.take()) return update;
            std::unique_lock lock(mutex_);
            if (!wake_.wait_until(lock, deadline, [&] { return woken_; })) return std::nullopt;
            woken_ = false;
        }
    }
    Desktop::Feed& feed() { return feed_; }

private:
    Desktop::Feed& feed_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool woken_ = false;
};

void expect_client_follows(Size size, int updates) {
    DemoSourceConfig config;
    config.head_size = size;
    // Four times the demo's pace: the editor glides and the terminal scrolls sooner.
    config.fps = 120;
    auto desktop = Desktop::create(std::make_unique<DemoSource>(config), {}, 1);
    ASSERT_TRUE(desktop.has_value()) << desktop.error();
    Consumer consumer(**desktop);
    const DesktopState initial = (*desktop)->initial_state();
    ASSERT_EQ(initial.displays.size(), 1u);
    ASSERT_TRUE(initial.displays[0].frame);
    auto client = Frame::create(size);
    client->copy_from(*initial.displays[0].frame, client->rect(), {0, 0});
    (*desktop)->start({});
    (*desktop)->watch(0, +1);
    auto plain_detector = make_reference_damage_detector();
    int with_moves = 0;
    int64_t moved_damage = 0, plain_damage = 0;  // over the updates with moves
    for (int i = 0; i < updates; ++i) {
        auto update = consumer.next();
        ASSERT_TRUE(update.has_value()) << "update " << i << " never came";
        const DisplayChange& change = update->displays[0];
        if (!change.frame_changed) continue;
        const Frame& current = *update->state.displays[0].frame;
        if (!change.moves.empty()) {
            for (const Rect& rect : plain_detector->detect(*client, current).rects())
                plain_damage += rect.area();
            for (const Rect& rect : change.damage.rects()) moved_damage += rect.area();
            ++with_moves;
        }
        apply_moves(*client, change.moves);
        // The damage is whole tiles where the client's picture differs, unless the consumer
        // fell behind and updates merged: then newer moves became damage at their (not
        // tile-aligned) destinations. Either way the client must end up exact.
        repaint(*client, current, change.damage);
        ASSERT_EQ(first_difference(*client, current), "") << "update " << i;
    }
    (*desktop)->stop();
    // The demo scrolls its terminal and drags windows: the move path must have been taken,
    // and it must have saved damage.
    EXPECT_GT(with_moves, updates / 10);
    EXPECT_LT(moved_damage, plain_damage);
}

TEST(DesktopDemoTest, ClientApplyingMovesAndDamageHoldsEveryFrame) {
    expect_client_follows({1920, 1080}, 240);
}

TEST(DesktopDemoTest, SmallDesktopToo) {
    expect_client_follows({320, 240}, 240);
}

// The demo's video window streams once a display channel watches a codec: one encode per
// watched codec, pictures stamped from the injected media clock, the first a key frame; and
// nothing is detected or encoded while no one watches video.
TEST(DesktopDemoTest, StreamsAreEncodedOncePerWatchedCodecAndStampedFromTheMediaClock) {
    DemoSourceConfig config;
    config.head_size = {1280, 720};
    config.fps = 120;
    auto clock = std::make_shared<ManualMediaClock>(5000);
    DesktopOptions options;
    options.media_clock = clock;
    auto desktop = Desktop::create(std::make_unique<DemoSource>(config), options, 1);
    ASSERT_TRUE(desktop.has_value()) << desktop.error();
    Consumer consumer(**desktop);
    (*desktop)->start({});
    (*desktop)->watch(0, +1);
    // No video watcher yet: frames flow, no stream.
    for (int i = 0; i < 20; ++i) {
        auto update = consumer.next();
        ASSERT_TRUE(update.has_value());
        EXPECT_TRUE(update->displays[0].pictures.empty());
        EXPECT_TRUE(update->state.displays[0].streams.empty());
    }
    (*desktop)->watch_video(0, VideoCodec::kMjpeg, +1);
    (*desktop)->watch_video(0, VideoCodec::kH264, +1);
    std::map<VideoCodec, std::vector<StreamPicture>> pictures;
    for (int i = 0; i < 400 && (pictures[VideoCodec::kMjpeg].size() < 5 ||
                                pictures[VideoCodec::kH264].size() < 5);
         ++i) {
        auto update = consumer.next();
        ASSERT_TRUE(update.has_value());
        for (const StreamPicture& picture : update->displays[0].pictures) {
            const auto& shown = update->state.displays[0].streams;
            EXPECT_TRUE(std::find(shown.begin(), shown.end(), picture.stream) != shown.end() ||
                        update->displays[0].streams_changed);
            pictures[picture.codec].push_back(picture);
        }
    }
    (*desktop)->stop();
    for (VideoCodec codec : {VideoCodec::kMjpeg, VideoCodec::kH264}) {
        const auto& got = pictures[codec];
        ASSERT_GE(got.size(), 5u) << to_string(codec);
        EXPECT_TRUE(got.front().packet->keyframe) << to_string(codec);
        for (const StreamPicture& picture : got) {
            EXPECT_EQ(picture.mm_time, 5000 + Desktop::kStreamPlayoutDelayMs);
            EXPECT_FALSE(picture.packet->data.empty());
            EXPECT_EQ(picture.stream.rect.width() % 2, 0);
        }
    }
    // The same streams in both codecs: one detection, an encoder per codec.
    EXPECT_EQ(pictures[VideoCodec::kMjpeg].front().stream.id,
              pictures[VideoCodec::kH264].front().stream.id);
}

// A source the test scripts: what it does on each call runs on the desktop thread.
class ScriptedSource final : public DisplaySource {
public:
    std::function<void(DisplaySink&)> on_start;
    std::function<void(DisplaySink&, std::span<const MonitorRequest>)> on_request;
    std::atomic<int> watched_calls{0};
    std::atomic<bool> watched{false};
    bool absolute = true;

    MonitorModel monitor_model() const override { return MonitorModel::kOneSurface; }
    uint32_t display_channels() const override { return 1; }
    uint32_t max_heads() const override { return 4; }
    void start(DisplaySink& sink) override {
        sink_ = &sink;
        if (on_start) on_start(sink);
    }
    void set_watched(bool value) override {
        watched = value;
        ++watched_calls;
    }
    bool absolute_pointer() const override { return absolute; }
    void key_event(uint16_t, bool) override {}
    void sync_keyboard_leds(uint32_t) override {}
    void pointer_position(uint32_t, Point, uint32_t) override {}
    void pointer_motion(int32_t, int32_t, uint32_t) override {}
    void button_event(int, bool) override {}
    void request_monitors(ClientId, std::span<const MonitorRequest> monitors) override {
        if (on_request) on_request(*sink_, monitors);
    }
    bool has_agent() const override { return false; }
    void agent_message(ClientId, uint32_t, std::span<const uint8_t>,
                       std::function<void()> taken) override {
        taken();
    }
    void client_gone(ClientId) override {}

private:
    DisplaySink* sink_ = nullptr;
};

constexpr Size kSize{64, 48};

std::shared_ptr<const Frame> solid(Size size, uint32_t colour) {
    std::shared_ptr<Frame> frame = Frame::create(size);
    frame->fill(frame->rect(), colour);
    return frame;
}

std::shared_ptr<const Frame> with_dots(Size size, uint32_t colour, std::vector<Point> dots) {
    std::shared_ptr<Frame> frame = Frame::create(size);
    frame->fill(frame->rect(), colour);
    for (Point dot : dots) frame->row(dot.y)[dot.x] = 0xffffff;
    return frame;
}

FrameSubmission submission(std::shared_ptr<const Frame> frame, Region changed, bool exact = false) {
    FrameSubmission result;
    result.frame = std::move(frame);
    result.changed = std::move(changed);
    result.exact = exact;
    return result;
}

// The scripted source starts with a one-head kSize surface in black.
std::unique_ptr<ScriptedSource> black_source() {
    auto source = std::make_unique<ScriptedSource>();
    source->on_start = [](DisplaySink& sink) {
        sink.set_layout(0, {kSize, {{0, Rect::MakeSize(kSize)}}});
        sink.submit_frame(0, submission(solid(kSize, 0), Region(Rect::MakeSize(kSize))));
    };
    return source;
}

// Runs `step` on the desktop thread (through a monitors request) and returns the update.
std::optional<DesktopUpdate> after(Desktop& desktop, ScriptedSource& source, Consumer& consumer,
                                   std::function<void(DisplaySink&)> step) {
    source.on_request = [step](DisplaySink& sink, std::span<const MonitorRequest>) { step(sink); };
    desktop.request_monitors(1, {});
    return consumer.next();
}

TEST(DesktopTest, ExactDamageIsTakenAsGivenAndAHintLimitsTheDiff) {
    auto owned = black_source();
    ScriptedSource& source = *owned;
    auto desktop = Desktop::create(std::move(owned), {}, 1);
    ASSERT_TRUE(desktop.has_value()) << desktop.error();
    Consumer consumer(**desktop);
    (*desktop)->start({});
    // Dots in two far-apart tiles; the exact damage names one of them only.
    auto update = after(**desktop, source, consumer, [](DisplaySink& sink) {
        sink.submit_frame(0, submission(with_dots(kSize, 0, {{1, 1}, {60, 40}}),
                                        Region(Rect::MakeXYWH(0, 0, 5, 5)), true));
    });
    ASSERT_TRUE(update.has_value());
    EXPECT_EQ(update->displays[0].damage, Region(Rect::MakeXYWH(0, 0, 5, 5)));
    // Not exact: only tiles the hint touches are compared, and the damage is whole tiles.
    update = after(**desktop, source, consumer, [](DisplaySink& sink) {
        sink.submit_frame(0, submission(with_dots(kSize, 0, {{2, 2}, {61, 41}}),
                                        Region(Rect::MakeXYWH(56, 36, 8, 8))));
    });
    ASSERT_TRUE(update.has_value());
    EXPECT_EQ(update->displays[0].damage, Region(Rect::MakeXYWH(48, 32, 16, 16)));
    (*desktop)->stop();
}

TEST(DesktopTest, ANewLayoutReplacesTheSurfaceAndItsFirstFrameIsWhole) {
    auto owned = black_source();
    ScriptedSource& source = *owned;
    auto desktop = Desktop::create(std::move(owned), {}, 1);
    ASSERT_TRUE(desktop.has_value());
    Consumer consumer(**desktop);
    EXPECT_EQ((*desktop)->initial_state().displays[0].surface_generation, 1u);
    (*desktop)->start({});
    const Size wide{128, 48};
    auto update = after(**desktop, source, consumer, [&](DisplaySink& sink) {
        sink.set_layout(
            0, {wide, {{0, Rect::MakeXYWH(0, 0, 64, 48)}, {1, Rect::MakeXYWH(64, 0, 64, 48)}}});
        sink.submit_frame(0, submission(solid(wide, 0x123456), Region()));
    });
    ASSERT_TRUE(update.has_value());
    const DisplayState& shown = update->state.displays[0];
    EXPECT_TRUE(update->displays[0].surface_replaced);
    EXPECT_EQ(shown.layout.surface, wide);
    EXPECT_EQ(shown.layout.heads.size(), 2u);
    EXPECT_EQ(shown.surface_generation, 2u);
    ASSERT_TRUE(shown.frame);
    EXPECT_EQ(shown.frame->pixel(100, 10), 0x123456u);
    // A frame of the wrong size is a source bug: dropped, nothing published.
    source.on_request = [](DisplaySink& sink, std::span<const MonitorRequest>) {
        sink.submit_frame(0, submission(solid(kSize, 0), Region(Rect::MakeSize(kSize))));
    };
    (*desktop)->request_monitors(1, {});
    EXPECT_FALSE(consumer.next(300ms).has_value());
    (*desktop)->stop();
}

TEST(DesktopTest, WatchersWakeAndIdleTheSourceAndATapWatchesForever) {
    {
        auto owned = black_source();
        ScriptedSource& source = *owned;
        auto desktop = Desktop::create(std::move(owned), {}, 1);
        ASSERT_TRUE(desktop.has_value());
        (*desktop)->start({});
        EXPECT_FALSE(source.watched);
        (*desktop)->watch(0, +1);
        (*desktop)->watch(0, +1);
        (*desktop)->watch(0, -1);
        (*desktop)->watch(0, -1);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (source.watched_calls < 2 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        EXPECT_EQ(source.watched_calls.load(), 2);  // on at the first, off at the last
        EXPECT_FALSE(source.watched);
        (*desktop)->stop();
    }
    struct Tap final : FrameTap {
        std::vector<std::pair<Size, FrameNote>>* seen;
        void on_frame(const Frame& frame, std::span<const TappedHead>, FrameNote note) override {
            seen->push_back({frame.size(), note});
        }
    };
    std::vector<std::pair<Size, FrameNote>> seen;
    auto tap = std::make_unique<Tap>();
    tap->seen = &seen;
    std::vector<std::unique_ptr<FrameTap>> taps;
    taps.push_back(std::move(tap));
    auto owned = black_source();
    ScriptedSource& source = *owned;
    auto desktop = Desktop::create(std::move(owned), {}, 1, std::move(taps));
    ASSERT_TRUE(desktop.has_value());
    // The tap saw the first frame (start-up is not a layout change) and keeps the source
    // watched.
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].first, kSize);
    EXPECT_FALSE(seen[0].second.layout_changed);
    EXPECT_TRUE(source.watched);
}

TEST(DesktopTest, AFullFeedMergesAndStillDeliversWhenTheConsumerCatchesUp) {
    auto owned = black_source();
    ScriptedSource& source = *owned;
    auto desktop = Desktop::create(std::move(owned), {}, 1);
    ASSERT_TRUE(desktop.has_value());
    Consumer consumer(**desktop);
    (*desktop)->start({});
    // Ten frames, each with one new dot, while the consumer takes nothing. The desktop thread
    // reads the newest frame under a lock (it may still be handling the previous request).
    std::mutex newest_mutex;
    std::shared_ptr<const Frame> newest;
    source.on_request = [&](DisplaySink& sink, std::span<const MonitorRequest>) {
        std::shared_ptr<const Frame> frame;
        {
            const std::lock_guard lock(newest_mutex);
            frame = newest;
        }
        sink.submit_frame(0, submission(frame, Region(Rect::MakeSize(kSize))));
    };
    std::vector<Point> dots;
    for (int i = 0; i < 10; ++i) {
        dots.push_back({i * 6, i * 4});
        {
            const std::lock_guard lock(newest_mutex);
            newest = with_dots(kSize, 0, dots);
        }
        (*desktop)->request_monitors(1, {});
        std::this_thread::sleep_for(10ms);
    }
    // The ring holds kFeedDepth updates; the rest waited, merged, and arrives after them
    // without the source publishing anything more.
    Region damage;
    std::shared_ptr<const Frame> last;
    int received = 0;
    while (auto update = consumer.next(500ms)) {
        damage.add_region(update->displays[0].damage);
        last = update->state.displays[0].frame;
        ++received;
    }
    EXPECT_LE(received, int(Desktop::kFeedDepth) + 1);
    ASSERT_TRUE(last);
    EXPECT_EQ(first_difference(*last, *with_dots(kSize, 0, dots)), "");
    for (Point dot : dots) EXPECT_TRUE(damage.contains(dot)) << dot.x << "," << dot.y;
    (*desktop)->stop();
}

TEST(DesktopTest, LosingTheAbsolutePointerOrTheAgentIsAnnounced) {
    auto owned = black_source();
    ScriptedSource& source = *owned;
    auto desktop = Desktop::create(std::move(owned), {}, 1);
    ASSERT_TRUE(desktop.has_value());
    ASSERT_TRUE((*desktop)->initial_state().client_mouse_mode);
    Consumer consumer(**desktop);
    (*desktop)->start({});
    // The tablet goes away: client mode is no longer offered, everyone is in server mode.
    auto update = after(**desktop, source, consumer, [&](DisplaySink& sink) {
        source.absolute = false;
        sink.capabilities_changed();
    });
    ASSERT_TRUE(update.has_value());
    EXPECT_TRUE(update->mouse_mode_announced);
    EXPECT_FALSE(update->state.client_mouse_allowed);
    EXPECT_FALSE(update->state.client_mouse_mode);
    EXPECT_FALSE(update->agent_changed);
    // It comes back: offered again (the client asks for it), and nothing else changed.
    update = after(**desktop, source, consumer, [&](DisplaySink& sink) {
        source.absolute = true;
        sink.capabilities_changed();
    });
    ASSERT_TRUE(update.has_value());
    EXPECT_TRUE(update->mouse_mode_announced);
    EXPECT_TRUE(update->state.client_mouse_allowed);
    EXPECT_FALSE(update->state.client_mouse_mode);
    (*desktop)->stop();
}

TEST(DesktopTest, ClientMouseModeNeedsAnAbsolutePointerAndTheConfiguration) {
    for (bool absolute : {true, false}) {
        for (bool configured : {true, false}) {
            auto source = black_source();
            source->absolute = absolute;
            DesktopOptions options;
            options.client_mouse_mode = configured;
            auto desktop = Desktop::create(std::move(source), options, 1);
            ASSERT_TRUE(desktop.has_value());
            const DesktopState state = (*desktop)->initial_state();
            EXPECT_EQ(state.client_mouse_allowed, absolute && configured);
            EXPECT_EQ(state.client_mouse_mode, absolute && configured);
            Consumer consumer(**desktop);
            (*desktop)->start({});
            (*desktop)->request_mouse_mode(true);
            auto update = consumer.next();
            ASSERT_TRUE(update.has_value());
            EXPECT_TRUE(update->mouse_mode_announced);
            EXPECT_EQ(update->state.client_mouse_mode, absolute && configured);
            (*desktop)->stop();
        }
    }
}

}  // namespace
}  // namespace spiced
