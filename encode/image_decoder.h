// Our own decoders for the image bodies encode/ produces: used by unit tests (round trips),
// fuzzers and spiced-codec. Wire compatibility is proven separately, by real clients.
//
// Every decoder validates its input completely: malformed, truncated or oversized data is an
// error value, never a crash or an over-read.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

// Largest picture a decoder will allocate for (pixels); larger claims are errors.
inline constexpr int64_t kMaxDecodedPixels = int64_t{16384} * 16384;

class ImageDecoder {
public:
    virtual ~ImageDecoder() = default;
    // Decodes one image body of type `image_type` (SPICE_IMAGE_TYPE_*) whose descriptor says
    // `size`. `message` is the whole message body and `body_offset` where the image body
    // starts in it (SPICE pointers inside bodies are offsets from the message start).
    // Decoders for stateful codecs (GLZ) remember what they decoded, as a client does.
    virtual Expected<std::unique_ptr<Frame>, std::string> decode(uint8_t image_type, Size size,
                                                                 std::span<const uint8_t> message,
                                                                 size_t body_offset) = 0;
};

}  // namespace spiced
