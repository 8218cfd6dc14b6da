// Image encoders: turn one rectangle of a Frame into the body of a SPICE image (what follows
// the SpiceImage descriptor on the wire), in a format SPICE clients' decoders read.
//
// Encoders are pure: no I/O, no sockets, no knowledge of messages or channels. They append to
// a caller-owned ByteWriter so a large image is written once, straight into the outgoing
// message. One encoder instance per client channel (GLZ keeps per-client state); not
// thread-safe.
//
// Pixels: Frame rows are 32-bit B, G, R, X. Encoders of formats with alpha (RGBA) read the
// fourth byte as alpha; all others ignore it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

enum class ImageCodec : uint8_t {
    kBitmap,   // uncompressed 32-bit BGRX, top-down
    kLz4,      // LZ4 blocks of packed 24-bit pixels
    kQuic,     // SFALIC-derived, for natural images
    kLz,       // SPICE LZ (RGB or palette)
    kGlz,      // LZ with a per-client dictionary window on the client
    kZlibGlz,  // GLZ, then zlib (low-bandwidth clients)
    kJpeg,     // lossy, WAN
};
std::string_view to_string(ImageCodec codec);

class ImageEncoder {
public:
    virtual ~ImageEncoder() = default;
    virtual ImageCodec codec() const = 0;
    // Appends the image body for `area` (inside frame.rect(), not empty) to `out` and returns
    // the SPICE_IMAGE_TYPE_* it wrote (one codec can write several, e.g. LZ_RGB or LZ_PLT).
    // SPICE pointers inside a body (e.g. an LZ_PLT palette) are offsets from the message
    // start, which is at index `message_start` of `out`.
    virtual Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area,
                                                  ByteWriter& out, size_t message_start) = 0;
};

std::unique_ptr<ImageEncoder> make_bitmap_encoder();
std::unique_ptr<ImageEncoder> make_lz4_encoder();

}  // namespace spiced
