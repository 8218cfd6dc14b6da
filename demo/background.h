// The static part of the demo desktop -- wallpaper, icons, taskbar, and the chrome and fixed
// content of the terminal, player and CAD windows -- drawn once and copied into every frame.
#pragma once

#include <memory>

#include "demo/layout.h"
#include "gpu/frame.h"

namespace spiced {

std::unique_ptr<Frame> draw_background(const DemoLayout& layout, size_t cad_edges);

// Keyboard LED boxes (Caps, Num, Scroll from left to right); drawn per frame.
void draw_leds(Frame& frame, const Rect& area, uint32_t leds);

}  // namespace spiced
