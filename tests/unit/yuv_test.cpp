// BGRX to I420 / NV12: the formulas of pixels/yuv.h on known colours, the SIMD path against the
// portable one on random pictures (odd strides, odd offsets, widths around the SIMD step) and
// the refusals.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "pixels/yuv.h"

namespace spiced {
namespace {

struct I420Buffer {
    I420Buffer(Size size, int32_t pad) {
        planes.y_stride = size.width + pad;
        planes.u_stride = planes.v_stride = size.width / 2 + pad;
        y.assign(size_t(planes.y_stride) * size_t(size.height), 0xee);
        u.assign(size_t(planes.u_stride) * size_t(size.height / 2), 0xee);
        v.assign(u.size(), 0xee);
        planes.y = y;
        planes.u = u;
        planes.v = v;
    }
    std::vector<uint8_t> y, u, v;
    I420Planes planes;
};

struct Nv12Buffer {
    Nv12Buffer(Size size, int32_t pad) {
        planes.y_stride = size.width + pad;
        planes.uv_stride = size.width + pad;
        y.assign(size_t(planes.y_stride) * size_t(size.height), 0xee);
        uv.assign(size_t(planes.uv_stride) * size_t(size.height / 2), 0xee);
        planes.y = y;
        planes.uv = uv;
    }
    std::vector<uint8_t> y, uv;
    Nv12Planes planes;
};

std::unique_ptr<Frame> random_frame(Size size, int32_t stride, uint32_t seed) {
    auto frame = Frame::create_padded(size, stride);
    std::mt19937 rng(seed);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = rng();  // X byte too
    }
    return frame;
}

TEST(YuvTest, KnownColours) {
    struct Case {
        uint32_t rgb;
        uint8_t y, u, v;
    };
    // BT.709 limited range: black 16/128/128, white 235/128/128, and the primaries (BT.709's
    // own table: red 63/102/240, green 173/42/26, blue 32/240/118; 8-bit weights give green
    // a Y of 172).
    const Case cases[] = {
        {0x000000, 16, 128, 128}, {0xffffff, 235, 128, 128}, {0xff0000, 63, 102, 240},
        {0x00ff00, 172, 42, 26},  {0x0000ff, 32, 240, 118},
    };
    for (const Case& c : cases) {
        auto frame = Frame::create({2, 2});
        frame->fill(frame->rect(), c.rgb);
        I420Buffer out({2, 2}, 0);
        ASSERT_TRUE(bgrx_to_i420(*frame, frame->rect(), out.planes, YuvIsa::kPortable));
        EXPECT_EQ(out.y[0], c.y) << std::hex << c.rgb;
        EXPECT_EQ(out.y[3], c.y) << std::hex << c.rgb;
        EXPECT_EQ(out.u[0], c.u) << std::hex << c.rgb;
        EXPECT_EQ(out.v[0], c.v) << std::hex << c.rgb;
    }
}

TEST(YuvTest, ChromaIsTheRoundedBlockAverage) {
    auto frame = Frame::create({2, 2});
    frame->row(0)[0] = 0x000000;
    frame->row(0)[1] = 0x000001;
    frame->row(1)[0] = 0x000001;
    frame->row(1)[1] = 0x0000ff;
    // Blue average (0 + 1 + 1 + 255 + 2) >> 2 = 64, red and green 0.
    I420Buffer out({2, 2}, 0);
    ASSERT_TRUE(bgrx_to_i420(*frame, frame->rect(), out.planes, YuvIsa::kPortable));
    EXPECT_EQ(out.u[0], uint8_t(((kYuvFormula.u.b * 64 + 128) >> 8) + 128));
    EXPECT_EQ(out.v[0], uint8_t(((kYuvFormula.v.b * 64 + 128) >> 8) + 128));
}

TEST(YuvTest, SimdMatchesPortable) {
    if (!yuv_isa_available(YuvIsa::kSse2)) GTEST_SKIP() << "no SSE2 path on this CPU or build";
    const Size frame_sizes[] = {{64, 32}, {203, 61}, {1000, 9}};
    uint32_t seed = 1;
    for (const Size frame_size : frame_sizes) {
        for (int32_t extra_stride : {0, 4, 28}) {
            auto frame = random_frame(frame_size, frame_size.width * 4 + extra_stride, seed++);
            // Widths around the SIMD steps (16 luma pixels, 8 chroma blocks), odd offsets.
            for (int32_t width : {2, 14, 16, 18, 30, 32, 34, 48, 62}) {
                for (Point at : {Point{0, 0}, Point{1, 1}, Point{3, 2}, Point{7, 5}}) {
                    const Rect area = Rect::MakeXYWH(at.x, at.y, width, 4).intersect(frame->rect());
                    if (area.size() != Size{width, 4}) continue;
                    for (int32_t pad : {0, 3}) {
                        I420Buffer ref(area.size(), pad), fast(area.size(), pad);
                        ASSERT_TRUE(bgrx_to_i420(*frame, area, ref.planes, YuvIsa::kPortable));
                        ASSERT_TRUE(bgrx_to_i420(*frame, area, fast.planes, YuvIsa::kSse2));
                        EXPECT_EQ(ref.y, fast.y) << width << " at " << at.x << "," << at.y;
                        EXPECT_EQ(ref.u, fast.u) << width << " at " << at.x << "," << at.y;
                        EXPECT_EQ(ref.v, fast.v) << width << " at " << at.x << "," << at.y;
                        Nv12Buffer ref12(area.size(), pad), fast12(area.size(), pad);
                        ASSERT_TRUE(bgrx_to_nv12(*frame, area, ref12.planes, YuvIsa::kPortable));
                        ASSERT_TRUE(bgrx_to_nv12(*frame, area, fast12.planes, YuvIsa::kSse2));
                        EXPECT_EQ(ref12.y, fast12.y);
                        EXPECT_EQ(ref12.uv, fast12.uv);
                        EXPECT_EQ(ref12.y, ref.y);
                    }
                }
            }
            // The whole frame (even part of it), many rows.
            const Rect whole = Rect::MakeXYWH(0, 0, frame_size.width & ~1, frame_size.height & ~1);
            I420Buffer ref(whole.size(), 0), fast(whole.size(), 0);
            ASSERT_TRUE(bgrx_to_i420(*frame, whole, ref.planes, YuvIsa::kPortable));
            ASSERT_TRUE(bgrx_to_i420(*frame, whole, fast.planes, YuvIsa::kBest));
            EXPECT_EQ(ref.y, fast.y);
            EXPECT_EQ(ref.u, fast.u);
            EXPECT_EQ(ref.v, fast.v);
        }
    }
}

TEST(YuvTest, Nv12InterleavesTheI420Chroma) {
    auto frame = random_frame({40, 10}, 40 * 4, 99);
    I420Buffer i420({40, 10}, 0);
    Nv12Buffer nv12({40, 10}, 0);
    ASSERT_TRUE(bgrx_to_i420(*frame, frame->rect(), i420.planes));
    ASSERT_TRUE(bgrx_to_nv12(*frame, frame->rect(), nv12.planes));
    for (size_t i = 0; i < i420.u.size(); ++i) {
        EXPECT_EQ(nv12.uv[2 * i], i420.u[i]);
        EXPECT_EQ(nv12.uv[2 * i + 1], i420.v[i]);
    }
}

TEST(YuvTest, PaddingBetweenRowsIsLeftAlone) {
    auto frame = random_frame({20, 4}, 20 * 4, 5);
    I420Buffer out({20, 4}, 5);
    ASSERT_TRUE(bgrx_to_i420(*frame, frame->rect(), out.planes));
    for (int32_t row = 0; row < 4; ++row) {
        for (int32_t x = 20; x < 25; ++x) EXPECT_EQ(out.y[size_t(row * 25 + x)], 0xee);
    }
}

TEST(YuvTest, Refusals) {
    auto frame = random_frame({20, 10}, 80, 3);
    I420Buffer out({20, 10}, 0);
    EXPECT_FALSE(bgrx_to_i420(*frame, Rect::MakeXYWH(0, 0, 19, 10), out.planes));
    EXPECT_FALSE(bgrx_to_i420(*frame, Rect::MakeXYWH(0, 0, 20, 9), out.planes));
    EXPECT_FALSE(bgrx_to_i420(*frame, Rect::MakeXYWH(2, 0, 20, 10), out.planes));
    EXPECT_FALSE(bgrx_to_i420(*frame, Rect(), out.planes));
    I420Buffer small({18, 10}, 0);
    EXPECT_FALSE(bgrx_to_i420(*frame, frame->rect(), small.planes));
    Nv12Buffer small12({20, 8}, 0);
    EXPECT_FALSE(bgrx_to_nv12(*frame, frame->rect(), small12.planes));
    EXPECT_TRUE(yuv_isa_available(YuvIsa::kPortable));
    EXPECT_TRUE(yuv_isa_available(YuvIsa::kBest));
}

}  // namespace
}  // namespace spiced
