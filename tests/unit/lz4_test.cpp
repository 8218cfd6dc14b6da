// LZ4 images: round trips through our decoder, and the SSSE3 packing path writes exactly the
// bytes the portable one does.
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <random>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"

namespace spiced {
namespace {

std::vector<uint8_t> encode(ImageEncoder& encoder, const Frame& frame, const Rect& area) {
    ByteWriter out;
    auto type = encoder.encode(frame, area, out, 0);
    EXPECT_TRUE(type.has_value());
    EXPECT_EQ(*type, SPICE_IMAGE_TYPE_LZ4);
    return out.take();
}

void expect_same_pixels(const Frame& original, const Rect& area, const Frame& decoded) {
    ASSERT_EQ(decoded.size(), area.size());
    for (int32_t y = 0; y < area.height(); ++y) {
        for (int32_t x = 0; x < area.width(); ++x) {
            ASSERT_EQ(decoded.pixel(x, y), original.pixel(area.left() + x, area.top() + y))
                << x << "," << y;
        }
    }
}

TEST(Lz4, SimdAndPortableAgreeAndRoundTrip) {
    std::mt19937 rng(5);
    auto simd = make_lz4_encoder();
    auto portable = make_lz4_encoder_portable();
    auto decoder = make_image_decoder();
    std::vector<std::pair<std::unique_ptr<Frame>, Rect>> cases;
    for (Size size :
         {Size{1, 1}, Size{5, 3}, Size{6, 2}, Size{7, 7}, Size{17, 13}, Size{1023, 3}}) {
        auto frame = Frame::create(size);
        for (int32_t y = 0; y < size.height; ++y) {
            for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = uint32_t(rng());
        }
        const Rect rect = frame->rect();
        cases.emplace_back(std::move(frame), rect);
    }
    for (auto& image : make_screen_corpus()) {
        const Rect rect = image.frame->rect();
        cases.emplace_back(std::move(image.frame), rect);
    }
    for (const auto& [frame, area] : cases) {
        const auto a = encode(*simd, *frame, area);
        const auto b = encode(*portable, *frame, area);
        EXPECT_EQ(a, b) << area.width() << "x" << area.height();
        auto decoded = decoder->decode(SPICE_IMAGE_TYPE_LZ4, area.size(), a, 0);
        ASSERT_TRUE(decoded.has_value()) << decoded.error();
        expect_same_pixels(*frame, area, **decoded);
    }
}

TEST(Lz4, SubAreaRoundTrips) {
    auto corpus = make_screen_corpus();
    const Frame& desktop = *corpus.back().frame;
    const Rect area = Rect::MakeXYWH(101, 37, 333, 121);
    auto encoder = make_lz4_encoder();
    const auto body = encode(*encoder, desktop, area);
    auto decoded = make_image_decoder()->decode(SPICE_IMAGE_TYPE_LZ4, area.size(), body, 0);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    expect_same_pixels(desktop, area, **decoded);
}

TEST(Lz4, MalformedBodiesAreErrors) {
    auto corpus = make_screen_corpus();
    const Frame& text = *corpus[0].frame;
    auto encoder = make_lz4_encoder();
    const auto body = encode(*encoder, text, text.rect());
    auto decoder = make_image_decoder();
    for (size_t cut = 0; cut < body.size(); cut += std::max<size_t>(1, body.size() / 97)) {
        EXPECT_FALSE(
            decoder->decode(SPICE_IMAGE_TYPE_LZ4, text.size(), std::span(body.data(), cut), 0)
                .has_value())
            << cut;
    }
    EXPECT_FALSE(decoder->decode(SPICE_IMAGE_TYPE_LZ4, {text.width() + 1, text.height()}, body, 0)
                     .has_value());
}

}  // namespace
}  // namespace spiced
