// Internal to encode/lz_*.cpp: constants of the SPICE LZ stream (spice-common lz_common.h and
// lz.c define the same values; they are wire format, not tuning).
#pragma once

#include <cstddef>
#include <cstdint>

#include "encode/lz.h"

namespace spiced::lz {

inline constexpr uint32_t kMagic = 0x20205a4c;    // "LZ  " as a big-endian u32
inline constexpr uint32_t kVersion = 0x00010001;  // 1.1

// A control byte below 32 announces ctrl + 1 literals.
inline constexpr uint32_t kMaxLiterals = 32;
// Match distances are biased by one. "Near" ones fit 13 bits (0..8190, as 8191 is the escape
// to a 16-bit extension); "far" ones are 8191 + u16.
inline constexpr uint32_t kMaxNearDistance = 8191;
inline constexpr uint32_t kMaxDistance = 8191 + 65535 + 1;

// The shortest match each symbol kind can express; a match's 3-bit length field holds
// length - (min - 1), 7 meaning "more length bytes follow".
inline constexpr uint32_t kMinMatchRgb = 1;    // RGB24/RGB32: symbols are pixels
inline constexpr uint32_t kMinMatchRgb16 = 2;  // RGB16 pixels
inline constexpr uint32_t kMinMatchByte = 3;   // palette bytes, alpha bytes

// Every stream op turns at most 255 symbols per input byte (a run of 255-valued length
// bytes); a header claiming more than this per stream byte is lying, and is rejected before
// any allocation.
inline constexpr uint64_t kMaxSymbolsPerByte = 255;

inline bool valid_type(uint32_t type) {
    return type >= uint32_t(LzImageType::kPlt1Le) && type <= uint32_t(LzImageType::kXxxa);
}

// Bytes per row of the uncompressed image as the header's stride field states it.
inline uint64_t row_bytes(LzImageType type, uint64_t width) {
    switch (type) {
        case LzImageType::kPlt1Le:
        case LzImageType::kPlt1Be:
            return (width + 7) / 8;
        case LzImageType::kPlt4Le:
        case LzImageType::kPlt4Be:
            return (width + 1) / 2;
        case LzImageType::kPlt8:
            return width;
        case LzImageType::kRgb16:
            return width * 2;
        case LzImageType::kRgb24:
            return width * 3;
        case LzImageType::kRgb32:
        case LzImageType::kRgba:
        case LzImageType::kXxxa:
            return width * 4;
    }
    return 0;
}

}  // namespace spiced::lz
