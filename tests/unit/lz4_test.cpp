// LZ4 images: round trips through our decoder, and the SSSE3 packing path writes exactly the
// bytes the portable one does.
#include <gtest/gtest.h>
#include <lz4.h>
#include <spice/enums.h>

#include <random>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/lz4_block_writer.h"

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

// Pictures made of what the block writer looks for, at every distance it can and cannot
// reach: runs, rows repeating the row above, copies from earlier places (some more than 64 KiB
// back) and noise between them.
std::unique_ptr<Frame> structured_picture(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto frame = Frame::create(size);
    const int64_t pixels = int64_t(size.width) * size.height;
    for (int64_t i = 0; i < pixels;) {
        const int64_t length = std::min<int64_t>(pixels - i, 1 + int64_t(rng() % 300));
        const uint32_t kind = rng() % 5;
        const uint32_t colour = uint32_t(rng());
        const int64_t back = 1 + int64_t(rng() % 40000);
        for (int64_t k = 0; k < length; ++k, ++i) {
            uint32_t& pixel = frame->row(int32_t(i / size.width))[i % size.width];
            const int64_t above = i - size.width;
            if (kind == 0) {
                pixel = colour;  // X differs from run to run: only B, G, R count
            } else if (kind == 1 && above >= 0) {
                pixel = frame->row(int32_t(above / size.width))[above % size.width] ^ 0xff000000u;
            } else if (kind == 2 && i >= back) {
                pixel = frame->row(int32_t((i - back) / size.width))[(i - back) % size.width];
            } else {
                pixel = uint32_t(rng());
            }
        }
    }
    return frame;
}

// Every block on its own through liblz4's decoder, linked to the earlier ones the way
// spice-gtk decodes them, must give the area's B, G, R bytes; no block may pass its bound.
void expect_liblz4_decodes(const Frame& frame, const Rect& area) {
    std::vector<uint32_t> rows;
    for (int32_t y = area.top(); y < area.bottom(); ++y) {
        rows.insert(rows.end(), frame.row(y) + area.left(), frame.row(y) + area.right());
    }
    Lz4PixelBlockWriter writer(true);
    writer.start_image(rows, uint32_t(area.width()));
    const uint64_t pixels = uint64_t(area.width()) * uint64_t(area.height());
    std::vector<char> decoded(pixels * 3);
    LZ4_streamDecode_t stream;
    LZ4_setStreamDecode(&stream, nullptr, 0);
    uint64_t done = 0;
    for (const uint64_t block : {uint64_t{1}, uint64_t{5}, uint64_t{4099}, uint64_t{70000}}) {
        while (done < pixels) {
            const uint64_t end = std::min(pixels, done + block);
            std::vector<uint8_t> out(Lz4PixelBlockWriter::bound(end - done));
            const size_t written = writer.write_block(end, out.data());
            ASSERT_LE(written + 32, out.size());
            const int got = LZ4_decompress_safe_continue(
                &stream, reinterpret_cast<const char*>(out.data()), decoded.data() + done * 3,
                int(written), int((pixels - done) * 3));
            ASSERT_EQ(got, int((end - done) * 3)) << "block at pixel " << done;
            done = end;
            if (block < 70000 && done > pixels / 2) break;  // change block sizes mid-image
        }
    }
    for (int32_t y = 0; y < area.height(); ++y) {
        for (int32_t x = 0; x < area.width(); ++x) {
            const uint8_t* bgr = reinterpret_cast<const uint8_t*>(decoded.data()) +
                                 (size_t(y) * area.width() + x) * 3;
            const uint32_t want = frame.pixel(area.left() + x, area.top() + y) & 0xffffffu;
            ASSERT_EQ(uint32_t(bgr[0] | bgr[1] << 8 | bgr[2] << 16), want) << x << "," << y;
        }
    }
}

TEST(Lz4BlockWriter, LiblZ4DecodesEveryBlock) {
    for (const Size size :
         {Size{1, 1}, Size{2, 2}, Size{3, 5}, Size{300, 300}, Size{1920, 40}, Size{30000, 3}}) {
        for (uint32_t seed = 1; seed <= 3; ++seed) {
            auto frame = structured_picture(size, seed);
            SCOPED_TRACE(testing::Message()
                         << size.width << "x" << size.height << " seed " << seed);
            expect_liblz4_decodes(*frame, frame->rect());
            if (size.width > 4 && size.height > 2) {
                expect_liblz4_decodes(*frame,
                                      Rect::MakeLTRB(1, 1, size.width - 2, size.height - 1));
            }
        }
    }
    for (auto& image : make_screen_corpus()) {
        const Frame& frame = *image.frame;
        expect_liblz4_decodes(frame, frame.rect());
        expect_liblz4_decodes(frame, Rect::MakeLTRB(3, 2, frame.width() - 5, frame.height() - 1));
    }
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
