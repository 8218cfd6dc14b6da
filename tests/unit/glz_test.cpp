// GLZ / ZLIB_GLZ: the encoder and our spice-gtk-model decoder must agree on every pixel and on
// what the client's window holds, image after image, including across evictions.
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "bench/screen_corpus.h"
#include "demo/demo_desktop.h"
#include "encode/codecs.h"
#include "encode/glz_format.h"
#include "encode/glz_window.h"
#include "pixels/damage.h"

namespace spiced {
namespace {

struct Encoded {
    uint8_t type = 0;
    std::vector<uint8_t> body;
};

Encoded encode_ok(ImageEncoder& encoder, const Frame& frame, const Rect& area) {
    ByteWriter out;
    auto type = encoder.encode(frame, area, out, 0);
    EXPECT_TRUE(type.has_value()) << (type ? "" : type.error());
    return {type ? *type : uint8_t{0}, out.take()};
}

// Encodes `area`, decodes it in `window` and checks pixels and window state agree.
void round_trip(ImageEncoder& encoder, GlzDecoderWindow& window, const Frame& frame,
                const Rect& area, size_t* compressed = nullptr) {
    const Encoded e = encode_ok(encoder, frame, area);
    ASSERT_TRUE(e.type == SPICE_IMAGE_TYPE_GLZ_RGB || e.type == SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB);
    if (compressed) *compressed += e.body.size();
    auto decoded = decode_glz_body(window, e.type, area.size(), e.body);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    const Frame& d = **decoded;
    for (int32_t y = 0; y < area.height(); ++y) {
        const uint32_t* got = d.row(y);
        const uint32_t* want = frame.row(area.top() + y) + area.left();
        for (int32_t x = 0; x < area.width(); ++x) {
            if (((got[x] ^ want[x]) & 0x00ffffffu) != 0) {
                FAIL() << "pixel " << x << "," << y << " of " << area.width() << "x"
                       << area.height();
            }
        }
    }
    ASSERT_EQ(glz_encoder_state(encoder), glz_window_state(window));
}

std::unique_ptr<Frame> noise_frame(Size size, uint32_t seed, uint32_t colours = 0) {
    auto frame = Frame::create(size);
    std::mt19937 rng(seed);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            // Random X bytes too: the encoder must ignore them.
            const uint32_t v = rng();
            frame->row(y)[x] = colours ? (v % colours) * 0x010305u | (v & 0xff000000u) : v;
        }
    }
    return frame;
}

TEST(GlzTest, NoWindowMeansNoEncoder) {
    EXPECT_EQ(make_glz_encoder({0, false}), nullptr);
    EXPECT_EQ(make_glz_encoder({0, true}), nullptr);
    auto encoder = make_glz_encoder({1 << 20, true});
    ASSERT_NE(encoder, nullptr);
    EXPECT_EQ(encoder->codec(), ImageCodec::kZlibGlz);
}

TEST(GlzTest, CorpusRoundTripsAndCompresses) {
    for (bool zlib : {false, true}) {
        auto encoder = make_glz_encoder({int64_t{8} << 20, zlib});
        auto window = make_glz_decoder_window(int64_t{8} << 20);
        for (const auto& image : make_screen_corpus()) {
            size_t bytes = 0;
            round_trip(*encoder, *window, *image.frame, image.frame->rect(), &bytes);
            if (image.kind != "natural") {
                EXPECT_LT(bytes * 4, size_t(image.frame->size().area()) * 3) << image.kind;
            }
        }
    }
}

TEST(GlzTest, TinyAndOddSizes) {
    auto encoder = make_glz_encoder({1 << 16, false});
    auto window = make_glz_decoder_window(1 << 16);
    const Size sizes[] = {{1, 1}, {1, 2},  {2, 1},  {2, 2},   {3, 1},   {1, 7},
                          {3, 5}, {31, 1}, {33, 3}, {65, 17}, {1, 200}, {257, 3}};
    uint32_t seed = 1;
    for (int round = 0; round < 4; ++round) {
        for (Size size : sizes) {
            auto noisy = noise_frame(size, seed++);
            round_trip(*encoder, *window, *noisy, noisy->rect());
            auto few = noise_frame(size, seed++, 3);
            round_trip(*encoder, *window, *few, few->rect());
            auto flat = Frame::create(size);
            flat->fill(flat->rect(), 0x123456);
            round_trip(*encoder, *window, *flat, flat->rect());
        }
    }
}

TEST(GlzTest, RepeatedImageReferencesOlderImages) {
    auto encoder = make_glz_encoder({1 << 22, false});
    auto window = make_glz_decoder_window(1 << 22);
    auto a = noise_frame({300, 200}, 7);
    size_t first = 0, again = 0;
    round_trip(*encoder, *window, *a, a->rect(), &first);
    for (uint32_t i = 0; i < 20; ++i) {
        auto other = noise_frame({100, 100}, 100 + i);
        round_trip(*encoder, *window, *other, other->rect());
    }
    // A sub-rectangle of image 0, 21 images later: rows become far references.
    round_trip(*encoder, *window, *a, Rect::MakeLTRB(0, 50, 300, 150), &again);
    EXPECT_LT(again * 50, first);
}

TEST(GlzTest, SmallWindowEvictsLikeTheClient) {
    // 20000 pixels: a handful of images fit, so nearly every image evicts some.
    auto encoder = make_glz_encoder({20000, false});
    auto window = make_glz_decoder_window(20000);
    auto pool = noise_frame({400, 300}, 3, 4);
    std::mt19937 rng(5);
    for (int i = 0; i < 2000; ++i) {
        const int32_t w = 1 + int32_t(rng() % 140), h = 1 + int32_t(rng() % 140);
        const int32_t x = int32_t(rng() % uint32_t(400 - w + 1)),
                      y = int32_t(rng() % uint32_t(300 - h + 1));
        round_trip(*encoder, *window, *pool, Rect::MakeXYWH(x, y, w, h));
        ASSERT_LE(glz_window_state(*window)->pixels, 20000);
    }
    // An image bigger than the window is refused and changes nothing.
    const auto before = glz_encoder_state(*encoder);
    ByteWriter out;
    EXPECT_FALSE(encoder->encode(*pool, Rect::MakeXYWH(0, 0, 200, 101), out, 0).has_value());
    EXPECT_EQ(out.size(), 0u);
    EXPECT_EQ(glz_encoder_state(*encoder), before);
    round_trip(*encoder, *window, *pool, Rect::MakeXYWH(0, 0, 100, 100));
}

// The demo desktop's damage, frame after frame: thousands of images, real screen content,
// windows small enough to wrap the encoder's ring many times.
void demo_damage_run(int64_t window_pixels, bool zlib, int frames) {
    DemoDesktop desktop({{640, 480}, 1});
    auto encoder = make_glz_encoder({window_pixels, zlib});
    auto window = make_glz_decoder_window(window_pixels);
    auto previous = Frame::create(desktop.size());
    auto current = Frame::create(desktop.size());
    auto detector = make_fast_damage_detector();
    std::vector<MoveHint> moves;
    size_t images = 0, bytes = 0;
    int64_t pixels = 0;
    for (int i = 0; i < frames; ++i) {
        moves.clear();
        desktop.render(i, *current, moves);
        const Region damage =
            i == 0 ? Region(current->rect()) : detector->detect(*previous, *current);
        for (const Rect& rect : damage.rects()) {
            if (rect.size().area() > window_pixels) continue;
            round_trip(*encoder, *window, *current, rect, &bytes);
            if (testing::Test::HasFatalFailure()) return;
            ++images;
            pixels += rect.size().area();
        }
        std::swap(previous, current);
    }
    EXPECT_GT(images, size_t(frames));
    EXPECT_EQ(glz_encoder_state(*encoder)->next_id, images);
    // Mostly video by area, which LZ barely shrinks; the UI and text around it do.
    EXPECT_LT(bytes * 2, size_t(pixels) * 3);
}

TEST(GlzTest, DemoDamageStaysInSync) {
    demo_damage_run(int64_t{1} << 20, false, 3000);
}
TEST(GlzTest, DemoDamageSmallWindowStaysInSync) {
    demo_damage_run(40000, false, 1500);
}
TEST(GlzTest, DemoDamageZlibStaysInSync) {
    demo_damage_run(int64_t{1} << 18, true, 1500);
}

TEST(GlzTest, ZlibFallsBackToPlainGlzForTinyImages) {
    auto encoder = make_glz_encoder({1 << 16, true});
    auto frame = Frame::create({4, 4});
    const Encoded e = encode_ok(*encoder, *frame, frame->rect());
    EXPECT_EQ(e.type, SPICE_IMAGE_TYPE_GLZ_RGB);
    auto big = noise_frame({200, 200}, 9, 2);
    EXPECT_EQ(encode_ok(*encoder, *big, big->rect()).type, SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB);
}

// A session's bandwidth figure can change while its display lives: the wrap changes, the
// client's one dictionary goes on (ids continue, references reach across the switch).
TEST(GlzTest, ZlibWrapSwitchesWithoutANewDictionary) {
    auto corpus = make_screen_corpus();
    const Frame& frame = *corpus[0].frame;
    auto encoder = make_glz_encoder({1 << 22, false});
    auto window = make_glz_decoder_window(1 << 22);
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(set_glz_zlib(*encoder, i % 2 == 1));
        EXPECT_EQ(encoder->codec(), i % 2 == 1 ? ImageCodec::kZlibGlz : ImageCodec::kGlz);
        round_trip(*encoder, *window, frame, frame.rect());
    }
    EXPECT_EQ(glz_encoder_state(*encoder)->next_id, 4u);
    auto lz = make_lz_encoder();
    EXPECT_FALSE(set_glz_zlib(*lz, true));
}

TEST(GlzTest, WireHeader) {
    auto encoder = make_glz_encoder({1 << 16, false});
    auto frame = noise_frame({5, 3}, 1);
    encode_ok(*encoder, *frame, frame->rect());
    const Encoded e = encode_ok(*encoder, *frame, frame->rect());
    ASSERT_GE(e.body.size(), 4 + glz::kHeaderBytes);
    EXPECT_EQ(load_u32_le(e.body.data()), e.body.size() - 4);
    const uint8_t expected[] = {
        0x20, 0x20, 0x5a, 0x4c,                           // magic
        0,    1,    0,    1,                              // version 1.1
        0x18,                                             // RGB32, top-down
        0,    0,    0,    5,    0, 0, 0, 3, 0, 0, 0, 20,  // width, height, stride
        0,    0,    0,    0,    0, 0, 0, 1,               // id 1
        0,    0,    0,    1,                              // image 0 stays held
    };
    EXPECT_TRUE(std::equal(std::begin(expected), std::end(expected), e.body.begin() + 4));
}

TEST(GlzTest, MalformedInputIsAnError) {
    auto encoder = make_glz_encoder({1 << 20, false});
    auto a = noise_frame({64, 40}, 11, 5);
    const Encoded first = encode_ok(*encoder, *a, a->rect());
    const Encoded second = encode_ok(*encoder, *a, a->rect());  // references image 0
    const Size size = a->size();

    // A window that never saw image 0: the reference is unknown.
    auto fresh = make_glz_decoder_window(1 << 20);
    EXPECT_FALSE(decode_glz_body(*fresh, second.type, size, second.body).has_value());
    // Every truncation of a valid body, and a wrong size.
    for (size_t cut = 0; cut < first.body.size(); ++cut) {
        auto w = make_glz_decoder_window(1 << 20);
        std::span<const uint8_t> part(first.body.data(), cut);
        EXPECT_FALSE(decode_glz_body(*w, first.type, size, part).has_value()) << cut;
    }
    EXPECT_FALSE(decode_glz_body(*fresh, first.type, {64, 41}, first.body).has_value());
    EXPECT_FALSE(decode_glz_body(*fresh, SPICE_IMAGE_TYPE_LZ_RGB, size, first.body).has_value());
    // A window too small for the image.
    auto tiny = make_glz_decoder_window(100);
    EXPECT_FALSE(decode_glz_body(*tiny, first.type, size, first.body).has_value());
    // The same id twice.
    auto twice = make_glz_decoder_window(1 << 20);
    EXPECT_TRUE(decode_glz_body(*twice, first.type, size, first.body).has_value());
    EXPECT_FALSE(decode_glz_body(*twice, first.type, size, first.body).has_value());
    // A huge size claim with a tiny stream.
    std::vector<uint8_t> huge = first.body;
    const uint8_t dims[] = {0, 0, 0x40, 0, 0, 0, 0x40, 0};  // 16384 x 16384
    std::memcpy(huge.data() + 4 + 9, dims, sizeof dims);
    EXPECT_FALSE(decode_glz_body(*fresh, first.type, {16384, 16384}, huge).has_value());
    // Random corruption: errors or (rarely) other pixels, never a crash.
    std::mt19937 rng(1);
    for (int i = 0; i < 3000; ++i) {
        auto w = make_glz_decoder_window(1 << 20);
        ASSERT_TRUE(decode_glz_body(*w, first.type, size, first.body).has_value());
        std::vector<uint8_t> bad = second.body;
        for (int k = 0; k < 1 + i % 4; ++k)
            bad[4 + rng() % (bad.size() - 4)] ^= uint8_t(1 + rng() % 255);
        (void)decode_glz_body(*w, second.type, size, bad);
    }
    // ZLIB_GLZ with a lying GLZ size or a broken zlib stream.
    auto zencoder = make_glz_encoder({1 << 20, true});
    auto b = noise_frame({200, 100}, 12, 2);
    const Encoded z = encode_ok(*zencoder, *b, b->rect());
    ASSERT_EQ(z.type, SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB);
    {
        auto w = make_glz_decoder_window(1 << 20);
        EXPECT_TRUE(decode_glz_body(*w, z.type, b->size(), z.body).has_value());
    }
    for (uint32_t glz_size :
         {0u, 1u, load_u32_le(z.body.data()) - 1, load_u32_le(z.body.data()) + 1, 0xffffffffu}) {
        auto w = make_glz_decoder_window(1 << 20);
        std::vector<uint8_t> bad = z.body;
        std::memcpy(bad.data(), &glz_size, 4);
        EXPECT_FALSE(decode_glz_body(*w, z.type, b->size(), bad).has_value()) << glz_size;
    }
    {
        auto w = make_glz_decoder_window(1 << 20);
        std::vector<uint8_t> bad = z.body;
        bad[12] ^= 0x55;
        EXPECT_FALSE(decode_glz_body(*w, z.type, b->size(), bad).has_value());
    }
}

}  // namespace
}  // namespace spiced
