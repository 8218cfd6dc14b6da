// SPICE LZ compressor. The stream format is spice-common's (see lz.h); the match finder is our
// own, built for screen content:
//  - one pass over a contiguous symbol array (the area is gathered first, X masked off, so the
//    hot loop never sees strides or per-pixel type switches; the symbol kind is a template);
//  - three candidates per position: a run (distance 1), the pixel one row up (distance =
//    row length: repeated rows are the commonest redundancy on screens) and one hash slot;
//  - the hash table is 2^12 32-bit slots (16 KiB: stays in L1 next to the input and output
//    streams; 2^13 and 2^14 slots compress 2-7 % better but cost 10 % more time on busy
//    content) and is cleared only as far as the image is large, so small images cost little;
//  - LZ4-style skipping: after many misses (photos, noise) the scan step grows, trading a
//    little ratio on incompressible content for a lot of speed.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "encode/simd_level.h"

#if SPICED_CODEC_SSE2
#include <emmintrin.h>
#endif

#include "encode/lz.h"
#include "encode/lz_format.h"

namespace spiced {

static_assert(std::endian::native == std::endian::little,
              "symbol loads and literal stores assume a little-endian host");

namespace {

constexpr int kMaxHashBits = 12;
// Symbols past the end that the hash and compare loads may touch (8-byte loads).
constexpr size_t kPadBytes = 16;
// A run at least this long is taken without consulting the other candidates (they seldom
// beat it, and each costs a compare whose exit mispredicts: 8 rather than 16 is ~2 % faster on
// busy content for ~0.2 % more bytes).
constexpr size_t kTakeRun = 8;
// Misses before the scan step grows by one (LZ4 uses the same 2^6).
constexpr uint32_t kSkipShift = 5;
// Rows sampled before a full colour count: 1 in 16 costs ~6% of the count.
constexpr int32_t kSampleRowStep = 16;

template <typename T>
T load(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Symbol kinds. kMinNear / kMinFar are the shortest matches worth sending at a near (2-byte)
// or far (4-byte) distance, counting the control byte a literal run restarts with.
struct RgbSyms {  // RGB24, RGB32, RGBA's colour stream: 0x00RRGGBB
    using Sym = uint32_t;
    static constexpr uint32_t kMin = lz::kMinMatchRgb;
    static constexpr size_t kMinNear = 2;
    static constexpr size_t kMinFar = 2;
    static constexpr size_t kLiteralBytes = 3;
    static constexpr uint64_t kDiffMask = ~uint64_t{0};
    static constexpr uint64_t kNearMask = ~uint64_t{0};  // the key's bits of kMinNear symbols
    static constexpr unsigned kIgnored = 0;              // movemask bits (bytes) extend() ignores
    static uint64_t key(const Sym* p) { return load<uint64_t>(p); }  // two pixels
    static bool same(Sym a, Sym b) { return a == b; }
    // Stores B, G, R (and a zero that the next literal or the trim overwrites).
    static void put(uint8_t* o, Sym s) { std::memcpy(o, &s, 4); }
};

// RGB32 compressed straight from the frame when the area's rows are contiguous: skipping the
// masked copy saves a write and a re-read of the whole image, so every compare ignores X
// instead. Writes the same bytes as RgbSyms over the masked copy.
struct RgbInPlaceSyms : RgbSyms {
    static constexpr uint64_t kDiffMask = 0x00ffffff00ffffffull;
    static constexpr unsigned kIgnored = 0x88888888u;
    static uint64_t key(const Sym* p) { return load<uint64_t>(p) & kDiffMask; }
    static bool same(Sym a, Sym b) { return ((a ^ b) & 0x00ffffffu) == 0; }
    static void put(uint8_t* o, Sym s) { RgbSyms::put(o, s & 0x00ffffffu); }
};

struct Rgb16Syms {  // x1r5g5b5, sent high byte first
    using Sym = uint16_t;
    static constexpr uint32_t kMin = lz::kMinMatchRgb16;
    static constexpr size_t kMinNear = 2;
    static constexpr size_t kMinFar = 3;
    static constexpr size_t kLiteralBytes = 2;
    static constexpr uint64_t kDiffMask = ~uint64_t{0};
    static constexpr uint64_t kNearMask = ~uint64_t{0};
    static constexpr unsigned kIgnored = 0;
    static uint64_t key(const Sym* p) { return load<uint32_t>(p); }  // two pixels
    static bool same(Sym a, Sym b) { return a == b; }
    static void put(uint8_t* o, Sym s) {
        o[0] = uint8_t(s >> 8);
        o[1] = uint8_t(s);
    }
};

struct ByteSyms {  // palette bytes and alpha
    using Sym = uint8_t;
    static constexpr uint32_t kMin = lz::kMinMatchByte;
    static constexpr size_t kMinNear = 3;
    static constexpr size_t kMinFar = 5;
    static constexpr uint64_t kDiffMask = ~uint64_t{0};
    static constexpr uint64_t kNearMask = 0x00ffffffu;
    static constexpr unsigned kIgnored = 0;
    static uint64_t key(const Sym* p) { return load<uint32_t>(p); }  // 4 bytes: fewer false hits
    static bool same(Sym a, Sym b) { return a == b; }
    static void put(uint8_t* o, Sym s) { *o = s; }
};

// The part of extend() past its first 8 bytes: a, b point 8 bytes past start.
template <typename T>
[[gnu::noinline]] size_t extend_long(const uint8_t* a, const uint8_t* b, const uint8_t* start,
                                     const uint8_t* end) {
    using Sym = typename T::Sym;
#if SPICED_CODEC_SSE2
    while (b + 32 <= end) {
        auto eq = [](const uint8_t* x, const uint8_t* y) {
            return _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(y)));
        };
        const unsigned same = (unsigned(_mm_movemask_epi8(eq(a, b))) |
                               unsigned(_mm_movemask_epi8(eq(a + 16, b + 16))) << 16) |
                              T::kIgnored;
        if (same != 0xffffffffu) {
            b += std::countr_one(same);
            return size_t(b - start) / sizeof(Sym);
        }
        a += 32;
        b += 32;
    }
#endif
    while (b + 8 <= end) {
        const uint64_t diff = (load<uint64_t>(a) ^ load<uint64_t>(b)) & T::kDiffMask;
        if (diff != 0) {
            b += std::countr_zero(diff) >> 3;
            return size_t(b - start) / sizeof(Sym);
        }
        a += 8;
        b += 8;
    }
    while (b < end && T::same(load<Sym>(a), load<Sym>(b))) {
        a += sizeof(Sym);
        b += sizeof(Sym);
    }
    return size_t(b - start) / sizeof(Sym);
}

// Length (in symbols) of the common run of s[from..] and s[at..], at most limit - at.
// Most candidates end within 8 bytes, so that step is inlined into the match finder (a call
// per candidate cost more than the compare) and only longer matches go out of line for the
// (SSE2) 32-byte steps over the long runs and repeated rows of screens (a < b, so a's loads
// stay below end too).
template <typename T, typename Sym = typename T::Sym>
[[gnu::always_inline]] inline size_t extend(const Sym* s, size_t from, size_t at, size_t limit) {
    const uint8_t* a = reinterpret_cast<const uint8_t*>(s + from);
    const uint8_t* b = reinterpret_cast<const uint8_t*>(s + at);
    const uint8_t* const end = reinterpret_cast<const uint8_t*>(s + limit);
    if (b + 8 <= end) [[likely]] {
        const uint64_t diff = (load<uint64_t>(a) ^ load<uint64_t>(b)) & T::kDiffMask;
        if (diff != 0) return size_t(std::countr_zero(diff) >> 3) / sizeof(Sym);
        return extend_long<T>(a + 8, b + 8, b, end);
    }
    return extend_long<T>(a, b, b, end);
}

// extend() for a candidate whose first kMinNear symbols are known to agree: the inlined step
// then looks at the symbols after them (most matches on busy content are a few symbols long).
template <typename T, typename Sym = typename T::Sym>
[[gnu::always_inline]] inline size_t extend_known(const Sym* s, size_t from, size_t at,
                                                  size_t limit) {
    return T::kMinNear + extend<T>(s, from + T::kMinNear, at + T::kMinNear, limit);
}

// Stores s[at], s[at + 1] as 6 literal bytes (and 2 more that the next store overwrites).
// Pairs halve the copy loop's trips, whose exits mispredict on the short literal runs between
// the matches of busy content.
template <typename T>
uint8_t* put_rgb_pair(const typename T::Sym* s, size_t at, uint8_t* o) {
    const uint64_t pair = load<uint64_t>(s + at) & 0x00ffffff00ffffffull;
    const uint64_t packed = (pair & 0x00ffffffu) | (pair >> 32) << 24;
    std::memcpy(o, &packed, 8);
    return o + 6;
}

// Literals s[from..to). `to_readable`: s[to] may be read (a match starts there), so an odd
// count can end with a pair store whose second pixel is then overwritten.
template <typename T>
uint8_t* put_literals(const typename T::Sym* s, size_t from, size_t to, uint8_t* o,
                      bool to_readable = true) {
    while (from < to) {
        const size_t count = std::min<size_t>(lz::kMaxLiterals, to - from);
        *o++ = uint8_t(count - 1);
        if constexpr (sizeof(typename T::Sym) == 1) {
            std::memcpy(o, s + from, count);
            o += count;
        } else if constexpr (T::kLiteralBytes == 3) {
            const size_t pairs = to_readable || from + count < to ? (count + 1) / 2 : count / 2;
            uint8_t* const end = o + 3 * count;
            for (size_t k = 0; k < pairs; ++k) o = put_rgb_pair<T>(s, from + 2 * k, o);
            if (o < end) T::put(o, s[from + count - 1]);
            o = end;
        } else {
            for (size_t k = 0; k < count; ++k, o += T::kLiteralBytes) T::put(o, s[from + k]);
        }
        from += count;
    }
    return o;
}

// Up to 4 RGB literals before a match, without a loop: the control byte is written and kept
// only if there are literals, then 4 pixels are stored and the output advanced past `count`.
// The literal runs between the many short matches of busy content are mostly this short, and
// a copy loop's exit mispredicts on them. s[from..from + 4) must be readable.
template <typename T>
uint8_t* put_few_literals(const typename T::Sym* s, size_t from, size_t count, uint8_t* o) {
    *o = uint8_t(count - 1);
    o += count != 0;
    put_rgb_pair<T>(s, from, o);
    put_rgb_pair<T>(s, from + 2, o + 6);
    return o + 3 * count;
}

// Literals s[from..to) ahead of a match at `to`, in s[0..n).
template <typename T>
uint8_t* put_literals_before_match(const typename T::Sym* s, size_t from, size_t to, size_t n,
                                   uint8_t* o) {
    if constexpr (sizeof(typename T::Sym) == 4) {
        if (to - from <= 4 && from + 4 <= n) return put_few_literals<T>(s, from, to - from, o);
    }
    return put_literals<T>(s, from, to, o);
}

// `field` = match length - (min - 1) >= 1; `distance` in 1..kMaxDistance.
inline uint8_t* put_match(uint8_t* o, size_t field, uint32_t distance) {
    const uint32_t ofs = distance - 1;
    const bool far = ofs >= lz::kMaxNearDistance;
    const uint32_t high = far ? 31 : ofs >> 8;
    if (field < 7) {
        *o++ = uint8_t(field << 5 | high);
    } else {
        *o++ = uint8_t(7 << 5 | high);
        for (field -= 7; field >= 255; field -= 255) *o++ = 255;
        *o++ = uint8_t(field);
    }
    // Near: the offset's low byte; far: 255 and the rest big-endian. One store either way
    // (the spare bytes are overwritten next): near and far alternate unpredictably.
    const uint32_t rest = ofs - lz::kMaxNearDistance;
    const uint32_t tail = far ? 255 | (rest >> 8 & 0xff) << 8 | (rest & 0xff) << 16 : ofs & 0xff;
    std::memcpy(o, &tail, 4);
    return o + (far ? 3 : 1);
}

int hash_bits_for(size_t n) {
    int bits = 8;
    while (bits < kMaxHashBits && (size_t{1} << bits) < n) ++bits;
    return bits;
}

// A hash slot in 32 bits: the last position with this hash, modulo 2^kPositionBits, and a tag
// of its key so that most misses are rejected without touching the input at that (random,
// often uncached) position. Hash matches thus reach back at most 2^16 - 1 symbols (the format
// allows 73727): any nonzero distance is valid, with no range test in the loop. Four bytes rather
// than eight halve the table's cache footprint, and its load decides the loop's hardest
// branch (whether a position has a candidate): ~15% faster on busy content.
constexpr unsigned kPositionBits = 16;
constexpr uint32_t kTagMask = (uint32_t{1} << (32 - kPositionBits)) - 1;
static_assert((uint32_t{1} << kPositionBits) <= lz::kMaxDistance);

using Slot = uint32_t;

inline Slot make_slot(size_t position, uint64_t hash) {
    return uint32_t(position) << (32 - kPositionBits) | (uint32_t(hash >> 32) & kTagMask);
}

// The distance from `position` back to the slot's position if the tags agree, else 0. A slot
// older than 2^kPositionBits names a wrong (but earlier, so valid) position, which the caller's
// compare of the symbols rejects.
inline size_t slot_distance(Slot slot, size_t position, uint64_t hash) {
    if (((slot ^ uint32_t(hash >> 32)) & kTagMask) != 0) return 0;
    return (uint32_t(position) - (slot >> (32 - kPositionBits))) &
           ((uint32_t{1} << kPositionBits) - 1);
}

// Fibonacci hashing of the key: the top `bits` index the table, bits 32.. make the tag.
inline uint64_t mix(uint64_t key) {
    return key * 0x9E3779B97F4A7C15ull;
}

// Compresses s[0..n) (padded by kPadBytes) into o; `row` is the symbols per image row.
//
// Most positions of busy content (gradients, photos, anti-aliased lines) match nothing, and
// there the loop's cost was branch mispredictions, one per candidate tested. So each position
// first asks all three candidates at once whether their first kMinNear symbols agree (one
// branch, no compare loops); only a yes goes on to measure the candidates.
template <typename T>
uint8_t* compress(const typename T::Sym* s, size_t n, size_t row, Slot* table, uint8_t* o) {
    const int bits = hash_bits_for(n);
    const int shift = 64 - bits;
    // Tag 0 with position 0 may spuriously match: extend() then measures the real length.
    std::fill_n(table, size_t{1} << bits, Slot{0});
    // The row candidate exists from this position on (never when rows are too long).
    const size_t row_from = row > 0 && row <= lz::kMaxDistance ? row : ~size_t{0};
    // Position 0 has no history: a literal. Positions past n - kMinNear cannot start a match,
    // so the keys' loads stay inside the symbols even in place.
    size_t i = 1, literal_start = 0;
    uint32_t misses = 0;
    while (i + T::kMinNear <= n) {
        const uint64_t key = T::key(s + i);
        const uint64_t near = key & T::kNearMask;
        const bool run = (T::key(s + i - 1) & T::kNearMask) == near;
        bool up = false;
        if (i >= row_from) up = (T::key(s + i - row) & T::kNearMask) == near;
        const uint64_t h = mix(key);
        Slot& slot = table[h >> shift];
        const size_t back = slot_distance(slot, i, h);
        slot = make_slot(i, h);
        const bool hashed = back != 0;  // every distance below 2^kPositionBits is allowed
        if (!(run | up | hashed)) {
            i += 1 + (misses++ >> kSkipShift);
            continue;
        }
        size_t best = 0, distance = 0;
        if (run) best = extend_known<T>(s, i - 1, i, n), distance = 1;
        if (up && best < kTakeRun) {
            const size_t len = extend_known<T>(s, i - row, i, n);
            if (len > best) best = len, distance = row;
        }
        // The tag is a few bits of the hash: a hit is checked against the symbols themselves.
        if (hashed && best < kTakeRun && (T::key(s + i - back) & T::kNearMask) == near) {
            const size_t len = extend_known<T>(s, i - back, i, n);
            if (len > best) best = len, distance = back;
        }
        if (best >= (distance <= lz::kMaxNearDistance ? T::kMinNear : T::kMinFar)) {
            o = put_literals_before_match<T>(s, literal_start, i, n, o);
            o = put_match(o, best - (T::kMin - 1), uint32_t(distance));
            i += best;
            literal_start = i;
            misses = 0;
            // Seed the table at the match's end so the content after a repeat is found too.
            if (i + T::kMinNear <= n) {
                const uint64_t hs = mix(T::key(s + i - 1));
                table[hs >> shift] = make_slot(i - 1, hs);
            }
        } else {
            i += 1 + (misses++ >> kSkipShift);
        }
    }
    return put_literals<T>(s, literal_start, n, o, false);
}

// Colour -> palette index, open addressing over 4x the palette size (short probes).
class ColourMap {
public:
    static constexpr uint32_t kEmpty = 0xffffffffu;  // not a colour: colours have X = 0

    void clear() {
        keys_.fill(kEmpty);
        count_ = 0;
    }
    // The common case, branch-predictably: `colour` sits in its home slot.
    bool find_fast(uint32_t colour, uint8_t& index) const {
        const uint32_t h = home(colour);
        index = values_[h];
        return keys_[h] == colour;
    }
    // Index of `colour`; adds it when new and fewer than `limit` colours are held; -1 else.
    int find(uint32_t colour, int limit) {
        for (uint32_t h = home(colour);; h = (h + 1) & (kSlots - 1)) {
            if (keys_[h] == colour) return values_[h];
            if (keys_[h] == kEmpty) {
                if (count_ >= limit) return -1;
                keys_[h] = colour;
                values_[h] = uint8_t(count_);
                colours_[size_t(count_)] = colour;
                return count_++;
            }
        }
    }
    // Maps `colour` to `index` (a caller-given palette); the first of duplicates wins.
    void assign(uint32_t colour, uint8_t index) {
        for (uint32_t h = home(colour);; h = (h + 1) & (kSlots - 1)) {
            if (keys_[h] == colour) return;
            if (keys_[h] == kEmpty) {
                keys_[h] = colour;
                values_[h] = index;
                ++count_;
                return;
            }
        }
    }
    int count() const { return count_; }
    const std::array<uint32_t, 256>& colours() const { return colours_; }

private:
    static constexpr uint32_t kSlots = 1024;
    static uint32_t home(uint32_t colour) { return (colour * 2654435761u) >> 22; }

    std::array<uint32_t, kSlots> keys_{};
    std::array<uint8_t, kSlots> values_{};
    std::array<uint32_t, 256> colours_{};
    int count_ = 0;
};

template <typename V>
auto* grow(V& v, size_t count) {
    if (v.size() < count) v.resize(count);
    return v.data();
}

size_t stream_bound(size_t symbols, size_t literal_bytes) {
    return symbols * literal_bytes + symbols / lz::kMaxLiterals + 16;
}

void put_be32(uint8_t* o, uint32_t v) {
    o[0] = uint8_t(v >> 24);
    o[1] = uint8_t(v >> 16);
    o[2] = uint8_t(v >> 8);
    o[3] = uint8_t(v);
}

}  // namespace

bool lz_is_palette(LzImageType type) {
    return type >= LzImageType::kPlt1Le && type <= LzImageType::kPlt8;
}

int lz_palette_bits(LzImageType type) {
    switch (type) {
        case LzImageType::kPlt1Le:
        case LzImageType::kPlt1Be:
            return 1;
        case LzImageType::kPlt4Le:
        case LzImageType::kPlt4Be:
            return 4;
        case LzImageType::kPlt8:
            return 8;
        default:
            return 0;
    }
}

struct LzCompressor::Tables {
    std::array<Slot, size_t{1} << kMaxHashBits> hash{};
    ColourMap colours;
    std::vector<uint32_t> rgb;    // gathered 0x00RRGGBB
    std::vector<uint16_t> rgb16;  // gathered x1r5g5b5
    std::vector<uint8_t> bytes;   // palette indices or alpha
    std::vector<uint8_t> packed;  // PLT1/PLT4 rows
    std::vector<uint8_t> out;     // worst-case output, copied to the caller's writer

    // Maps every pixel of `area` to a palette index into `bytes` (row after row). With
    // `grow_palette`, new colours join the map up to `limit`; false when a colour is missing.
    bool map_colours(const Frame& frame, const Rect& area, int limit, bool grow_palette);
    // Whether every kSampleRowStep-th row has at most 256 colours together: a cheap early
    // "no" for photos and busy desktops before the full count.
    bool few_colours_in_sample(const Frame& frame, const Rect& area);
    void pack(LzImageType type, const Rect& area, size_t stride);
    uint8_t* compress_stream(LzImageType type, const Frame& frame, const Rect& area, uint8_t* o);
};

bool LzCompressor::Tables::map_colours(const Frame& frame, const Rect& area, int limit,
                                       bool grow_palette) {
    const size_t w = size_t(area.width());
    uint8_t* dest = grow(bytes, size_t(area.area()) + kPadBytes);
    const int cap = grow_palette ? limit : colours.count();
    uint32_t last = ~0u;  // the last colour seen; none yet (colours have X = 0)
    uint8_t last_index = 0;
    // One pixel: the table lookup, which is branch-predictable as its home slot almost
    // always holds the colour.
    auto map_one = [&](uint32_t c, uint8_t& mapped) {
        uint8_t index;
        if (!colours.find_fast(c, index)) [[unlikely]] {
            const int found = colours.find(c, cap);
            if (found < 0) return false;
            index = uint8_t(found);
        }
        mapped = index;
        last_index = index;
        last = c;
        return true;
    };
    [[maybe_unused]] const uint32_t* above = nullptr;  // the previous source row (SIMD path)
    for (int32_t y = area.top(); y < area.bottom(); ++y, dest += w) {
        const uint32_t* src = frame.row(y) + area.left();
        size_t x = 0;
#if SPICED_CODEC_SSE2
        // Screens are mostly runs of one colour and rows that repeat the row above: eight
        // pixels equal to the last colour, or to the eight above, take no lookups.
        const __m128i mask = _mm_set1_epi32(0x00ffffff);
        auto load = [&](const uint32_t* p) {
            return _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), mask);
        };
        auto all_equal = [](__m128i a0, __m128i a1, __m128i b0, __m128i b1) {
            const __m128i eq = _mm_and_si128(_mm_cmpeq_epi32(a0, b0), _mm_cmpeq_epi32(a1, b1));
            return _mm_movemask_epi8(eq) == 0xffff;
        };
        for (; x + 8 <= w; x += 8) {
            const __m128i a = load(src + x), b = load(src + x + 4);
            const __m128i run = _mm_set1_epi32(int(last));
            if (all_equal(a, b, run, run)) {
                std::memset(dest + x, last_index, 8);
                continue;
            }
            if (above && all_equal(a, b, load(above + x), load(above + x + 4))) {
                std::memcpy(dest + x, dest + x - w, 8);
                last = src[x + 7] & 0x00ffffffu;
                last_index = dest[x + 7];
                continue;
            }
            for (size_t k = 0; k < 8; ++k) {
                if (!map_one(src[x + k] & 0x00ffffffu, dest[x + k])) return false;
            }
        }
#endif
        for (; x < w; ++x) {
            if (!map_one(src[x] & 0x00ffffffu, dest[x])) return false;
        }
        above = src;
    }
    return true;
}

bool LzCompressor::Tables::few_colours_in_sample(const Frame& frame, const Rect& area) {
    colours.clear();
    for (int32_t y = area.top(); y < area.bottom(); y += kSampleRowStep) {
        const uint32_t* src = frame.row(y) + area.left();
        for (int32_t x = 0; x < area.width(); ++x) {
            uint8_t index;
            const uint32_t c = src[x] & 0x00ffffffu;
            if (!colours.find_fast(c, index) && colours.find(c, 256) < 0) return false;
        }
    }
    return true;
}

namespace {

// Rows of palette indices to PLT4 / PLT1 bytes (padding bits 0). kBe: the first pixel takes
// the high nibble / bit 7. Indices are below 16 (PLT4) and 2 (PLT1; only bit 0 is used).
template <bool kBe>
void pack4_row(const uint8_t* src, size_t w, uint8_t* dest) {
    size_t x = 0;
#if SPICED_CODEC_SSE2
    // 32 indices -> 16 bytes: each 16-bit lane holds a pair (first index in the low byte).
    const __m128i low = _mm_set1_epi16(0x00ff);
    auto pairs = [&](__m128i v) {
        const __m128i first = _mm_and_si128(v, low), second = _mm_srli_epi16(v, 8);
        return kBe ? _mm_or_si128(_mm_slli_epi16(first, 4), second)
                   : _mm_or_si128(first, _mm_slli_epi16(second, 4));
    };
    for (; x + 32 <= w; x += 32) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + x));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + x + 16));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dest + x / 2),
                         _mm_packus_epi16(pairs(a), pairs(b)));
    }
#endif
    constexpr unsigned first = kBe ? 4 : 0, second = 4 - first;
    for (; x + 1 < w; x += 2) dest[x / 2] = uint8_t(src[x] << first | src[x + 1] << second);
    if (w & 1) dest[w / 2] = uint8_t(src[w - 1] << first);
}

// Bit reversal of a byte, for PLT1_BE from a little-endian movemask.
constexpr auto kReverseBits = [] {
    std::array<uint8_t, 256> table{};
    for (unsigned v = 0; v < 256; ++v) {
        unsigned r = 0;
        for (unsigned b = 0; b < 8; ++b) r |= ((v >> b) & 1) << (7 - b);
        table[v] = uint8_t(r);
    }
    return table;
}();

template <bool kBe>
void pack1_row(const uint8_t* src, size_t w, size_t stride, uint8_t* dest) {
    size_t b = 0;
#if SPICED_CODEC_SSE2
    // 16 indices -> 2 bytes: bit 0 of each index moved to bit 7 of its byte for movemask.
    for (; 8 * b + 16 <= w; b += 2) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 8 * b));
        const unsigned bits = unsigned(_mm_movemask_epi8(_mm_slli_epi16(v, 7)));
        dest[b] = kBe ? kReverseBits[bits & 0xff] : uint8_t(bits);
        dest[b + 1] = kBe ? kReverseBits[bits >> 8] : uint8_t(bits >> 8);
    }
#endif
    for (; b < stride; ++b) {
        const size_t count = std::min<size_t>(8, w - 8 * b);
        unsigned byte = 0;
        for (size_t k = 0; k < count; ++k) {
            byte |= unsigned(src[8 * b + k] & 1) << (kBe ? 7 - k : k);
        }
        dest[b] = uint8_t(byte);  // padding bits 0
    }
}

}  // namespace

void LzCompressor::Tables::pack(LzImageType type, const Rect& area, size_t stride) {
    const size_t w = size_t(area.width()), h = size_t(area.height());
    uint8_t* dest = grow(packed, stride * h + kPadBytes);
    const uint8_t* src = bytes.data();
    for (size_t y = 0; y < h; ++y, src += w, dest += stride) {
        switch (type) {
            case LzImageType::kPlt4Be:
                pack4_row<true>(src, w, dest);
                break;
            case LzImageType::kPlt4Le:
                pack4_row<false>(src, w, dest);
                break;
            case LzImageType::kPlt1Be:
                pack1_row<true>(src, w, stride, dest);
                break;
            case LzImageType::kPlt1Le:
                pack1_row<false>(src, w, stride, dest);
                break;
            default:
                break;
        }
    }
}

uint8_t* LzCompressor::Tables::compress_stream(LzImageType type, const Frame& frame,
                                               const Rect& area, uint8_t* o) {
    const size_t w = size_t(area.width()), n = size_t(area.area());
    switch (type) {
        case LzImageType::kRgb24:
        case LzImageType::kRgb32:
        case LzImageType::kRgba: {
            const uint32_t* first = frame.row(area.top()) + area.left();
            if (area.height() == 1 || frame.row(area.top() + 1) + area.left() == first + w) {
                o = compress<RgbInPlaceSyms>(first, n, w, hash.data(), o);
            } else {
                uint32_t* dest = grow(rgb, n + kPadBytes);
                for (int32_t y = area.top(); y < area.bottom(); ++y, dest += w) {
                    const uint32_t* src = frame.row(y) + area.left();
                    for (size_t x = 0; x < w; ++x) dest[x] = src[x] & 0x00ffffffu;
                }
                o = compress<RgbSyms>(rgb.data(), n, w, hash.data(), o);
            }
            if (type != LzImageType::kRgba) return o;
            [[fallthrough]];
        }
        case LzImageType::kXxxa: {
            uint8_t* dest = grow(bytes, n + kPadBytes);
            for (int32_t y = area.top(); y < area.bottom(); ++y, dest += w) {
                const uint32_t* src = frame.row(y) + area.left();
                for (size_t x = 0; x < w; ++x) dest[x] = uint8_t(src[x] >> 24);
            }
            return compress<ByteSyms>(bytes.data(), n, w, hash.data(), o);
        }
        case LzImageType::kRgb16: {
            uint16_t* dest = grow(rgb16, n + kPadBytes);
            for (int32_t y = area.top(); y < area.bottom(); ++y, dest += w) {
                const uint32_t* src = frame.row(y) + area.left();
                for (size_t x = 0; x < w; ++x) {
                    const uint32_t p = src[x];
                    dest[x] = uint16_t((p >> 9 & 0x7c00) | (p >> 6 & 0x03e0) | (p >> 3 & 0x001f));
                }
            }
            return compress<Rgb16Syms>(rgb16.data(), n, w, hash.data(), o);
        }
        case LzImageType::kPlt8:
            return compress<ByteSyms>(bytes.data(), n, w, hash.data(), o);
        case LzImageType::kPlt1Le:
        case LzImageType::kPlt1Be:
        case LzImageType::kPlt4Le:
        case LzImageType::kPlt4Be: {
            const size_t stride = size_t(lz::row_bytes(type, w));
            pack(type, area, stride);
            return compress<ByteSyms>(packed.data(), stride * size_t(area.height()), stride,
                                      hash.data(), o);
        }
    }
    return o;
}

LzCompressor::LzCompressor() : tables_(std::make_unique<Tables>()) {}
LzCompressor::~LzCompressor() = default;

namespace {

Expected<void, std::string> check_area(const Frame& frame, const Rect& area) {
    if (area.is_empty() || !frame.rect().contains(area)) {
        return unexpected(std::string("lz: area empty or outside the frame"));
    }
    if (area.area() > kMaxDecodedPixels) return unexpected(std::string("lz: area too large"));
    return {};
}

// Writes the header and the stream(s) for `area` into the worst-case scratch, then copies the
// exact bytes to `out` (one copy of the compressed size beats zero-filling the worst case).
template <typename Body>
void write_stream(std::vector<uint8_t>& scratch, LzImageType type, const Rect& area,
                  ByteWriter& out, Body&& body) {
    const size_t n = size_t(area.area());
    size_t bound = kLzHeaderBytes + stream_bound(n, 3) + stream_bound(n, 1) + kPadBytes;
    if (lz_is_palette(type)) bound = kLzHeaderBytes + stream_bound(n, 1) + kPadBytes;
    uint8_t* const start = grow(scratch, bound);
    const uint32_t header[7] = {lz::kMagic,
                                lz::kVersion,
                                uint32_t(type),
                                uint32_t(area.width()),
                                uint32_t(area.height()),
                                uint32_t(lz::row_bytes(type, uint64_t(area.width()))),
                                1};  // top_down
    for (size_t k = 0; k < 7; ++k) put_be32(start + 4 * k, header[k]);
    const uint8_t* end = body(start + kLzHeaderBytes);
    out.bytes(std::span<const uint8_t>(start, size_t(end - start)));
}

}  // namespace

Expected<void, std::string> LzCompressor::encode(const Frame& frame, const Rect& area,
                                                 LzImageType type, ByteWriter& out,
                                                 std::span<const uint32_t> palette) {
    if (auto ok = check_area(frame, area); !ok) return ok;
    if (uint32_t(type) < uint32_t(LzImageType::kPlt1Le) ||
        uint32_t(type) > uint32_t(LzImageType::kXxxa)) {
        return unexpected(std::string("lz: unknown image type"));
    }
    Tables& t = *tables_;
    if (lz_is_palette(type)) {
        const size_t max_entries = size_t{1} << lz_palette_bits(type);
        if (palette.empty() || palette.size() > max_entries) {
            return unexpected(std::string("lz: palette size does not fit the type"));
        }
        t.colours.clear();
        for (size_t k = 0; k < palette.size(); ++k) {
            t.colours.assign(palette[k] & 0x00ffffffu, uint8_t(k));
        }
        if (!t.map_colours(frame, area, 0, false)) {
            return unexpected(std::string("lz: a pixel's colour is not in the palette"));
        }
    }
    write_stream(t.out, type, area, out,
                 [&](uint8_t* o) { return t.compress_stream(type, frame, area, o); });
    return {};
}

Expected<LzImageType, std::string> LzCompressor::encode_auto(const Frame& frame, const Rect& area,
                                                             ByteWriter& out,
                                                             std::vector<uint32_t>& palette,
                                                             bool allow_palette) {
    if (auto ok = check_area(frame, area); !ok) return unexpected(ok.error());
    Tables& t = *tables_;
    palette.clear();
    LzImageType type = LzImageType::kRgb32;
    if (allow_palette) {
        // The full count continues the sample's map: its indices stay valid.
        if (t.few_colours_in_sample(frame, area) && t.map_colours(frame, area, 256, true)) {
            const int count = t.colours.count();
            type = count <= 2    ? LzImageType::kPlt1Be
                   : count <= 16 ? LzImageType::kPlt4Be
                                 : LzImageType::kPlt8;
            palette.assign(t.colours.colours().begin(), t.colours.colours().begin() + count);
            // spice-common's PLT1 decoder reads entries 0 and 1 whatever num_ents says.
            if (palette.size() < 2) palette.resize(2, 0);
        }
    }
    write_stream(t.out, type, area, out,
                 [&](uint8_t* o) { return t.compress_stream(type, frame, area, o); });
    return type;
}

Expected<void, std::string> lz_encode(const Frame& frame, const Rect& area, LzImageType type,
                                      ByteWriter& out, std::span<const uint32_t> palette) {
    LzCompressor compressor;
    return compressor.encode(frame, area, type, out, palette);
}

}  // namespace spiced
