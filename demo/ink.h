// The pointer's ink: marks left by pointer motion and clicks, drawn over everything on the
// screen ("ink on the glass", it does not move with windows). One palette byte per screen pixel
// bounds the memory however much is drawn; a per-tile flag lets compositing skip clean tiles.
#pragma once

#include <cstdint>
#include <vector>

#include "pixels/frame.h"

namespace spiced {

class InkLayer {
public:
    enum Color : uint8_t { kNone, kTrail, kLeft, kMiddle, kRight, kWheelUp, kWheelDown, kEdge };

    explicit InkLayer(Size size);

    // Filled disk, or a ring when inner_radius >= 0; returns whether any pixel changed.
    bool stamp(Point center, int32_t radius, Color color, int32_t inner_radius = -1);
    // Disks of `radius` every couple of pixels from `a` to `b` (a drag stroke).
    bool stroke(Point a, Point b, int32_t radius, Color color);

    void composite(Frame& frame) const;

private:
    static constexpr int32_t kTile = 64;  // tile edge in pixels

    Size size_;
    int32_t tiles_x_;
    std::vector<uint8_t> ink_;    // size_.area() palette indices, row-major
    std::vector<uint8_t> dirty_;  // per tile: holds any ink
};

}  // namespace spiced
