// The demo desktop's pointer image, sent on the cursor channel (it is never drawn into frames).
#include <string_view>

#include "demo/demo_desktop.h"

namespace spiced {
namespace {

// Drawn by hand: 'B' outline, 'W' fill, '.' transparent. The tip is at (0, 0).
constexpr std::string_view kArrow[] = {
    "B...........",  //
    "BB..........",  //
    "BWB.........",  //
    "BWWB........",  //
    "BWWWB.......",  //
    "BWWWWB......",  //
    "BWWWWWB.....",  //
    "BWWWWWWB....",  //
    "BWWWWWWWB...",  //
    "BWWWWWWWWB..",  //
    "BWWWWWWWWWB.",  //
    "BWWWWWWBBBBB",  //
    "BWWWBWWB....",  //
    "BWWBBWWB....",  //
    "BWB..BWWB...",  //
    "BB...BWWB...",  //
    "B.....BWWB..",  //
    "......BWWB..",  //
    ".......BWWB.",  //
    ".......BWWB.",  //
    "........BB..",  //
};
// A text I-beam; its hotspot is the middle of the stem.
constexpr std::string_view kBeam[] = {
    "BBB.BBB",  //
    "BWWBWWB",  //
    "BBBWBBB",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "..BWB..",  //
    "BBBWBBB",  //
    "BWWBWWB",  //
    "BBB.BBB",  //
};
constexpr Point kBeamHotspot = {3, 9};
constexpr int32_t kCursorSize = 32;
constexpr int32_t kShadowOffset = 2;
constexpr uint32_t kShadow = 0x50000000;  // 31% black

template <size_t N>
char pixel_at(const std::string_view (&picture)[N], int32_t x, int32_t y) {
    if (y < 0 || y >= static_cast<int32_t>(N) || x < 0 ||
        x >= static_cast<int32_t>(picture[y].size())) {
        return '.';
    }
    return picture[y][x];
}

}  // namespace

CursorImage DemoDesktop::cursor_image(DemoCursor shape) {
    const bool beam = shape == DemoCursor::kText;
    auto at = [beam](int32_t x, int32_t y) {
        return beam ? pixel_at(kBeam, x, y) : pixel_at(kArrow, x, y);
    };
    CursorImage image;
    image.width = kCursorSize;
    image.height = kCursorSize;
    image.hotspot = beam ? kBeamHotspot : Point{0, 0};
    image.argb.resize(static_cast<size_t>(kCursorSize) * kCursorSize);
    for (int32_t y = 0; y < kCursorSize; ++y) {
        for (int32_t x = 0; x < kCursorSize; ++x) {
            uint32_t p = 0;
            switch (at(x, y)) {
                case 'B':
                    p = 0xff000000;
                    break;
                case 'W':
                    p = 0xffffffff;
                    break;
                default:
                    if (at(x - kShadowOffset, y - kShadowOffset) != '.') p = kShadow;
                    break;
            }
            image.argb[static_cast<size_t>(y) * kCursorSize + x] = p;
        }
    }
    return image;
}

}  // namespace spiced
