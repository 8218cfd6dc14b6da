// Frame: one picture in 32-bit BGRX (SPICE's 32_xRGB surface format: bytes B, G, R, X in
// memory), with its size, stride and the region that changed since the previous frame.
//
// Frames are non-copyable: they are created by Frame::create, moved as std::unique_ptr<Frame>
// and read as const Frame&. Nothing in gpu/ or encode/ takes a bare (pointer, w, h, stride).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gpu/geometry.h"
#include "gpu/region.h"

namespace spiced {

class Frame {
public:
    // A zero-filled (black) frame with stride = 4 * width.
    static std::unique_ptr<Frame> create(Size size);

    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    Size size() const { return size_; }
    int32_t width() const { return size_.width; }
    int32_t height() const { return size_.height; }
    Rect rect() const { return Rect::MakeSize(size_); }
    // Bytes between the starts of two rows.
    int32_t stride() const { return stride_; }

    uint8_t* data() { return pixels_.data(); }
    const uint8_t* data() const { return pixels_.data(); }
    uint32_t* row(int32_t y) { return reinterpret_cast<uint32_t*>(data() + size_t(y) * stride_); }
    const uint32_t* row(int32_t y) const {
        return reinterpret_cast<const uint32_t*>(data() + size_t(y) * stride_);
    }
    // Pixel as 0x00RRGGBB.
    uint32_t pixel(int32_t x, int32_t y) const { return row(y)[x] & 0x00ffffffu; }

    Region& damage() { return damage_; }
    const Region& damage() const { return damage_; }

    // Copies `src_rect` of `src` so its top-left lands at `dest`; clipped to both frames.
    // `src` may be this frame (overlapping moves are handled like memmove).
    void copy_from(const Frame& src, const Rect& src_rect, Point dest);
    void fill(const Rect& rect, uint32_t rgb);

private:
    explicit Frame(Size size);

    Size size_;
    int32_t stride_;
    std::vector<uint8_t> pixels_;
    Region damage_;
};

}  // namespace spiced
