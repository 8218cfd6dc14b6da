// libFuzzer: images through our QUIC encoder and back through our QUIC decoder.
// Input: [image header, roundtrip_image.h][type selector][pixel pool...]; the selector picks
// RGB32, RGB24, RGBA or GRAY.
// Checks: the portable, baseline (SSE2) and best (AVX2 + BMI2 where the CPU has them) row
// coders write the same bytes, as quic.h promises, also when the encoder is reused; the stream
// decodes to the type it was written as and to exactly the bits the type carries (B, G, R for
// RGB32/RGB24, all four bytes for RGBA, G for GRAY); an RGB32 SPICE_IMAGE_TYPE_QUIC body is
// the size-prefixed stream and decodes the same through decode_quic_body.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "encode/codecs.h"
#include "encode/quic.h"
#include "tests/fuzz/roundtrip_image.h"

using namespace spiced;
using namespace spiced::fuzz;

namespace {

std::vector<uint8_t> encode(QuicEncoder& encoder, const Frame& frame, const Rect& area,
                            QuicType type) {
    ByteWriter out;
    auto written = encoder.encode(frame, area, type, out);
    check(written.has_value(), "encoder refused a valid image");
    check(*written == out.size() && out.size() % 4 == 0, "encoder misreported its size");
    return out.take();
}

uint32_t carried(QuicType type, uint32_t pixel) {
    switch (type) {
        case QuicType::kRgba:
            return pixel;
        case QuicType::kGray:
            return (pixel >> 8 & 0xff) * 0x010101u;
        default:
            return rgb_only(pixel);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static constexpr QuicType kTypes[] = {QuicType::kRgb32, QuicType::kRgb24, QuicType::kRgba,
                                          QuicType::kGray};
    if (size < kImageHeaderBytes + 1) return 0;
    const std::span<const uint8_t> input(data, size);
    const QuicType type = kTypes[input[kImageHeaderBytes] % std::size(kTypes)];
    const TestImage image =
        make_test_image(input.first(kImageHeaderBytes), input.subspan(kImageHeaderBytes + 1));
    const Frame& frame = *image.frame;
    const Rect& area = image.area;

    QuicEncoder portable(QuicEncoder::Simd::kNone), baseline(QuicEncoder::Simd::kBaseline),
        best(QuicEncoder::Simd::kBest);
    // The best coder first encodes the whole frame, so its scratch holds another image's rows.
    (void)encode(best, frame, frame.rect(), type);
    const auto stream = encode(portable, frame, area, type);
    check(encode(baseline, frame, area, type) == stream, "baseline coder wrote other bytes");
    check(encode(best, frame, area, type) == stream, "best coder (reused) wrote other bytes");

    auto decoded = quic_decode(stream);
    check(decoded.has_value(), "our stream does not decode");
    check(decoded->type == type, "decoded type differs");
    check(same_pixels(frame, area, *decoded->frame,
                      [type](uint32_t pixel) { return carried(type, pixel); }),
          "decoded pixels differ");

    if (type == QuicType::kRgb32) {
        ByteWriter body;
        auto image_type = make_quic_encoder()->encode(frame, area, body, 0);
        check(image_type.has_value(), "QUIC ImageEncoder refused a valid image");
        const auto bytes = std::span<const uint8_t>(body.buffer());
        check(bytes.size() == 4 + stream.size() && load_u32_le(bytes.data()) == stream.size() &&
                  std::ranges::equal(bytes.subspan(4), stream),
              "body is not the size-prefixed stream");
        auto from_body = decode_quic_body(bytes, area.size());
        check(from_body.has_value(), "body does not decode");
        check(same_pixels(frame, area, **from_body, rgb_only), "body decodes to other pixels");
    }
    return 0;
}
