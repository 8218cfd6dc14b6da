#include "pixels/damage.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace spiced {
namespace {

struct Detector {
    std::string name;
    std::unique_ptr<DamageDetector> detector;
};

// The reference plus every fast variant this CPU can run, so each SIMD path is exercised.
std::vector<Detector> all_detectors() {
    std::vector<Detector> out;
    out.push_back({"reference", make_reference_damage_detector()});
    const std::pair<const char*, DamageIsa> isas[] = {{"fast-best", DamageIsa::kBest},
                                                      {"fast-portable", DamageIsa::kPortable},
                                                      {"fast-sse2", DamageIsa::kSse2},
                                                      {"fast-avx2", DamageIsa::kAvx2}};
    for (const auto& [name, isa] : isas) {
        if (auto d = make_fast_damage_detector(isa)) out.push_back({name, std::move(d)});
    }
    return out;
}

std::unique_ptr<Frame> random_frame(Size size, std::mt19937& rng) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = uint32_t(rng());
    return frame;
}

std::unique_ptr<Frame> clone(const Frame& src) {
    auto out = Frame::create(src.size());
    for (int32_t y = 0; y < src.height(); ++y)
        std::copy(src.row(y), src.row(y) + src.width(), out->row(y));
    return out;
}

// Brute force: every tile holding a pixel whose RGB differs.
Region expected_damage(const Frame& a, const Frame& b) {
    Region out;
    for (int32_t y = 0; y < a.height(); ++y)
        for (int32_t x = 0; x < a.width(); ++x)
            if (a.pixel(x, y) != b.pixel(x, y)) {
                const int32_t tx = x / kDamageTileSize * kDamageTileSize;
                const int32_t ty = y / kDamageTileSize * kDamageTileSize;
                out.add_rect(
                    Rect::MakeXYWH(tx, ty, kDamageTileSize, kDamageTileSize).intersect(a.rect()));
            }
    return out;
}

const Size kSizes[] = {{1, 1},   {2, 1},   {1, 2},   {15, 15}, {16, 16}, {17, 17},  {17, 1},
                       {1, 17},  {31, 33}, {32, 32}, {33, 31}, {64, 48}, {100, 37}, {129, 130},
                       {257, 3}, {3, 257}, {0, 0},   {0, 5},   {5, 0}};

TEST(DamageTest, AllDetectorsAgreeOnRandomChanges) {
    std::mt19937 rng(42);
    auto detectors = all_detectors();
    ASSERT_GE(detectors.size(), 3u);  // reference, best, portable at least
    for (const Size size : kSizes) {
        for (int round = 0; round < 20; ++round) {
            SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height) +
                         " round " + std::to_string(round));
            auto previous = random_frame(size, rng);
            auto current = clone(*previous);
            const int64_t pixels = size.area();
            // From no change to a few pixels to about half of them.
            const int64_t changes = pixels == 0 ? 0 : int64_t(rng() % (round * pixels / 40 + 2));
            for (int64_t i = 0; i < changes; ++i) {
                const int32_t x = int32_t(rng() % uint32_t(size.width));
                const int32_t y = int32_t(rng() % uint32_t(size.height));
                // Flip one random bit, X byte included, so X-only changes are mixed in.
                current->row(y)[x] ^= 1u << (rng() % 32);
            }
            const Region expected = expected_damage(*previous, *current);
            for (auto& d : detectors) {
                EXPECT_EQ(d.detector->detect(*previous, *current), expected) << d.name;
            }
        }
    }
}

// With a hint, every detector reports exactly the changed tiles the hint touches (the oracle:
// the unhinted damage, kept where a tile meets the hint), whatever the frame's stride.
TEST(DamageTest, AllDetectorsAgreeInsideRandomHints) {
    std::mt19937 rng(7);
    auto detectors = all_detectors();
    for (const Size size : kSizes) {
        if (size.is_empty()) continue;
        for (int round = 0; round < 20; ++round) {
            SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height) +
                         " round " + std::to_string(round));
            auto previous = random_frame(size, rng);
            // The new picture in a padded frame: rows are read through the stride.
            auto current = Frame::create_padded(size, size.width * 4 + 4 * int32_t(rng() % 9));
            current->copy_from(*previous, previous->rect(), {0, 0});
            for (int i = 0; i < 1 + round * 3; ++i) {
                const int32_t x = int32_t(rng() % uint32_t(size.width));
                const int32_t y = int32_t(rng() % uint32_t(size.height));
                current->row(y)[x] ^= 0x10101u;
            }
            Region hint;
            for (int i = 0; i < int(rng() % 4); ++i) {
                hint.add_rect(Rect::MakeXYWH(int32_t(rng() % uint32_t(size.width + 20)) - 10,
                                             int32_t(rng() % uint32_t(size.height + 20)) - 10,
                                             int32_t(rng() % 70), int32_t(rng() % 70)));
            }
            Region expected;
            for (const Rect& tile : expected_damage(*previous, *current).rects()) {
                for (int32_t ty = tile.top(); ty < tile.bottom(); ty += kDamageTileSize) {
                    for (int32_t tx = tile.left(); tx < tile.right(); tx += kDamageTileSize) {
                        const Rect one = Rect::MakeXYWH(tx, ty, kDamageTileSize, kDamageTileSize)
                                             .intersect(tile);
                        if (hint.intersects(one)) expected.add_rect(one);
                    }
                }
            }
            std::vector<const uint32_t*> rows;
            for (int32_t y = 0; y < size.height; ++y) rows.push_back(previous->row(y));
            for (auto& d : detectors) {
                EXPECT_EQ(d.detector->detect_rows_in(rows, *current, hint), expected) << d.name;
            }
        }
    }
}

TEST(DamageTest, EverySinglePixelHitsExactlyItsTile) {
    std::mt19937 rng(3);
    auto detectors = all_detectors();
    const Size size{49, 35};  // three full tiles plus a 1-pixel tail column, partial last row
    auto previous = random_frame(size, rng);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            auto current = clone(*previous);
            current->row(y)[x] ^= 0x00010000u;  // red LSB
            const Rect tile =
                Rect::MakeXYWH(x / 16 * 16, y / 16 * 16, 16, 16).intersect(Rect::MakeSize(size));
            for (auto& d : detectors) {
                ASSERT_EQ(d.detector->detect(*previous, *current), Region(tile))
                    << d.name << " at " << x << "," << y;
            }
        }
    }
}

TEST(DamageTest, IdenticalFramesHaveNoDamage) {
    std::mt19937 rng(5);
    auto previous = random_frame({1920, 1080}, rng);
    auto current = clone(*previous);
    for (auto& d : all_detectors()) EXPECT_TRUE(d.detector->detect(*previous, *current).is_empty());
}

TEST(DamageTest, XByteIsIgnored) {
    std::mt19937 rng(9);
    const Size size{67, 41};
    auto previous = random_frame(size, rng);
    auto current = clone(*previous);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x) current->row(y)[x] ^= 0xff000000u;
    for (auto& d : all_detectors()) {
        EXPECT_TRUE(d.detector->detect(*previous, *current).is_empty()) << d.name;
    }
    // A blue-channel change next to X-only changes is still found.
    current->row(40)[66] ^= 0x00000001u;
    for (auto& d : all_detectors()) {
        EXPECT_EQ(d.detector->detect(*previous, *current), Region(Rect::MakeLTRB(64, 32, 67, 41)))
            << d.name;
    }
}

TEST(DamageTest, EverythingChangedIsWholeFrame) {
    std::mt19937 rng(11);
    for (const Size size : {Size{1920, 1080}, Size{17, 17}, Size{1, 1}}) {
        auto previous = random_frame(size, rng);
        auto current = clone(*previous);
        for (int32_t y = 0; y < size.height; ++y)
            for (int32_t x = 0; x < size.width; ++x) current->row(y)[x] ^= 0x00808080u;
        for (auto& d : all_detectors()) {
            const Region damage = d.detector->detect(*previous, *current);
            EXPECT_EQ(damage, Region(Rect::MakeSize(size))) << d.name;
            EXPECT_EQ(damage.rect_count(), 1u) << d.name;
        }
    }
}

TEST(DamageTest, SizeChangeIsFullDamage) {
    std::mt19937 rng(13);
    auto previous = random_frame({64, 64}, rng);
    const Size sizes[] = {{64, 65}, {65, 64}, {32, 32}, {1, 1}, {0, 0}};
    for (const Size size : sizes) {
        auto current = random_frame(size, rng);
        for (auto& d : all_detectors()) {
            EXPECT_EQ(d.detector->detect(*previous, *current), Region(Rect::MakeSize(size)))
                << d.name << " " << size.width << "x" << size.height;
        }
    }
}

TEST(DamageTest, DetectorIsReusableAcrossSizes) {
    std::mt19937 rng(17);
    auto fast = make_fast_damage_detector();
    ASSERT_NE(fast, nullptr);
    for (const Size size : {Size{100, 20}, Size{17, 40}, Size{300, 16}, Size{1, 1}}) {
        auto previous = random_frame(size, rng);
        auto current = clone(*previous);
        current->row(size.height - 1)[size.width - 1] ^= 0x00ffffffu;
        EXPECT_EQ(fast->detect(*previous, *current), expected_damage(*previous, *current));
    }
}

}  // namespace
}  // namespace spiced
