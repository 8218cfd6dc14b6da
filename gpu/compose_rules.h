// The rules of composition both backends share (gpu/compositor.h states them): which part of a
// layer lands where, where the cursor goes, how one cursor pixel blends, which tiles a region
// touches. The Vulkan shaders implement the same arithmetic; keeping the host side in one place
// keeps the two backends from drifting apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/expected.h"
#include "gpu/compositor.h"

namespace spiced::gpu {

// A layer's visible part: `source` of its frame copied to `dest` on the output (empty source:
// nothing visible).
using LayerCopy = ClippedCopy;
inline LayerCopy clip_layer(const Layer& layer, Size output) {
    return clip_copy(layer.frame->size(), layer.source, layer.dest, output);
}

struct CursorPlacement {
    Point origin;  // output position of the image's top-left pixel
    Rect visible;  // the output pixels it covers, clipped to the output
};
inline CursorPlacement place_cursor(const CursorOverlay& cursor, Size output) {
    const CursorImage& image = cursor.shape->image;
    const Point origin{cursor.position.x - image.hotspot.x, cursor.position.y - image.hotspot.y};
    return {origin, Rect::MakeXYWH(origin.x, origin.y, image.width, image.height)
                        .intersect(Rect::MakeSize(output))};
}

// Straight alpha over the output pixel; the output's X byte stays.
inline uint32_t blend_pixel(uint32_t argb, uint32_t under) {
    const uint32_t a = argb >> 24;
    uint32_t out = under & 0xff000000u;
    for (int shift = 0; shift < 24; shift += 8) {
        const uint32_t s = (argb >> shift) & 0xffu, d = (under >> shift) & 0xffu;
        out |= ((s * a + d * (255 - a) + 127) / 255) << shift;
    }
    return out;
}

// The tiles (clipped to the output) that `region` touches, top to bottom, left to right.
std::vector<Rect> tiles_touching(const Region& region, Size output, int32_t tile_size);

// A step both backends accept: a sane output size, layers with frames, cursor images that
// match their size.
Expected<void, std::string> check_step(const CompositionStep& step);

}  // namespace spiced::gpu
