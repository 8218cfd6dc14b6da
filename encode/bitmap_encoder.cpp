// SPICE BitmapData: format, flags, width, height, stride, palette pointer, then the rows.
#include <spice/enums.h>

#include <cstring>

#include "encode/image_encoder.h"

namespace spiced {

namespace {
class BitmapEncoder final : public ImageEncoder {
public:
    ImageCodec codec() const override { return ImageCodec::kBitmap; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
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
        return uint8_t{SPICE_IMAGE_TYPE_BITMAP};
    }
};
}  // namespace

std::unique_ptr<ImageEncoder> make_bitmap_encoder() {
    return std::make_unique<BitmapEncoder>();
}

}  // namespace spiced
