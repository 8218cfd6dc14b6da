// BGRX to YUV 4:2:0, the input video encoders take: I420 (three planes, what x264 and
// libavcodec's software paths read) and NV12 (Y plane, then interleaved U/V: what VAAPI and
// NVENC surfaces hold).
//
// Colour: BT.709, limited ("TV") range: Y in 16..235, U and V in 16..240: what HD video is,
// what x264 and NVENC are tuned for, and what our H.264 streams say in their VUI (primaries,
// transfer and matrix 1), so decoders (avdec_h264 in spice-gtk) show the colours we meant.
//   Y = ((47 R + 157 G +  16 B + 128) >> 8) + 16
//   U = ((-26 R - 86 G + 112 B + 128) >> 8) + 128
//   V = ((112 R - 102 G - 10 B + 128) >> 8) + 128
// (the BT.709 matrix scaled by 219/255 and 224/255, in 8-bit fixed point, each row's weights
// rounded so grey stays at 128; >> is arithmetic).
// Chroma is taken from the 2x2 average of R, G and B, each rounded ((sum + 2) >> 2), then
// the formula above. The X byte is ignored.
//
// The portable code is the reference; the SIMD paths must write the same bytes for every
// input (tests/unit/yuv_test.cpp checks it).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

// Caller-owned planes. Row y of a plane starts at y * stride. Chroma planes hold
// (width / 2) x (height / 2) samples.
struct I420Planes {
    std::span<uint8_t> y;
    int32_t y_stride = 0;
    std::span<uint8_t> u;
    int32_t u_stride = 0;
    std::span<uint8_t> v;
    int32_t v_stride = 0;
};

struct Nv12Planes {
    std::span<uint8_t> y;
    int32_t y_stride = 0;
    std::span<uint8_t> uv;  // U, V, U, V, ...: width bytes of (width / 2) pairs per row
    int32_t uv_stride = 0;
};

// The formulas above as numbers, {R, G, B weight, offset} per sample: the GPU compositor's
// shader takes them from here so both paths use the same ones.
struct YuvWeights {
    int32_t r, g, b, offset;
};
struct YuvFormula {
    YuvWeights y, u, v;
};
inline constexpr YuvFormula kYuvFormula{
    {47, 157, 16, 16}, {-26, -86, 112, 128}, {112, -102, -10, 128}};

// What every converter checks before writing: `area` inside a frame of `frame_size`, even and
// not empty, and planes (strides and sizes) that hold it.
Expected<void, std::string> check_i420_target(Size frame_size, const Rect& area,
                                              const I420Planes& out);
Expected<void, std::string> check_nv12_target(Size frame_size, const Rect& area,
                                              const Nv12Planes& out);

// kBest picks the widest path the CPU supports at run time; the others pin one path for
// tests and benchmarks and fail when not available on this CPU or build.
enum class YuvIsa { kBest, kPortable, kSse2 };
bool yuv_isa_available(YuvIsa isa);

// Converts `area` of `frame` (inside the frame, even width and height) into `out`. Fails,
// writing nothing, for an odd or empty area, an area outside the frame, strides or planes too
// small for the area, or an unavailable `isa`.
Expected<void, std::string> bgrx_to_i420(const Frame& frame, const Rect& area,
                                         const I420Planes& out, YuvIsa isa = YuvIsa::kBest);
Expected<void, std::string> bgrx_to_nv12(const Frame& frame, const Rect& area,
                                         const Nv12Planes& out, YuvIsa isa = YuvIsa::kBest);

// A picture video encoders read: its BGRX frame, and 4:2:0 of areas of it. A host frame
// converts on the CPU (HostPicture); a compositor's output converts where it lives (on the
// device, gpu/compositor.h), so the encoder gets planes without a CPU pass over the pixels.
class PictureSource {
public:
    virtual ~PictureSource() = default;
    virtual const Frame& frame() const = 0;
    virtual Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) = 0;
    virtual Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) = 0;
};

class HostPicture final : public PictureSource {
public:
    explicit HostPicture(const Frame& frame) : frame_(frame) {}
    const Frame& frame() const override { return frame_; }
    Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) override {
        return bgrx_to_i420(frame_, area, out);
    }
    Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) override {
        return bgrx_to_nv12(frame_, area, out);
    }

private:
    const Frame& frame_;
};

}  // namespace spiced
