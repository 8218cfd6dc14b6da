// encode/lz_compress.cpp again, portable (see portable_codecs.h). Every name it gives external
// linkage is renamed, so this copy links beside the SIMD one in spiced_encode.
#define SPICED_PORTABLE_CODECS 1
#define LzCompressor PortableLzCompressor
#define lz_encode portable_lz_encode
#define lz_is_palette portable_lz_is_palette
#define lz_palette_bits portable_lz_palette_bits
#include "encode/lz_compress.cpp"
#undef LzCompressor
#undef lz_encode
#undef lz_is_palette
#undef lz_palette_bits

#include "tests/fuzz/portable_codecs.h"

namespace spiced::portable {

struct LzCompressor::Impl {
    PortableLzCompressor compressor;
};

LzCompressor::LzCompressor() : impl_(std::make_unique<Impl>()) {}
LzCompressor::~LzCompressor() = default;

Expected<void, std::string> LzCompressor::encode(const Frame& frame, const Rect& area,
                                                 LzImageType type, ByteWriter& out,
                                                 std::span<const uint32_t> palette) {
    return impl_->compressor.encode(frame, area, type, out, palette);
}

Expected<LzImageType, std::string> LzCompressor::encode_auto(const Frame& frame, const Rect& area,
                                                             ByteWriter& out,
                                                             std::vector<uint32_t>& palette,
                                                             bool allow_palette) {
    return impl_->compressor.encode_auto(frame, area, out, palette, allow_palette);
}

}  // namespace spiced::portable
