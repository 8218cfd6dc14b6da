// QUIC encoder and decoder: round trips for every type on screen-like and awkward images,
// golden streams pinned to spice-common's encoder, and malformed input.
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <cmath>
#include <random>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/quic.h"
#include "tests/unit/screen_images.h"

namespace spiced {
namespace {

constexpr QuicType kAllTypes[] = {QuicType::kRgb32, QuicType::kRgb24, QuicType::kRgba,
                                  QuicType::kGray};

using namespace test_images;

// ---- Helpers --------------------------------------------------------------------------------

std::vector<uint8_t> encode(const Frame& frame, const Rect& area, QuicType type) {
    ByteWriter out;
    auto size = quic_encode(frame, area, type, out);
    EXPECT_TRUE(size.has_value()) << (size ? "" : size.error());
    if (size) {
        EXPECT_EQ(*size, out.size());
        EXPECT_EQ(*size % 4, 0u);
    }
    return out.take();
}

// Compares what a QUIC type keeps; returns the first mismatch as text, or "".
std::string compare(const Frame& original, const Rect& area, const Frame& decoded, QuicType type) {
    if (decoded.size() != area.size()) return "size differs";
    for (int32_t y = 0; y < area.height(); ++y) {
        for (int32_t x = 0; x < area.width(); ++x) {
            const uint32_t want = original.row(area.top() + y)[area.left() + x];
            const uint32_t got = decoded.row(y)[x];
            bool ok;
            switch (type) {
                case QuicType::kRgba:
                    ok = got == want;
                    break;
                case QuicType::kGray:
                    ok = got == ((want >> 8) & 0xff) * 0x010101u;
                    break;
                default:
                    ok = got == (want & 0x00ffffff);
                    break;
            }
            if (!ok) {
                char text[96];
                std::snprintf(text, sizeof text, "pixel %d,%d: got %08x want %08x", x, y, got,
                              want);
                return text;
            }
        }
    }
    return "";
}

void expect_round_trip(const Frame& frame, const Rect& area, QuicType type, const char* what) {
    SCOPED_TRACE(testing::Message()
                 << what << " " << area.width() << "x" << area.height() << " type " << int(type));
    const auto stream = encode(frame, area, type);
    auto decoded = quic_decode(stream);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(decoded->type, type);
    EXPECT_EQ(compare(frame, area, *decoded->frame, type), "");
}

// A SPICE_IMAGE_TYPE_QUIC body: u32 data_size, then the stream.
std::vector<uint8_t> body_of(const std::vector<uint8_t>& stream) {
    std::vector<uint8_t> body(4 + stream.size());
    for (int i = 0; i < 4; ++i) body[size_t(i)] = uint8_t(stream.size() >> (8 * i));
    std::copy(stream.begin(), stream.end(), body.begin() + 4);
    return body;
}

uint64_t fnv1a(std::span<const uint8_t> data) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint8_t b : data) h = (h ^ b) * 0x100000001b3ull;
    return h;
}

// ---- Round trips ----------------------------------------------------------------------------

TEST(Quic, RoundTripsEveryTypeOnEveryContent) {
    for (const auto& [name, generate] : kGenerators) {
        auto frame = generate({301, 77}, 7);
        for (QuicType type : kAllTypes) expect_round_trip(*frame, frame->rect(), type, name);
    }
}

TEST(Quic, RoundTripsAwkwardSizes) {
    // 1x1, single rows and columns, odd sizes, and rows that cross the 2048-pixel steps of
    // the learning schedule at every phase.
    const Size sizes[] = {{1, 1},    {1, 9},    {9, 1},    {2, 2},    {3, 3},    {17, 13},
                          {1023, 3}, {3, 1023}, {2047, 2}, {2049, 3}, {4100, 4}, {1, 5000}};
    for (Size size : sizes) {
        for (const auto& [name, generate] : kGenerators) {
            auto frame = generate(size, uint32_t(size.width * 31 + size.height));
            for (QuicType type : kAllTypes) expect_round_trip(*frame, frame->rect(), type, name);
        }
    }
}

TEST(Quic, EncodesSubRectangles) {
    auto frame = natural_image({200, 150}, 3);
    const Rect areas[] = {Rect::MakeXYWH(0, 0, 1, 1), Rect::MakeXYWH(199, 149, 1, 1),
                          Rect::MakeXYWH(13, 7, 101, 55), Rect::MakeXYWH(50, 0, 150, 150)};
    for (const Rect& area : areas) {
        for (QuicType type : kAllTypes) expect_round_trip(*frame, area, type, "sub-rect");
    }
}

TEST(Quic, RoundTripsScreenCorpus) {
    for (const auto& image : make_screen_corpus()) {
        const Frame& frame = *image.frame;
        const Rect cuts[] = {frame.rect(), Rect::MakeXYWH(frame.width() / 3, frame.height() / 4,
                                                          frame.width() / 2, frame.height() / 3)};
        for (const Rect& area : cuts) {
            for (QuicType type : kAllTypes)
                expect_round_trip(frame, area, type, image.kind.c_str());
        }
    }
}

TEST(Quic, ReusedEncoderGivesTheSameStreams) {
    QuicEncoder encoder;
    auto big = natural_image({640, 100}, 1);
    auto small = text_image({33, 20}, 2);
    for (int pass = 0; pass < 2; ++pass) {
        for (const Frame* f : {big.get(), small.get()}) {
            for (QuicType type : kAllTypes) {
                ByteWriter out;
                out.u32(0xdeadbeef);  // streams append after existing content
                ASSERT_TRUE(encoder.encode(*f, f->rect(), type, out).has_value());
                std::vector<uint8_t> tail(out.buffer().begin() + 4, out.buffer().end());
                EXPECT_EQ(tail, encode(*f, f->rect(), type));
            }
        }
    }
}

// The AVX2 + BMI2 row coder, the SSE2 baseline and the portable C++ one must write the same
// bits (the client cannot tell which ran); on a CPU without AVX2 kBest is the baseline again.
TEST(Quic, EverySimdLevelWritesTheSameStreams) {
    QuicEncoder best(QuicEncoder::Simd::kBest), baseline(QuicEncoder::Simd::kBaseline),
        portable(QuicEncoder::Simd::kNone);
    auto stream = [](QuicEncoder& encoder, const Frame& f, QuicType type) {
        ByteWriter out;
        EXPECT_TRUE(encoder.encode(f, f.rect(), type, out).has_value());
        return out.take();
    };
    std::vector<std::unique_ptr<Frame>> images;
    for (Size size : {Size{1, 1}, Size{7, 5}, Size{17, 9}, Size{65, 6}, Size{333, 41}}) {
        uint32_t seed = 1;
        for (const auto& [name, generate] : kGenerators) images.push_back(generate(size, seed++));
    }
    for (auto& image : make_screen_corpus()) images.push_back(std::move(image.frame));
    for (const auto& f : images) {
        for (QuicType type : kAllTypes) {
            SCOPED_TRACE(testing::Message()
                         << f->width() << "x" << f->height() << " type " << int(type));
            const auto expected = stream(portable, *f, type);
            EXPECT_EQ(stream(baseline, *f, type), expected);
            EXPECT_EQ(stream(best, *f, type), expected);
        }
    }
}

// ---- Bit-exactness with spice-common ------------------------------------------------------------
// Streams produced by spice-common's quic_encode() for the same pixels (RGB24/GRAY fed as
// packed 24-bit / 8-bit G planes), recorded once.

std::unique_ptr<Frame> golden_image(Size size) {
    auto f = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            uint32_t p = uint32_t((x * x + 3 * y) & 0xff) | uint32_t(((x ^ y) * 7) & 0xff) << 8 |
                         uint32_t((x / 8 + y / 4) % 2 ? 0xc0 : 0x10) << 16 |
                         uint32_t((x * y) & 0x3f) << 24;
            if ((y / 3 + x / 40) % 3 == 0) p = 0x20406080;
            f->row(y)[x] = p;
        }
    }
    return f;
}

TEST(Quic, SmallStreamMatchesReferenceBytes) {
    auto frame = golden_image({5, 3});
    const std::vector<uint8_t> expected = {
        0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
        0x00, 0x03, 0x00, 0x00, 0x00, 0x80, 0x7f, 0x40, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0x80, 0x07, 0x0f, 0x04, 0x82, 0x00, 0x00, 0xff, 0xf7, 0x00, 0x00, 0x00, 0x00,
    };
    EXPECT_EQ(encode(*frame, frame->rect(), QuicType::kRgb32), expected);
}

TEST(Quic, StreamsMatchReferenceHashes) {
    struct Case {
        Size size;
        QuicType type;
        size_t bytes;
        uint64_t hash;
    };
    const Case cases[] = {
        {{97, 61}, QuicType::kRgb32, 12412, 0xd93dbf89c163fc2aull},
        {{97, 61}, QuicType::kRgb24, 12412, 0xe022b2ba626f7259ull},
        {{97, 61}, QuicType::kRgba, 16240, 0x7ec2ac5bbef93bf9ull},
        {{97, 61}, QuicType::kGray, 4188, 0x12b84e3246239233ull},
        {{2500, 6}, QuicType::kRgb32, 28496, 0xabb7ec7f126b750full},
        {{2500, 6}, QuicType::kRgb24, 28496, 0x10528afd24ec9fb0ull},
        {{2500, 6}, QuicType::kRgba, 35848, 0xa2c9ea3bb567974cull},
        {{2500, 6}, QuicType::kGray, 9384, 0x29e766d82aa88327ull},
        {{1, 300}, QuicType::kRgb32, 784, 0x9ede9c7270e1e844ull},
        {{1, 300}, QuicType::kRgb24, 784, 0x129268ee4a742083ull},
        {{1, 300}, QuicType::kRgba, 968, 0x0a723bcb8d87ec10ull},
        {{1, 300}, QuicType::kGray, 276, 0x38d42a311af12ab6ull},
        {{7, 1}, QuicType::kRgb32, 40, 0x26a5fd7bb7bd07b4ull},
        {{7, 1}, QuicType::kRgb24, 40, 0x28c80ee1cc852b23ull},
        {{7, 1}, QuicType::kRgba, 48, 0x4bd1926e7d250dc2ull},
        {{7, 1}, QuicType::kGray, 32, 0x82320bb32c9e0f9bull},
    };
    for (const Case& c : cases) {
        auto frame = golden_image(c.size);
        const auto stream = encode(*frame, frame->rect(), c.type);
        EXPECT_EQ(stream.size(), c.bytes)
            << c.size.width << "x" << c.size.height << " type " << int(c.type);
        EXPECT_EQ(fnv1a(stream), c.hash)
            << c.size.width << "x" << c.size.height << " type " << int(c.type);
    }
}

// ---- Malformed input ----------------------------------------------------------------------------

TEST(Quic, EveryPrefixIsAnError) {
    for (QuicType type : kAllTypes) {
        auto frame = cad_image({23, 9}, 5);
        const auto stream = encode(*frame, frame->rect(), type);
        for (size_t n = 0; n < stream.size(); ++n) {
            auto decoded = quic_decode(std::span(stream).first(n));
            EXPECT_FALSE(decoded.has_value()) << "prefix " << n << " of " << stream.size();
        }
        EXPECT_TRUE(quic_decode(stream).has_value());
    }
}

TEST(Quic, RandomCorruptionNeverCrashes) {
    std::mt19937 rng(11);
    for (const auto& [name, generate] : kGenerators) {
        auto frame = generate({40, 30}, 9);
        for (QuicType type : kAllTypes) {
            const auto stream = encode(*frame, frame->rect(), type);
            for (int trial = 0; trial < 200; ++trial) {
                auto bad = stream;
                const int flips = 1 + int(rng() % 4);
                for (int i = 0; i < flips; ++i) {
                    // Mostly past the header, so the pixel decoder sees the damage.
                    const size_t bit = 160 + rng() % (bad.size() * 8 - 160);
                    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
                }
                auto decoded = quic_decode(bad);
                if (decoded) {
                    EXPECT_EQ(decoded->frame->size(), frame->size());
                }
            }
        }
    }
}

TEST(Quic, HeaderLiesAreErrors) {
    auto frame = gradient_image({16, 8}, 0);
    const auto good = encode(*frame, frame->rect(), QuicType::kRgb32);
    auto with_word = [&](size_t index, uint32_t value) {
        auto s = good;
        for (int i = 0; i < 4; ++i) s[index * 4 + size_t(i)] = uint8_t(value >> (8 * i));
        return s;
    };
    EXPECT_FALSE(quic_decode(with_word(0, 0x43495552)).has_value());  // magic
    EXPECT_FALSE(quic_decode(with_word(1, 1)).has_value());           // version
    for (uint32_t type : {0u, 2u, 6u, 0xffffffffu}) {
        EXPECT_FALSE(quic_decode(with_word(2, type)).has_value()) << type;
    }
    EXPECT_FALSE(quic_decode(with_word(3, 0)).has_value());            // width 0
    EXPECT_FALSE(quic_decode(with_word(4, 0)).has_value());            // height 0
    EXPECT_FALSE(quic_decode(with_word(3, 0x80000000u)).has_value());  // negative as int
    EXPECT_FALSE(quic_decode(with_word(3, 1u << 20)).has_value());     // claims more than sent
    EXPECT_FALSE(quic_decode(with_word(4, 1u << 30)).has_value());     // over the limit
    EXPECT_FALSE(quic_decode(good, 16 * 8 - 1).has_value());           // over the caller's cap
    EXPECT_FALSE(quic_decode(std::vector<uint8_t>{}).has_value());
}

TEST(Quic, BodyValidatesSizeFieldAndDescriptor) {
    auto frame = text_image({31, 17}, 4);
    const auto stream = encode(*frame, frame->rect(), QuicType::kRgb32);
    const auto b = body_of(stream);
    EXPECT_TRUE(decode_quic_body(b, {31, 17}).has_value());
    EXPECT_FALSE(decode_quic_body(b, {31, 16}).has_value());
    EXPECT_FALSE(decode_quic_body(b, {30, 17}).has_value());
    EXPECT_FALSE(decode_quic_body(b, {0, 17}).has_value());
    EXPECT_FALSE(decode_quic_body(std::span(b).first(b.size() - 1), {31, 17}).has_value());
    EXPECT_FALSE(decode_quic_body(std::span(b).first(3), {31, 17}).has_value());
    auto lying = b;
    lying[0] -= 4;  // data_size one word short
    EXPECT_FALSE(decode_quic_body(lying, {31, 17}).has_value());
    lying[0] += 8;  // data_size past the end
    EXPECT_FALSE(decode_quic_body(lying, {31, 17}).has_value());

    // GRAY is valid QUIC but not drawable by clients.
    const auto gray = encode(*frame, frame->rect(), QuicType::kGray);
    EXPECT_FALSE(decode_quic_body(body_of(gray), {31, 17}).has_value());
}

TEST(Quic, EncoderRejectsBadAreas) {
    auto frame = text_image({10, 10}, 1);
    ByteWriter out;
    EXPECT_FALSE(quic_encode(*frame, Rect::MakeXYWH(5, 5, 6, 1), QuicType::kRgb32, out));
    EXPECT_FALSE(quic_encode(*frame, Rect::MakeXYWH(0, 0, 0, 3), QuicType::kRgb32, out));
    EXPECT_FALSE(quic_encode(*frame, frame->rect(), QuicType::kRgb16, out));
    EXPECT_EQ(out.size(), 0u);
}

// ---- The ImageEncoder / ImageDecoder path ------------------------------------------------------

TEST(Quic, ImageEncoderRoundTripsThroughTheDispatchingDecoder) {
    auto encoder = make_quic_encoder();
    ASSERT_NE(encoder, nullptr);
    EXPECT_EQ(encoder->codec(), ImageCodec::kQuic);
    auto decoder = make_image_decoder();
    auto frame = natural_image({260, 90}, 8);
    const Rect areas[] = {frame->rect(), Rect::MakeXYWH(10, 20, 57, 33)};
    for (const Rect& area : areas) {
        ByteWriter message;
        message.bytes(std::string_view("header.."));  // the body starts mid-message
        const size_t body_offset = message.size();
        auto type = encoder->encode(*frame, area, message, 0);
        ASSERT_TRUE(type.has_value()) << type.error();
        EXPECT_EQ(*type, SPICE_IMAGE_TYPE_QUIC);
        auto decoded = decoder->decode(*type, area.size(), message.buffer(), body_offset);
        ASSERT_TRUE(decoded.has_value()) << decoded.error();
        EXPECT_EQ(compare(*frame, area, **decoded, QuicType::kRgb32), "");
    }
}

}  // namespace
}  // namespace spiced
