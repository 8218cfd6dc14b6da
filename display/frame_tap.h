// FrameTap: a hook on the frames the displays publish, outside the pipeline: tests and
// diagnostics read the served picture through it (--dump-frame). A tap counts as a watcher
// for as long as it is installed, so the source renders for it even with no client
// connected. Called on the desktop thread.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "display/types.h"
#include "pixels/frame.h"

namespace spiced {

// Why a frame is interesting to a tap.
struct FrameNote {
    bool still = false;           // the source stops animating after it
    bool input_changed = false;   // input changed it
    bool layout_changed = false;  // the first frame after a resize or head change
};

// One head in a published frame, numbered as clients number monitors (the head number).
struct TappedHead {
    uint32_t number = 0;
    Rect rect;
};

class FrameTap {
public:
    virtual ~FrameTap() = default;
    virtual void on_frame(const Frame& frame, std::span<const TappedHead> heads,
                          FrameNote note) = 0;
};

// --dump-frame FILE: writes every head as PPM (atomically) whenever the source goes still,
// input changes the picture, or the layout changes: head 0 to FILE, head N to FILE with
// "-headN" before its extension (dump.ppm -> dump-head1.ppm).
std::unique_ptr<FrameTap> make_ppm_dump_tap(std::string path);

}  // namespace spiced
