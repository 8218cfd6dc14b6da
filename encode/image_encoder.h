// Image encoders: turn one rectangle of a Frame into the body of a SPICE image (what follows
// the SpiceImage descriptor on the wire), in a format spice-common's decoders read.
//
// Encoders are pure: no I/O, no protocol state, no knowledge of messages or channels. They
// append to a caller-owned ByteWriter so a large image is written once, straight into the
// outgoing message. One encoder instance per client channel; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/expected.h"
#include "gpu/frame.h"

namespace spiced {

enum class ImageCodec : uint8_t {
    kBitmap,  // uncompressed 32-bit BGRX, top-down
    kLz4,     // LZ4 blocks of packed 24-bit pixels
};
std::string_view to_string(ImageCodec codec);

class ImageEncoder {
public:
    virtual ~ImageEncoder() = default;
    virtual ImageCodec codec() const = 0;
    // Appends the image body for `area` (inside frame.rect()) to `out`.
    virtual Expected<void, std::string> encode(const Frame& frame, const Rect& area,
                                               ByteWriter& out) = 0;
};

std::unique_ptr<ImageEncoder> make_bitmap_encoder();
std::unique_ptr<ImageEncoder> make_lz4_encoder();

}  // namespace spiced
