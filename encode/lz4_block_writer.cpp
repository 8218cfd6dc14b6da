#include "encode/lz4_block_writer.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace spiced {

namespace {
// From the LZ4 block format (lz4_Block_format.md in liblz4): a match is at least 4 bytes and
// at most 65535 bytes back; the last 5 bytes of a block are literals, and the last match starts
// at least 12 bytes before the block's end. In 3-byte pixels:
constexpr uint64_t kMinPixels = 2;  // 6 bytes >= 4
// Copies found through the hash table must be longer to be taken (measured on the screen
// corpus: natural images ran 2.5x faster for 2 % more bytes).
constexpr uint64_t kMinHashedPixels = 4;
constexpr uint64_t kMaxDistance = 21845;  // 65535 / 3
constexpr uint64_t kTailPixels = 2;       // ceil(5 / 3): the last match ends before these
constexpr uint64_t kLastStartPixels = 4;  // ceil(12 / 3): and starts no later than this
constexpr uint64_t kLengthFieldMax = 15;  // a token's 4-bit field; more follows in bytes
constexpr uint64_t kMinMatchBytes = 4;    // what a token's match length counts from

constexpr uint32_t kColour = 0x00ffffffu;  // B, G, R; X is not sent
// 8 KiB: it stays in L1 beside the pixels being compared (on the screen corpus 2^11 entries ran
// faster than 2^12 and 2^13; 2^10 wrote more bytes on CAD line art).
constexpr int kHashBits = 11;
// After 2^kSkipShift pixels without a match the step grows by a pixel, and so on.
constexpr uint32_t kSkipShift = 5;

uint32_t hash_pair(uint32_t first, uint32_t second) {
    const uint64_t key = uint64_t(first & kColour) | uint64_t(second & kColour) << 24;
    return uint32_t((key * 0x9E3779B185EBCA87ull) >> (64 - kHashBits));
}

// How many pixels from `a` have the colour of those from `b`, at most `n` (both readable
// for n pixels).
uint64_t equal_prefix_sse2(const uint32_t* a, const uint32_t* b, uint64_t n) {
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
        if (((a[i] ^ b[i]) & kColour) != 0) return i;
    }
    return n;
}

// Four vectors a step, one test for all of them: long matches (blank areas) are most of what
// an image's matches cover.
__attribute__((target("avx2"))) uint64_t equal_prefix_avx2(const uint32_t* a, const uint32_t* b,
                                                           uint64_t n) {
    const __m256i colour = _mm256_set1_epi32(int(kColour));
    const __m256i zero = _mm256_setzero_si256();
#define SPICED_DIFF(i)                                                                   \
    _mm256_and_si256(                                                                    \
        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + (i))),  \
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + (i)))), \
        colour)
#define SPICED_SAME(d) \
    uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d, zero))))
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i d0 = SPICED_DIFF(i), d1 = SPICED_DIFF(i + 8), d2 = SPICED_DIFF(i + 16),
                      d3 = SPICED_DIFF(i + 24);
        const __m256i any = _mm256_or_si256(_mm256_or_si256(d0, d1), _mm256_or_si256(d2, d3));
        if (!_mm256_testz_si256(any, any)) {
            const uint32_t same = SPICED_SAME(d0) | SPICED_SAME(d1) << 8 | SPICED_SAME(d2) << 16 |
                                  SPICED_SAME(d3) << 24;
            return i + uint64_t(__builtin_ctz(~same));
        }
    }
    for (; i + 8 <= n; i += 8) {
        const uint32_t same = SPICED_SAME(SPICED_DIFF(i));
        if (same != 0xffu) return i + uint64_t(__builtin_ctz(~same));
    }
#undef SPICED_SAME
#undef SPICED_DIFF
    for (; i < n; ++i) {
        if (((a[i] ^ b[i]) & kColour) != 0) return i;
    }
    return n;
}

void pack_portable(const uint32_t* pixels, uint8_t* out, uint64_t count) {
    for (uint64_t x = 0; x < count; ++x, out += 3) {
        const uint32_t p = pixels[x];
        out[0] = uint8_t(p);
        out[1] = uint8_t(p >> 8);
        out[2] = uint8_t(p >> 16);
    }
}

// Four pixels per shuffle; each store writes 16 bytes and advances 12, into the output's slack
// at the end (bound()).
__attribute__((target("ssse3"))) void pack_ssse3(const uint32_t* pixels, uint8_t* out,
                                                 uint64_t count) {
    const __m128i drop_x = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    uint64_t x = 0;
    for (; x + 4 <= count; x += 4) {
        const __m128i four = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pixels + x));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + size_t(x) * 3),
                         _mm_shuffle_epi8(four, drop_x));
    }
    pack_portable(pixels + x, out + size_t(x) * 3, count - x);
}

// A token's length field beyond 15: bytes of 255, then the rest.
uint8_t* write_length_bytes(uint8_t* op, uint64_t rest) {
    const uint64_t full = rest / 255;
    std::memset(op, 255, full);
    op += full;
    *op++ = uint8_t(rest - full * 255);
    return op;
}

// Starts a sequence: the token with its literal length (and the length's extra bytes).
uint8_t* write_token(uint8_t* op, uint64_t literal_bytes, uint8_t** token) {
    *token = op++;
    if (literal_bytes >= kLengthFieldMax) {
        **token = uint8_t(kLengthFieldMax << 4);
        return write_length_bytes(op, literal_bytes - kLengthFieldMax);
    }
    **token = uint8_t(literal_bytes << 4);
    return op;
}
}  // namespace

namespace {
bool same_colour(uint32_t a, uint32_t b) {
    return ((a ^ b) & kColour) == 0;
}
}  // namespace

size_t Lz4PixelBlockWriter::bound(size_t pixels) {
    const size_t bytes = pixels * 3;
    return bytes + bytes / 255 + 16 + 32;
}

Lz4PixelBlockWriter::Lz4PixelBlockWriter(bool allow_simd)
    : pack_(allow_simd && __builtin_cpu_supports("ssse3") ? pack_ssse3 : pack_portable),
      equal_prefix_(allow_simd && __builtin_cpu_supports("avx2") ? equal_prefix_avx2
                                                                 : equal_prefix_sse2),
      table_(size_t{1} << kHashBits) {}

void Lz4PixelBlockWriter::start_image(std::span<const uint32_t> pixels, uint32_t width) {
    pixels_ = pixels.data();
    size_ = pixels.size();
    width_ = width;
    anchor_ = 0;
    // Stale entries would be checked before use, but an image must give the same bytes
    // whatever came before it.
    std::fill(table_.begin(), table_.end(), 0);
}

uint8_t* Lz4PixelBlockWriter::write_sequence(uint8_t* op, uint64_t literal_end, uint64_t distance,
                                             uint64_t length) {
    uint8_t* token;
    op = write_token(op, (literal_end - anchor_) * 3, &token);
    pack_(pixels_ + anchor_, op, literal_end - anchor_);
    op += (literal_end - anchor_) * 3;
    if (length == 0) {  // the block's last sequence: literals only
        anchor_ = literal_end;
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
    anchor_ = literal_end + length;
    return op;
}

size_t Lz4PixelBlockWriter::write_block(uint64_t end, uint8_t* out) {
    end = std::min(end, size_);
    uint8_t* op = out;
    if (end > anchor_ + kLastStartPixels) {
        const uint32_t* px = pixels_;
        const uint64_t last_start = end - kLastStartPixels;
        const uint64_t match_end = end - kTailPixels;
        const uint64_t above = width_ <= kMaxDistance ? width_ : 0;
        uint64_t i = anchor_;
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
                uint32_t& slot = table_[hash_pair(pixel, next)];
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
                    kMinPixels + equal_prefix_(px + i + kMinPixels, px + i + kMinPixels - distance,
                                               match_end - i - kMinPixels);
                if (length >= shortest) {
                    op = write_sequence(op, i, distance, length);
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
    op = write_sequence(op, end, 0, 0);
    return size_t(op - out);
}

}  // namespace spiced
