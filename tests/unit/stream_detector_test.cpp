// StreamDetector: the demo's video and CAD view become streams and its terminal and editor
// never do; synthetic scenes check following a moved or resized window, idling out on ticks
// alone, several streams, even rects inside odd frames, the frame-rate estimate, and what must
// never stream (a desktop switch, a spinner, synthetic content).
#include "display/stream_detector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "demo/demo_desktop.h"
#include "demo/layout.h"
#include "gpu/frame_differ.h"

namespace spiced {
namespace {

using Clock = StreamDetector::Clock;
using std::chrono::milliseconds;

constexpr Size kFullHd{1920, 1080};
constexpr uint32_t kDesktopGrey = 0x30343a;

Clock::time_point at(int frame, int fps) {
    return Clock::time_point{} + std::chrono::nanoseconds(int64_t{frame} * 1'000'000'000 / fps);
}

// Smooth gradients drifting with `i`: what classify_content calls natural.
void paint_video(Frame& frame, const Rect& rect, int i) {
    const Rect r = rect.intersect(frame.rect());
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        uint32_t* row = frame.row(y);
        for (int32_t x = r.left(); x < r.right(); ++x) {
            const uint32_t u = uint32_t(x - rect.left()), v = uint32_t(y - rect.top());
            const uint32_t red = (u + 3 * uint32_t(i)) & 255, green = (v + 2 * uint32_t(i)) & 255;
            const uint32_t blue = ((u + v) / 2 + 5 * uint32_t(i)) & 255;
            row[x] = red << 16 | green << 8 | blue;
        }
    }
}

// Two colours in a pattern shifting with `i`: text-like, synthetic.
void paint_text(Frame& frame, const Rect& rect, int i) {
    const Rect r = rect.intersect(frame.rect());
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        uint32_t* row = frame.row(y);
        for (int32_t x = r.left(); x < r.right(); ++x) {
            const bool ink = (x / 3 + y / 5 + i) % 7 == 0 && y % 16 < 12;
            row[x] = ink ? 0xe0e0e0 : 0x101820;
        }
    }
}

bool is_even(const Rect& r) {
    return r.left() % 2 == 0 && r.top() % 2 == 0 && r.width() % 2 == 0 && r.height() % 2 == 0;
}

// Frames go through a FrameDiffer as on the desktop thread; the first frame is all damage.
class Feeder {
public:
    explicit Feeder(Size size, const StreamPolicy& policy = {}) : size_(size), detector_(policy) {}

    StreamEvents feed(Clock::time_point now, std::unique_ptr<Frame> next,
                      const std::vector<MoveHint>& moves = {}) {
        const Region damage = previous_ == nullptr
                                  ? Region(next->rect())
                                  : differ_.diff(*previous_, moves, *next, Region(next->rect()));
        StreamEvents events = detector_.on_frame(now, *next, damage, moves);
        for (const DetectedStream& s : detector_.active()) {
            EXPECT_TRUE(is_even(s.rect)) << s.rect.left() << "," << s.rect.top();
            EXPECT_TRUE(next->rect().contains(s.rect));
        }
        previous_ = std::move(next);
        return events;
    }
    // A desktop-grey frame with natural videos at `videos`, animation step `i`.
    StreamEvents feed_videos(Clock::time_point now, int i, std::initializer_list<Rect> videos,
                             const std::vector<MoveHint>& moves = {}) {
        auto next = Frame::create(size_);
        next->fill(next->rect(), kDesktopGrey);
        for (const Rect& v : videos) paint_video(*next, v, i);
        return feed(now, std::move(next), moves);
    }

    StreamDetector& detector() { return detector_; }

private:
    Size size_;
    StreamDetector detector_;
    FrameDiffer differ_;
    std::unique_ptr<Frame> previous_;
};

TEST(StreamDetectorTest, DemoVideoAndCadStreamTerminalAndEditorNever) {
    DemoDesktop desktop({kFullHd, 1});
    const DemoLayout& l = desktop.layout();
    Feeder feeder(kFullHd);
    std::vector<MoveHint> moves;
    int video_started = -1, cad_started = -1, started = 0, ended = 0, changed = 0;
    uint32_t video_id = 0;
    for (int i = 0; i <= 300; ++i) {
        // Someone types in the editor all along.
        if (i % 3 == 0) desktop.type_text(i % 60 == 0 ? "\n" : "ab");
        auto next = Frame::create(kFullHd);
        moves.clear();
        desktop.render(i, *next, moves);
        const StreamEvents events = feeder.feed(at(i, 30), std::move(next), moves);
        for (const DetectedStream& s : events.started) {
            ++started;
            if (s.rect.contains(l.video)) {
                video_started = i;
                video_id = s.id;
                EXPECT_LE(s.rect.area(), l.video.area() * 3 / 2);
            }
            // The wireframe's extent, inside the CAD window (give or take the 16 px damage tile
            // it straddles).
            if (s.rect.intersect(l.cad_view).area() >= l.cad_view.area() / 2) {
                cad_started = i;
                const Rect& w = l.cad.outer;
                EXPECT_TRUE(
                    Rect::MakeLTRB(w.left() - 16, w.top() - 16, w.right() + 16, w.bottom() + 16)
                        .contains(s.rect));
            }
        }
        ended += int(events.ended.size());
        changed += int(events.changed.size());
        for (const DetectedStream& s : feeder.detector().active()) {
            ASSERT_FALSE(s.rect.intersects(l.terminal.outer)) << "frame " << i;
            ASSERT_FALSE(s.rect.intersects(desktop.editor_rect())) << "frame " << i;
        }
    }
    // Frame 0 is all damage; the video animates from frame 1 on: streaming on frame 3.
    EXPECT_EQ(video_started, 3);
    EXPECT_NE(video_id, 0u);
    // The wireframe is synthetic: it streams once it kept animating for a second.
    EXPECT_GT(cad_started, 3);
    EXPECT_LE(cad_started, 35);
    // Nothing else, and neither one flaps.
    EXPECT_EQ(started, 2);
    EXPECT_EQ(ended, 0);
    // The wireframe's extent wanders as it turns; its stream follows now and then, not on
    // every frame (each relocation restarts an encoder).
    EXPECT_LE(changed, 10);
    ASSERT_EQ(feeder.detector().active().size(), 2u);
    EXPECT_EQ(feeder.detector().active()[0].id, video_id);
    EXPECT_TRUE(feeder.detector().active()[0].rect.contains(l.video));
}

TEST(StreamDetectorTest, VideoShowingUpElsewhereIsFollowedAtOnce) {
    Feeder feeder({1280, 720});
    const Rect first = Rect::MakeXYWH(96, 96, 320, 240),
               second = Rect::MakeXYWH(640, 320, 320, 240);
    uint32_t id = 0;
    for (int i = 0; i < 20; ++i) {
        const StreamEvents events = feeder.feed_videos(at(i, 30), i, {first});
        if (!events.started.empty()) id = events.started[0].id;
    }
    ASSERT_NE(id, 0u);
    const StreamEvents moved = feeder.feed_videos(at(20, 30), 20, {second});
    EXPECT_TRUE(moved.started.empty());
    EXPECT_TRUE(moved.ended.empty());
    ASSERT_EQ(moved.changed.size(), 1u);
    EXPECT_EQ(moved.changed[0].stream.id, id);
    EXPECT_TRUE(moved.changed[0].previous.contains(first));
    EXPECT_TRUE(moved.changed[0].stream.rect.contains(second));
    for (int i = 21; i < 40; ++i) {
        const StreamEvents events = feeder.feed_videos(at(i, 30), i, {second});
        EXPECT_TRUE(events.started.empty() && events.ended.empty()) << "frame " << i;
    }
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    EXPECT_EQ(feeder.detector().active()[0].id, id);
    EXPECT_TRUE(feeder.detector().active()[0].rect.contains(second));
    EXPECT_LE(feeder.detector().active()[0].rect.area(), second.area() * 3 / 2);
}

TEST(StreamDetectorTest, VideoWindowDraggedWithCopyBitsKeepsItsStream) {
    Feeder feeder({1280, 720});
    Rect video = Rect::MakeXYWH(96, 96, 320, 240);
    uint32_t id = 0;
    for (int i = 0; i < 60; ++i) {
        std::vector<MoveHint> moves;
        if (i >= 10) {
            const Rect next = video.translated(7, 3);
            moves.push_back({next, video.origin()});
            video = next;
        }
        const StreamEvents events = feeder.feed_videos(at(i, 30), i, {video}, moves);
        if (!events.started.empty()) id = events.started[0].id;
        EXPECT_TRUE(events.ended.empty()) << "frame " << i;
        if (i >= 3) {
            ASSERT_EQ(feeder.detector().active().size(), 1u) << "frame " << i;
            EXPECT_EQ(feeder.detector().active()[0].id, id);
            EXPECT_TRUE(feeder.detector().active()[0].rect.contains(video)) << "frame " << i;
        }
    }
}

TEST(StreamDetectorTest, GrownWindowRelocatesAtOnceAndShrinksBack) {
    Feeder feeder({1280, 720});
    const Rect small = Rect::MakeXYWH(200, 120, 320, 240), big = Rect::MakeXYWH(200, 120, 640, 480);
    for (int i = 0; i < 10; ++i) feeder.feed_videos(at(i, 30), i, {small});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    const uint32_t id = feeder.detector().active()[0].id;
    const StreamEvents grown = feeder.feed_videos(at(10, 30), 10, {big});
    ASSERT_EQ(grown.changed.size(), 1u);
    EXPECT_EQ(grown.changed[0].stream.id, id);
    EXPECT_TRUE(grown.changed[0].stream.rect.contains(big));
    for (int i = 11; i < 20; ++i) feeder.feed_videos(at(i, 30), i, {big});
    // Shrunk: the stream lets go of what stopped changing within a few frames.
    for (int i = 20; i < 24; ++i) feeder.feed_videos(at(i, 30), i, {small});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    EXPECT_EQ(feeder.detector().active()[0].id, id);
    EXPECT_TRUE(feeder.detector().active()[0].rect.contains(small));
    EXPECT_LE(feeder.detector().active()[0].rect.area(), small.area() * 3 / 2);
}

TEST(StreamDetectorTest, IdleStreamEndsOnTicksAndReportsItsRect) {
    Feeder feeder({1280, 720});
    const Rect video = Rect::MakeXYWH(300, 200, 400, 224);
    for (int i = 0; i < 30; ++i) feeder.feed_videos(at(i, 30), i, {video});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    const DetectedStream running = feeder.detector().active()[0];
    const Clock::time_point last = at(29, 30);
    EXPECT_TRUE(feeder.detector().on_tick(last + milliseconds(100)).empty());
    EXPECT_TRUE(feeder.detector().on_tick(last + milliseconds(250)).empty());
    const StreamEvents idle = feeder.detector().on_tick(last + milliseconds(350));
    ASSERT_EQ(idle.ended.size(), 1u);
    EXPECT_EQ(idle.ended[0].id, running.id);
    EXPECT_EQ(idle.ended[0].rect, running.rect);
    EXPECT_TRUE(idle.ended[0].rect.contains(video));
    EXPECT_TRUE(feeder.detector().active().empty());
}

TEST(StreamDetectorTest, SpinnerOverAPausedVideoDoesNotKeepItAlive) {
    Feeder feeder({1280, 720});
    const Rect video = Rect::MakeXYWH(300, 200, 400, 224);
    const Rect spinner = Rect::MakeXYWH(484, 296, 32, 32);
    for (int i = 0; i < 30; ++i) feeder.feed_videos(at(i, 30), i, {video});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    int ended_at = -1;
    for (int i = 30; i < 60 && ended_at < 0; ++i) {
        auto next = Frame::create({1280, 720});
        next->fill(next->rect(), kDesktopGrey);
        paint_video(*next, video, 29);  // paused
        paint_video(*next, spinner, i * 8);
        if (!feeder.feed(at(i, 30), std::move(next)).ended.empty()) ended_at = i;
    }
    // 300 ms after the last video frame (29): frame 38 at 30 fps.
    EXPECT_EQ(ended_at, 38);
}

TEST(StreamDetectorTest, TwoVideosTwoStreams) {
    Feeder feeder(kFullHd);
    const Rect a = Rect::MakeXYWH(100, 100, 640, 360), b = Rect::MakeXYWH(1000, 500, 480, 270);
    for (int i = 0; i < 10; ++i) feeder.feed_videos(at(i, 30), i, {a, b});
    const auto active = feeder.detector().active();
    ASSERT_EQ(active.size(), 2u);
    EXPECT_NE(active[0].id, active[1].id);
    EXPECT_TRUE(active[0].rect.contains(a) != active[1].rect.contains(a));
    EXPECT_TRUE(active[0].rect.contains(b) != active[1].rect.contains(b));
}

TEST(StreamDetectorTest, StreamsAreCapped) {
    StreamPolicy policy;
    policy.max_streams = 2;
    Feeder feeder(kFullHd, policy);
    for (int i = 0; i < 10; ++i) {
        feeder.feed_videos(at(i, 30), i,
                           {Rect::MakeXYWH(0, 0, 400, 300), Rect::MakeXYWH(600, 0, 400, 300),
                            Rect::MakeXYWH(1200, 0, 400, 300)});
    }
    EXPECT_EQ(feeder.detector().active().size(), 2u);
}

TEST(StreamDetectorTest, DesktopSwitchDoesNotStream) {
    Feeder feeder(kFullHd);
    // A 20-frame sliding switch animation of synthetic screens, then a still desktop.
    for (int i = 0; i < 40; ++i) {
        auto next = Frame::create(kFullHd);
        paint_text(*next, next->rect(), std::min(i, 20) * 5);
        EXPECT_TRUE(feeder.feed(at(i, 30), std::move(next)).started.empty()) << "frame " << i;
    }
}

TEST(StreamDetectorTest, TinyAnimationDoesNotStream) {
    Feeder feeder({1280, 720});
    for (int i = 0; i < 120; ++i) {
        EXPECT_TRUE(
            feeder.feed_videos(at(i, 60), i, {Rect::MakeXYWH(200, 200, 32, 32)}).started.empty());
    }
}

TEST(StreamDetectorTest, SyntheticAnimationWaitsForAnimationFramesAndCanBeBarred) {
    const Rect area = Rect::MakeXYWH(100, 100, 640, 480);
    for (int animation_frames : {30, 0}) {
        StreamPolicy policy;
        policy.animation_min_frames = animation_frames;
        Feeder feeder({1280, 720}, policy);
        int started_at = -1;
        for (int i = 0; i < 90; ++i) {
            auto next = Frame::create({1280, 720});
            next->fill(next->rect(), kDesktopGrey);
            paint_text(*next, area, i);
            if (!feeder.feed(at(i, 30), std::move(next)).started.empty()) started_at = i;
        }
        // Frame 0 is the whole frame; the area changes on its own from frame 1.
        EXPECT_EQ(started_at, animation_frames == 0 ? -1 : animation_frames) << animation_frames;
    }
}

TEST(StreamDetectorTest, StreamTurningSyntheticEnds) {
    StreamPolicy policy;
    policy.animation_min_frames = 0;
    Feeder feeder({1280, 720}, policy);
    const Rect area = Rect::MakeXYWH(100, 100, 640, 480);
    for (int i = 0; i < 20; ++i) feeder.feed_videos(at(i, 30), i, {area});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    int ended_at = -1;
    for (int i = 20; i < 80 && ended_at < 0; ++i) {
        auto next = Frame::create({1280, 720});
        next->fill(next->rect(), kDesktopGrey);
        paint_text(*next, area, i);
        const StreamEvents events = feeder.feed(at(i, 30), std::move(next));
        if (!events.ended.empty()) ended_at = i;
    }
    // Within synthetic_end_samples samples, one every classify_every changed frames.
    EXPECT_GT(ended_at, 20);
    EXPECT_LE(ended_at, 20 + (policy.synthetic_end_samples + 1) * policy.classify_every);
}

TEST(StreamDetectorTest, OddFramesAndVideosGiveEvenRectsInside) {
    const Size odd{641, 481};
    Feeder feeder(odd);  // Feeder checks every active rect: even and inside
    const Rect a = Rect::MakeXYWH(101, 57, 333, 199), b = Rect::MakeXYWH(451, 291, 190, 190);
    for (int i = 0; i < 10; ++i) feeder.feed_videos(at(i, 30), i, {a, b});
    const auto active = feeder.detector().active();
    ASSERT_EQ(active.size(), 2u);
    const Rect even_part = Rect::MakeXYWH(0, 0, 640, 480);
    for (const Rect& v : {a, b}) {
        EXPECT_TRUE(active[0].rect.contains(v.intersect(even_part)) ||
                    active[1].rect.contains(v.intersect(even_part)));
    }
}

TEST(StreamDetectorTest, ReportsTheObservedFrameRate) {
    for (int fps : {30, 60}) {
        Feeder feeder({1280, 720});
        for (int i = 0; i < 60; ++i) {
            const StreamEvents events =
                feeder.feed_videos(at(i, fps), i, {Rect::MakeXYWH(64, 64, 480, 272)});
            for (const DetectedStream& s : events.started) EXPECT_NEAR(s.fps, fps, fps * 0.1);
        }
        ASSERT_EQ(feeder.detector().active().size(), 1u);
        EXPECT_NEAR(feeder.detector().active()[0].fps, fps, fps * 0.05);
    }
    // A 24 fps video on a 60 fps source: only its own changes count.
    Feeder feeder({1280, 720});
    for (int i = 0; i < 120; ++i) {
        feeder.feed_videos(at(i, 60), i * 24 / 60, {Rect::MakeXYWH(64, 64, 480, 272)});
    }
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    EXPECT_NEAR(feeder.detector().active()[0].fps, 24, 2.4);
}

TEST(StreamDetectorTest, ResetAndNewSizeEndEveryStream) {
    Feeder feeder({1280, 720});
    for (int i = 0; i < 10; ++i) feeder.feed_videos(at(i, 30), i, {Rect::MakeXYWH(0, 0, 400, 300)});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    const StreamEvents reset = feeder.detector().reset();
    EXPECT_EQ(reset.ended.size(), 1u);
    EXPECT_TRUE(feeder.detector().active().empty());

    for (int i = 10; i < 20; ++i)
        feeder.feed_videos(at(i, 30), i, {Rect::MakeXYWH(0, 0, 400, 300)});
    ASSERT_EQ(feeder.detector().active().size(), 1u);
    auto bigger = Frame::create({1600, 900});
    const StreamEvents resized =
        feeder.detector().on_frame(at(20, 30), *bigger, Region(bigger->rect()), {});
    EXPECT_EQ(resized.ended.size(), 1u);
    EXPECT_TRUE(feeder.detector().active().empty());
}

}  // namespace
}  // namespace spiced
