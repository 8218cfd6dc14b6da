// Internal to encode/glz*.cpp: the SPICE GLZ stream as spice-gtk's decode-glz.c reads it.
// These values are wire format (spice-common lz_common.h defines the same), not tuning.
//
// Stream: big-endian header (magic, version, type byte, width, height, stride, u64 image id,
// u32 win_head_dist), then ops until width * height pixels are produced:
//   ctrl < 32        ctrl + 1 literal pixels follow, 3 bytes each (B, G, R);
//   ctrl >= 32       a match: 3-bit length (7 = more length bytes, 255 = continue), a 4 + 8 (+5
//                    +8) bit pixel offset and a variable-length image distance. Distance 0
//                    means "this image, offset = distance back - 1"; otherwise the offset is
//                    the pixel index inside image (id - distance), which the client still holds.
// After decoding image `id`, the client frees every image older than id - win_head_dist.
#pragma once

#include <cstdint>

namespace spiced::glz {

inline constexpr uint32_t kMagic = 0x20205a4c;    // "LZ  " as a big-endian u32
inline constexpr uint32_t kVersion = 0x00010001;  // 1.1
inline constexpr uint8_t kTypeRgb24 = 7;          // LZ_IMAGE_TYPE_RGB24
inline constexpr uint8_t kTypeRgb32 = 8;          // LZ_IMAGE_TYPE_RGB32
inline constexpr uint8_t kTypeMask = 0x0f;
inline constexpr uint8_t kTopDown = 1 << 4;  // type byte bit: rows are top-down
// magic, version, type, width, height, stride, id, win_head_dist.
inline constexpr uint32_t kHeaderBytes = 4 + 4 + 1 + 4 + 4 + 4 + 8 + 4;

inline constexpr uint32_t kMaxLiterals = 32;        // ctrl byte values 0..31
inline constexpr uint32_t kShortOffset = 1u << 12;  // offsets below fit ctrl + one byte
inline constexpr uint32_t kMediumOffset = 1u << 17;
inline constexpr uint32_t kMaxOffset = 1u << 25;  // 4 + 8 + 5 + 8 bits
// The long-offset form carries at most three image-distance bytes.
inline constexpr uint32_t kMaxImageDistance = (1u << 24) - 1;

// Every op yields at most 255 pixels per stream byte (length continuation bytes); a header
// claiming more pixels than that bound is rejected before anything is allocated.
inline constexpr uint64_t kMaxPixelsPerByte = 255;

inline uint8_t* put_be32(uint8_t* o, uint32_t v) {
    o[0] = uint8_t(v >> 24);
    o[1] = uint8_t(v >> 16);
    o[2] = uint8_t(v >> 8);
    o[3] = uint8_t(v);
    return o + 4;
}

// Bytes a match costs besides its length continuation bytes.
inline uint32_t match_cost(uint32_t image_distance, uint32_t offset) {
    if (offset < kShortOffset) {
        return image_distance < (1u << 6)    ? 3
               : image_distance < (1u << 14) ? 4
               : image_distance < (1u << 22) ? 5
                                             : 6;
    }
    const uint32_t bytes = image_distance == 0           ? 3
                           : image_distance < (1u << 8)  ? 4
                           : image_distance < (1u << 16) ? 5
                                                         : 6;
    return bytes + (offset >= kMediumOffset ? 1 : 0);
}

// put_match() for image_distance 0 (a copy from this image), the op text and UI are made
// of: whether the offset is short, long or very long only moves the output pointer, so the
// encoder does not stall on a mispredicted branch per match. Writes the same bytes as
// put_match(), and may write one byte past them (the caller's buffer has that slack).
inline uint8_t* put_near_match(uint8_t* o, uint32_t length, uint32_t offset) {
    const uint32_t far = offset >= kShortOffset ? 1 : 0;
    const uint32_t very_far = offset >= kMediumOffset ? 1 : 0;
    const uint32_t field = length < 7 ? length : 7;
    *o++ = uint8_t(field << 5 | far << 4 | (offset & 15));
    if (length >= 7) {
        uint32_t rest = length - 7;
        for (; rest >= 255; rest -= 255) *o++ = 255;
        *o++ = uint8_t(rest);
    }
    o[0] = uint8_t(offset >> 4);
    // Short form: an image-distance byte of 0. Long form: no distance bytes, the offset's
    // next 5 bits, and its top byte when very long.
    o[1] = uint8_t(far != 0 ? (very_far << 5 | ((offset >> 12) & 31)) : 0);
    o[2] = uint8_t(offset >> 17);
    return o + 2 + very_far;
}

// Writes one match op. `offset` is already biased (distance - 1) for image_distance 0.
inline uint8_t* put_match(uint8_t* o, uint32_t length, uint32_t image_distance, uint32_t offset) {
    if (image_distance == 0) return put_near_match(o, length, offset);
    const bool far = offset >= kShortOffset;
    const uint32_t field = length < 7 ? length : 7;
    *o++ = uint8_t(field << 5 | (far ? 16 : 0) | (offset & 15));
    if (length >= 7) {
        uint32_t rest = length - 7;
        for (; rest >= 255; rest -= 255) *o++ = 255;
        *o++ = uint8_t(rest);
    }
    *o++ = uint8_t(offset >> 4);
    if (!far) {
        // Two bits say how many bytes extend the low 6 bits of the image distance.
        const uint32_t extra = image_distance < (1u << 6)    ? 0
                               : image_distance < (1u << 14) ? 1
                               : image_distance < (1u << 22) ? 2
                                                             : 3;
        *o++ = uint8_t(extra << 6 | (image_distance & 63));
        for (uint32_t i = 0; i < extra; ++i) *o++ = uint8_t(image_distance >> (6 + 8 * i));
    } else {
        const bool very_far = offset >= kMediumOffset;
        const uint32_t bytes = image_distance == 0           ? 0
                               : image_distance < (1u << 8)  ? 1
                               : image_distance < (1u << 16) ? 2
                                                             : 3;
        *o++ = uint8_t(bytes << 6 | (very_far ? 32 : 0) | ((offset >> 12) & 31));
        for (uint32_t i = 0; i < bytes; ++i) *o++ = uint8_t(image_distance >> (8 * i));
        if (very_far) *o++ = uint8_t(offset >> 17);
    }
    return o;
}

}  // namespace spiced::glz
