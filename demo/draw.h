// Drawing primitives for the demo scene. Colours are 0x00RRGGBB, the Frame pixel layout; every
// primitive clips to `clip` and to the frame, so callers can pass window rects unchecked.
#pragma once

#include <cstdint>
#include <string_view>

#include "pixels/frame.h"

namespace spiced {

constexpr uint32_t rgb(uint32_t r, uint32_t g, uint32_t b) {
    return (r << 16) | (g << 8) | b;
}

// (a * (256 - w) + b * w) / 256 per channel, w in [0, 256]; two channels per multiply.
constexpr uint32_t blend(uint32_t a, uint32_t b, uint32_t w) {
    const uint32_t rb = ((a & 0xff00ffu) * (256 - w) + (b & 0xff00ffu) * w) >> 8;
    const uint32_t g = ((a & 0x00ff00u) * (256 - w) + (b & 0x00ff00u) * w) >> 8;
    return (rb & 0xff00ffu) | (g & 0x00ff00u);
}

// Multiplies each channel by scale/256 (scale <= 256).
constexpr uint32_t shade(uint32_t c, uint32_t scale) {
    return blend(0, c, scale);
}

void fill_rect(Frame& frame, const Rect& rect, uint32_t color, const Rect& clip);
// Vertical gradient from `top` (first row) to `bottom` (last row).
void fill_vgradient(Frame& frame, const Rect& rect, uint32_t top, uint32_t bottom);
// One-pixel outline just inside `rect`.
void draw_frame_rect(Frame& frame, const Rect& rect, uint32_t color, const Rect& clip);
// One-pixel Bresenham line including both endpoints.
void draw_line(Frame& frame, Point a, Point b, uint32_t color, const Rect& clip);

// Window decoration: what part of a window rect is chrome and what is content.
struct WindowGeometry {
    Rect outer;
    Rect title;    // title bar, inside the border
    Rect content;  // client area
};
WindowGeometry window_geometry(const Rect& outer, int32_t title_height);
// Border, title bar with `title`, and the three caption buttons. The content is left alone.
void draw_window_chrome(Frame& frame, const WindowGeometry& window, std::string_view title,
                        bool active);
// A soft drop shadow below and to the right of `window`, blended into what is already there.
void draw_drop_shadow(Frame& frame, const Rect& window, int32_t radius);

}  // namespace spiced
