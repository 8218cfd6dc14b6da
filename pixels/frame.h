// Frame: one picture in 32-bit BGRX (SPICE's 32_xRGB surface format: bytes B, G, R, X in
// memory), with its size, stride and the region that changed since the previous frame.
//
// A frame either owns its pixels (Frame::create) or wraps memory someone else owns
// (Frame::wrap: guest memory, an mmap'd dmabuf, a host's framebuffer) with any stride; readers
// cannot tell the two apart, so every row is reached through row() and stride().
//
// Frames are non-copyable: they are moved as std::unique_ptr<Frame> and read as const Frame&.
// Nothing in pixels/ or encode/ takes a bare (pointer, w, h, stride).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "pixels/geometry.h"
#include "pixels/region.h"

namespace spiced {

// Where a copy of `src_rect` of a `src_size` picture to `dest` on a `dest_size` picture really
// reads and writes, clipped to both (one rule for Frame::copy_from and the compositors).
struct ClippedCopy {
    Rect source;  // empty: nothing to copy
    Point dest;
};
ClippedCopy clip_copy(Size src_size, const Rect& src_rect, Point dest, Size dest_size);

class Frame {
public:
    // A zero-filled (black) frame with stride = 4 * width.
    static std::unique_ptr<Frame> create(Size size);
    // The same with rows `stride` bytes apart (at least 4 * width, a multiple of 4): the
    // padding tests use to prove code reads rows through stride().
    static std::unique_ptr<Frame> create_padded(Size size, int32_t stride);
    // Wraps `size` pixels at `pixels`, rows `stride` bytes apart, without copying. The memory
    // must stay valid and 4-byte aligned for the frame's life; `owner` (may be null) is held
    // until the frame is destroyed, so a mapping can be released then. Fails for a negative
    // size, a stride below 4 * width or not a multiple of 4, or a null or misaligned pointer.
    static Expected<std::unique_ptr<Frame>, std::string> wrap(uint8_t* pixels, Size size,
                                                              int32_t stride,
                                                              std::shared_ptr<const void> owner);

    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    Size size() const { return size_; }
    int32_t width() const { return size_.width; }
    int32_t height() const { return size_.height; }
    Rect rect() const { return Rect::MakeSize(size_); }
    // Bytes between the starts of two rows.
    int32_t stride() const { return stride_; }

    // False for a wrapped frame: its memory belongs to someone else.
    bool owns_pixels() const { return data_ == pixels_.data(); }

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
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
    Frame(Size size, int32_t stride);
    Frame(uint8_t* pixels, Size size, int32_t stride, std::shared_ptr<const void> owner);

    Size size_;
    int32_t stride_;
    std::vector<uint8_t> pixels_;  // empty when wrapped
    uint8_t* data_;
    std::shared_ptr<const void> owner_;
    Region damage_;
};

}  // namespace spiced
