#include <spice/enums.h>

#include <cstring>

#include "base/bytes.h"
#include "encode/codecs.h"

namespace spiced {

std::unique_ptr<ImageEncoder> make_image_encoder(ImageCodec codec) {
    switch (codec) {
        case ImageCodec::kBitmap: return make_bitmap_encoder();
        case ImageCodec::kLz4: return make_lz4_encoder();
        case ImageCodec::kQuic: return make_quic_encoder();
        case ImageCodec::kLz: return make_lz_encoder();
        case ImageCodec::kGlz: return make_glz_encoder({int64_t{1} << 24, false});
        case ImageCodec::kZlibGlz: return make_glz_encoder({int64_t{1} << 24, true});
        case ImageCodec::kJpeg: return make_jpeg_encoder(85);
    }
    return nullptr;
}

namespace {

bool size_ok(Size size) {
    return size.width > 0 && size.height > 0 && size.area() <= kMaxDecodedPixels;
}

Expected<std::unique_ptr<Frame>, std::string> decode_bitmap(Size size,
                                                            std::span<const uint8_t> body) {
    ByteReader r(body);
    const uint8_t format = r.u8(), flags = r.u8();
    const uint32_t width = r.u32(), height = r.u32(), stride = r.u32(), palette = r.u32();
    if (!r.ok()) return unexpected(std::string("bitmap: truncated header"));
    if (format != SPICE_BITMAP_FMT_32BIT || palette != 0 ||
        !(flags & SPICE_BITMAP_FLAGS_TOP_DOWN) || width != uint32_t(size.width) ||
        height != uint32_t(size.height) || stride < width * 4) {
        return unexpected(std::string("bitmap: unsupported layout"));
    }
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        auto row = r.bytes(stride);
        if (!r.ok()) return unexpected(std::string("bitmap: truncated pixels"));
        std::memcpy(frame->row(y), row.data(), size_t(size.width) * 4);
    }
    return frame;
}

class DispatchingDecoder final : public ImageDecoder {
public:
    explicit DispatchingDecoder(int64_t glz_window_pixels)
        : glz_window_(make_glz_decoder_window(glz_window_pixels)) {}

    Expected<std::unique_ptr<Frame>, std::string> decode(uint8_t image_type, Size size,
                                                        std::span<const uint8_t> message,
                                                        size_t body_offset) override {
        if (!size_ok(size)) return unexpected(std::string("image size out of range"));
        if (body_offset > message.size()) return unexpected(std::string("body outside message"));
        const auto body = message.subspan(body_offset);
        switch (image_type) {
            case SPICE_IMAGE_TYPE_BITMAP: return decode_bitmap(size, body);
            case SPICE_IMAGE_TYPE_QUIC: return decode_quic_body(body, size);
            case SPICE_IMAGE_TYPE_LZ_RGB:
            case SPICE_IMAGE_TYPE_LZ_PLT:
                return decode_lz_body(image_type, size, message, body_offset);
            case SPICE_IMAGE_TYPE_GLZ_RGB:
            case SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB:
                return decode_glz_body(*glz_window_, image_type, size, body);
            case SPICE_IMAGE_TYPE_JPEG:
            case SPICE_IMAGE_TYPE_JPEG_ALPHA: return decode_jpeg_body(image_type, size, body);
            default: return unexpected("image type " + std::to_string(image_type) + " unsupported");
        }
    }

private:
    std::unique_ptr<GlzDecoderWindow> glz_window_;
};

}  // namespace

std::unique_ptr<ImageDecoder> make_image_decoder(int64_t glz_window_pixels) {
    return std::make_unique<DispatchingDecoder>(glz_window_pixels);
}

}  // namespace spiced
