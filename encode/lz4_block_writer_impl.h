// Our LZ4 block writer's hot loop (lz4_block_writer.h), compiled twice: by lz4_block_writer.cpp
// for any x86-64 CPU (SSE2 compares, bytes packed one by one) and by lz4_block_writer_avx2.cpp
// with AVX2 (32-pixel compares, pixels packed with SSSE3 shuffles). Each build is one function
// with its helpers inlined into it: the sequences of text screens are short and many, and calls
// through pointers per sequence cost a tenth of the encoder's time there. Both write the same
// bytes.
//
// A translation unit defines LZ4_WRITER_NS (and LZ4_WRITER_AVX2 for the AVX2 build) before
// including this header, exactly once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spiced::lz4_writer {

// From the LZ4 block format (lz4_Block_format.md in liblz4): a match is at least 4 bytes and
// at most 65535 bytes back; the last 5 bytes of a block are literals, and the last match starts
// at least 12 bytes before the block's end. In 3-byte pixels:
inline constexpr uint64_t kMinPixels = 2;  // 6 bytes >= 4
// Copies found through the hash table must be longer to be taken (measured on the screen
// corpus: natural images ran 2.5x faster for 2 % more bytes).
inline constexpr uint64_t kMinHashedPixels = 4;
inline constexpr uint64_t kMaxDistance = 21845;  // 65535 / 3
inline constexpr uint64_t kTailPixels = 2;       // ceil(5 / 3): the last match ends before these
inline constexpr uint64_t kLastStartPixels = 4;  // ceil(12 / 3): and starts no later than this
inline constexpr uint64_t kLengthFieldMax = 15;  // a token's 4-bit field; more follows in bytes
inline constexpr uint64_t kMinMatchBytes = 4;    // what a token's match length counts from

inline constexpr uint32_t kColour = 0x00ffffffu;  // B, G, R; X is not sent
// 8 KiB: it stays in L1 beside the pixels being compared (on the screen corpus 2^11 entries ran
// faster than 2^12 and 2^13; 2^10 wrote more bytes on CAD line art).
inline constexpr int kHashBits = 11;
// After 2^kSkipShift pixels without a match the step grows by a pixel, and so on.
inline constexpr uint32_t kSkipShift = 5;

// What the writer keeps between the blocks of an image.
struct BlockState {
    const uint32_t* pixels = nullptr;  // the image's rows one after another
    uint64_t size = 0;                 // in pixels
    uint32_t width = 0;
    uint64_t anchor = 0;        // first pixel not yet in a sequence
    uint32_t* table = nullptr;  // 2^kHashBits entries: hash of two pixels -> index of the first
};

}  // namespace spiced::lz4_writer

// ---- Per-build hot code ---------------------------------------------------------------------
#if defined(LZ4_WRITER_NS)

#include <immintrin.h>

#include <cstring>

#include "encode/simd_level.h"

#if defined(LZ4_WRITER_AVX2)
SPICED_TARGET_PUSH("avx2")
#endif

namespace spiced::LZ4_WRITER_NS {
using namespace lz4_writer;

inline uint32_t hash_pair(uint32_t first, uint32_t second) {
    const uint64_t key = uint64_t(first & kColour) | uint64_t(second & kColour) << 24;
    return uint32_t((key * 0x9E3779B185EBCA87ull) >> (64 - kHashBits));
}

inline bool same_colour(uint32_t a, uint32_t b) {
    return ((a ^ b) & kColour) == 0;
}

#if defined(LZ4_WRITER_AVX2)
// How many pixels from `a` have the colour of those from `b`, at most `n` (both readable for
// n pixels). Four vectors a step, one test for all of them: long matches (blank areas) are
// most of what an image's matches cover.
[[gnu::always_inline]] inline uint64_t equal_prefix(const uint32_t* a, const uint32_t* b,
                                                    uint64_t n) {
    const __m256i colour = _mm256_set1_epi32(int(kColour));
    const __m256i zero = _mm256_setzero_si256();
    const auto diff = [&](uint64_t i) {
        return _mm256_and_si256(
            _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i))),
            colour);
    };
    const auto same = [&](__m256i d) {
        return uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d, zero))));
    };
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i d0 = diff(i), d1 = diff(i + 8), d2 = diff(i + 16), d3 = diff(i + 24);
        const __m256i any = _mm256_or_si256(_mm256_or_si256(d0, d1), _mm256_or_si256(d2, d3));
        if (!_mm256_testz_si256(any, any)) {
            const uint32_t mask = same(d0) | same(d1) << 8 | same(d2) << 16 | same(d3) << 24;
            return i + uint64_t(__builtin_ctz(~mask));
        }
    }
    for (; i + 8 <= n; i += 8) {
        const uint32_t mask = same(diff(i));
        if (mask != 0xffu) return i + uint64_t(__builtin_ctz(~mask));
    }
    for (; i < n; ++i) {
        if (!same_colour(a[i], b[i])) return i;
    }
    return n;
}

// Four pixels per shuffle; each store writes 16 bytes and advances 12, into the output's slack
// at the end (Lz4PixelBlockWriter::bound()).
[[gnu::always_inline]] inline void pack(const uint32_t* pixels, uint8_t* out, uint64_t count) {
    const __m128i drop_x = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    uint64_t x = 0;
    for (; x + 4 <= count; x += 4, out += 12) {
        const __m128i four = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pixels + x));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_shuffle_epi8(four, drop_x));
    }
    for (; x < count; ++x, out += 3) {
        const uint32_t p = pixels[x];
        out[0] = uint8_t(p);
        out[1] = uint8_t(p >> 8);
        out[2] = uint8_t(p >> 16);
    }
}
#else
inline uint64_t equal_prefix(const uint32_t* a, const uint32_t* b, uint64_t n) {
    const __m128i colour = _mm_set1_epi32(int(kColour));
    uint64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128i diff =
            _mm_and_si128(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i))),
                          colour);
        const unsigned same =
            unsigned(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(diff, _mm_setzero_si128()))));
        if (same != 0xfu) return i + uint64_t(__builtin_ctz(~same));
    }
    for (; i < n; ++i) {
        if (!same_colour(a[i], b[i])) return i;
    }
    return n;
}

inline void pack(const uint32_t* pixels, uint8_t* out, uint64_t count) {
    for (uint64_t x = 0; x < count; ++x, out += 3) {
        const uint32_t p = pixels[x];
        out[0] = uint8_t(p);
        out[1] = uint8_t(p >> 8);
        out[2] = uint8_t(p >> 16);
    }
}
#endif

// A token's length field beyond 15: bytes of 255, then the rest. Most lengths need no 255s;
// memset is called only for the long ones.
inline uint8_t* write_length_bytes(uint8_t* op, uint64_t rest) {
    if (rest >= 255) {
        const uint64_t full = rest / 255;
        std::memset(op, 255, full);
        op += full;
        rest -= full * 255;
    }
    *op++ = uint8_t(rest);
    return op;
}

// One sequence: the literals from the anchor up to `literal_end`, then, unless `length` is 0
// (the block's last sequence), a copy of `length` pixels from `distance` pixels back.
inline uint8_t* write_sequence(BlockState& state, uint8_t* op, uint64_t literal_end,
                               uint64_t distance, uint64_t length) {
    const uint64_t literals = literal_end - state.anchor;
    uint8_t* token = op++;
    if (literals * 3 >= kLengthFieldMax) {
        *token = uint8_t(kLengthFieldMax << 4);
        op = write_length_bytes(op, literals * 3 - kLengthFieldMax);
    } else {
        *token = uint8_t(literals * 3 << 4);
    }
    pack(state.pixels + state.anchor, op, literals);
    op += literals * 3;
    if (length == 0) {
        state.anchor = literal_end;
        return op;
    }
    const uint64_t offset = distance * 3;
    *op++ = uint8_t(offset);
    *op++ = uint8_t(offset >> 8);
    const uint64_t match_field = length * 3 - kMinMatchBytes;
    if (match_field >= kLengthFieldMax) {
        *token |= uint8_t(kLengthFieldMax);
        op = write_length_bytes(op, match_field - kLengthFieldMax);
    } else {
        *token |= uint8_t(match_field);
    }
    state.anchor = literal_end + length;
    return op;
}

// Writes the block for the pixels from state.anchor up to `end` into `out` (bound() bytes);
// returns its size.
size_t write_block(BlockState& state, uint64_t end, uint8_t* out) {
    uint8_t* op = out;
    if (end > state.anchor + kLastStartPixels) {
        const uint32_t* px = state.pixels;
        uint32_t* table = state.table;
        const uint64_t last_start = end - kLastStartPixels;
        const uint64_t match_end = end - kTailPixels;
        const uint64_t above = state.width <= kMaxDistance ? state.width : 0;
        uint64_t i = state.anchor;
        uint32_t misses = 0;
        while (i <= last_start) {
            // The pixel and the next must both match before a candidate is worth extending:
            // in natural content most candidates fail there. (i + 1 < end: last_start leaves
            // room.) Rows follow each other in the block, so the pixel before a row's first is
            // the previous row's last, a valid copy source like any other.
            const uint32_t pixel = px[i];
            const uint32_t next = px[i + 1];
            uint64_t distance = 0;
            uint64_t shortest = kMinPixels;
            if (i >= 1 && same_colour(pixel, px[i - 1]) && same_colour(next, pixel)) {
                distance = 1;
            } else if (above != 0 && i >= above && same_colour(pixel, px[i - above]) &&
                       same_colour(next, px[i + 1 - above])) {
                distance = above;
            } else {
                uint32_t& slot = table[hash_pair(pixel, next)];
                const uint64_t seen = slot;
                slot = uint32_t(i);
                if (seen < i && i - seen <= kMaxDistance && same_colour(px[seen], pixel) &&
                    same_colour(px[seen + 1], next)) {
                    distance = i - seen;
                    // A short copy from anywhere costs about what it saves.
                    shortest = kMinHashedPixels;
                }
            }
            if (distance != 0) {
                const uint64_t length =
                    kMinPixels + equal_prefix(px + i + kMinPixels, px + i + kMinPixels - distance,
                                              match_end - i - kMinPixels);
                if (length >= shortest) {
                    op = write_sequence(state, op, i, distance, length);
                    i += length;
                    // Halved, not cleared: natural content has short matches amid noise, and a
                    // reset step would probe every pixel of it again.
                    misses >>= 1;
                    continue;
                }
            }
            i += 1 + (misses++ >> kSkipShift);
        }
    }
    op = write_sequence(state, op, end, 0, 0);
    return size_t(op - out);
}

}  // namespace spiced::LZ4_WRITER_NS

#if defined(LZ4_WRITER_AVX2)
SPICED_TARGET_POP()
#endif

#endif  // LZ4_WRITER_NS
