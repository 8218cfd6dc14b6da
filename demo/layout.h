// Where everything sits on the demo desktop, derived from the screen size alone. Positions are
// proportional to the screen so any size >= 320x240 keeps every element inside the frame; the
// chrome (title bars, taskbar) keeps a fixed pixel size so text stays legible.
#pragma once

#include <cstdint>

#include "demo/draw.h"
#include "pixels/geometry.h"

namespace spiced {

struct DemoLayout {
    Size screen;
    Rect desktop;  // everything above the taskbar
    Rect taskbar;
    Rect status_text;  // per-frame status line inside the taskbar
    Rect leds;         // keyboard LED indicators inside the taskbar
    int32_t title_height = 0;

    WindowGeometry terminal;
    Rect terminal_text;  // whole lines only: terminal_rows * kGlyphHeight tall
    int32_t terminal_rows = 0;
    int32_t terminal_cols = 0;

    WindowGeometry player;
    Rect video;     // the moving picture
    Rect controls;  // play button, progress bar and time under the video
    Rect progress;  // progress track inside `controls`
    Point time_text;

    WindowGeometry cad;
    Rect cad_view;  // wireframe viewport

    WindowGeometry files;  // "Received files", shown once a file arrived

    Size editor_size;  // the editor window moves; its outer rect is this size
    Rect editor_area;  // where the editor window may be (it never covers the taskbar)
};

DemoLayout make_layout(Size screen);

}  // namespace spiced
