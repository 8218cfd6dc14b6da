// Our own writer of standard LZ4 blocks (the block format liblz4 decodes) for 24-bit pixels,
// read straight from 32-bit BGRX rows: the block holds each pixel as 3 bytes (B, G, R), but no
// packed copy of the image is ever made, and matches are looked for in pixels, not bytes.
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
#include <vector>

namespace spiced {

class Lz4PixelBlockWriter {
public:
    // 32-bit pixels, B G R X in memory; X is not written.
    struct Rows {
        const uint32_t* first = nullptr;
        size_t stride_pixels = 0;  // pixels from one row's start to the next's
        uint32_t width = 0;
        uint32_t height = 0;
    };

    // The most a block of `pixels` pixels can take: liblz4's LZ4_compressBound of its 3 bytes
    // per pixel, plus room for the writer's 16-byte stores.
    static size_t bound(size_t pixels);

    // `allow_simd`: pack literals with SSSE3 where the CPU has it (the same bytes either way).
    explicit Lz4PixelBlockWriter(bool allow_simd);

    // Starts an image. The rows must stay valid until its last block is written.
    void start_image(const Rows& rows);
    // Writes the block for the pixels from where the previous block ended up to pixel `end`
    // (counted row by row from the first; at most width * height) into `out`, which has
    // bound(that many pixels) bytes. Returns the block's size.
    size_t write_block(uint64_t end, uint8_t* out);

private:
    struct Cursor {
        const uint32_t* row;
        uint32_t x;
        uint32_t y;
    };
    Cursor cursor_at(uint64_t index) const;
    void advance(Cursor& at, uint64_t pixels) const;
    uint64_t equal_pixels(Cursor a, Cursor b, uint64_t limit) const;
    Cursor back(const Cursor& at, uint64_t distance) const;
    uint8_t* write_literals(uint8_t* op, uint64_t count);
    uint8_t* write_match(uint8_t* op, uint64_t literal_end, uint64_t distance, uint64_t length);

    using PackRow = void (*)(const uint32_t* pixels, uint8_t* out, uint32_t count);
    PackRow pack_row_;
    using EqualPrefix = uint64_t (*)(const uint32_t* a, const uint32_t* b, uint64_t n);
    EqualPrefix equal_prefix_;
    std::vector<uint32_t> table_;  // hash of two pixels -> index of the first
    Rows rows_;
    uint64_t pixels_ = 0;
    uint64_t anchor_ = 0;  // first pixel not yet in a sequence
    Cursor anchor_at_{};
};

}  // namespace spiced
