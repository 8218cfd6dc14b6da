// The LZ and GLZ encoders' output bytes, pinned. This file is built twice: against the encoder
// library (the SIMD paths this CPU runs: SSE2, and AVX2 where the CPU has it) and, as
// codec_streams_portable_test, with those encoders compiled with SPICED_PORTABLE_CODECS
// (portable C++ only). Both must produce the same hashes, so the SIMD paths write exactly the
// bytes the portable ones do. A deliberate change to an encoder's output, or to the test
// images, updates the hashes: SPICED_PRINT_STREAM_HASHES=1 prints the new ones.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "encode/codecs.h"
#include "encode/lz.h"
#include "tests/unit/screen_images.h"

namespace spiced {
namespace {

// FNV-1a over every stream of a case, and their total size.
struct StreamDigest {
    uint64_t hash = 0xcbf29ce484222325ull;
    size_t bytes = 0;
    void add(std::span<const uint8_t> stream) {
        for (uint8_t b : stream) hash = (hash ^ b) * 0x100000001b3ull;
        bytes += stream.size();
    }
};

void expect_digest(const char* name, const StreamDigest& got, uint64_t hash, size_t bytes) {
    if (std::getenv("SPICED_PRINT_STREAM_HASHES") != nullptr)
        std::printf("%s: 0x%016llxull, %zu\n", name, static_cast<unsigned long long>(got.hash),
                    got.bytes);
    EXPECT_EQ(got.hash, hash) << name;
    EXPECT_EQ(got.bytes, bytes) << name;
}

// Integer-only content (no libm: its results may differ in the last bit between CPUs, and the
// hashes must hold on any machine): the generators' text, UI, gradient, noise and CAD kinds at
// screen-like and awkward sizes.
std::vector<std::unique_ptr<Frame>> pinned_images() {
    using namespace test_images;
    std::vector<std::unique_ptr<Frame>> images;
    images.push_back(text_image({792, 416}, 1));
    images.push_back(ui_image({720, 400}, 2));
    images.push_back(cad_image({862, 570}, 3));
    images.push_back(gradient_image({480, 270}, 4));
    images.push_back(noise_image({64, 48}, 5));
    for (Size size : {Size{1, 1}, Size{17, 13}, Size{257, 129}, Size{1023, 3}}) {
        images.push_back(text_image(size, 6));
        images.push_back(ui_image(size, 7));
        images.push_back(cad_image(size, 8));
        images.push_back(gradient_image(size, 9));
        images.push_back(noise_image(size, 10));
    }
    return images;
}

TEST(CodecStreams, LzBytesArePinned) {
    LzCompressor lz;
    std::vector<uint32_t> palette;
    StreamDigest digest;
    for (const auto& frame : pinned_images()) {
        for (auto type : {std::optional<LzImageType>{}, std::optional{LzImageType::kRgb32},
                          std::optional{LzImageType::kRgb16}, std::optional{LzImageType::kRgba}}) {
            ByteWriter out;
            if (type) {
                ASSERT_TRUE(lz.encode(*frame, frame->rect(), *type, out).has_value());
            } else {
                ASSERT_TRUE(lz.encode_auto(*frame, frame->rect(), out, palette).has_value());
            }
            digest.add(out.buffer());
        }
    }
    expect_digest("lz", digest, 0xbe54821564db6dc1ull, 1779544);
}

// One client's window through the images and then 300 frames of an animation (text scrolling
// by three rows a frame, a panel sliding), sent as bands: a 2^18-pixel window wraps many times,
// so references into earlier images and evictions both count.
TEST(CodecStreams, GlzBytesArePinned) {
    constexpr int64_t kWindow = int64_t{1} << 18;
    auto encoder = make_glz_encoder({kWindow, false});
    ASSERT_NE(encoder, nullptr);
    StreamDigest digest;
    auto encode = [&](const Frame& f, const Rect& area) {
        if (area.size().area() > kWindow) return;
        ByteWriter out;
        ASSERT_TRUE(encoder->encode(f, area, out, 0).has_value());
        digest.add(out.buffer());
    };
    for (const auto& frame : pinned_images()) {
        encode(*frame,
               Rect::MakeXYWH(0, 0, std::min(frame->width(), 400), std::min(frame->height(), 400)));
    }
    const Size size{320, 240};
    auto text = test_images::text_image({size.width, 2 * size.height}, 11);
    auto panel = test_images::ui_image({96, 64}, 12);
    auto frame = Frame::create(size);
    for (int i = 0; i < 300; ++i) {
        const int32_t scroll = (3 * i) % size.height;
        frame->copy_from(*text, Rect::MakeXYWH(0, scroll, size.width, size.height), {0, 0});
        frame->copy_from(*panel, panel->rect(), {(5 * i) % (size.width - 96), 40});
        for (int32_t top = 0; top < size.height; top += 60)
            encode(*frame, Rect::MakeXYWH(0, top, size.width, 60));
    }
    expect_digest("glz", digest, 0x1c0180c8aa2e60b2ull, 1303977);
}

// Sources hand the encoders frames that wrap memory they do not own, with any stride (guest
// memory, a head inside a wider surface): every codec must write the same bytes from a padded
// frame as from a tight one.
TEST(CodecStreams, EveryCodecReadsRowsThroughTheStride) {
    for (ImageCodec codec : {ImageCodec::kBitmap, ImageCodec::kLz4, ImageCodec::kQuic,
                             ImageCodec::kLz, ImageCodec::kGlz, ImageCodec::kJpeg}) {
        for (const auto& tight : pinned_images()) {
            auto padded = Frame::create_padded(tight->size(), tight->width() * 4 + 12);
            padded->copy_from(*tight, tight->rect(), {0, 0});
            auto tight_encoder = make_image_encoder(codec);
            auto padded_encoder = make_image_encoder(codec);
            if (!tight_encoder) continue;  // not in this build
            // A part away from the frame's edges too, so offsets into rows are exercised.
            for (const Rect& area :
                 {tight->rect(), Rect::MakeLTRB(1, 1, tight->width() - 1, tight->height() - 1)}) {
                if (area.is_empty()) continue;
                ByteWriter a, b;
                auto from_tight = tight_encoder->encode(*tight, area, a, 0);
                auto from_padded = padded_encoder->encode(*padded, area, b, 0);
                ASSERT_EQ(from_tight.has_value(), from_padded.has_value()) << to_string(codec);
                EXPECT_EQ(a.buffer(), b.buffer())
                    << to_string(codec) << " " << tight->width() << "x" << tight->height();
            }
        }
    }
}

}  // namespace
}  // namespace spiced
