// QUIC internals shared by our encoder (quic.cpp) and decoder (quic_decoder.cpp): the
// constants that define the bitstream, the adaptive Golomb model and the row walker that
// decides, identically on both sides, where the model learns and where runs may start.
//
// Format summary (spice-common quic.c is the reference; this is our own implementation):
// - Each sample is predicted (row 0: from the left, column 0: from above, elsewhere the
//   floored mean of left and above), the 8-bit difference folded to 0..255 (0, -1, 1, -2 ...)
//   and written with one of eight Golomb-Rice codes, k = 0..7, whose long codewords are
//   replaced by an escape of fixed length so no codeword exceeds 26 bits.
// - k is chosen per sample by a context model: the previous sample's folded residual of the
//   same channel selects a bucket (8 buckets, sizes 1, 2, 4, .. 64, 129), each bucket keeps
//   what each k would have cost and uses the cheapest. Buckets learn only at sparse,
//   pseudo-random pixels; the spacing grows with the pixel count (wait mask 0 .. 63).
// - From row 1 on, where the row above repeats a pixel and the current row already repeats
//   the one before, the encoder sends a run length (adaptive Golomb "MELCODE") instead of
//   pixels. The predictor state of pixels covered by a run is not updated.
// - RGB types code R, G, B of each pixel together and share one walker state; RGBA codes
//   the alpha plane of each row after the row's RGB, with its own walker state and model.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace spiced::quic {

inline constexpr uint32_t kMagic = 0x43495551;  // "QUIC" as a little-endian word
inline constexpr uint32_t kVersion = 0;         // major 0, minor 0
inline constexpr int kHeaderWords = 5;          // magic, version, type, width, height
inline constexpr int kCodeCount = 8;            // Golomb-Rice k = 0..7 for 8-bit samples
inline constexpr int kBucketCount = 8;          // contexts 0 | 1-2 | 3-6 | ... | 127-255
inline constexpr unsigned kMaxCodeBits = 26;    // the format's codeword length limit

// ---- Golomb family ---------------------------------------------------------------------------
// For code k, values below gr_limit get a Rice codeword: (v >> k) zeros, a one, the low k
// bits. Larger values get `escape_zeros` zeros then (v - gr_limit) in `escape_bits` bits.
struct CodeShape {
    uint32_t gr_limit;
    uint32_t escape_zeros;
    uint32_t escape_bits;
};

constexpr CodeShape code_shape(unsigned k) {
    // Escape prefix: as long as the length limit allows, but never longer than the
    // largest Rice prefix the 8-bit range needs.
    uint32_t zeros = kMaxCodeBits - 8;
    if (zeros > (1u << (8 - k)) - 1) zeros = (1u << (8 - k)) - 1;
    const uint32_t gr_limit = zeros << k;
    const uint32_t escapes = 256 - gr_limit;
    const uint32_t bits = escapes <= 1 ? 0 : uint32_t(std::bit_width(escapes - 1));
    return {gr_limit, zeros, bits};
}

inline constexpr auto kShapes = [] {
    std::array<CodeShape, kCodeCount> shapes{};
    for (unsigned k = 0; k < kCodeCount; ++k) shapes[k] = code_shape(k);
    return shapes;
}();

constexpr uint32_t code_length(unsigned value, unsigned k) {
    const CodeShape s = kShapes[k];
    return value < s.gr_limit ? (value >> k) + k + 1 : s.escape_zeros + s.escape_bits;
}

// Encoder table, [k][value]: the codeword left-aligned in 32 bits with its length in the
// low 5 bits (codewords are at most 26 bits, so the two never overlap).
inline constexpr auto kCodewords = [] {
    std::array<std::array<uint32_t, 256>, kCodeCount> table{};
    for (unsigned k = 0; k < kCodeCount; ++k) {
        const CodeShape s = kShapes[k];
        for (unsigned v = 0; v < 256; ++v) {
            const uint32_t len = code_length(v, k);
            const uint32_t code =
                v < s.gr_limit ? (1u << k) | (v & ((1u << k) - 1)) : v - s.gr_limit;
            table[k][v] = (code << (32 - len)) | len;
        }
    }
    return table;
}();

// Model update table, [value][k]: codeword lengths.
inline constexpr auto kCodeLengths = [] {
    std::array<std::array<uint8_t, kCodeCount>, 256> table{};
    for (unsigned v = 0; v < 256; ++v) {
        for (unsigned k = 0; k < kCodeCount; ++k) table[v][k] = uint8_t(code_length(v, k));
    }
    return table;
}();

// Context bucket of a folded residual: floor(log2(v + 1)), the last bucket taking 127..255.
inline constexpr auto kBucketOf = [] {
    std::array<uint8_t, 256> table{};
    for (unsigned v = 0; v < 256; ++v) {
        const unsigned b = unsigned(std::bit_width(v + 1)) - 1;
        table[v] = uint8_t(b < kBucketCount - 1 ? b : kBucketCount - 1);
    }
    return table;
}();

// Folding of an 8-bit difference d: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ...
inline constexpr auto kFold = [] {
    std::array<uint8_t, 256> table{};
    for (unsigned d = 0; d < 256; ++d) table[d] = uint8_t(d < 128 ? d * 2 : (255 - d) * 2 + 1);
    return table;
}();
inline constexpr auto kUnfold = [] {
    std::array<uint8_t, 256> table{};
    for (unsigned v = 0; v < 256; ++v) table[v] = uint8_t(v & 1 ? 255 - (v >> 1) : v >> 1);
    return table;
}();

// ---- Learning schedule -----------------------------------------------------------------------
// The wait-mask index rises by one every kWaitStep pixels (runs included) until kMaxWaitIndex;
// after each model update the walker skips (random & ((1 << index) - 1)) coded pixels.
inline constexpr unsigned kWaitStep = 2048;
inline constexpr unsigned kMaxWaitIndex = 6;
// A bucket halves its cost counters once its best exceeds this (spice-common's table for its
// default model evolution, 3).
inline constexpr std::array<uint16_t, kMaxWaitIndex + 1> kHalvingTrigger = {110, 550, 900, 800,
                                                                            550, 400, 350};
// The format's pseudo-random sequence: the low six bits of spice-common's tabrand_chaos
// table, the only bits a wait mask of at most 63 lets through. Index 0 is drawn first.
inline constexpr std::array<uint8_t, 256> kWaitRandom = {
    2,  23, 19, 21, 7,  18, 40, 14, 12, 32, 47, 44, 36, 6,  18, 11, 4,  19, 42, 29, 16, 63, 57, 51,
    16, 3,  5,  14, 15, 30, 20, 9,  36, 45, 3,  57, 61, 0,  8,  5,  41, 14, 43, 27, 43, 59, 31, 35,
    39, 60, 42, 38, 13, 54, 62, 1,  26, 3,  11, 61, 52, 34, 7,  48, 4,  59, 22, 12, 22, 8,  50, 4,
    10, 6,  44, 8,  11, 46, 31, 51, 53, 17, 1,  43, 46, 60, 36, 54, 10, 27, 39, 44, 22, 41, 23, 2,
    44, 0,  40, 53, 40, 48, 16, 43, 32, 28, 33, 12, 20, 2,  56, 62, 55, 58, 18, 20, 13, 55, 38, 29,
    57, 19, 49, 33, 47, 63, 59, 0,  35, 61, 19, 25, 46, 38, 60, 4,  35, 1,  26, 40, 28, 10, 5,  14,
    25, 18, 48, 49, 20, 59, 62, 34, 46, 7,  33, 52, 34, 58, 9,  29, 8,  55, 62, 60, 37, 36, 37, 50,
    6,  3,  10, 28, 48, 24, 26, 61, 57, 30, 11, 54, 2,  6,  50, 47, 7,  17, 35, 53, 32, 12, 23, 17,
    5,  21, 49, 55, 51, 45, 52, 27, 39, 25, 39, 63, 22, 24, 42, 52, 56, 38, 41, 41, 56, 32, 13, 24,
    26, 51, 27, 56, 58, 37, 24, 42, 15, 28, 17, 30, 31, 15, 16, 23, 25, 54, 33, 34, 1,  29, 31, 50,
    53, 21, 49, 15, 47, 9,  0,  58, 37, 45, 30, 13, 9,  45, 63, 21,
};

// ---- Run lengths (MELCODE) -------------------------------------------------------------------
// A run is sent as n one bits ("hits", each worth 1 << bits(state) pixels, the state rising
// after each), a zero, then the remainder in bits(state) bits; the state then falls by one.
inline constexpr int kRunStates = 32;
inline constexpr std::array<uint8_t, kRunStates> kRunBits = {0, 0, 0, 0, 1,  1,  1,  1,  2,  2, 2,
                                                             2, 3, 3, 3, 3,  4,  4,  5,  5,  6, 6,
                                                             7, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// ---- Adaptive state --------------------------------------------------------------------------
// Per channel: for each bucket, the running cost of each code and the cheapest code.
struct ChannelModel {
    std::array<uint8_t, kBucketCount> best;
    // Bounded well below 2^16 by the halving rule; 32 bits keep the update simple.
    std::array<std::array<uint32_t, kCodeCount>, kBucketCount> cost;

    void reset() {
        best.fill(kCodeCount - 1);
        for (auto& c : cost) c.fill(0);
    }

    void learn(unsigned bucket, unsigned value, unsigned trigger) {
        auto& c = cost[bucket];
        const auto& len = kCodeLengths[value];
        // Ties go to the larger k, as in the reference (it scans k downwards, strict <).
        unsigned best_k = kCodeCount - 1;
        uint32_t best_cost = c[best_k] += len[best_k];
        for (int k = kCodeCount - 2; k >= 0; --k) {
            c[k] += len[k];
            if (c[k] < best_cost) {
                best_cost = c[k];
                best_k = unsigned(k);
            }
        }
        best[bucket] = uint8_t(best_k);
        if (best_cost > trigger) {
            for (auto& v : c) v >>= 1;
        }
    }
};

// Per walker (the RGB triple, or one plane): the learning schedule and the run coder.
struct WalkerState {
    unsigned wait = 0;               // coded pixels to skip before the next model update
    uint8_t seed = 0xff;             // position in kWaitRandom, pre-incremented
    unsigned wait_index = 0;         // current wait mask index
    unsigned wait_left = kWaitStep;  // pixels until wait_index rises
    unsigned run_state = 0;

    unsigned draw(unsigned mask) {
        ++seed;
        return kWaitRandom[seed] & mask;
    }
};

// Walks one row as both sides must: splits it where the wait mask index rises, skips between
// model updates, and asks `op` to code pixels, runs and updates. Op provides:
//   void first(bool row0)                       code pixel 0 of the row
//   int span(int i, int last, int run_at)       code pixels i..last; stop early and return
//                                               the index where a run is predicted (never
//                                               run_at, never < 3); else return last + 1
//   int run(int i, int end)                     code the run starting at i; return its end
//   void learn(int at, unsigned trigger)        update every channel's model at pixel `at`
// In row 0 span() must never predict runs.
template <typename Op>
inline void walk_row(WalkerState& s, Op& op, int width, bool row0) {
    int pos = 0;
    int left = width;
    const auto segment = [&](int i, int end) {
        const unsigned mask = (1u << s.wait_index) - 1;
        const unsigned trigger = kHalvingTrigger[s.wait_index];
        int stop;
        if (i == 0) {
            op.first(row0);
            if (s.wait) {
                --s.wait;
            } else {
                s.wait = s.draw(mask);
                op.learn(0, trigger);
            }
            i = 1;
        }
        stop = i + int(s.wait);
        int run_at = 0;
        for (;;) {
            const bool learns_here = stop < end;
            const int last = learns_here ? stop : end - 1;
            i = op.span(i, last, run_at);
            if (i <= last) {
                // Runs pause the countdown to the next update: it resumes after the run.
                run_at = i;
                s.wait = unsigned(stop - i);
                i = op.run(i, end);
                if (i == end) return;
                stop = i + int(s.wait);
                continue;
            }
            if (!learns_here) {
                s.wait = unsigned(stop - end);
                return;
            }
            op.learn(stop, trigger);
            stop = i + int(s.draw(mask));
        }
    };
    while (s.wait_index < kMaxWaitIndex && int(s.wait_left) <= left) {
        if (s.wait_left) {
            segment(pos, pos + int(s.wait_left));
            left -= int(s.wait_left);
            pos += int(s.wait_left);
        }
        ++s.wait_index;
        s.wait_left = kWaitStep;
    }
    if (left) {
        segment(pos, pos + left);
        if (s.wait_index < kMaxWaitIndex) s.wait_left -= unsigned(left);
    }
}

// Which bytes of a BGRX pixel a walker codes, in coding order.
struct RgbLayout {
    static constexpr int kChannels = 3;
    static constexpr std::array<unsigned, 3> kShift = {16, 8, 0};  // R, G, B
    static constexpr uint32_t kMask = 0x00ffffff;
};
template <unsigned kByteShift>
struct PlaneLayout {
    static constexpr int kChannels = 1;
    static constexpr std::array<unsigned, 1> kShift = {kByteShift};
    static constexpr uint32_t kMask = 0xffu << kByteShift;
};
using GrayLayout = PlaneLayout<8>;    // the G byte
using AlphaLayout = PlaneLayout<24>;  // the X/A byte

}  // namespace spiced::quic
