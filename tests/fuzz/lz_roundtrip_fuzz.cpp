// libFuzzer: images through our SPICE LZ encoder and back through our LZ decoder.
// Input: [image header, roundtrip_image.h][mode][palette size][pixel pool...].
//   mode & 0x7f, mod 11: 0 is the LZ ImageEncoder (LZ_RGB or LZ_PLT body, whichever it picks;
//   mode & 0x80 forbids LZ_PLT as for spice-html5); 1..10 is that LzImageType (PLT1_LE ..
//   XXXA) through LzCompressor::encode. In mode 0, the palette size byte puts the body after
//   (bits 0-2) bytes outside the message and (bits 3-5) message bytes. Palette types take 1 +
//   (palette size % 2^bits) entries from the pool's first bytes and index them with each pixel's B
//   byte, keeping its X byte (which the palette types must ignore).
// Checks: the SIMD and portable compressors write the same bytes (encode/simd_level.h), each
// after first compressing the whole frame, so stale tables are exercised; the stream has the
// type asked for; it decodes to exactly what the type carries: RGB for RGB24/RGB32 and the
// palette types, all four bytes for RGBA, only X for XXXA, 5 bits a channel for RGB16 widened
// as spice-common does. The ImageEncoder's body holds the same stream and decodes to the same
// RGB, also where the message does not start at 0 and the body not at the message start (the
// LZ_PLT palette pointer is an offset from the message start).
#include <spice/enums.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "encode/codecs.h"
#include "encode/lz.h"
#include "tests/fuzz/portable_codecs.h"
#include "tests/fuzz/roundtrip_image.h"

using namespace spiced;
using namespace spiced::fuzz;

namespace {

uint32_t carried(LzImageType type, uint32_t pixel) {
    switch (type) {
        case LzImageType::kRgba:
            return pixel;
        case LzImageType::kXxxa:
            return pixel & 0xff000000u;
        case LzImageType::kRgb16: {
            const uint32_t r = pixel >> 19 & 31, g = pixel >> 11 & 31, b = pixel >> 3 & 31;
            return (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
        }
        default:
            return rgb_only(pixel);
    }
}

// Repaints `frame` (every pixel, margins too) with palette colours chosen by each pixel's B.
std::vector<uint32_t> apply_palette(Frame& frame, LzImageType type, uint8_t size_byte,
                                    std::span<const uint8_t> pool) {
    const size_t entries = 1 + size_byte % (size_t{1} << lz_palette_bits(type));
    std::vector<uint32_t> palette(entries);
    for (size_t k = 0; k < entries && !pool.empty(); ++k) {
        for (size_t c = 0; c < 3; ++c)
            palette[k] |= uint32_t{pool[(3 * k + c) % pool.size()]} << 8 * c;
    }
    for (int32_t y = 0; y < frame.height(); ++y) {
        for (uint32_t& pixel : std::span(frame.row(y), size_t(frame.width()))) {
            pixel = (pixel & 0xff000000u) | palette[(pixel & 0xff) % entries];
        }
    }
    return palette;
}

// Both compressors, each warmed up on the whole frame: the same bytes or a trap.
template <typename Encode>
std::vector<uint8_t> encode_both(const Frame& frame, Encode encode) {
    LzCompressor simd;
    portable::LzCompressor portable;
    std::vector<uint8_t> streams[2];
    ByteWriter warm_up;
    check(simd.encode(frame, frame.rect(), LzImageType::kRgb32, warm_up).has_value() &&
              portable.encode(frame, frame.rect(), LzImageType::kRgb32, warm_up).has_value(),
          "warm-up refused");
    ByteWriter out;
    encode(simd, out);
    streams[0] = out.take();
    encode(portable, out);
    streams[1] = out.take();
    check(streams[0] == streams[1], "SIMD and portable compressors wrote other bytes");
    return std::move(streams[0]);
}

// The body goes to `out` after `outside` bytes that are not part of the message (message_start
// is not 0) and `inside` message bytes before the body.
void image_encoder_round_trip(const Frame& frame, const Rect& area, bool allow_palette,
                              size_t outside, size_t inside) {
    std::vector<uint32_t> palette;
    LzImageType type{};
    const auto stream = encode_both(frame, [&](auto& compressor, ByteWriter& out) {
        auto chosen = compressor.encode_auto(frame, area, out, palette, allow_palette);
        check(chosen.has_value(), "encode_auto refused a valid image");
        type = *chosen;
    });
    check(allow_palette || !lz_is_palette(type), "palette type although forbidden");

    ByteWriter out;
    out.zeros(outside + inside);
    auto image_type = make_lz_encoder({allow_palette})->encode(frame, area, out, outside);
    check(image_type.has_value(), "LZ ImageEncoder refused a valid image");
    check(*image_type == (lz_is_palette(type) ? SPICE_IMAGE_TYPE_LZ_PLT : SPICE_IMAGE_TYPE_LZ_RGB),
          "image type does not match the stream type");
    const auto message = std::span<const uint8_t>(out.buffer()).subspan(outside);
    const size_t stream_at = inside + (lz_is_palette(type) ? 9 : 4);
    check(message.size() >= stream_at + stream.size() &&
              std::ranges::equal(message.subspan(stream_at, stream.size()), stream),
          "body does not hold the stream");
    auto decoded = decode_lz_body(*image_type, area.size(), message, inside);
    if (!decoded) std::fprintf(stderr, "%s\n", decoded.error().c_str());
    check(decoded.has_value(), "body does not decode");
    check(same_pixels(frame, area, **decoded, rgb_only), "body decodes to other pixels");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr size_t kHeader = kImageHeaderBytes + 2;
    if (size < kHeader) return 0;
    const std::span<const uint8_t> input(data, size);
    const uint8_t mode = input[kImageHeaderBytes], palette_size = input[kImageHeaderBytes + 1];
    const auto pool = input.subspan(kHeader);
    // Not a structured binding: clang 14 cannot capture those in the lambdas below.
    const TestImage image = make_test_image(input.first(kImageHeaderBytes), pool);
    Frame& frame = *image.frame;
    const Rect& area = image.area;

    const int kind = (mode & 0x7f) % 11;
    if (kind == 0) {
        image_encoder_round_trip(frame, area, !(mode & 0x80), palette_size & 7,
                                 palette_size >> 3 & 7);
        return 0;
    }
    const auto type = LzImageType(kind);
    std::vector<uint32_t> palette;
    if (lz_is_palette(type)) palette = apply_palette(frame, type, palette_size, pool);
    const auto stream = encode_both(frame, [&](auto& compressor, ByteWriter& out) {
        check(compressor.encode(frame, area, type, out, palette).has_value(),
              "encode refused a valid image");
    });
    auto header = lz_read_header(stream);
    check(header.has_value() && header->type == type && header->width == area.width() &&
              header->height == area.height(),
          "stream header differs from what was encoded");
    auto decoded = lz_decode(stream, palette);
    check(decoded.has_value(), "our stream does not decode");
    check(same_pixels(frame, area, **decoded,
                      [type](uint32_t pixel) { return carried(type, pixel); }),
          "decoded pixels differ");
    return 0;
}
