// SPICE BitmapData: format, flags, width, height, stride, palette pointer, then the rows.
#include <spice/enums.h>

#include <cstring>

#include "encode/image_encoder.h"

namespace spiced {

std::string_view to_string(ImageCodec codec) {
    switch (codec) {
        case ImageCodec::kBitmap:
            return "bitmap";
        case ImageCodec::kLz4:
            return "lz4";
    }
    return "?";
}

namespace {
class BitmapEncoder final : public ImageEncoder {
public:
    ImageCodec codec() const override { return ImageCodec::kBitmap; }

    Expected<void, std::string> encode(const Frame& frame, const Rect& area,
                                       ByteWriter& out) override {
        if (!frame.rect().contains(area) || area.is_empty()) {
            return unexpected(std::string("bitmap: area outside the frame"));
        }
        const uint32_t row_bytes = uint32_t(area.width()) * 4;
        out.u8(SPICE_BITMAP_FMT_32BIT);
        out.u8(SPICE_BITMAP_FLAGS_TOP_DOWN);
        out.u32(uint32_t(area.width()));
        out.u32(uint32_t(area.height()));
        out.u32(row_bytes);
        out.u32(0);  // no palette
        uint8_t* dest = out.extend(size_t(row_bytes) * area.height());
        for (int32_t y = area.top(); y < area.bottom(); ++y, dest += row_bytes) {
            std::memcpy(dest, frame.row(y) + area.left(), row_bytes);
        }
        return {};
    }
};
}  // namespace

std::unique_ptr<ImageEncoder> make_bitmap_encoder() {
    return std::make_unique<BitmapEncoder>();
}

}  // namespace spiced
