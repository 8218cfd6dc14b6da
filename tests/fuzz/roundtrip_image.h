// What the encode->decode fuzz targets (*_roundtrip_fuzz.cpp) share: turning a few header
// bytes and a pixel pool into a test image, and comparing a decoded image with its source.
//
// Image header, kImageHeaderBytes bytes: [width - 1][height - 1][placement]. Width and height
// are 1..256, so one run stays fast. Placement puts the encoded area inside a larger frame
// (bits 0-1: columns left of it, bits 2-3: rows above it, bits 4-5: columns right of it) and
// bit 6 pads the frame's stride, so encoders must reach pixels through the area and stride().
// Bit 7 is left to the target.
//
// Pixels are the pool tiled from a start offset, four bytes (B, G, R, X) a pixel, over the
// whole frame, margins included. Tiling rather than zero-filling turns a short input into an
// image full of repeats, which is what LZ-style codecs and QUIC's run mode react to; libFuzzer
// then varies the period and the content by mutating the pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>

#include "pixels/frame.h"

namespace spiced::fuzz {

inline constexpr size_t kImageHeaderBytes = 3;

struct TestImage {
    std::unique_ptr<Frame> frame;
    Rect area;  // the part to encode
};

// The harness's own loops carry no coverage instrumentation: their branches say nothing about
// the codecs, and instrumented they cost more time than the codecs themselves.
#define SPICED_FUZZ_HARNESS __attribute__((no_sanitize("coverage")))

// `header` holds at least kImageHeaderBytes bytes. An empty pool gives a black image.
SPICED_FUZZ_HARNESS inline TestImage make_test_image(std::span<const uint8_t> header,
                                                     std::span<const uint8_t> pool,
                                                     size_t pool_start = 0) {
    const int32_t width = int32_t{header[0]} + 1, height = int32_t{header[1]} + 1;
    const uint8_t placement = header[2];
    const int32_t left = placement & 3, top = placement >> 2 & 3, right = placement >> 4 & 3;
    const Size frame_size{left + width + right, top + height};
    auto frame = (placement & 0x40) ? Frame::create_padded(frame_size, frame_size.width * 4 + 12)
                                    : Frame::create(frame_size);
    if (!pool.empty()) {
        size_t at = pool_start % pool.size();
        for (int32_t y = 0; y < frame_size.height; ++y) {
            auto* dest = reinterpret_cast<uint8_t*>(frame->row(y));
            for (size_t remaining = size_t(frame_size.width) * 4; remaining > 0;) {
                const size_t n = std::min(remaining, pool.size() - at);
                std::memcpy(dest, pool.data() + at, n);
                dest += n;
                remaining -= n;
                at = at + n == pool.size() ? 0 : at + n;
            }
        }
    }
    return {std::move(frame), Rect::MakeXYWH(left, top, width, height)};
}

// Whether `decoded` is `area` of `source` with every source pixel passed through `expected`
// (what the format carries: e.g. X dropped). Prints the first difference, so a crash report
// says where the codec went wrong.
template <typename Expected>
SPICED_FUZZ_HARNESS bool same_pixels(const Frame& source, const Rect& area, const Frame& decoded,
                                     Expected expected) {
    if (decoded.size() != area.size()) {
        std::fprintf(stderr, "decoded %dx%d, encoded %dx%d\n", decoded.width(), decoded.height(),
                     area.width(), area.height());
        return false;
    }
    for (int32_t y = 0; y < area.height(); ++y) {
        for (int32_t x = 0; x < area.width(); ++x) {
            const uint32_t want = expected(source.row(area.top() + y)[area.left() + x]);
            const uint32_t got = decoded.row(y)[x];
            if (got != want) {
                std::fprintf(stderr, "pixel %d,%d of %dx%d: decoded %08x, want %08x\n", x, y,
                             area.width(), area.height(), got, want);
                return false;
            }
        }
    }
    return true;
}

// A broken promise: says which, then traps so libFuzzer keeps the input.
inline void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "round trip: %s\n", what);
        __builtin_trap();
    }
}

inline uint32_t rgb_only(uint32_t pixel) {
    return pixel & 0x00ffffffu;
}

}  // namespace spiced::fuzz
