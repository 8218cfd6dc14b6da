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
constexpr int32_t kCursorSize = 32;
constexpr int32_t kShadowOffset = 2;
constexpr uint32_t kShadow = 0x50000000;  // 31% black

char arrow_at(int32_t x, int32_t y) {
    constexpr int32_t rows = static_cast<int32_t>(sizeof kArrow / sizeof kArrow[0]);
    if (y < 0 || y >= rows || x < 0 || x >= static_cast<int32_t>(kArrow[y].size())) return '.';
    return kArrow[y][x];
}

}  // namespace

CursorImage DemoDesktop::cursor_image() {
    CursorImage image;
    image.width = kCursorSize;
    image.height = kCursorSize;
    image.hotspot = {0, 0};
    image.argb.resize(static_cast<size_t>(kCursorSize) * kCursorSize);
    for (int32_t y = 0; y < kCursorSize; ++y) {
        for (int32_t x = 0; x < kCursorSize; ++x) {
            uint32_t p = 0;
            switch (arrow_at(x, y)) {
                case 'B':
                    p = 0xff000000;
                    break;
                case 'W':
                    p = 0xffffffff;
                    break;
                default:
                    if (arrow_at(x - kShadowOffset, y - kShadowOffset) != '.') p = kShadow;
                    break;
            }
            image.argb[static_cast<size_t>(y) * kCursorSize + x] = p;
        }
    }
    return image;
}

}  // namespace spiced
