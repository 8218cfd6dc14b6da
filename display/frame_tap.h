// FrameTap: a hook on the frames display 0 publishes, outside the pipeline: tests and
// diagnostics read the served picture through it (--dump-frame). A tap counts as a watcher
// of display 0 for as long as it is installed, so the source renders for it even with no
// client connected. Called on the desktop thread.
#pragma once

#include <memory>
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

class FrameTap {
public:
    virtual ~FrameTap() = default;
    virtual void on_frame(const Frame& frame, const DisplayLayout& layout, FrameNote note) = 0;
};

// --dump-frame FILE: writes head 0 of display 0 as PPM (atomically) whenever the source goes
// still, input changes the picture, or the layout changes.
std::unique_ptr<FrameTap> make_ppm_dump_tap(std::string path);

}  // namespace spiced
