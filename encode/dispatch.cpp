#include <lz4.h>
#include <spice/enums.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "base/bytes.h"
#include "encode/codecs.h"

namespace spiced {

std::unique_ptr<ImageEncoder> make_image_encoder(ImageCodec codec) {
    switch (codec) {
        case ImageCodec::kBitmap:
            return make_bitmap_encoder();
        case ImageCodec::kLz4:
            return make_lz4_encoder();
        case ImageCodec::kQuic:
            return make_quic_encoder();
        case ImageCodec::kLz:
            return make_lz_encoder();
        case ImageCodec::kGlz:
            return make_glz_encoder({int64_t{1} << 24, false});
        case ImageCodec::kZlibGlz:
            return make_glz_encoder({int64_t{1} << 24, true});
        case ImageCodec::kJpeg:
            return make_jpeg_encoder(85);
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

// SPICE_IMAGE_TYPE_LZ4 as encode/lz4_encoder.cpp writes it (and spice-common's canvas reads
// it): u32 data_size, u8 top_down, u8 format, then [u32 big-endian size][LZ4 block]... decoded
// as one linked stream into tightly packed rows.
Expected<std::unique_ptr<Frame>, std::string> decode_lz4(Size size, std::span<const uint8_t> body) {
    ByteReader r(body);
    const uint32_t data_size = r.u32();
    ByteReader data(r.bytes(data_size));
    if (!r.ok()) return unexpected(std::string("lz4: truncated body"));
    const uint8_t top_down = data.u8(), format = data.u8();
    if (!data.ok() || format != SPICE_BITMAP_FMT_24BIT) {
        return unexpected(std::string("lz4: unsupported bitmap format"));
    }
    std::vector<uint8_t> packed(size_t(size.area()) * 3);
    LZ4_streamDecode_t stream;
    LZ4_setStreamDecode(&stream, nullptr, 0);
    size_t filled = 0;
    while (data.remaining() > 0) {
        const auto be = data.bytes(4);
        if (!data.ok()) return unexpected(std::string("lz4: truncated block header"));
        const uint32_t block =
            uint32_t{be[0]} << 24 | uint32_t{be[1]} << 16 | uint32_t{be[2]} << 8 | be[3];
        const auto input = data.bytes(block);
        if (!data.ok() || block > uint32_t(INT32_MAX))
            return unexpected(std::string("lz4: truncated block"));
        const int room = int(std::min<size_t>(packed.size() - filled, INT32_MAX));
        const int got = LZ4_decompress_safe_continue(
            &stream, reinterpret_cast<const char*>(input.data()),
            reinterpret_cast<char*>(packed.data() + filled), int(block), room);
        if (got < 0) return unexpected(std::string("lz4: corrupt block"));
        filled += size_t(got);
    }
    if (filled != packed.size()) return unexpected(std::string("lz4: wrong amount of pixel data"));
    auto frame = Frame::create(size);
    const size_t row_bytes = size_t(size.width) * 3;
    for (int32_t y = 0; y < size.height; ++y) {
        const uint8_t* src = packed.data() + size_t(top_down ? y : size.height - 1 - y) * row_bytes;
        uint32_t* dest = frame->row(y);
        for (int32_t x = 0; x < size.width; ++x, src += 3) {
            dest[x] = uint32_t{src[0]} | uint32_t{src[1]} << 8 | uint32_t{src[2]} << 16;
        }
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
            case SPICE_IMAGE_TYPE_BITMAP:
                return decode_bitmap(size, body);
            case SPICE_IMAGE_TYPE_LZ4:
                return decode_lz4(size, body);
            case SPICE_IMAGE_TYPE_QUIC:
                return decode_quic_body(body, size);
            case SPICE_IMAGE_TYPE_LZ_RGB:
            case SPICE_IMAGE_TYPE_LZ_PLT:
                return decode_lz_body(image_type, size, message, body_offset);
            case SPICE_IMAGE_TYPE_GLZ_RGB:
            case SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB:
                return decode_glz_body(*glz_window_, image_type, size, body);
            case SPICE_IMAGE_TYPE_JPEG:
            case SPICE_IMAGE_TYPE_JPEG_ALPHA:
                return decode_jpeg_body(image_type, size, body);
            default:
                return unexpected("image type " + std::to_string(image_type) + " unsupported");
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
