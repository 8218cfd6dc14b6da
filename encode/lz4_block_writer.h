// Our own writer of standard LZ4 blocks (the block format liblz4 decodes) for 24-bit pixels,
// read straight from 32-bit BGRX pixels: the block holds each pixel as 3 bytes (B, G, R), but
// no packed copy of the image is made, and matches are looked for in pixels, not bytes.
//
// liblz4's fast mode tries a match at every byte through one hash table. Screen content repeats
// whole pixels, mostly the pixel to the left (runs) or the one above (unchanged areas), so this
// writer tries those two first and a hash of two pixels only when both fail. Where nothing
// matches it steps on faster the longer it finds nothing, as liblz4 does, so incompressible
// areas stay cheap.
//
// Blocks are linked the way SPICE's LZ4 images are decoded (spice-gtk, spice-common's canvas,
// liblz4's *_continue functions): one after another into one buffer, so a match may reach back
// into earlier blocks, never more than 65535 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "encode/lz4_block_writer_impl.h"

namespace spiced {

class Lz4PixelBlockWriter {
public:
    // The most a block of `pixels` pixels can take: liblz4's LZ4_compressBound of its 3 bytes
    // per pixel, plus room for the writer's 16-byte stores.
    static size_t bound(size_t pixels);

    // `allow_simd`: compare with AVX2 and pack literals with SSSE3 where the CPU has AVX2 (the
    // same bytes either way).
    explicit Lz4PixelBlockWriter(bool allow_simd);

    // Starts an image: its rows of `width` pixels one after another, without padding (32-bit
    // B, G, R, X; X is not written). They must stay valid until the last block is written.
    void start_image(std::span<const uint32_t> pixels, uint32_t width);
    // Writes the block for the pixels from where the previous block ended up to pixel `end`
    // (at most the image's size) into `out`, which has bound(that many pixels) bytes. Returns
    // the block's size.
    size_t write_block(uint64_t end, uint8_t* out);

private:
    bool use_avx2_;
    std::vector<uint32_t> table_;  // hash of two pixels -> index of the first
    lz4_writer::BlockState state_;
};

}  // namespace spiced
