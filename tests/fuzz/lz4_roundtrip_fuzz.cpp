// libFuzzer: images through our SPICE_IMAGE_TYPE_LZ4 encoder, each block back through
// liblz4's own decoder and the whole body through our image decoder.
// Input: [image header, roundtrip_image.h][pixel pool...].
// Checks: the SIMD and portable paths give the same bytes (codecs.h), fresh and
// reused after another image; the body's framing is what spice-common's canvas reads
// (data_size, top-down, 24-bit format, [u32 BE size][block]... up to data_size exactly); every
// block decodes with liblz4 alone (LZ4_decompress_safe for the first, the same with the earlier
// output as dictionary for the rest: the blocks form one linked stream) to the area's B, G, R
// bytes, row after row; make_image_decoder() decodes the body to the area's RGB.
//
// The blocks come from our own writer (encode/lz4_block_writer.h), so liblz4's decoder is the
// oracle for their inner format: sequences, offsets, lengths and the end-of-block rules.
#include <lz4.h>
#include <spice/enums.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "encode/codecs.h"
#include "tests/fuzz/roundtrip_image.h"

using namespace spiced;
using namespace spiced::fuzz;

namespace {

std::vector<uint8_t> encode(ImageEncoder& encoder, const Frame& frame, const Rect& area) {
    ByteWriter out;
    auto type = encoder.encode(frame, area, out, 0);
    check(type.has_value() && *type == SPICE_IMAGE_TYPE_LZ4, "LZ4 encoder refused a valid image");
    return out.take();
}

// The area as tightly packed B, G, R rows: what the blocks must decode to.
SPICED_FUZZ_HARNESS std::vector<uint8_t> packed_bgr(const Frame& frame, const Rect& area) {
    std::vector<uint8_t> packed;
    packed.reserve(size_t(area.area()) * 3);
    for (int32_t y = area.top(); y < area.bottom(); ++y) {
        const auto* row = reinterpret_cast<const uint8_t*>(frame.row(y) + area.left());
        for (int32_t x = 0; x < area.width(); ++x)
            packed.insert(packed.end(), row + 4 * x, row + 4 * x + 3);
    }
    return packed;
}

uint32_t load_u32_be(std::span<const uint8_t> p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Decodes the body's blocks with liblz4's one-shot API; returns what they hold.
std::vector<uint8_t> decode_blocks_with_liblz4(std::span<const uint8_t> body, size_t expected) {
    check(body.size() >= 6 && load_u32_le(body.data()) == body.size() - 4,
          "data_size is not the rest of the body");
    check(body[4] == 1 && body[5] == SPICE_BITMAP_FMT_24BIT, "not top-down 24-bit");
    // One byte more room than expected, so a block holding too much shows up as a size error
    // rather than as a decode failure.
    std::vector<uint8_t> out(expected + 1);
    size_t filled = 0;
    for (auto rest = body.subspan(6); !rest.empty();) {
        check(rest.size() >= 4, "truncated block header");
        const uint32_t block = load_u32_be(rest);
        check(block > 0 && block <= rest.size() - 4 && block <= uint32_t(INT_MAX),
              "block size outside the body");
        const auto* src = reinterpret_cast<const char*>(rest.data() + 4);
        auto* dest = reinterpret_cast<char*>(out.data() + filled);
        const int room = int(out.size() - filled);
        const int got = filled == 0 ? LZ4_decompress_safe(src, dest, int(block), room)
                                    : LZ4_decompress_safe_usingDict(
                                          src, dest, int(block), room,
                                          reinterpret_cast<const char*>(out.data()), int(filled));
        check(got > 0, "liblz4 rejects a block");
        filled += size_t(got);
        rest = rest.subspan(4 + block);
    }
    check(filled == expected, "blocks hold another amount of pixel data");
    out.resize(filled);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < kImageHeaderBytes) return 0;
    const std::span<const uint8_t> input(data, size);
    const auto [frame, area] =
        make_test_image(input.first(kImageHeaderBytes), input.subspan(kImageHeaderBytes));

    // Each encoder first encodes another image (the whole frame): a reused LZ4 stream may
    // choose other matches than a fresh one, so the packers are compared with equal histories.
    auto simd = make_lz4_encoder(), portable = make_lz4_encoder_portable();
    check(encode(*simd, *frame, frame->rect()) == encode(*portable, *frame, frame->rect()),
          "SSSE3 and portable packers wrote other bytes");
    const auto body = encode(*simd, *frame, area);
    check(encode(*portable, *frame, area) == body, "SSSE3 and portable packers wrote other bytes");

    const auto packed = packed_bgr(*frame, area);
    check(decode_blocks_with_liblz4(body, packed.size()) == packed,
          "liblz4 decodes other bytes than the area's");

    auto decoded = make_image_decoder()->decode(SPICE_IMAGE_TYPE_LZ4, area.size(), body, 0);
    check(decoded.has_value(), "body does not decode");
    check(same_pixels(*frame, area, **decoded, rgb_only), "decoded pixels differ");
    return 0;
}
