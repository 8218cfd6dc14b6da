// JPEG and JPEG_ALPHA: quality bounds on screen-like content, odd sizes, sub-areas, the
// libjpeg settings spice-server uses, and hostile input (every answer an error, never a crash).
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "base/bytes.h"
#include "encode/codecs.h"
#include "encode/jpeg.h"

namespace spiced {
namespace {

// Smooth shading with a little grain: photo or video content, what JPEG is for.
std::unique_ptr<Frame> natural_frame(Size size) {
    auto frame = Frame::create(size);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> grain(-3, 3);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            const double fx = double(x) / 40.0, fy = double(y) / 30.0;
            auto channel = [&](double v) {
                return uint32_t(std::clamp(int(v) + grain(rng), 0, 255));
            };
            const uint32_t r = channel(128 + 90 * std::sin(fx) * std::cos(fy));
            const uint32_t g = channel(128 + 80 * std::sin(fx * 0.7 + fy));
            const uint32_t b = channel(100 + 60 * std::cos(fx * 0.3 - fy * 0.5));
            frame->row(y)[x] = r << 16 | g << 8 | b;
        }
    }
    return frame;
}

// Flat panels, borders and dark "glyph" strokes on white: a UI window.
std::unique_ptr<Frame> ui_frame(Size size) {
    auto frame = Frame::create(size);
    frame->fill(frame->rect(), 0xf0f0f0);
    frame->fill(Rect::MakeXYWH(0, 0, size.width, std::min(24, size.height)), 0x3060a0);
    for (int32_t y = 40; y + 10 < size.height; y += 16) {
        for (int32_t x = 8; x + 6 < size.width; x += 9) {
            if ((x * 31 + y * 17) % 7 < 2) continue;  // word gaps
            frame->fill(Rect::MakeXYWH(x, y, 1, 9), 0x202020);
            frame->fill(Rect::MakeXYWH(x, y + 8, 5, 1), 0x202020);
        }
    }
    return frame;
}

double psnr(const Frame& a, const Frame& b, const Rect& area_of_a) {
    double sum = 0;
    for (int32_t y = 0; y < area_of_a.height(); ++y) {
        for (int32_t x = 0; x < area_of_a.width(); ++x) {
            const uint32_t p = a.pixel(area_of_a.left() + x, area_of_a.top() + y);
            const uint32_t q = b.pixel(x, y);
            for (int shift = 0; shift < 24; shift += 8) {
                const double d = double((p >> shift) & 0xff) - double((q >> shift) & 0xff);
                sum += d * d;
            }
        }
    }
    const double mse = sum / (3.0 * double(area_of_a.area()));
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

struct Encoded {
    uint8_t type = 0;
    std::vector<uint8_t> body;
};

Encoded encode(ImageEncoder& encoder, const Frame& frame, const Rect& area) {
    ByteWriter out;
    out.u32(0xdeadbeef);  // something before the body: the encoder must only append
    auto type = encoder.encode(frame, area, out, 0);
    EXPECT_TRUE(type.has_value()) << type.error();
    if (!type) return {};
    EXPECT_EQ(load_u32_le(out.buffer().data()), 0xdeadbeefu);
    return {*type, std::vector<uint8_t>(out.buffer().begin() + 4, out.buffer().end())};
}

Expected<std::unique_ptr<Frame>, std::string> decode(const Encoded& encoded, Size size) {
    return decode_jpeg_body(encoded.type, size, encoded.body);
}

TEST(JpegTest, FactoryAndDispatchRoundTrip) {
    auto encoder = make_image_encoder(ImageCodec::kJpeg);
    ASSERT_NE(encoder, nullptr);
    EXPECT_EQ(encoder->codec(), ImageCodec::kJpeg);
    const auto frame = natural_frame({160, 120});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    ASSERT_EQ(encoded.type, SPICE_IMAGE_TYPE_JPEG);
    // u32 data_size, then a JPEG file (SOI ... EOI) filling the rest.
    ASSERT_GT(encoded.body.size(), 8u);
    EXPECT_EQ(load_u32_le(encoded.body.data()), encoded.body.size() - 4);
    EXPECT_EQ(encoded.body[4], 0xff);
    EXPECT_EQ(encoded.body[5], 0xd8);
    EXPECT_EQ(encoded.body[encoded.body.size() - 2], 0xff);
    EXPECT_EQ(encoded.body.back(), 0xd9);

    auto decoder = make_image_decoder();
    auto back = decoder->decode(encoded.type, frame->size(), encoded.body, 0);
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_EQ((*back)->size(), frame->size());
    EXPECT_GT(psnr(*frame, **back, frame->rect()), 30.0);
}

// spice-server's jpeg_set_defaults gives a baseline (SOF0) YCbCr file with luma sampled 2x2 and
// both chroma planes 1x1 (4:2:0); ours must be the same kind of file.
TEST(JpegTest, BaselineYCbCr420LikeSpiceServer) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = ui_frame({64, 48});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    const auto& b = encoded.body;
    size_t sof = 0;
    for (size_t i = 4; i + 1 < b.size(); ++i) {
        if (b[i] == 0xff && b[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    }
    ASSERT_NE(sof, 0u) << "no baseline SOF0 marker";
    // FF C0, length(2), precision, height(2), width(2), components, then 3 bytes each.
    ASSERT_LT(sof + 19, b.size());
    EXPECT_EQ(b[sof + 4], 8);                     // 8-bit samples
    EXPECT_EQ(b[sof + 5] << 8 | b[sof + 6], 48);  // height
    EXPECT_EQ(b[sof + 7] << 8 | b[sof + 8], 64);  // width
    ASSERT_EQ(b[sof + 9], 3);                     // Y, Cb, Cr
    EXPECT_EQ(b[sof + 11], 0x22);                 // Y: 2x2
    EXPECT_EQ(b[sof + 14], 0x11);                 // Cb: 1x1
    EXPECT_EQ(b[sof + 17], 0x11);                 // Cr: 1x1
}

TEST(JpegTest, QualityBoundsOnNaturalAndUiContent) {
    const auto natural = natural_frame({320, 240});
    const auto ui = ui_frame({320, 240});
    auto q85 = make_jpeg_encoder(85);
    auto q50 = make_jpeg_encoder(50);
    auto q95 = make_jpeg_encoder(95);

    const Encoded n85 = encode(*q85, *natural, natural->rect());
    const Encoded n50 = encode(*q50, *natural, natural->rect());
    const Encoded n95 = encode(*q95, *natural, natural->rect());
    auto d85 = decode(n85, natural->size());
    auto d50 = decode(n50, natural->size());
    auto d95 = decode(n95, natural->size());
    ASSERT_TRUE(d85 && d50 && d95);
    const double p50 = psnr(*natural, **d50, natural->rect());
    const double p85 = psnr(*natural, **d85, natural->rect());
    const double p95 = psnr(*natural, **d95, natural->rect());
    EXPECT_GT(p85, 30.0);
    EXPECT_GT(p50, 28.0);
    EXPECT_LT(p50, p85);
    EXPECT_LT(p85, p95);
    EXPECT_LT(n50.body.size(), n85.body.size());
    EXPECT_LT(n85.body.size(), n95.body.size());
    // Far smaller than the 3 bytes per pixel of the picture.
    EXPECT_LT(n85.body.size(), size_t(320 * 240 * 3 / 4));

    // Sharp text is JPEG's worst case (ringing around strokes), still clearly readable.
    const Encoded u85 = encode(*q85, *ui, ui->rect());
    auto du85 = decode(u85, ui->size());
    ASSERT_TRUE(du85);
    EXPECT_GT(psnr(*ui, **du85, ui->rect()), 25.0);
}

TEST(JpegTest, OddSizesAndOnePixel) {
    auto encoder = make_jpeg_encoder(90);  // one encoder reused across sizes
    for (const Size size : {Size{1, 1}, Size{1, 17}, Size{17, 1}, Size{3, 5}, Size{17, 9},
                            Size{33, 31}, Size{257, 3}, Size{15, 16}, Size{16, 15}}) {
        const auto frame = natural_frame(size);
        const Encoded encoded = encode(*encoder, *frame, frame->rect());
        auto back = decode(encoded, size);
        ASSERT_TRUE(back.has_value()) << size.width << "x" << size.height << ": " << back.error();
        ASSERT_EQ((*back)->size(), size);
        EXPECT_GT(psnr(*frame, **back, frame->rect()), 26.0) << size.width << "x" << size.height;
    }
    // A flat 1x1 colour survives within JPEG's rounding.
    auto dot = Frame::create({1, 1});
    dot->fill(dot->rect(), 0x40a0e0);
    auto back = decode(encode(*encoder, *dot, dot->rect()), {1, 1});
    ASSERT_TRUE(back.has_value());
    const uint32_t p = (*back)->pixel(0, 0);
    EXPECT_NEAR(double(p >> 16), 0x40, 4);
    EXPECT_NEAR(double((p >> 8) & 0xff), 0xa0, 4);
    EXPECT_NEAR(double(p & 0xff), 0xe0, 4);
}

TEST(JpegTest, EncodesOnlyTheArea) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = natural_frame({200, 150});
    const Rect area = Rect::MakeXYWH(37, 21, 91, 77);
    const Encoded encoded = encode(*encoder, *frame, area);
    auto back = decode(encoded, area.size());
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_GT(psnr(*frame, **back, area), 30.0);
    // Against the wrong place of the frame it must be far off: the offset was honoured.
    EXPECT_LT(psnr(*frame, **back, area.translated(-37, -21)), 25.0);
}

TEST(JpegTest, BadAreaIsAnErrorAndLeavesOutputAlone) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = natural_frame({20, 20});
    ByteWriter out;
    out.u8(7);
    EXPECT_FALSE(encoder->encode(*frame, Rect::MakeXYWH(10, 10, 11, 5), out, 0).has_value());
    EXPECT_FALSE(encoder->encode(*frame, Rect(), out, 0).has_value());
    EXPECT_EQ(out.size(), 1u);
    // And the encoder still works afterwards.
    EXPECT_TRUE(encoder->encode(*frame, frame->rect(), out, 0).has_value());
}

TEST(JpegTest, QualityIsClamped) {
    const auto frame = natural_frame({40, 30});
    for (int quality : {-5, 0, 1, 100, 1000}) {
        auto encoder = make_jpeg_encoder(quality);
        const Encoded encoded = encode(*encoder, *frame, frame->rect());
        EXPECT_TRUE(decode(encoded, frame->size()).has_value()) << quality;
    }
}

TEST(JpegTest, SizeMismatchWithDescriptorIsAnError) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = natural_frame({40, 30});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    ASSERT_TRUE(decode(encoded, {40, 30}).has_value());
    for (const Size size : {Size{41, 30}, Size{40, 29}, Size{30, 40}, Size{0, 30}, Size{40, -1},
                            Size{1 << 20, 1 << 20}}) {
        auto back = decode(encoded, size);
        EXPECT_FALSE(back.has_value()) << size.width << "x" << size.height;
    }
}

TEST(JpegTest, TruncatedOrWrappedWrongIsAnError) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = natural_frame({64, 64});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    const Size size = frame->size();

    // The body cut anywhere: data_size now exceeds what is there.
    for (size_t cut = 0; cut < encoded.body.size(); cut += 7) {
        Encoded cut_body{encoded.type, {encoded.body.begin(), encoded.body.begin() + long(cut)}};
        EXPECT_FALSE(decode(cut_body, size).has_value()) << cut;
    }
    // data_size itself shortened: the JPEG file is cut (every cut point, including just
    // before EOI, which libjpeg would otherwise paper over with a warning).
    const size_t file_size = encoded.body.size() - 4;
    for (size_t keep = 0; keep < file_size; keep += (keep + 2 >= file_size ? 1 : 5)) {
        Encoded shorter = encoded;
        shorter.body.resize(4 + keep);
        shorter.body[0] = uint8_t(keep);
        shorter.body[1] = uint8_t(keep >> 8);
        shorter.body[2] = uint8_t(keep >> 16);
        shorter.body[3] = uint8_t(keep >> 24);
        EXPECT_FALSE(decode(shorter, size).has_value()) << keep;
    }
    // Wrong image type for this entry point.
    EXPECT_FALSE(decode_jpeg_body(SPICE_IMAGE_TYPE_LZ4, size, encoded.body).has_value());
    // Not a JPEG at all.
    std::vector<uint8_t> junk = {8, 0, 0, 0, 'n', 'o', 't', ' ', 'j', 'p', 'e', 'g'};
    EXPECT_FALSE(decode_jpeg_body(SPICE_IMAGE_TYPE_JPEG, size, junk).has_value());
}

TEST(JpegTest, CorruptEntropyDataIsAnError) {
    auto encoder = make_jpeg_encoder(85);
    const auto frame = natural_frame({64, 64});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    // Find the start of scan (FF DA) and drop an EOI marker into the middle of the scan:
    // libjpeg would warn "premature end of data segment" and paint the rest grey.
    size_t sos = 0;
    for (size_t i = 4; i + 1 < encoded.body.size(); ++i) {
        if (encoded.body[i] == 0xff && encoded.body[i + 1] == 0xda) {
            sos = i;
            break;
        }
    }
    ASSERT_NE(sos, 0u);
    const size_t middle = (sos + encoded.body.size()) / 2;
    Encoded cut = encoded;
    cut.body[middle] = 0xff;
    cut.body[middle + 1] = 0xd9;
    EXPECT_FALSE(decode(cut, frame->size()).has_value());

    // Restart markers where none belong make libjpeg resynchronise: an error for us.
    Encoded resync = encoded;
    resync.body[middle] = 0xff;
    resync.body[middle + 1] = 0xd3;
    EXPECT_FALSE(decode(resync, frame->size()).has_value());
}

// Random damage anywhere: each answer is an error or a frame of exactly the right size.
TEST(JpegTest, RandomCorruptionNeverCrashes) {
    auto encoder = make_jpeg_encoder(75);
    const auto frame = ui_frame({48, 40});
    const Encoded encoded = encode(*encoder, *frame, frame->rect());
    std::mt19937 rng(42);
    int errors = 0;
    for (int round = 0; round < 2000; ++round) {
        Encoded damaged = encoded;
        const int hits = 1 + int(rng() % 4);
        for (int i = 0; i < hits; ++i) {
            const size_t at = 4 + rng() % (damaged.body.size() - 4);
            damaged.body[at] = uint8_t(rng());
        }
        auto back = decode(damaged, frame->size());
        if (back) {
            EXPECT_EQ((*back)->size(), frame->size());
        } else {
            ++errors;
        }
    }
    EXPECT_GT(errors, 0);
}

TEST(JpegTest, JpegAlphaRoundTrip) {
    auto encoder = make_jpeg_alpha_encoder(85);
    auto frame = natural_frame({50, 37});
    for (int32_t y = 0; y < frame->height(); ++y) {
        for (int32_t x = 0; x < frame->width(); ++x) {
            frame->row(y)[x] |= uint32_t((x * 5 + y) & 0xff) << 24;  // alpha in the X byte
        }
    }
    ByteWriter out;
    auto type = encoder->encode(*frame, frame->rect(), out, 0);
    if (!type && type.error().find("not available") != std::string::npos) {
        GTEST_SKIP() << type.error();
    }
    ASSERT_TRUE(type.has_value()) << type.error();
    ASSERT_EQ(*type, SPICE_IMAGE_TYPE_JPEG_ALPHA);
    const auto& b = out.buffer();
    ASSERT_GT(b.size(), 9u);
    EXPECT_EQ(b[0], SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN);
    const uint32_t jpeg_size = load_u32_le(&b[1]), data_size = load_u32_le(&b[5]);
    EXPECT_EQ(data_size, b.size() - 9);
    EXPECT_LT(jpeg_size, data_size);

    auto back = decode_jpeg_body(*type, frame->size(), b);
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_GT(psnr(*frame, **back, frame->rect()), 30.0);
    for (int32_t y = 0; y < frame->height(); ++y) {
        for (int32_t x = 0; x < frame->width(); ++x) {
            ASSERT_EQ((*back)->row(y)[x] >> 24, frame->row(y)[x] >> 24) << x << "," << y;
        }
    }
    // Flags announcing bottom-up rows over a top-down alpha stream: spice-common's canvas
    // refuses that, and so do we.
    std::vector<uint8_t> flipped(b.begin(), b.end());
    flipped[0] = 0;
    EXPECT_FALSE(decode_jpeg_body(*type, frame->size(), flipped).has_value());
    // jpeg_size pointing past data_size, or an alpha stream cut short: errors.
    std::vector<uint8_t> bad(b.begin(), b.end());
    bad[1] = uint8_t(data_size + 1);
    bad[2] = uint8_t((data_size + 1) >> 8);
    bad[3] = uint8_t((data_size + 1) >> 16);
    bad[4] = uint8_t((data_size + 1) >> 24);
    EXPECT_FALSE(decode_jpeg_body(*type, frame->size(), bad).has_value());
    std::vector<uint8_t> cut(b.begin(), b.end() - 3);
    const uint32_t shorter = data_size - 3;
    cut[5] = uint8_t(shorter);
    cut[6] = uint8_t(shorter >> 8);
    cut[7] = uint8_t(shorter >> 16);
    cut[8] = uint8_t(shorter >> 24);
    EXPECT_FALSE(decode_jpeg_body(*type, frame->size(), cut).has_value());
}

}  // namespace
}  // namespace spiced
