// The "video playing in a window": a procedural landscape clip that changes every frame -- a
// sky whose colours drift, two hill ranges panning with parallax, a sun and drifting clouds as
// soft blobs, and seeded film grain. Natural-image statistics for the codecs, at integer cost:
// floats are used only for per-row / per-column tables, never per pixel.
#pragma once

#include <cstdint>
#include <vector>

#include "pixels/frame.h"

namespace spiced {

class VideoClip {
public:
    VideoClip(Size size, uint64_t seed);

    // Draws frame `index` of the clip into `frame` with its top-left at `origin` (clipped).
    void render(int64_t index, Frame& frame, Point origin);

private:
    struct Blob {
        float x, y, sigma_x, sigma_y;
        uint32_t color;
        uint32_t strength;  // peak opacity, 0..256
    };
    void draw_blob(const Blob& blob, Frame& frame, Point origin, const Rect& dest);

    Size size_;
    uint64_t seed_;
    // Per-frame tables, kept as members so render() does not allocate.
    std::vector<uint32_t> sky_;         // colour per row
    std::vector<int32_t> far_top_;      // first far-hill row per column
    std::vector<int32_t> near_top_;     // first near-hill row per column
    std::vector<uint32_t> far_shade_;   // far-hill colour by depth below its ridge
    std::vector<uint32_t> near_shade_;  // near-hill colour by depth below its ridge
    std::vector<uint32_t> weight_x_;    // blob profile along x, 0..256
    std::vector<uint32_t> weight_y_;
};

}  // namespace spiced
