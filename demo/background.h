// The static part of the demo desktop -- wallpaper, icons, taskbar, and the chrome and fixed
// content of the terminal, player and CAD windows -- drawn once and copied into every frame.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "demo/layout.h"
#include "pixels/frame.h"

namespace spiced {

std::unique_ptr<Frame> draw_background(const DemoLayout& layout, size_t cad_edges);

// The "Received files" window with `lines` (oldest first), drawn into the background once a
// file arrived.
void draw_files_window(Frame& frame, const DemoLayout& layout, std::span<const std::string> lines);

// Keyboard LED boxes (Caps, Num, Scroll from left to right); drawn per frame.
void draw_leds(Frame& frame, const Rect& area, uint32_t leds);

}  // namespace spiced
