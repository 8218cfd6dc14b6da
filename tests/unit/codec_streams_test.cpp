// The LZ and GLZ encoders' output bytes, pinned. This file is built twice: against the encoder
// library (the SIMD paths this CPU runs: SSE2, and AVX2 where the CPU has it) and, as
// codec_streams_portable_test, with those encoders compiled with SPICED_PORTABLE_CODECS
// (portable C++ only). Both must produce the same hashes, so the SIMD paths write exactly the
// bytes the portable ones do. A deliberate change to an encoder's output, or to the demo's
// pictures that feed it, updates the hashes: SPICED_PRINT_STREAM_HASHES=1 prints the new ones.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/screen_corpus.h"
#include "demo/demo_desktop.h"
#include "encode/codecs.h"
#include "encode/lz.h"
#include "gpu/damage.h"
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

std::vector<std::unique_ptr<Frame>> generated_images() {
    std::vector<std::unique_ptr<Frame>> images;
    for (Size size : {Size{1, 1}, Size{17, 13}, Size{257, 129}, Size{1023, 3}}) {
        uint32_t seed = 1;
        for (const auto& [kind, generate] : test_images::kGenerators)
            images.push_back(generate(size, seed++));
    }
    return images;
}

TEST(CodecStreams, LzBytesArePinned) {
    LzCompressor lz;
    std::vector<uint32_t> palette;
    StreamDigest corpus_digest, generated_digest;
    auto encode = [&](StreamDigest& digest, const Frame& f, std::optional<LzImageType> type) {
        ByteWriter out;
        if (type) {
            ASSERT_TRUE(lz.encode(f, f.rect(), *type, out).has_value());
        } else {
            ASSERT_TRUE(lz.encode_auto(f, f.rect(), out, palette).has_value());
        }
        digest.add(out.buffer());
    };
    for (const auto& image : make_screen_corpus()) {
        for (auto type : {std::optional<LzImageType>{}, std::optional{LzImageType::kRgb32},
                          std::optional{LzImageType::kRgb16}})
            encode(corpus_digest, *image.frame, type);
    }
    for (const auto& frame : generated_images()) {
        for (auto type : {std::optional<LzImageType>{}, std::optional{LzImageType::kRgba}})
            encode(generated_digest, *frame, type);
    }
    expect_digest("lz corpus", corpus_digest, 0xdf42ae8d49d258efull, 2377208);
    expect_digest("lz generated", generated_digest, 0xa391446ba6009541ull, 698087);
}

// One client's window through the corpus, generated images and 400 frames of demo damage: a
// 2^20-pixel window wraps many times, so references into earlier images and evictions count.
TEST(CodecStreams, GlzBytesArePinned) {
    constexpr int64_t kWindow = int64_t{1} << 20;
    auto encoder = make_glz_encoder({kWindow, false});
    StreamDigest digest;
    auto encode = [&](const Frame& f, const Rect& area) {
        if (area.size().area() > kWindow) return;
        ByteWriter out;
        ASSERT_TRUE(encoder->encode(f, area, out, 0).has_value());
        digest.add(out.buffer());
    };
    for (const auto& image : make_screen_corpus()) {
        const Frame& f = *image.frame;
        encode(f, Rect::MakeXYWH(0, 0, std::min(f.width(), 1000), std::min(f.height(), 1000)));
    }
    for (const auto& frame : generated_images()) encode(*frame, frame->rect());
    DemoDesktop desktop({{640, 480}, 1});
    auto previous = Frame::create(desktop.size());
    auto current = Frame::create(desktop.size());
    auto detector = make_fast_damage_detector();
    std::vector<MoveHint> moves;
    for (int i = 0; i < 400; ++i) {
        moves.clear();
        desktop.render(i, *current, moves);
        const Region damage =
            i == 0 ? Region(current->rect()) : detector->detect(*previous, *current);
        for (const Rect& rect : damage.rects()) encode(*current, rect);
        std::swap(previous, current);
    }
    expect_digest("glz", digest, 0x2807c034b863fa41ull, 27071534);
}

}  // namespace
}  // namespace spiced
