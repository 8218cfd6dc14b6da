// The demo desktop's built-in 8x16 bitmap font: printable ASCII 32..126, hand-drawn for this
// project (no third-party glyph data). Row r of a glyph is one byte, bit 7 = leftmost pixel.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "pixels/frame.h"

namespace spiced {

inline constexpr int32_t kGlyphWidth = 8;
inline constexpr int32_t kGlyphHeight = 16;

using GlyphRows = std::array<uint8_t, kGlyphHeight>;

// Characters outside 32..126 are drawn as a hollow box so they are visible, not silently lost.
const GlyphRows& glyph(char c);

// Draws `text` starting at `origin` (top-left of the first cell) in `rgb`, leaving background
// pixels untouched; nothing is drawn outside `clip` (itself clipped to the frame).
void draw_text(Frame& frame, Point origin, std::string_view text, uint32_t rgb, const Rect& clip);

// Width in pixels of `text` in this font.
constexpr int32_t text_width(std::string_view text) {
    return static_cast<int32_t>(text.size()) * kGlyphWidth;
}

}  // namespace spiced
