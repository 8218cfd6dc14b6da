// libFuzzer: every image type through make_image_decoder() (bitmap, LZ4, QUIC, LZ, GLZ,
// ZLIB_GLZ, JPEG, JPEG_ALPHA). Bytes 0..4: type selector, width and height (1..256 each);
// the rest is the message body with the image body at offset 0.
#include <spice/enums.h>

#include <cstddef>
#include <cstdint>

#include "encode/codecs.h"

using namespace spiced;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static constexpr uint8_t kTypes[] = {
        SPICE_IMAGE_TYPE_BITMAP, SPICE_IMAGE_TYPE_QUIC,         SPICE_IMAGE_TYPE_LZ_PLT,
        SPICE_IMAGE_TYPE_LZ_RGB, SPICE_IMAGE_TYPE_GLZ_RGB,      SPICE_IMAGE_TYPE_JPEG,
        SPICE_IMAGE_TYPE_LZ4,    SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB, SPICE_IMAGE_TYPE_JPEG_ALPHA};
    if (size < 5) return 0;
    const uint8_t type = kTypes[data[0] % sizeof kTypes];
    const Size image{int32_t(1 + (data[1] | (data[2] & 1) << 8) % 256),
                     int32_t(1 + (data[3] | (data[4] & 1) << 8) % 256)};
    auto decoder = make_image_decoder(1 << 20);
    (void)decoder->decode(type, image, std::span(data + 5, size - 5), 0);
    return 0;
}
