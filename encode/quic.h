// QUIC: SPICE's lossless image codec (derived from SFALIC), below the ImageEncoder level.
//
// A QUIC stream is a sequence of 32-bit words, each stored little-endian, whose bits are read
// most significant first: a five-word header (magic "QUIC", version 0, image type, width,
// height), then the pixels row by row. The stream always ends with one all-zero word, which
// a reader's 32-bit look-ahead needs. A SPICE_IMAGE_TYPE_QUIC body is a u32 byte count
// followed by one stream.
//
// Output is bit-identical to spice-common's quic_encode(), so spice-gtk and spice-html5
// decode it. Those clients draw RGB32, RGB24 and RGBA streams; GRAY streams exist in the
// format but the display channel clients reject them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

// Values of the header's type word (spice-common's QuicImageType).
enum class QuicType : uint32_t {
    kGray = 1,   // 8-bit plane: we encode the Frame's G byte
    kRgb16 = 2,  // 5:5:5; decoded by clients, neither written nor read here
    kRgb24 = 3,  // same stream as kRgb32, only the header differs
    kRgb32 = 4,  // B, G, R coded; the X byte is ignored
    kRgba = 5,   // RGB32 plus an alpha plane from the Frame's fourth byte
};

// Reusable QUIC encoder: keeps its per-row scratch between images so encoding does not
// allocate after warm-up. Not thread-safe; one per encoding thread.
class QuicEncoder {
public:
    // Which row coder to use; all write the same bits (tests and benchmarks compare them).
    enum class Simd {
        kBest,      // AVX2 + BMI2 when the CPU has them, else as kBaseline
        kBaseline,  // the build's baseline: SSE2 on x86-64, portable elsewhere
        kNone,      // portable C++ only
    };
    explicit QuicEncoder(Simd simd = Simd::kBest);
    ~QuicEncoder();
    QuicEncoder(const QuicEncoder&) = delete;
    QuicEncoder& operator=(const QuicEncoder&) = delete;

    // Appends the QUIC stream (no size prefix) of `area` (non-empty, inside the frame) to
    // `out`; returns the number of bytes appended, always a multiple of 4.
    Expected<size_t, std::string> encode(const Frame& frame, const Rect& area, QuicType type,
                                         ByteWriter& out);

private:
    struct Scratch;
    std::unique_ptr<Scratch> scratch_;
};

// One-shot helper around QuicEncoder.
Expected<size_t, std::string> quic_encode(const Frame& frame, const Rect& area, QuicType type,
                                          ByteWriter& out);

struct QuicImage {
    QuicType type;
    // RGB types: B, G, R and X = 0. RGBA: alpha in the fourth byte. GRAY: the value in B, G
    // and R.
    std::unique_ptr<Frame> frame;
};

// Decodes one QUIC stream (no size prefix). Validates everything: bad magic, version or
// type, sizes over kMaxDecodedPixels or `max_pixels`, truncation and corrupt codes are
// errors. Trailing bytes after the stream are ignored, as spice-common does.
Expected<QuicImage, std::string> quic_decode(std::span<const uint8_t> stream,
                                             int64_t max_pixels = int64_t{16384} * 16384);

}  // namespace spiced
