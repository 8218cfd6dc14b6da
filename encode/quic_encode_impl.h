// The QUIC encoder's row coder, compiled twice: by quic.cpp for any x86-64 (SSE2) or other CPU,
// and by quic_avx2.cpp with AVX2 and BMI2 enabled (variable shifts without the CL register,
// 8-pixel row preparation). QuicEncoder picks one at run time; both write the same bits.
//
// Layout of this header: the state shared by both builds (plain data and generic inline code,
// so the two translation units agree on every inline function), then, inside
// namespace spiced::QUIC_ENC_NS, the hot code. A translation unit defines QUIC_ENC_NS (and
// QUIC_ENC_AVX2 for the AVX2 build) before including this header, exactly once.
//
// How a row is coded (format: quic_model.h):
// - One pass over the row first marks, as a bitmap, the pixels that repeat their left neighbour
//   (how long runs last); where the format starts runs follows from that bitmap and the row
//   above's. On x86-64, unless the walker's last row was nearly all runs, the pass also computes
//   every pixel's folded residuals (SIMD); otherwise the coding loop computes residuals of only
//   the pixels it codes (SWAR).
// - The coding loop then tests no pixel for runs: it codes until the next run start.
// - Each channel's context value maps straight to the code table of its bucket's best code,
//   kept current when the model learns, so a sample costs two loads: table, then codeword.
// - Bits go right-aligned into a 64-bit accumulator; a pixel whose three codewords fit 32 bits
//   (almost all) is one put, which stores a word unconditionally and advances when full.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "encode/quic_model.h"
#include "encode/simd_level.h"
#include "pixels/frame.h"

namespace spiced::quic_enc {

// Codewords of one Golomb code, right-aligned, and their lengths. code[] and len[] sit in one
// block so one pointer reaches both.
struct CodeTable {
    std::array<uint32_t, 256> code;
    std::array<uint8_t, 256> len;
};

inline constexpr auto kCodeTables = [] {
    std::array<CodeTable, quic::kCodeCount> tables{};
    for (unsigned k = 0; k < quic::kCodeCount; ++k) {
        for (unsigned v = 0; v < 256; ++v) {
            const uint32_t word = quic::kCodewords[k][v];  // left-aligned | length
            const uint32_t len = word & 31;
            tables[k].code[v] = (word & ~31u) >> (32 - len);
            tables[k].len[v] = uint8_t(len);
        }
    }
    return tables;
}();

// Run codes of lengths below kShortRun, per run state: the whole MELCODE codeword (hits, the
// zero and the remainder; at most 21 bits), right-aligned, its length and the next state, so
// a short run costs one lookup and one put.
inline constexpr int kShortRun = 64;
struct RunCode {
    uint32_t code;
    uint8_t len;
    uint8_t next;
};
inline constexpr auto kRunCodes = [] {
    std::array<std::array<RunCode, kShortRun>, quic::kRunStates> table{};
    for (unsigned s = 0; s < unsigned(quic::kRunStates); ++s) {
        for (unsigned length = 0; length < unsigned(kShortRun); ++length) {
            unsigned state = s, left = length, hits = 0;
            while (left >= (1u << quic::kRunBits[state])) {
                left -= 1u << quic::kRunBits[state];
                ++hits;
                if (state < quic::kRunStates - 1) ++state;
            }
            const unsigned bits = quic::kRunBits[state] + 1u;  // a zero, then the remainder
            table[s][length] = {(((1u << hits) - 1) << bits) | left, uint8_t(hits + bits),
                                uint8_t(state ? state - 1 : 0)};
        }
    }
    return table;
}();

// Per channel (R, G, B, then alpha; gray uses channel 0): for each context value, the code
// table its bucket's best code selects. Kept in step with ChannelModel::best.
struct CodeChoice {
    std::array<std::array<const CodeTable*, 256>, 4> table;

    void reset() {
        for (auto& t : table) t.fill(&kCodeTables[quic::kCodeCount - 1]);
    }
    void set(int channel, unsigned bucket, unsigned code) {
        const unsigned first = (1u << bucket) - 1;
        const unsigned last = bucket == quic::kBucketCount - 1 ? 255 : (2u << bucket) - 2;
        auto& t = table[size_t(channel)];
        std::fill(t.begin() + first, t.begin() + last + 1, &kCodeTables[code]);
    }
};

// Per walker: the residual row each pixel's context comes from and the row pass's storage.
struct WalkerRows {
    // Folded residuals of the last row in which each pixel was coded (not in a run); element
    // 0 is index -1, pixel 0's context. Pixel x's context is index x - 1.
    std::vector<uint32_t> history;
    std::vector<uint32_t> residuals;  // the row pass's residuals
    // Bitmaps as 64-bit words (bit x % 64 of word x / 64), one word of slack: the same_left
    // of this row and of the row above (swapped per row), and where runs start.
    std::array<std::vector<uint64_t>, 2> same_left;
    std::vector<uint64_t> run_start;
    int coded = 0;  // pixels coded in the walker's last row

    void reset(int width) {
        const size_t words = size_t(width) / 64 + 2;
        if (history.size() < size_t(width) + 1) history.resize(size_t(width) + 1);
        if (residuals.size() < size_t(width)) residuals.resize(size_t(width));
        if (run_start.size() < words) {
            for (auto& b : same_left) b.resize(words);
            run_start.resize(words);
        }
        coded = width;  // row 0 has no runs: every pixel is coded
    }
};

struct EncoderState {
    std::array<quic::ChannelModel, 4> models;
    CodeChoice choice;
    std::array<WalkerRows, 2> rows;  // the RGB (or gray) walker's and the alpha walker's

    void reset(int width) {
        for (auto& r : rows) r.reset(width);
        for (auto& m : models) m.reset();
        choice.reset();
    }
};

// The output position of the bit writer: `n` (0..31) pending bits at the low end of `acc`
// (bits above them are stale). Plain data: the put() that moves it is per build.
struct BitCursor {
    uint8_t* out;
    uint64_t acc;
    unsigned n;
};

inline void store_le32(uint8_t* p, uint32_t v) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p, &v, 4);
    } else {
        p[0] = uint8_t(v);
        p[1] = uint8_t(v >> 8);
        p[2] = uint8_t(v >> 16);
        p[3] = uint8_t(v >> 24);
    }
}

// Owns the growth of the output vector. It is grown ahead of the cursor in chunks (resize
// zero-fills, so growing to the worst case of a whole image at once would cost more than
// the encoding) and trimmed at the end.
class BitSink {
public:
    BitSink(std::vector<uint8_t>& buffer, size_t start) : buffer_(buffer), start_(start) {
        cursor_ = {buffer_.data() + start_, 0, 0};
    }

    BitCursor& cursor() { return cursor_; }

    // Makes room for `bytes` more output (plus the one-word overhang of put()).
    void ensure(size_t bytes) {
        const size_t at = size_t(cursor_.out - buffer_.data());
        if (buffer_.size() - at >= bytes + 8) return;
        const size_t written = at - start_;
        buffer_.resize(at + std::max(bytes + 8, written / 2 + 4096));
        cursor_.out = buffer_.data() + at;
    }

    // Pads the last word with zeros and adds the zero word readers look ahead into.
    // Returns the stream size in bytes.
    size_t finish() {
        ensure(8);
        if (cursor_.n) {
            store_le32(cursor_.out, uint32_t(cursor_.acc << (32 - cursor_.n)));
            cursor_.out += 4;
        }
        store_le32(cursor_.out, 0);
        cursor_.out += 4;
        const size_t end = size_t(cursor_.out - buffer_.data());
        buffer_.resize(end);
        return end - start_;
    }

private:
    std::vector<uint8_t>& buffer_;
    size_t start_;
    BitCursor cursor_;
};

// Which walkers code an image: RGB (RGB24/RGB32), RGB then alpha per row (RGBA), or gray.
enum class Walkers { kRgb, kRgba, kGray };

// Worst case of one row of one walker: every sample escapes (26 bits) and every pixel starts
// a run attempt (remainder up to 16 bits plus one hit bit per run pixel).
inline size_t row_bytes(int width, int channels) {
    return (size_t(width) * (size_t(channels) * quic::kMaxCodeBits + 17 + 1) + 7) / 8 + 16;
}

}  // namespace spiced::quic_enc

// ---- Per-build hot code ---------------------------------------------------------------------
#if defined(QUIC_ENC_NS)

#if defined(QUIC_ENC_AVX2)
SPICED_TARGET_PUSH("avx2,bmi,bmi2,lzcnt,popcnt")
#endif

namespace spiced::QUIC_ENC_NS {

using namespace quic;
using namespace quic_enc;

// Encodes `area` of `frame` (its rows, no header) with `walkers`; `simd` = false uses the
// portable row pass (same output).
void encode_rows(EncoderState& state, const Frame& frame, const Rect& area, Walkers walkers,
                 BitSink& sink, bool simd);

// Appends `len` (0..32) bits, right-aligned in `code` (nothing above them). Stores the top
// word unconditionally (a store is cheaper than a branch) and moves on once it is full.
inline void put(BitCursor& w, uint32_t code, unsigned len) {
    w.acc = (w.acc << len) | code;
    w.n += len;
    store_le32(w.out, uint32_t(w.acc >> ((w.n - 32) & 63)));
    w.out += (w.n >> 5) * 4;
    w.n &= 31;
}

namespace {

inline unsigned sample(uint32_t pixel, unsigned shift) {
    return (pixel >> shift) & 0xff;
}

// Folded residuals of all bytes of a pixel at once (SWAR), for the mean-of-left-and-above
// predictor: byte n of the result is fold(byte n of p - floor((left + up) / 2)).
inline uint32_t fold_residuals(uint32_t p, uint32_t left, uint32_t up) {
    constexpr uint32_t kHigh = 0x80808080u, kLow = 0x7f7f7f7fu;
    const uint32_t pred = (left & up) + (((left ^ up) >> 1) & kLow);  // per-byte floor mean
    const uint32_t d = ((p | kHigh) - (pred & kLow)) ^ ((p ^ ~pred) & kHigh);  // per-byte p - pred
    const uint32_t sign = d & kHigh;
    // fold(d) = 2d for d < 128, else 2(255 - d) + 1 = (2d) ^ 0xff.
    return ((d << 1) & 0xfefefefeu) ^ ((sign << 1) - (sign >> 7));
}

// ---- Row pass -------------------------------------------------------------------------------
// Bitmaps, bit x of byte x / 8 (little-endian words):
//   same_left  pixel x equals pixel x - 1 under the layout's mask (a run continues while set)
//   run_start  x > 2, the row above repeats at x (its same_left bit x) and the current row
//              already repeats before x (same_left bit x - 1): where a run starts
// The pass computes same_left (and residuals); run_start follows from two same_left rows.
struct RowInput {
    const uint32_t* cur;
    const uint32_t* up;  // the row above, or cur - 1 in row 0 (its "above" is the left pixel)
    int width;
    uint32_t mask;
};
struct RowPlan {
    uint32_t* residuals;  // [width], filled only by the kResiduals passes
    uint8_t* same_left;
};

// Pixels [from, to) one by one; `from` is a multiple of 8 and the bitmap bytes from / 8 on are
// written whole (bits past `to` are 0).
template <bool kResiduals>
void prepare_tail(const RowInput& in, const RowPlan& plan, int from, int to) {
    const uint32_t* cur = in.cur;
    const uint32_t* up = in.up;
    const uint32_t m = in.mask;
    for (int x0 = from; x0 < to; x0 += 8) {
        unsigned same = 0;
        for (int x = std::max(x0, 1); x < std::min(x0 + 8, to); ++x) {
            if constexpr (kResiduals) {
                plan.residuals[x] = fold_residuals(cur[x], cur[x - 1], up[x]) & m;
            }
            same |= unsigned(((cur[x] ^ cur[x - 1]) & m) == 0) << (x & 7);
        }
        plan.same_left[x0 / 8] = uint8_t(same);
    }
}

template <bool kResiduals>
void prepare_row_portable(const RowInput& in, const RowPlan& plan) {
    prepare_tail<kResiduals>(in, plan, 0, std::min(in.width, 8));
    // Whole groups of eight with a fixed trip count, which compilers unroll and vectorise.
    const uint32_t* const cur = in.cur;
    const uint32_t* const up = in.up;
    uint32_t* const residuals = plan.residuals;
    uint8_t* const same_left = plan.same_left;
    const uint32_t m = in.mask;
    int x0 = 8;
    for (; x0 + 8 <= in.width; x0 += 8) {
        unsigned same = 0;
        for (int k = 0; k < 8; ++k) {
            const int x = x0 + k;
            if constexpr (kResiduals) residuals[x] = fold_residuals(cur[x], cur[x - 1], up[x]) & m;
            same |= unsigned(((cur[x] ^ cur[x - 1]) & m) == 0) << k;
        }
        same_left[x0 / 8] = uint8_t(same);
    }
    prepare_tail<kResiduals>(in, plan, std::max(x0, 8), in.width);
}

// The SIMD passes: groups of eight pixels from x = 8, the first and last groups through
// prepare_tail(). Per byte, the residual is fold(p - floor((left + up) / 2)): avg_epu8 rounds
// up and subtracting the low bit of left ^ up makes it the floor; fold(d) = 2d, or
// 2(255 - d) + 1 = 2d ^ 0xff for d < 0.
#if defined(QUIC_ENC_AVX2)
inline __m256i load8(const uint32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

template <bool kResiduals>
void prepare_row_simd(const RowInput& in, const RowPlan& plan) {
    prepare_tail<kResiduals>(in, plan, 0, std::min(in.width, 8));
    const __m256i m = _mm256_set1_epi32(int(in.mask));
    const __m256i zero = _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi8(1);
    // Locals: the byte stores below may alias anything, which would reload the members.
    const uint32_t* const cur = in.cur;
    const uint32_t* const up = in.up;
    uint32_t* const residuals = plan.residuals;
    uint8_t* const same_left = plan.same_left;
    const int width = in.width;
    int x0 = 8;
    for (; x0 + 8 <= width; x0 += 8) {
        const __m256i c = load8(cur + x0), l = load8(cur + x0 - 1);
        if constexpr (kResiduals) {
            const __m256i u = load8(up + x0);
            const __m256i pred = _mm256_sub_epi8(_mm256_avg_epu8(l, u),
                                                 _mm256_and_si256(_mm256_xor_si256(l, u), one));
            const __m256i d = _mm256_sub_epi8(c, pred);
            const __m256i folded =
                _mm256_xor_si256(_mm256_add_epi8(d, d), _mm256_cmpgt_epi8(zero, d));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(residuals + x0),
                                _mm256_and_si256(folded, m));
        }
        const __m256i eq = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_xor_si256(c, l), m), zero);
        same_left[x0 / 8] = uint8_t(_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
    }
    prepare_tail<kResiduals>(in, plan, std::max(x0, 8), width);
}
#elif defined(__x86_64__)
inline __m128i load4(const uint32_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

template <bool kResiduals>
void prepare_row_simd(const RowInput& in, const RowPlan& plan) {
    prepare_tail<kResiduals>(in, plan, 0, std::min(in.width, 8));
    const __m128i m = _mm_set1_epi32(int(in.mask));
    const __m128i zero = _mm_setzero_si128();
    const __m128i one = _mm_set1_epi8(1);
    // Locals: the byte stores below may alias anything, which would reload the members.
    const uint32_t* const cur = in.cur;
    const uint32_t* const up = in.up;
    uint32_t* const residuals = plan.residuals;
    uint8_t* const same_left = plan.same_left;
    const int width = in.width;
    int x0 = 8;
    for (; x0 + 8 <= width; x0 += 8) {
        unsigned same = 0;
        for (int h = 0; h < 8; h += 4) {
            const int x = x0 + h;
            const __m128i c = load4(cur + x), l = load4(cur + x - 1);
            if constexpr (kResiduals) {
                const __m128i u = load4(up + x);
                const __m128i pred =
                    _mm_sub_epi8(_mm_avg_epu8(l, u), _mm_and_si128(_mm_xor_si128(l, u), one));
                const __m128i d = _mm_sub_epi8(c, pred);
                const __m128i folded = _mm_xor_si128(_mm_add_epi8(d, d), _mm_cmplt_epi8(d, zero));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(residuals + x),
                                 _mm_and_si128(folded, m));
            }
            const __m128i eq = _mm_cmpeq_epi32(_mm_and_si128(_mm_xor_si128(c, l), m), zero);
            same |= unsigned(_mm_movemask_ps(_mm_castsi128_ps(eq))) << h;
        }
        same_left[x0 / 8] = uint8_t(same);
    }
    prepare_tail<kResiduals>(in, plan, std::max(x0, 8), width);
}
#else
template <bool kResiduals>
void prepare_row_simd(const RowInput& in, const RowPlan& plan) {
    prepare_row_portable<kResiduals>(in, plan);
}
#endif

#if defined(__x86_64__)
inline constexpr bool kSimdPass = true;
#else
inline constexpr bool kSimdPass = false;
#endif

inline uint64_t load_le64(const uint8_t* p) {
    if constexpr (std::endian::native == std::endian::little) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return v;
    } else {
        uint64_t v = 0;
        for (int b = 7; b >= 0; --b) v = v << 8 | p[b];
        return v;
    }
}

// Word w of a bitmap (bytes in little-endian order).
inline uint64_t bitmap_word(const uint64_t* bits, size_t w) {
    return load_le64(reinterpret_cast<const uint8_t*>(bits + w));
}

// run_start from the same_left bitmaps of the row above (`up`) and of this row (`cur`).
inline void find_run_starts(const uint64_t* up, const uint64_t* cur, uint64_t* starts, int width) {
    const size_t words = (size_t(width) + 63) / 64;
    uint64_t carry = 0;  // same_left bit x - 1 for x = 64 * w
    for (size_t w = 0; w < words; ++w) {
        const uint64_t same = bitmap_word(cur, w);
        uint64_t word = bitmap_word(up, w) & ((same << 1) | carry);
        if (w == 0) word &= ~uint64_t{7};  // runs never start at x <= 2
        if constexpr (std::endian::native == std::endian::big)
            word = load_le64(reinterpret_cast<const uint8_t*>(&word));  // back to byte order
        starts[w] = word;
        carry = same >> 63;
    }
}

// ChannelModel::learn(), returning the bucket's new best code. The AVX2 build keeps a
// bucket's eight costs in one register: add the codeword lengths, take the minimum across
// lanes, and the highest lane holding it is the best code (ties go to the larger k).
#if defined(QUIC_ENC_AVX2)
inline unsigned learn_bucket(ChannelModel& model, unsigned bucket, unsigned value,
                             unsigned trigger) {
    static_assert(sizeof(model.cost[0]) == 32 && sizeof(kCodeLengths[0]) == 8);
    auto* costs = reinterpret_cast<__m256i*>(model.cost[bucket].data());
    const __m128i lengths = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(&kCodeLengths[value]));
    __m256i c = _mm256_add_epi32(_mm256_loadu_si256(costs), _mm256_cvtepu8_epi32(lengths));
    __m256i low = _mm256_min_epu32(c, _mm256_permute2x128_si256(c, c, 1));
    low = _mm256_min_epu32(low, _mm256_shuffle_epi32(low, _MM_SHUFFLE(1, 0, 3, 2)));
    low = _mm256_min_epu32(low, _mm256_shuffle_epi32(low, _MM_SHUFFLE(2, 3, 0, 1)));
    const unsigned at_min =
        unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(c, low))));
    const unsigned best = unsigned(std::bit_width(at_min)) - 1;
    if (uint32_t(_mm256_cvtsi256_si32(low)) > trigger) c = _mm256_srli_epi32(c, 1);
    _mm256_storeu_si256(costs, c);
    model.best[bucket] = uint8_t(best);
    return best;
}
#else
inline unsigned learn_bucket(ChannelModel& model, unsigned bucket, unsigned value,
                             unsigned trigger) {
    model.learn(bucket, value, trigger);
    return model.best[bucket];
}
#endif

// First x in [from, limit) whose bit is `value`, or limit. Reads whole words: the bitmaps
// have a word of slack past the row.
template <bool kValue>
inline int find_bit(const uint64_t* bits, int from, int limit) {
    const uint8_t* const bytes = reinterpret_cast<const uint8_t*>(bits);
    while (from < limit) {
        uint64_t word = load_le64(bytes + size_t(from >> 3));
        if constexpr (!kValue) word = ~word;
        word >>= unsigned(from & 7);
        if (word) return std::min(limit, from + std::countr_zero(word));
        from = (from & ~7) + 64;
    }
    return limit;
}

// ---- One walker -----------------------------------------------------------------------------
// Codes rows of one walker (the RGB triple or one plane): the encoding side of walk_row()'s
// Op contract (quic_model.h), with walk_row's control flow repeated in encode_row() so the
// whole row compiles as one unit for this build.
// Residual rows hold each pixel's folded residuals packed like the pixel (byte n = channel at
// shift 8n), so one register carries the context of all channels.
template <typename L>
class RowCoder {
public:
    static constexpr int kCh = L::kChannels;

    RowCoder(BitSink& sink, ChannelModel* models, CodeChoice& choice, int first_channel,
             WalkerRows& rows, bool simd)
        : sink_(sink),
          models_(models),
          choice_(choice),
          first_channel_(first_channel),
          rows_(rows),
          simd_(simd) {}

    void encode_row(const uint32_t* prev, const uint32_t* cur, int width) {
        start_row(prev, cur, width);
        int pos = 0;
        int left = width;
        while (s_.wait_index < kMaxWaitIndex && int(s_.wait_left) <= left) {
            if (s_.wait_left) {
                segment(pos, pos + int(s_.wait_left));
                left -= int(s_.wait_left);
                pos += int(s_.wait_left);
            }
            ++s_.wait_index;
            s_.wait_left = kWaitStep;
        }
        if (left) {
            segment(pos, pos + left);
            if (s_.wait_index < kMaxWaitIndex) s_.wait_left -= unsigned(left);
        }
        rows_.coded = coded_;
    }

private:
    // walk_row()'s segment: pixels [i, end) under one wait mask.
    void segment(int i, int end) {
        const unsigned mask = (1u << s_.wait_index) - 1;
        const unsigned trigger = kHalvingTrigger[s_.wait_index];
        if (i == 0) {
            first();
            if (s_.wait) {
                --s_.wait;
            } else {
                s_.wait = s_.draw(mask);
                learn(0, trigger);
            }
            i = 1;
        }
        int stop = i + int(s_.wait);
        int run_at = 0;
        for (;;) {
            const bool learns_here = stop < end;
            const int last = learns_here ? stop : end - 1;
            i = span(i, last, run_at);
            if (i <= last) {
                // Runs pause the countdown to the next update: it resumes after the run.
                run_at = i;
                s_.wait = unsigned(stop - i);
                i = run(i, end);
                if (i == end) return;
                stop = i + int(s_.wait);
                continue;
            }
            if (!learns_here) {
                s_.wait = unsigned(stop - end);
                return;
            }
            learn(stop, trigger);
            stop = i + int(s_.draw(mask));
        }
    }

    void start_row(const uint32_t* prev, const uint32_t* cur, int width) {
        history_ = rows_.history.data() + 1;
        cur_ = cur;
        up_ = prev ? prev : cur - 1;
        row0_ = prev == nullptr;
        // Pixel 0's context is pixel 0's residual of the row above (0 in row 0).
        history_[-1] = row0_ ? 0 : history_[0];
        // Residuals from the SIMD pass cost a store per pixel and save the SWAR arithmetic of
        // every coded pixel: worth it unless the row is nearly all runs (judged by the
        // walker's last row; 1/16 measured best on the screen corpus).
        // Without SIMD (portable mode, or a CPU other than x86-64) the pass computes no
        // residuals: scalar, it would cost as much as the coding loop's SWAR arithmetic.
        const bool residuals = simd_ && kSimdPass && 16 * rows_.coded >= width;
        coded_ = 0;
        const RowInput in{cur, up_, width, L::kMask};
        std::swap(rows_.same_left[0], rows_.same_left[1]);
        same_left_ = rows_.same_left[0].data();
        residuals_ = residuals ? rows_.residuals.data() : nullptr;
        const RowPlan plan{residuals_, reinterpret_cast<uint8_t*>(same_left_)};
        if (simd_) {
            residuals ? prepare_row_simd<true>(in, plan) : prepare_row_simd<false>(in, plan);
        } else {
            residuals ? prepare_row_portable<true>(in, plan)
                      : prepare_row_portable<false>(in, plan);
        }
        if (!row0_) {
            find_run_starts(rows_.same_left[1].data(), same_left_, rows_.run_start.data(), width);
        }
    }

    void first() {
        BitCursor w = sink_.cursor();
        const uint32_t up = row0_ ? 0 : up_[0];
        const uint32_t r = fold_residuals(cur_[0], up, up) & L::kMask;
        code_pixel(w, choice_.table.data() + first_channel_, history_[-1], r);
        history_[0] = r;
        sink_.cursor() = w;
        ++coded_;
    }

    // Codes pixels i..last; stops early at the next run start (never run_at) and returns it.
    int span(int i, int last, int run_at) {
        if (i > last) return i;
        int stop = last + 1;
        if (!row0_) stop = find_bit<true>(rows_.run_start.data(), i == run_at ? i + 1 : i, stop);
        coded_ += stop - i;
        // Local copies: the residual stores could alias the members, which would otherwise
        // force the bit cursor through memory on every pixel.
        BitCursor w = sink_.cursor();
        uint32_t* const hist = history_;
        const auto* const tables = choice_.table.data() + first_channel_;
        uint32_t ctx = hist[i - 1];
        if (const uint32_t* const res = residuals_) {
            for (; i < stop; ++i) {
                const uint32_t r = res[i];
                code_pixel(w, tables, ctx, r);
                hist[i] = ctx = r;
            }
        } else {
            const uint32_t* const cur = cur_;
            const uint32_t* const up = up_;
            for (; i < stop; ++i) {
                const uint32_t r = fold_residuals(cur[i], cur[i - 1], up[i]) & L::kMask;
                code_pixel(w, tables, ctx, r);
                hist[i] = ctx = r;
            }
        }
        sink_.cursor() = w;
        return i;
    }

    // Codes the run starting at i; returns its end.
    int run(int i, int end) {
        const int j = find_bit<false>(same_left_, i, end);
        unsigned length = unsigned(j - i);
        unsigned state = s_.run_state;
        BitCursor w = sink_.cursor();
        if (length < unsigned(kShortRun)) [[likely]] {
            const RunCode code = kRunCodes[state][length];
            put(w, code.code, code.len);
            s_.run_state = code.next;
        } else {
            unsigned hits = 0;
            while (length >= (1u << kRunBits[state])) {
                length -= 1u << kRunBits[state];
                ++hits;
                if (state < kRunStates - 1) ++state;
            }
            for (; hits >= 32; hits -= 32) put(w, ~0u, 32);
            if (hits) put(w, (1u << hits) - 1, hits);
            put(w, length, kRunBits[state] + 1u);  // a zero, then the remainder
            s_.run_state = state ? state - 1 : 0;
        }
        sink_.cursor() = w;
        return j;
    }

    void learn(int at, unsigned trigger) {
        const uint32_t ctx = history_[at - 1], r = history_[at];
        for (int c = 0; c < kCh; ++c) {
            const unsigned sh = L::kShift[c];
            const unsigned bucket = kBucketOf[sample(ctx, sh)];
            ChannelModel& model = models_[c];
            const uint8_t old = model.best[bucket];
            const unsigned best = learn_bucket(model, bucket, sample(r, sh), trigger);
            if (best != old) choice_.set(first_channel_ + c, bucket, best);
        }
    }

    using Tables = std::array<const CodeTable*, 256>;

    static inline void code_pixel(BitCursor& w, const Tables* tables, uint32_t ctx, uint32_t r) {
        if constexpr (kCh == 1) {
            const unsigned sh = L::kShift[0];
            const CodeTable* t = tables[0][sample(ctx, sh)];
            const unsigned v = sample(r, sh);
            put(w, t->code[v], t->len[v]);
        } else {
            static_assert(L::kShift[0] == 16 && L::kShift[1] == 8 && L::kShift[2] == 0);
            const CodeTable* t0 = tables[0][(ctx >> 16) & 0xff];
            const CodeTable* t1 = tables[1][(ctx >> 8) & 0xff];
            const CodeTable* t2 = tables[2][ctx & 0xff];
            const unsigned v0 = (r >> 16) & 0xff, v1 = (r >> 8) & 0xff, v2 = r & 0xff;
            const uint32_t c0 = t0->code[v0], c1 = t1->code[v1], c2 = t2->code[v2];
            const unsigned l0 = t0->len[v0], l1 = t1->len[v1], l2 = t2->len[v2];
            // One put when the pixel fits 32 bits (all but noisy pixels).
            if (l0 + l1 + l2 <= 32) [[likely]] {
                put(w, (((c0 << l1) | c1) << l2) | c2, l0 + l1 + l2);
            } else {
                put(w, c0, l0);
                put(w, c1, l1);
                put(w, c2, l2);
            }
        }
    }

    BitSink& sink_;
    ChannelModel* models_;
    CodeChoice& choice_;
    int first_channel_;
    WalkerRows& rows_;
    bool simd_;
    WalkerState s_;
    uint32_t* history_ = nullptr;  // index -1 valid
    const uint32_t* cur_ = nullptr;
    const uint32_t* up_ = nullptr;
    uint32_t* residuals_ = nullptr;  // the row pass's, or null: computed while coding
    uint64_t* same_left_ = nullptr;
    bool row0_ = true;
    int coded_ = 0;  // pixels coded in the current row
};

}  // namespace

void encode_rows(EncoderState& state, const Frame& frame, const Rect& area, Walkers walkers,
                 BitSink& sink, bool simd) {
    const int width = area.width();
    const int height = area.height();
    auto row_at = [&](int y) { return frame.row(area.top() + y) + area.left(); };
    state.reset(width);
    if (walkers == Walkers::kGray) {
        RowCoder<GrayLayout> gray(sink, &state.models[0], state.choice, 0, state.rows[0], simd);
        for (int y = 0; y < height; ++y) {
            sink.ensure(row_bytes(width, 1));
            gray.encode_row(y ? row_at(y - 1) : nullptr, row_at(y), width);
        }
        return;
    }
    RowCoder<RgbLayout> rgb(sink, &state.models[0], state.choice, 0, state.rows[0], simd);
    if (walkers == Walkers::kRgba) {
        RowCoder<AlphaLayout> alpha(sink, &state.models[3], state.choice, 3, state.rows[1], simd);
        for (int y = 0; y < height; ++y) {
            sink.ensure(row_bytes(width, 3) + row_bytes(width, 1));
            rgb.encode_row(y ? row_at(y - 1) : nullptr, row_at(y), width);
            alpha.encode_row(y ? row_at(y - 1) : nullptr, row_at(y), width);
        }
        return;
    }
    for (int y = 0; y < height; ++y) {
        sink.ensure(row_bytes(width, 3));
        rgb.encode_row(y ? row_at(y - 1) : nullptr, row_at(y), width);
    }
}

}  // namespace spiced::QUIC_ENC_NS

#if defined(QUIC_ENC_AVX2)
SPICED_TARGET_POP()
#endif

#endif  // QUIC_ENC_NS
