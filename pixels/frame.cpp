#include "pixels/frame.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

namespace spiced {

std::unique_ptr<Frame> Frame::create(Size size) {
    if (size.width < 0 || size.height < 0) size = {};
    return std::unique_ptr<Frame>(new Frame(size, size.width * 4));  // private constructor
}

std::unique_ptr<Frame> Frame::create_padded(Size size, int32_t stride) {
    if (size.width < 0 || size.height < 0) size = {};
    stride = (std::max(stride, size.width * 4) + 3) & ~3;
    return std::unique_ptr<Frame>(new Frame(size, stride));
}

Expected<std::unique_ptr<Frame>, std::string> Frame::wrap(uint8_t* pixels, Size size,
                                                          int32_t stride,
                                                          std::shared_ptr<const void> owner) {
    if (size.width < 0 || size.height < 0) return unexpected(std::string("negative frame size"));
    if (size.width > (INT32_MAX / 4) || stride < size.width * 4 || stride % 4 != 0)
        return unexpected("stride " + std::to_string(stride) + " does not fit width " +
                          std::to_string(size.width));
    if (pixels == nullptr || reinterpret_cast<uintptr_t>(pixels) % 4 != 0)
        return unexpected(std::string("frame memory is null or not 4-byte aligned"));
    return std::unique_ptr<Frame>(new Frame(pixels, size, stride, std::move(owner)));
}

Frame::Frame(Size size, int32_t stride)
    : size_(size),
      stride_(stride),
      pixels_(size_t(stride_) * size_t(size.height)),
      data_(pixels_.data()) {}

Frame::Frame(uint8_t* pixels, Size size, int32_t stride, std::shared_ptr<const void> owner)
    : size_(size), stride_(stride), data_(pixels), owner_(std::move(owner)) {}

ClippedCopy clip_copy(Size src_size, const Rect& src_rect, Point dest, Size dest_size) {
    Rect from = src_rect.intersect(Rect::MakeSize(src_size));
    // Shift `dest` by however much the source was clipped at its top-left.
    const Point to{dest.x + (from.left() - src_rect.left()),
                   dest.y + (from.top() - src_rect.top())};
    const Rect into = Rect::MakeXYWH(to.x, to.y, from.width(), from.height())
                          .intersect(Rect::MakeSize(dest_size));
    if (into.is_empty()) return {};
    from = Rect::MakeXYWH(from.left() + (into.left() - to.x), from.top() + (into.top() - to.y),
                          into.width(), into.height());
    return {from, into.origin()};
}

void Frame::copy_from(const Frame& src, const Rect& src_rect, Point dest) {
    const ClippedCopy clipped = clip_copy(src.size(), src_rect, dest, size());
    if (clipped.source.is_empty()) return;
    const Rect from = clipped.source;
    const Rect into = Rect::MakeXYWH(clipped.dest.x, clipped.dest.y, from.width(), from.height());
    const size_t row_bytes = size_t(into.width()) * 4;
    const bool bottom_up = (&src == this) && into.top() > from.top();
    for (int32_t i = 0; i < into.height(); ++i) {
        int32_t r = bottom_up ? into.height() - 1 - i : i;
        std::memmove(row(into.top() + r) + into.left(), src.row(from.top() + r) + from.left(),
                     row_bytes);
    }
}

void Frame::fill(const Rect& r, uint32_t rgb) {
    Rect clipped = r.intersect(rect());
    for (int32_t y = clipped.top(); y < clipped.bottom(); ++y) {
        uint32_t* p = row(y);
        std::fill(p + clipped.left(), p + clipped.right(), rgb);
    }
}

}  // namespace spiced
