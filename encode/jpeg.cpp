// Placeholder until the JPEG codec lands: not available in this build.
#include "encode/codecs.h"

namespace spiced {

std::unique_ptr<ImageEncoder> make_jpeg_encoder(int) { return nullptr; }

Expected<std::unique_ptr<Frame>, std::string> decode_jpeg_body(uint8_t, Size,
                                                               std::span<const uint8_t>) {
    return unexpected(std::string("jpeg: not available in this build"));
}

}  // namespace spiced
