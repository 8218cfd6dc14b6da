// SPICE LZ image bodies (spice.proto):
//   LZ_RGB: u32 data_size, LZ stream (RGB32 here).
//   LZ_PLT: u8 flags, u32 data_size, u32 palette pointer (offset from the message start),
//           LZ stream (PLT1/4/8), then the Palette it points to: u64 unique, u16 num_ents,
//           u32 ents[num_ents] (0x00RRGGBB).
// We send palettes with unique = 0 and no cache flags: screen areas rarely share a palette
// object, and a cached one would tie us to the client's palette-cache bookkeeping.
#include <spice/enums.h>

#include <cstring>

#include "encode/codecs.h"
#include "encode/lz.h"

namespace spiced {

namespace {

using Error = std::string;

// flags + data_size + palette pointer, before the LZ_PLT stream.
constexpr size_t kPltPrefix = 1 + 4 + 4;
constexpr size_t kRgbPrefix = 4;

class LzImageEncoder final : public ImageEncoder {
public:
    explicit LzImageEncoder(const LzEncoderOptions& options) : options_(options) {}

    ImageCodec codec() const override { return ImageCodec::kLz; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t message_start) override {
        if (message_start > out.size()) return unexpected(Error("lz: message start past end"));
        // The type is known only after the colour count, so reserve the longer (LZ_PLT)
        // prefix and slide the stream down by 5 bytes for LZ_RGB: it is already compressed,
        // so that costs less than a second scratch copy.
        const size_t prefix_at = out.size();
        out.zeros(kPltPrefix);
        auto type = compressor_.encode_auto(frame, area, out, palette_, options_.allow_palette);
        if (!type) {
            out.buffer().resize(prefix_at);
            return unexpected(type.error());
        }
        const size_t data_size = out.size() - prefix_at - kPltPrefix;
        if (!lz_is_palette(*type)) {
            uint8_t* base = out.buffer().data() + prefix_at;
            std::memmove(base + kRgbPrefix, base + kPltPrefix, data_size);
            out.buffer().resize(prefix_at + kRgbPrefix + data_size);
            out.patch_u32(prefix_at, uint32_t(data_size));
            return uint8_t{SPICE_IMAGE_TYPE_LZ_RGB};
        }
        out.buffer()[prefix_at] = SPICE_BITMAP_FLAGS_TOP_DOWN;  // as spice-server sends it
        out.patch_u32(prefix_at + 1, uint32_t(data_size));
        out.patch_u32(prefix_at + 5, uint32_t(out.size() - message_start));
        out.u64(0);  // unique: not cacheable
        out.u16(uint16_t(palette_.size()));
        for (const uint32_t colour : palette_) out.u32(colour);
        return uint8_t{SPICE_IMAGE_TYPE_LZ_PLT};
    }

private:
    LzEncoderOptions options_;
    LzCompressor compressor_;
    std::vector<uint32_t> palette_;
};

Expected<std::unique_ptr<Frame>, Error> decode_checked(std::span<const uint8_t> stream, Size size,
                                                       bool want_palette,
                                                       std::span<const uint32_t> palette) {
    auto header = lz_read_header(stream);
    if (!header) return unexpected(header.error());
    if (lz_is_palette(header->type) != want_palette || header->type == LzImageType::kXxxa) {
        return unexpected(Error("lz: stream type does not fit the SPICE image type"));
    }
    if (header->width != size.width || header->height != size.height) {
        return unexpected(Error("lz: stream size differs from the image descriptor"));
    }
    return lz_decode(stream, palette);
}

}  // namespace

std::unique_ptr<ImageEncoder> make_lz_encoder(const LzEncoderOptions& options) {
    return std::make_unique<LzImageEncoder>(options);
}

std::unique_ptr<ImageEncoder> make_lz_encoder() {
    return make_lz_encoder(LzEncoderOptions{});
}

Expected<std::unique_ptr<Frame>, std::string> decode_lz_body(uint8_t image_type, Size size,
                                                             std::span<const uint8_t> message,
                                                             size_t body_offset) {
    if (size.is_empty() || size.area() > kMaxDecodedPixels) {
        return unexpected(Error("lz: image size out of range"));
    }
    if (body_offset > message.size()) return unexpected(Error("lz: body outside the message"));
    ByteReader r(message.subspan(body_offset));
    if (image_type == SPICE_IMAGE_TYPE_LZ_RGB) {
        const uint32_t data_size = r.u32();
        const auto data = r.bytes(data_size);
        if (!r.ok()) return unexpected(Error("lz: truncated LZ_RGB body"));
        return decode_checked(data, size, false, {});
    }
    if (image_type != SPICE_IMAGE_TYPE_LZ_PLT) return unexpected(Error("lz: not an LZ image"));
    const uint8_t flags = r.u8();
    const uint32_t data_size = r.u32();
    if (flags & SPICE_BITMAP_FLAGS_PAL_FROM_CACHE) {
        return unexpected(Error("lz: cached palettes are not supported"));
    }
    const uint32_t palette_at = r.u32();
    const auto data = r.bytes(data_size);
    if (!r.ok()) return unexpected(Error("lz: truncated LZ_PLT body"));
    if (palette_at == 0) return unexpected(Error("lz: null palette pointer"));
    ByteReader p(message);
    p.seek(palette_at);
    (void)p.u64();  // unique
    const uint16_t count = p.u16();
    const auto entries = p.bytes(size_t{count} * 4);
    if (!p.ok()) return unexpected(Error("lz: palette outside the message"));
    if (count == 0) return unexpected(Error("lz: empty palette"));
    std::vector<uint32_t> palette(count);
    for (size_t k = 0; k < count; ++k) palette[k] = load_u32_le(entries.data() + 4 * k);
    return decode_checked(data, size, true, palette);
}

}  // namespace spiced
