// The LZ and GLZ encoders built a second time with SPICED_PORTABLE_CODECS (portable C++ only,
// see encode/simd_level.h) and linked under other names, so one fuzz target can compare their
// bytes with the SIMD build's in the same run: both must write the same bytes.
// tests/unit/codec_streams_test.cpp checks the same promise on fixed images, from two binaries.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "encode/codecs.h"
#include "encode/glz_window.h"
#include "encode/lz.h"

namespace spiced::portable {

// LzCompressor, portable build.
class LzCompressor {
public:
    LzCompressor();
    ~LzCompressor();
    LzCompressor(const LzCompressor&) = delete;
    LzCompressor& operator=(const LzCompressor&) = delete;

    Expected<void, std::string> encode(const Frame& frame, const Rect& area, LzImageType type,
                                       ByteWriter& out, std::span<const uint32_t> palette = {});
    Expected<LzImageType, std::string> encode_auto(const Frame& frame, const Rect& area,
                                                   ByteWriter& out, std::vector<uint32_t>& palette,
                                                   bool allow_palette = true);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// make_glz_encoder, set_glz_zlib and glz_encoder_state, portable build.
std::unique_ptr<ImageEncoder> make_glz_encoder(const GlzOptions& options);
bool set_glz_zlib(ImageEncoder& encoder, bool zlib);
std::optional<GlzWindowState> glz_encoder_state(const ImageEncoder& encoder);

}  // namespace spiced::portable
