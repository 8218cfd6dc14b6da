// libFuzzer: arbitrary LZ_RGB / LZ_PLT image bodies through decode_lz_body. The first 6 bytes
// choose the image type, the descriptor size and the body offset; the rest is the message.
// A valid stream is usually found by mutation from the header magic on, since the decoder
// reports which check failed only as an error value.
#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "encode/codecs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const uint8_t type = data[0] & 1 ? SPICE_IMAGE_TYPE_LZ_PLT : SPICE_IMAGE_TYPE_LZ_RGB;
    // Small descriptors keep each run fast; the stream header must agree with them anyway.
    const spiced::Size image_size{1 + (data[1] | (data[2] & 0x3) << 8),
                                  1 + (data[3] | (data[4] & 0x3) << 8)};
    const std::span<const uint8_t> message(data + 6, size - 6);
    const size_t body_offset = data[5] % (message.size() + 1);
    auto frame = spiced::decode_lz_body(type, image_size, message, body_offset);
    if (frame && (*frame)->size() != image_size) __builtin_trap();
    return 0;
}
