// Placeholder until the QUIC codec lands: not available in this build.
#include "encode/codecs.h"

namespace spiced {

std::unique_ptr<ImageEncoder> make_quic_encoder() { return nullptr; }

Expected<std::unique_ptr<Frame>, std::string> decode_quic_body(std::span<const uint8_t>, Size) {
    return unexpected(std::string("quic: not available in this build"));
}

}  // namespace spiced
