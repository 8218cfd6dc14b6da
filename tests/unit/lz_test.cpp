// SPICE LZ: pixel-exact round trips through our decoder for every LZ image type on
// screen-like images, the ImageEncoder/ImageDecoder path (LZ_RGB and LZ_PLT with its palette
// pointer), and malformed input that must come back as errors. Bit-exactness with
// spice-common's decoder was checked out of tree (its lz.c linked into a harness; it is LGPL
// and not vendored here); these tests pin our own encoder/decoder pair.
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/lz.h"
#include "tests/unit/screen_images.h"

namespace spiced {
namespace {

using namespace test_images;

// `count` distinct colours and a frame using all of them (as far as it has pixels).
struct PaletteImage {
    std::vector<uint32_t> palette;
    std::unique_ptr<Frame> frame;
};
PaletteImage make_palette_image(Size size, int count, uint32_t seed) {
    std::mt19937 rng(seed);
    PaletteImage image;
    for (int i = 0; i < count; ++i)
        image.palette.push_back(uint32_t(i) * 0x010101u ^ (uint32_t(rng()) & 0xff0000u));
    image.frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            // Runs of one index plus some scatter, like a paletted UI.
            // The first `count` pixels use every colour once, so all of them occur.
            const size_t at = size_t(y) * size_t(size.width) + size_t(x);
            const size_t index = at < size_t(count) ? at
                                 : rng() % 4 == 0   ? rng() % size_t(count)
                                                    : size_t((x / 5 + y) % count);
            image.frame->row(y)[x] = image.palette[index] | 0xab000000u;  // X must be ignored
        }
    }
    return image;
}

struct Named {
    std::string name;
    std::unique_ptr<Frame> frame;
};
std::vector<Named> screen_images() {
    std::vector<Named> images;
    for (Size size :
         {Size{1, 1}, Size{17, 13}, Size{1023, 3}, Size{3, 1}, Size{64, 48}, Size{257, 129}}) {
        const std::string tag = std::to_string(size.width) + "x" + std::to_string(size.height);
        uint32_t seed = 1;
        for (const auto& [kind, generate] : kGenerators)
            images.push_back({kind + tag, generate(size, seed++)});
    }
    for (auto& image : images) add_alpha(*image.frame);
    return images;
}

// ---- Expectations --------------------------------------------------------------------------

uint32_t expected_pixel(LzImageType type, uint32_t p) {
    switch (type) {
        case LzImageType::kRgba:
            return p;
        case LzImageType::kXxxa:
            return p & 0xff000000u;
        case LzImageType::kRgb16: {  // 5 bits per channel, widened as spice-common does
            const uint32_t r = p >> 19 & 31, g = p >> 11 & 31, b = p >> 3 & 31;
            return (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
        }
        default:
            return p & 0x00ffffffu;
    }
}

::testing::AssertionResult frames_match(const Frame& source, const Rect& area, const Frame& decoded,
                                        LzImageType type) {
    if (decoded.size() != area.size()) return ::testing::AssertionFailure() << "size differs";
    for (int32_t y = 0; y < area.height(); ++y) {
        for (int32_t x = 0; x < area.width(); ++x) {
            const uint32_t want = expected_pixel(type, source.row(area.top() + y)[area.left() + x]);
            const uint32_t got = decoded.row(y)[x];
            if (want != got) {
                return ::testing::AssertionFailure() << "pixel (" << x << "," << y << ") want "
                                                     << std::hex << want << " got " << got;
            }
        }
    }
    return ::testing::AssertionSuccess();
}

constexpr LzImageType kRgbTypes[] = {LzImageType::kRgb16, LzImageType::kRgb24, LzImageType::kRgb32,
                                     LzImageType::kRgba, LzImageType::kXxxa};

std::vector<uint8_t> encode_stream(const Frame& frame, LzImageType type,
                                   std::span<const uint32_t> palette = {}) {
    ByteWriter out;
    auto ok = lz_encode(frame, frame.rect(), type, out, palette);
    EXPECT_TRUE(ok) << (ok ? "" : ok.error());
    return out.take();
}

// ---- Round trips ---------------------------------------------------------------------------

TEST(LzTest, RgbTypesRoundTripOnScreenImages) {
    LzCompressor compressor;
    for (const auto& image : screen_images()) {
        for (const LzImageType type : kRgbTypes) {
            SCOPED_TRACE(image.name + " type " + std::to_string(int(type)));
            ByteWriter out;
            ASSERT_TRUE(compressor.encode(*image.frame, image.frame->rect(), type, out));
            auto decoded = lz_decode(out.buffer());
            ASSERT_TRUE(decoded) << decoded.error();
            EXPECT_TRUE(frames_match(*image.frame, image.frame->rect(), **decoded, type));
        }
    }
}

TEST(LzTest, PaletteTypesRoundTrip) {
    struct Case {
        LzImageType type;
        int colours;
    };
    const Case cases[] = {{LzImageType::kPlt1Le, 2},  {LzImageType::kPlt1Be, 2},
                          {LzImageType::kPlt4Le, 16}, {LzImageType::kPlt4Be, 16},
                          {LzImageType::kPlt4Be, 5},  {LzImageType::kPlt8, 256},
                          {LzImageType::kPlt8, 2},    {LzImageType::kPlt1Be, 1}};
    for (Size size : {Size{1, 1}, Size{17, 13}, Size{1023, 3}, Size{9, 7}, Size{200, 100}}) {
        for (const Case& c : cases) {
            SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height) + " type " +
                         std::to_string(int(c.type)) + " colours " + std::to_string(c.colours));
            auto image = make_palette_image(size, c.colours, 5);
            const auto stream = encode_stream(*image.frame, c.type, image.palette);
            auto header = lz_read_header(stream);
            ASSERT_TRUE(header) << header.error();
            EXPECT_EQ(header->type, c.type);
            EXPECT_EQ(header->stride, uint32_t((size.width * lz_palette_bits(c.type) + 7) / 8));
            auto decoded = lz_decode(stream, image.palette);
            ASSERT_TRUE(decoded) << decoded.error();
            EXPECT_TRUE(
                frames_match(*image.frame, image.frame->rect(), **decoded, LzImageType::kRgb32));
        }
    }
}

TEST(LzTest, SubAreaOfAFrameRoundTrips) {
    auto frame = ui_image({300, 200}, 9);
    add_alpha(*frame);
    const Rect area = Rect::MakeXYWH(37, 11, 101, 77);
    for (const LzImageType type : kRgbTypes) {
        ByteWriter out;
        ASSERT_TRUE(lz_encode(*frame, area, type, out));
        auto decoded = lz_decode(out.buffer());
        ASSERT_TRUE(decoded) << decoded.error();
        EXPECT_TRUE(frames_match(*frame, area, **decoded, type)) << int(type);
    }
}

TEST(LzTest, CorpusRoundTripsInEveryRgbType) {
    LzCompressor compressor;
    for (const auto& image : make_screen_corpus()) {
        for (const LzImageType type : kRgbTypes) {
            SCOPED_TRACE(image.kind + " type " + std::to_string(int(type)));
            ByteWriter out;
            ASSERT_TRUE(compressor.encode(*image.frame, image.frame->rect(), type, out));
            auto decoded = lz_decode(out.buffer());
            ASSERT_TRUE(decoded) << decoded.error();
            EXPECT_TRUE(frames_match(*image.frame, image.frame->rect(), **decoded, type));
        }
    }
}

TEST(LzTest, AutoPicksTheTightestType) {
    LzCompressor compressor;
    std::vector<uint32_t> palette;
    const struct {
        int colours;
        LzImageType type;
    } cases[] = {{1, LzImageType::kPlt1Be},  {2, LzImageType::kPlt1Be}, {3, LzImageType::kPlt4Be},
                 {16, LzImageType::kPlt4Be}, {17, LzImageType::kPlt8},  {256, LzImageType::kPlt8}};
    for (const auto& c : cases) {
        auto image = make_palette_image({64, 40}, c.colours, 11);
        ByteWriter out;
        auto type = compressor.encode_auto(*image.frame, image.frame->rect(), out, palette);
        ASSERT_TRUE(type) << type.error();
        EXPECT_EQ(*type, c.type) << c.colours;
        EXPECT_EQ(palette.size(), size_t(std::max(2, c.colours)));
        auto decoded = lz_decode(out.buffer(), palette);
        ASSERT_TRUE(decoded) << decoded.error();
        EXPECT_TRUE(
            frames_match(*image.frame, image.frame->rect(), **decoded, LzImageType::kRgb32));
    }
    auto gradient = gradient_image({300, 200}, 0);  // far more than 256 colours
    ByteWriter out;
    auto type = compressor.encode_auto(*gradient, gradient->rect(), out, palette);
    ASSERT_TRUE(type);
    EXPECT_EQ(*type, LzImageType::kRgb32);
    EXPECT_TRUE(palette.empty());
}

TEST(LzTest, AlphaDecodesIntoAnExistingFrame) {
    auto source = text_image({77, 31}, 3);
    add_alpha(*source);
    const auto stream = encode_stream(*source, LzImageType::kXxxa);
    auto target = ui_image({77, 31}, 4);
    auto before = Frame::create(target->size());
    before->copy_from(*target, target->rect(), {0, 0});
    ASSERT_TRUE(lz_decode_alpha(stream, *target));
    for (int32_t y = 0; y < 31; ++y) {
        for (int32_t x = 0; x < 77; ++x) {
            ASSERT_EQ(target->row(y)[x],
                      (before->row(y)[x] & 0x00ffffffu) | (source->row(y)[x] & 0xff000000u));
        }
    }
    auto wrong_size = Frame::create({76, 31});
    EXPECT_FALSE(lz_decode_alpha(stream, *wrong_size));
    EXPECT_FALSE(lz_decode_alpha(encode_stream(*source, LzImageType::kRgb32), *target));
}

TEST(LzTest, BottomUpStreamsAreFlipped) {
    auto frame = gradient_image({23, 9}, 0);
    auto stream = encode_stream(*frame, LzImageType::kRgb32);
    stream[27] = 0;  // top_down = 0: the stream's first row is the image's last
    auto decoded = lz_decode(stream);
    ASSERT_TRUE(decoded);
    for (int32_t y = 0; y < 9; ++y) {
        for (int32_t x = 0; x < 23; ++x) ASSERT_EQ((*decoded)->row(8 - y)[x], frame->pixel(x, y));
    }
}

TEST(LzTest, EncoderRejectsBadRequests) {
    auto frame = make_palette_image({10, 10}, 16, 1);
    ByteWriter out;
    EXPECT_FALSE(lz_encode(*frame.frame, Rect::MakeXYWH(5, 5, 10, 10), LzImageType::kRgb32, out));
    EXPECT_FALSE(lz_encode(*frame.frame, Rect(), LzImageType::kRgb32, out));
    EXPECT_FALSE(lz_encode(*frame.frame, frame.frame->rect(), LzImageType(11), out));
    // 16 colours do not fit PLT1; a colour missing from the palette is an error.
    EXPECT_FALSE(
        lz_encode(*frame.frame, frame.frame->rect(), LzImageType::kPlt1Be, out, frame.palette));
    std::vector<uint32_t> short_palette(frame.palette.begin(), frame.palette.begin() + 15);
    EXPECT_FALSE(
        lz_encode(*frame.frame, frame.frame->rect(), LzImageType::kPlt4Le, out, short_palette));
    EXPECT_FALSE(lz_encode(*frame.frame, frame.frame->rect(), LzImageType::kPlt8, out, {}));
    EXPECT_EQ(out.size(), 0u);
}

// ---- The ImageEncoder / ImageDecoder path --------------------------------------------------

struct Encoded {
    std::vector<uint8_t> message;  // starts at the message start
    size_t body_offset = 0;
    uint8_t type = 0;
};
Encoded encode_message(ImageEncoder& encoder, const Frame& frame, const Rect& area) {
    ByteWriter out;
    out.bytes(std::string_view("previous message"));  // the message starts mid-buffer
    const size_t message_start = out.size();
    out.bytes(std::string_view("draw-copy header"));  // body starts mid-message
    const size_t body_at = out.size();
    auto type = encoder.encode(frame, area, out, message_start);
    EXPECT_TRUE(type) << (type ? "" : type.error());
    Encoded e;
    e.message.assign(out.buffer().begin() + long(message_start), out.buffer().end());
    e.body_offset = body_at - message_start;
    e.type = type ? *type : 0;
    return e;
}

TEST(LzTest, ImageEncoderPicksPaletteOrRgbAndDecodes) {
    auto encoder = make_lz_encoder();
    ASSERT_NE(encoder, nullptr);
    EXPECT_EQ(encoder->codec(), ImageCodec::kLz);
    auto decoder = make_image_decoder();
    std::vector<Named> images = screen_images();
    for (int colours : {2, 16, 256}) {
        images.push_back(
            {"palette" + std::to_string(colours), make_palette_image({123, 45}, colours, 8).frame});
    }
    for (auto& image : make_screen_corpus()) images.push_back({image.kind, std::move(image.frame)});
    for (const auto& image : images) {
        SCOPED_TRACE(image.name);
        const Frame& frame = *image.frame;
        const Encoded e = encode_message(*encoder, frame, frame.rect());
        auto decoded = decoder->decode(e.type, frame.size(), e.message, e.body_offset);
        ASSERT_TRUE(decoded) << decoded.error();
        EXPECT_TRUE(frames_match(frame, frame.rect(), **decoded, LzImageType::kRgb32));
        if (e.type == SPICE_IMAGE_TYPE_LZ_PLT) {
            // The palette pointer is an offset from the message start, past the stream.
            ByteReader r(std::span<const uint8_t>(e.message).subspan(e.body_offset));
            EXPECT_EQ(r.u8(), SPICE_BITMAP_FLAGS_TOP_DOWN);
            const uint32_t data_size = r.u32(), palette_at = r.u32();
            EXPECT_EQ(palette_at, e.body_offset + 9 + data_size);
            ByteReader p(e.message);
            p.seek(palette_at);
            EXPECT_EQ(p.u64(), 0u);
            const uint16_t count = p.u16();
            EXPECT_TRUE(p.ok());
            EXPECT_EQ(p.remaining(), size_t{count} * 4);
        } else {
            EXPECT_EQ(e.type, SPICE_IMAGE_TYPE_LZ_RGB);
        }
    }
}

TEST(LzTest, ImageEncoderUsesPaletteForFewColoursOnly) {
    auto encoder = make_lz_encoder();
    auto text = text_image({200, 60}, 1);
    EXPECT_EQ(encode_message(*encoder, *text, text->rect()).type, SPICE_IMAGE_TYPE_LZ_PLT);
    auto gradient = gradient_image({200, 60}, 0);
    EXPECT_EQ(encode_message(*encoder, *gradient, gradient->rect()).type, SPICE_IMAGE_TYPE_LZ_RGB);
    auto rgb_only = make_lz_encoder(LzEncoderOptions{false});
    EXPECT_EQ(encode_message(*rgb_only, *text, text->rect()).type, SPICE_IMAGE_TYPE_LZ_RGB);
}

TEST(LzTest, ImageEncoderEncodesSubAreas) {
    auto encoder = make_lz_encoder();
    auto frame = cad_image({320, 240}, 2);
    const Rect area = Rect::MakeXYWH(100, 50, 33, 17);
    const Encoded e = encode_message(*encoder, *frame, area);
    auto decoded = decode_lz_body(e.type, area.size(), e.message, e.body_offset);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_TRUE(frames_match(*frame, area, **decoded, LzImageType::kRgb32));
}

// ---- Malformed input -----------------------------------------------------------------------

std::vector<uint8_t> header_bytes(uint32_t type, uint32_t width, uint32_t height, uint32_t stride,
                                  uint32_t top_down = 1, uint32_t magic = 0x20205a4c,
                                  uint32_t version = 0x00010001) {
    std::vector<uint8_t> out;
    for (uint32_t v : {magic, version, type, width, height, stride, top_down}) {
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(v >> shift));
    }
    return out;
}

// Built by hand: ByteWriter's u32-then-bytes here trips GCC 12's false -Wstringop-overflow.
std::vector<uint8_t> lz_rgb_body(std::span<const uint8_t> stream) {
    std::vector<uint8_t> out(4 + stream.size());
    for (int k = 0; k < 4; ++k) out[size_t(k)] = uint8_t(stream.size() >> (8 * k));
    std::copy(stream.begin(), stream.end(), out.begin() + 4);
    return out;
}

TEST(LzTest, MalformedHeadersAreErrors) {
    auto frame = ui_image({8, 4}, 1);
    auto good = encode_stream(*frame, LzImageType::kRgb32);
    ASSERT_TRUE(lz_decode(good));
    auto with = [&](size_t at, uint8_t value) {
        auto copy = good;
        copy[at] = value;
        return copy;
    };
    EXPECT_FALSE(lz_decode(with(0, 'X')));               // magic
    EXPECT_FALSE(lz_decode(with(7, 2)));                 // version
    EXPECT_FALSE(lz_decode(with(11, 0)));                // type INVALID
    EXPECT_FALSE(lz_decode(with(11, 11)));               // A8: not ours
    EXPECT_FALSE(lz_decode(with(11, 7)));                // RGB24 with an RGB32 stride
    EXPECT_FALSE(lz_decode(with(15, 9)));                // width disagrees with stride
    EXPECT_FALSE(lz_decode(with(19, 0)));                // height 0
    EXPECT_FALSE(lz_decode(std::span(good).first(20)));  // truncated header
    auto trailing = good;
    trailing.push_back(0);
    EXPECT_FALSE(lz_decode(trailing));
    // Sizes past kMaxDecodedPixels, and sizes the stream is far too short to produce.
    EXPECT_FALSE(lz_decode(header_bytes(8, 16385, 16384, 16385 * 4)));
    EXPECT_FALSE(lz_decode(header_bytes(8, 0x40000000, 1, 0)));
    auto huge = header_bytes(8, 16384, 16384, 16384 * 4);
    huge.insert(huge.end(), {0, 1, 2, 3});
    auto result = lz_decode(huge);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().find("too short"), std::string::npos) << result.error();
}

TEST(LzTest, MalformedOpsAreErrors) {
    // 2x1 RGB32: each case is header + ops.
    auto stream = [](std::vector<uint8_t> ops) {
        auto s = header_bytes(8, 2, 1, 8);
        s.insert(s.end(), ops.begin(), ops.end());
        return s;
    };
    ASSERT_TRUE(lz_decode(stream({1, 1, 2, 3, 4, 5, 6})));            // two literals
    EXPECT_FALSE(lz_decode(stream({1, 1, 2, 3, 4, 5})));              // truncated literal
    EXPECT_FALSE(lz_decode(stream({2, 1, 2, 3, 4, 5, 6, 7, 8, 9})));  // 3 literals, 2 pixels
    EXPECT_FALSE(lz_decode(stream({0x20, 0})));                       // match before the start
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3, 0x20, 1})));           // distance 2 at pixel 1
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3, 0x40, 0})));           // 2 pixels at pixel 1
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3, 0x20})));              // truncated distance
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3, 0xe0, 255})));         // truncated length
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3, 0x3f, 255, 0})));      // truncated far distance
    EXPECT_FALSE(lz_decode(stream({0, 1, 2, 3})));                    // stream ends early
    ASSERT_TRUE(lz_decode(stream({0, 1, 2, 3, 0x20, 0})));            // run of one
}

TEST(LzTest, TruncationsAndCorruptionsNeverCrash) {
    auto frame = text_image({61, 23}, 5);
    add_alpha(*frame);
    for (const LzImageType type : kRgbTypes) {
        const auto good = encode_stream(*frame, type);
        for (size_t size = 0; size < good.size(); ++size) {
            ASSERT_FALSE(lz_decode(std::span(good).first(size))) << int(type) << " " << size;
        }
        std::mt19937 rng{uint32_t(type)};
        for (int i = 0; i < 2000; ++i) {
            auto bad = good;
            for (int k = 0; k < 3; ++k)
                bad[kLzHeaderBytes + rng() % (bad.size() - kLzHeaderBytes)] = uint8_t(rng());
            (void)lz_decode(bad);  // error or some image; ASan checks the rest
        }
    }
}

TEST(LzTest, MalformedBodiesAreErrors) {
    auto image = make_palette_image({20, 10}, 16, 3);
    auto encoder = make_lz_encoder();
    const Encoded plt = encode_message(*encoder, *image.frame, image.frame->rect());
    ASSERT_EQ(plt.type, SPICE_IMAGE_TYPE_LZ_PLT);
    const Size size = image.frame->size();
    ASSERT_TRUE(decode_lz_body(plt.type, size, plt.message, plt.body_offset));

    auto patched = [&](size_t body_at, std::vector<uint8_t> bytes) {
        auto copy = plt.message;
        std::copy(bytes.begin(), bytes.end(), copy.begin() + long(plt.body_offset + body_at));
        return copy;
    };
    EXPECT_FALSE(
        decode_lz_body(plt.type, size, patched(5, {0, 0, 0, 0}), plt.body_offset));  // null
    EXPECT_FALSE(decode_lz_body(plt.type, size, patched(5, {0xff, 0xff, 0, 0}), plt.body_offset));
    const uint32_t near_end = uint32_t(plt.message.size() - 11);  // palette header crosses the end
    EXPECT_FALSE(decode_lz_body(plt.type, size,
                                patched(5, {uint8_t(near_end), uint8_t(near_end >> 8), 0, 0}),
                                plt.body_offset));
    EXPECT_FALSE(decode_lz_body(plt.type, size, patched(0, {SPICE_BITMAP_FLAGS_PAL_FROM_CACHE}),
                                plt.body_offset));
    EXPECT_FALSE(decode_lz_body(plt.type, size, patched(1, {0xff, 0xff, 0, 0}), plt.body_offset));
    // A palette with fewer entries than the indices used.
    auto short_palette = plt.message;
    ByteReader r(std::span<const uint8_t>(plt.message).subspan(plt.body_offset + 5));
    const uint32_t palette_at = r.u32();
    short_palette[palette_at + 8] = 3;
    short_palette[palette_at + 9] = 0;
    EXPECT_FALSE(decode_lz_body(plt.type, size, short_palette, plt.body_offset));
    short_palette[palette_at + 8] = 0;  // empty palette
    EXPECT_FALSE(decode_lz_body(plt.type, size, short_palette, plt.body_offset));
    // Descriptor disagreements and cross-typed streams.
    EXPECT_FALSE(decode_lz_body(plt.type, {21, 10}, plt.message, plt.body_offset));
    EXPECT_FALSE(decode_lz_body(SPICE_IMAGE_TYPE_LZ_RGB, size, plt.message, plt.body_offset));
    EXPECT_FALSE(decode_lz_body(plt.type, size, plt.message, plt.message.size() + 1));
    EXPECT_FALSE(decode_lz_body(plt.type, {0, 10}, plt.message, plt.body_offset));
    EXPECT_FALSE(decode_lz_body(SPICE_IMAGE_TYPE_QUIC, size, plt.message, plt.body_offset));
    for (size_t cut = 0; cut < plt.message.size(); ++cut) {
        EXPECT_FALSE(decode_lz_body(plt.type, size, std::span(plt.message).first(cut),
                                    std::min(cut, plt.body_offset)));
    }

    auto noise = noise_image({9, 9}, 1);
    const auto xxxa = lz_rgb_body(encode_stream(*noise, LzImageType::kXxxa));
    EXPECT_FALSE(decode_lz_body(SPICE_IMAGE_TYPE_LZ_RGB, {9, 9}, xxxa, 0));
    const auto rgba = lz_rgb_body(encode_stream(*noise, LzImageType::kRgba));
    ASSERT_TRUE(decode_lz_body(SPICE_IMAGE_TYPE_LZ_RGB, {9, 9}, rgba, 0));
    EXPECT_FALSE(decode_lz_body(SPICE_IMAGE_TYPE_LZ_PLT, {9, 9}, rgba, 0));
    auto lying_size = rgba;
    lying_size[0] = uint8_t(lying_size[0] + 1);  // data_size one past the body
    EXPECT_FALSE(decode_lz_body(SPICE_IMAGE_TYPE_LZ_RGB, {9, 9}, lying_size, 0));
}

}  // namespace
}  // namespace spiced
