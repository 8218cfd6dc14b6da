// SPICE LZ streams (spice-common lz.c format), below the SPICE image wrapper: a 28-byte header
// (magic "LZ  ", version 1.1, LZ image type, width, height, stride, top_down; all u32
// big-endian) then LZ77 control codes over pixels (RGB types), packed palette bytes (PLT
// types) or alpha bytes (XXXA). RGBA is an RGB32 stream followed directly by an XXXA stream.
//
// Users: the LZ ImageEncoder (LZ_RGB / LZ_PLT bodies) and JPEG_ALPHA, whose alpha plane is an
// XXXA stream. We always write top_down = 1; the decoders accept both.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/expected.h"
#include "encode/image_decoder.h"
#include "encode/image_encoder.h"
#include "pixels/frame.h"

namespace spiced {

// Values are spice-common's LzImageType: they are written into the stream header.
enum class LzImageType : uint8_t {
    kPlt1Le = 1,  // 1 bit per pixel, first pixel in bit 0
    kPlt1Be = 2,  // 1 bit per pixel, first pixel in bit 7
    kPlt4Le = 3,  // 4 bits, first pixel in the low nibble
    kPlt4Be = 4,  // 4 bits, first pixel in the high nibble
    kPlt8 = 5,
    kRgb16 = 6,  // x1r5g5b5; lossy from our 8-bit channels (low 3 bits dropped)
    kRgb24 = 7,
    kRgb32 = 8,  // same stream as RGB24 (3 bytes per literal), X ignored
    kRgba = 9,   // RGB32 stream, then the alpha (4th byte) as an XXXA stream
    kXxxa = 10,  // alpha plane only
};
inline constexpr size_t kLzHeaderBytes = 28;

bool lz_is_palette(LzImageType type);
// Bits per pixel of a palette type (1, 4, 8); 0 for RGB types.
int lz_palette_bits(LzImageType type);

struct LzHeader {
    LzImageType type = LzImageType::kRgb32;
    int32_t width = 0;
    int32_t height = 0;
    uint32_t stride = 0;  // bytes per row of the uncompressed image, as the header says
    bool top_down = true;
};

// Compresses one area into raw LZ streams. Holds the match-finder tables (sized for L2) so
// repeated calls allocate nothing; one per thread.
class LzCompressor {
public:
    LzCompressor();
    ~LzCompressor();
    LzCompressor(const LzCompressor&) = delete;
    LzCompressor& operator=(const LzCompressor&) = delete;

    // Appends the LZ stream (header included) for `area` of `frame` as `type`. Palette types
    // need `palette` (0x00RRGGBB entries; at most 2, 16 or 256) and fail if a pixel's colour
    // (X ignored) is not in it. RGB types ignore `palette`.
    Expected<void, std::string> encode(const Frame& frame, const Rect& area, LzImageType type,
                                       ByteWriter& out, std::span<const uint32_t> palette = {});

    // What the LZ ImageEncoder does: appends `area` as the tightest palette type (PLT1 for 2
    // colours, PLT4 for 16, PLT8 for 256) when it has at most 256 colours and allow_palette,
    // filling `palette` with the entries to send (PLT1 always gets 2), else as RGB32 with
    // `palette` cleared. Counting colours stops at the 257th.
    Expected<LzImageType, std::string> encode_auto(const Frame& frame, const Rect& area,
                                                   ByteWriter& out, std::vector<uint32_t>& palette,
                                                   bool allow_palette = true);

    struct Tables;

private:
    std::unique_ptr<Tables> tables_;
};

// One-shot convenience (allocates the tables per call).
Expected<void, std::string> lz_encode(const Frame& frame, const Rect& area, LzImageType type,
                                      ByteWriter& out, std::span<const uint32_t> palette = {});

// Reads and checks a stream header (magic, version, type, stride/width agreement, size limit).
Expected<LzHeader, std::string> lz_read_header(std::span<const uint8_t> stream);

// Decodes a whole stream (which must be consumed exactly) to a new top-down frame. RGB types
// give X = 0, RGBA gives X = alpha, XXXA gives B = G = R = 0 and X = alpha. Palette types
// look pixels up in `palette`; an index outside it is an error.
Expected<std::unique_ptr<Frame>, std::string> lz_decode(std::span<const uint8_t> stream,
                                                        std::span<const uint32_t> palette = {});

// JPEG_ALPHA: decodes an XXXA stream into the 4th byte of every pixel of `frame`, leaving
// B, G, R alone. The stream's width and height must equal the frame's.
Expected<void, std::string> lz_decode_alpha(std::span<const uint8_t> stream, Frame& frame);

// The LZ ImageEncoder with a switch for clients that cannot decode LZ_PLT (spice-html5 only
// decodes LZ_RGB with RGB32/RGBA): allow_palette = false always writes LZ_RGB.
struct LzEncoderOptions {
    bool allow_palette = true;
};
std::unique_ptr<ImageEncoder> make_lz_encoder(const LzEncoderOptions& options);

}  // namespace spiced
