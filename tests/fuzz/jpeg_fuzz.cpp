// Fuzzes decode_jpeg_body (JPEG and JPEG_ALPHA bodies) with the descriptor size it is given.
// Input: u8 selector (bit 0: JPEG_ALPHA), u16 width, u16 height (little-endian), then the
// body. Sizes are capped so one input cannot ask for more than 4 MiB of pixels; libFuzzer's
// comparison tracing learns to match them to the JPEG header.
#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "encode/codecs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 5) return 0;
    const uint8_t type = (data[0] & 1) ? SPICE_IMAGE_TYPE_JPEG_ALPHA : SPICE_IMAGE_TYPE_JPEG;
    const int32_t width = data[1] | data[2] << 8;
    const int32_t height = data[3] | data[4] << 8;
    if (width > 1024 || height > 1024) return 0;
    const spiced::Size expected{width, height};
    auto frame = spiced::decode_jpeg_body(type, expected, std::span(data + 5, size - 5));
    // A decoder that says yes must hand back exactly the picture the descriptor announced.
    if (frame && (*frame)->size() != expected) std::abort();
    return 0;
}
