// libFuzzer: GLZ and ZLIB_GLZ bodies through our client-window decoder. The input is a series
// of records decoded into one window, so later bodies can reference (or mis-reference)
// earlier ones: [u8 type selector][u8 width-1][u8 height-1][u16 LE body length][body].
// Every outcome must be a value or an error; ASan/UBSan catch the rest.
#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "encode/codecs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A window small enough that a few records evict each other.
    auto window = spiced::make_glz_decoder_window(1 << 14);
    std::span<const uint8_t> in(data, size);
    while (in.size() >= 5) {
        const uint8_t type = (in[0] & 1) ? SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB : SPICE_IMAGE_TYPE_GLZ_RGB;
        const spiced::Size image_size{int32_t{in[1]} + 1, int32_t{in[2]} + 1};
        const size_t length = std::min<size_t>(in[3] | size_t{in[4]} << 8, in.size() - 5);
        (void)spiced::decode_glz_body(*window, type, image_size, in.subspan(5, length));
        in = in.subspan(5 + length);
    }
    return 0;
}
