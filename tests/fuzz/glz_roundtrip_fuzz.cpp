// libFuzzer: a series of images through one GLZ encoder and our client-window decoder, so
// later images reference earlier ones and the window evicts.
// Input: [window][image count][record]...[pixel pool...]
//   window: the client's window is 2^(10 + window % 8) pixels (1 Ki..128 Ki: smaller than
//     some images, so refusals and evictions happen);
//   image count: 1 + count % 8 records follow (fewer if the input ends);
//   record: [image header, roundtrip_image.h][pool start, u16 LE]; the image is the pool tiled
//     from that start, so images share content at offsets the fuzzer picks; placement bit 7
//     sends this image as ZLIB_GLZ (set_glz_zlib between images, as a bandwidth change does).
// Checks, image by image: an image is refused exactly when it is larger than the window; the
// SIMD and portable encoders (encode/simd_level.h), fed the same series, write the same bytes
// and believe the same window; each body decodes in our window to the image's RGB; after
// each image the encoder's idea of the client window equals the window's (glz_window.h).
#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "encode/codecs.h"
#include "encode/glz_window.h"
#include "tests/fuzz/portable_codecs.h"
#include "tests/fuzz/roundtrip_image.h"

using namespace spiced;
using namespace spiced::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr size_t kRecordBytes = kImageHeaderBytes + 2;
    if (size < 2) return 0;
    std::span<const uint8_t> input(data, size);
    const int64_t window_pixels = int64_t{1} << (10 + input[0] % 8);
    const size_t count = std::min<size_t>(1 + input[1] % 8, (size - 2) / kRecordBytes);
    const auto records = input.subspan(2, count * kRecordBytes);
    const auto pool = input.subspan(2 + count * kRecordBytes);

    auto simd = make_glz_encoder({window_pixels, false});
    auto portable = portable::make_glz_encoder({window_pixels, false});
    auto window = make_glz_decoder_window(window_pixels);
    for (size_t k = 0; k < count; ++k) {
        const auto record = records.subspan(k * kRecordBytes, kRecordBytes);
        const TestImage image =
            make_test_image(record.first(kImageHeaderBytes), pool, record[3] | record[4] << 8);
        const bool zlib = record[2] & 0x80;
        check(set_glz_zlib(*simd, zlib) && portable::set_glz_zlib(*portable, zlib),
              "set_glz_zlib refused a GLZ encoder");

        ByteWriter body, portable_body;
        auto type = simd->encode(*image.frame, image.area, body, 0);
        auto portable_type = portable->encode(*image.frame, image.area, portable_body, 0);
        check(type.has_value() == (image.area.area() <= window_pixels),
              "refused an image the window holds, or accepted one it does not");
        check(type.has_value() == portable_type.has_value() && (!type || *type == *portable_type) &&
                  body.buffer() == portable_body.buffer(),
              "SIMD and portable encoders wrote other bytes");
        check(glz_encoder_state(*simd) == portable::glz_encoder_state(*portable),
              "SIMD and portable encoders model other windows");
        if (!type) continue;
        check(*type == (zlib ? SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB : SPICE_IMAGE_TYPE_GLZ_RGB) ||
                  (zlib && *type == SPICE_IMAGE_TYPE_GLZ_RGB),
              "unexpected image type");

        auto decoded = decode_glz_body(*window, *type, image.area.size(), body.buffer());
        if (!decoded) std::fprintf(stderr, "image %zu: %s\n", k, decoded.error().c_str());
        check(decoded.has_value(), "body does not decode in the client window");
        check(same_pixels(*image.frame, image.area, **decoded, rgb_only), "decoded pixels differ");
        check(glz_encoder_state(*simd) == glz_window_state(*window),
              "encoder and client window disagree on what the client holds");
    }
    return 0;
}
