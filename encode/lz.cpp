// Placeholder until the LZ codec lands: not available in this build.
#include "encode/codecs.h"

namespace spiced {

std::unique_ptr<ImageEncoder> make_lz_encoder() { return nullptr; }

Expected<std::unique_ptr<Frame>, std::string> decode_lz_body(uint8_t, Size,
                                                             std::span<const uint8_t>, size_t) {
    return unexpected(std::string("lz: not available in this build"));
}

}  // namespace spiced
