#include <cstring>

#include "gpu/scanout.h"

namespace spiced::gpu {

void convert_scanout_row(const uint32_t* src, uint32_t* dst, int32_t width, bool bgr) {
    if (!bgr) {
        std::memcpy(dst, src, size_t(width) * 4);
        return;
    }
    for (int32_t x = 0; x < width; ++x) {
        const uint32_t p = src[x];
        dst[x] = (p & 0xff00ff00u) | ((p >> 16) & 0xffu) | ((p & 0xffu) << 16);
    }
}

namespace {

class MappedScanoutReader final : public ScanoutReader {
public:
    explicit MappedScanoutReader(const ScanoutBuffer& buffer) : buffer_(buffer) {}

    Expected<void, std::string> read(const Region& area, Frame& out) override {
        const Rect picture = Rect::MakeSize(buffer_.size);
        for (const Rect& whole : area.rects()) {
            const Rect rect = whole.intersect(picture);
            for (int32_t y = rect.top(); y < rect.bottom(); ++y) {
                const auto* src = reinterpret_cast<const uint32_t*>(
                                      buffer_.mapping + scanout_row_offset(buffer_, y)) +
                                  rect.left();
                convert_scanout_row(src, out.row(y) + rect.left(), rect.width(), buffer_.bgr);
            }
        }
        return {};
    }
    const std::string& method() const override { return method_; }

private:
    ScanoutBuffer buffer_;
    std::string method_ = "its CPU mapping";
};

}  // namespace

std::unique_ptr<ScanoutReader> make_mapped_scanout_reader(const ScanoutBuffer& buffer) {
    return std::make_unique<MappedScanoutReader>(buffer);
}

}  // namespace spiced::gpu
