// StreamDetector: which parts of one display behave like video, so they can go out as a video
// stream while everything else stays lossless.
//
// Fed every frame of one display with its damage (after diffing, pixels/damage.h tiles) and
// its moves (COPY_BITS), it tracks the connected parts of the damage from frame to frame and
// reports rectangles that change at a video-like rate over a large area for a few frames in a
// row and look natural (encode/image_policy.h's classify_content), or keep animating for much
// longer whatever they look like. Damage that a move explains (the area a moved window
// uncovered, a scrolled terminal's new line) never counts. Streams follow their window when it
// moves or resizes and end when they go idle or their content stays synthetic.
//
// Pure policy: no SPICE, no encoders, no clock (time is passed in), no I/O. One instance per
// display, called on the desktop thread only; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "display/types.h"
#include "pixels/frame.h"
#include "pixels/geometry.h"
#include "pixels/region.h"

namespace spiced {

// Every threshold, with the reason for its default. Frame counts assume ~30 fps sources.
// Out-of-range values (a count below 1, a rate of 0) are raised to the smallest usable one.
struct StreamPolicy {
    // Changed frames in a row before natural content streams: one change is a page load,
    // two can be a transition, three at video rate is motion (starts on the 3rd frame).
    int min_frames = 3;
    // Slowest rate that is still "in a row": below 10 fps motion is a slideshow, and lossless
    // pictures a few times a second stay sharp and cheap. Also a 7.5 lines/s terminal.
    double min_fps = 10.0;
    // Smallest stream: below 128x128 (and 64 px either way) lossless tiles of a 30 fps
    // animation cost less than an encoder session, its key frames and a client decoder.
    int32_t min_side = 64;
    int64_t min_area = int64_t{128} * 128;
    // Damage inside a stream below this (64x64) is not activity: a spinner or caret over a
    // paused video (a 32x32 one spans at most 48x48 in 16 px tiles) lets the stream end.
    int64_t keep_alive_area = int64_t{64} * 64;
    // No activity this long ends a stream: ~9 frames at 30 fps rides out dropped or late
    // frames, yet a paused video turns sharp (lossless) within a third of a second.
    std::chrono::milliseconds idle_after{300};
    // Two video windows are common, eight is already a wall of them; each costs an encoder.
    size_t max_streams = 8;
    // Changed frames between content samples (a stream's, or a synthetic candidate's): a
    // sample reads a few hundred pixels; every 10th frame is ~3 a second at 30 fps.
    int classify_every = 10;
    // Synthetic samples in a row that end a natural stream: ~1 s at 30 fps, so one dark or
    // flat scene does not end a film.
    int synthetic_end_samples = 3;
    // Changed frames in a row that stream any content (a CAD view, a 3D game, glxgears): 1 s
    // at 30 fps is longer than a desktop switch or a menu animation. 0: synthetic never does.
    int animation_min_frames = 30;
    // Damage this close together (in px, a grid cell) is one part: two 16 px tiles bridge
    // the static seams inside a video (letterbox lines, subtitles) but not window gaps.
    int32_t merge_distance = 32;
};

// Rect: even x, y, width and height (H.264 4:2:0), inside the frame. fps: observed rate of
// change (for the encoder's configuration; not capped).
struct DetectedStream {
    uint32_t id = 0;  // never 0 for a stream; unique for the detector's life
    Rect rect;
    double fps = 0.0;
    friend bool operator==(const DetectedStream&, const DetectedStream&) = default;
};

// The stream's window moved or resized: same id, new rect. The caller repaints `previous`
// minus the new rect losslessly and restarts the encoder at the new size if it changed.
struct StreamChange {
    DetectedStream stream;
    Rect previous;
};

// What one call changed, to be applied in this order: ended (repaint the rect losslessly),
// changed, started.
struct StreamEvents {
    std::vector<DetectedStream> ended;
    std::vector<StreamChange> changed;
    std::vector<DetectedStream> started;
    bool empty() const { return ended.empty() && changed.empty() && started.empty(); }
};

class StreamDetector {
public:
    using Clock = std::chrono::steady_clock;

    explicit StreamDetector(const StreamPolicy& policy = {});
    ~StreamDetector();
    StreamDetector(StreamDetector&&) noexcept;
    StreamDetector& operator=(StreamDetector&&) noexcept;

    // One new frame, its damage against the previous frame after `moves`, and those moves. A
    // frame of another size than the last one ends every stream first.
    StreamEvents on_frame(Clock::time_point now, const Frame& frame, const Region& damage,
                          std::span<const MoveHint> moves);
    // Time passed without a frame (an idle source sends none): ends streams gone idle.
    StreamEvents on_tick(Clock::time_point now);
    // The streams running now, oldest first.
    std::span<const DetectedStream> active() const { return active_; }
    // The surface was replaced: every stream ends (returned) and tracking starts afresh.
    StreamEvents reset();

private:
    struct Track;
    struct Scratch;

    void expire(Clock::time_point now, StreamEvents& events);
    // Ends streams moved off the frame, rebuilds active_ and reports relocations.
    void publish(StreamEvents& events);

    StreamPolicy policy_;
    Size size_;
    uint32_t next_id_ = 1;
    std::vector<Track> tracks_;  // streams and candidates
    std::unique_ptr<Scratch> scratch_;
    std::vector<DetectedStream> active_;
};

}  // namespace spiced
