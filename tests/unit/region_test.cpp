#include "pixels/region.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cctype>
#include <random>
#include <string>
#include <vector>

namespace spiced {
namespace {

std::string describe(const Rect& r) {
    return "LTRB(" + std::to_string(r.left()) + "," + std::to_string(r.top()) + "," +
           std::to_string(r.right()) + "," + std::to_string(r.bottom()) + ")";
}

std::string describe(const std::vector<Rect>& rects) {
    std::string out;
    for (const Rect& r : rects) out += describe(r) + " ";
    return out;
}

// Checks the invariants region.h promises, using only the public rects() view: rects come in
// bands (same top and bottom), bands are sorted and disjoint, spans in a band are sorted and
// non-touching, and touching bands never carry identical spans.
void expect_canonical(const Region& region) {
    const std::vector<Rect> rects = region.rects();
    ASSERT_EQ(rects.size(), region.rect_count());
    ASSERT_EQ(region.is_empty(), rects.empty());
    struct Band {
        int32_t top, bottom;
        std::vector<std::pair<int32_t, int32_t>> spans;
    };
    std::vector<Band> bands;
    for (const Rect& r : rects) {
        ASSERT_FALSE(r.is_empty()) << describe(r);
        if (bands.empty() || bands.back().top != r.top()) {
            if (!bands.empty()) {
                ASSERT_GE(r.top(), bands.back().bottom) << describe(rects);
            }
            bands.push_back({r.top(), r.bottom(), {}});
        }
        Band& band = bands.back();
        ASSERT_EQ(band.bottom, r.bottom()) << describe(rects);
        if (!band.spans.empty()) {
            ASSERT_GT(r.left(), band.spans.back().second) << describe(rects);
        }
        band.spans.emplace_back(r.left(), r.right());
    }
    for (size_t i = 1; i < bands.size(); ++i) {
        if (bands[i - 1].bottom == bands[i].top) {
            EXPECT_NE(bands[i - 1].spans, bands[i].spans) << "unmerged bands: " << describe(rects);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Table-driven cases.

enum class OpKind { kAdd, kIntersect, kSubtract, kTranslate };

struct Step {
    OpKind kind;
    Rect rect;  // for kTranslate: left() = dx, top() = dy
};

struct Case {
    const char* name;
    std::vector<Step> steps;
    std::vector<Rect> expected;  // in banded order
};

Step add(int l, int t, int r, int b) {
    return {OpKind::kAdd, Rect::MakeLTRB(l, t, r, b)};
}
Step isect(int l, int t, int r, int b) {
    return {OpKind::kIntersect, Rect::MakeLTRB(l, t, r, b)};
}
Step sub(int l, int t, int r, int b) {
    return {OpKind::kSubtract, Rect::MakeLTRB(l, t, r, b)};
}
Step move(int dx, int dy) {
    return {OpKind::kTranslate, Rect::MakeXYWH(dx, dy, 0, 0)};
}
Rect ltrb(int l, int t, int r, int b) {
    return Rect::MakeLTRB(l, t, r, b);
}

void apply(Region& region, const Step& step) {
    switch (step.kind) {
        case OpKind::kAdd:
            region.add_rect(step.rect);
            break;
        case OpKind::kIntersect:
            region.intersect_with(step.rect);
            break;
        case OpKind::kSubtract:
            region.subtract(step.rect);
            break;
        case OpKind::kTranslate:
            region.translate(step.rect.left(), step.rect.top());
            break;
    }
}

const std::vector<Case>& cases() {
    static const std::vector<Case> kCases = {
        {"empty", {}, {}},
        {"empty rect ignored", {add(5, 5, 5, 10), add(3, 3, 1, 1)}, {}},
        {"single", {add(1, 2, 3, 4)}, {ltrb(1, 2, 3, 4)}},
        {"same rect twice", {add(1, 2, 3, 4), add(1, 2, 3, 4)}, {ltrb(1, 2, 3, 4)}},
        {"horizontal touch merges", {add(0, 0, 2, 2), add(2, 0, 4, 2)}, {ltrb(0, 0, 4, 2)}},
        {"vertical touch merges", {add(0, 0, 2, 2), add(0, 2, 2, 4)}, {ltrb(0, 0, 2, 4)}},
        {"vertical touch merges bottom up", {add(0, 2, 2, 4), add(0, 0, 2, 2)}, {ltrb(0, 0, 2, 4)}},
        {"gap keeps bands apart",
         {add(0, 0, 2, 2), add(0, 3, 2, 5)},
         {ltrb(0, 0, 2, 2), ltrb(0, 3, 2, 5)}},
        {"horizontal gap keeps spans",
         {add(0, 0, 2, 2), add(3, 0, 5, 2)},
         {ltrb(0, 0, 2, 2), ltrb(3, 0, 5, 2)}},
        {"overlap splits bands",
         {add(0, 0, 4, 4), add(2, 2, 6, 6)},
         {ltrb(0, 0, 4, 2), ltrb(0, 2, 6, 4), ltrb(2, 4, 6, 6)}},
        {"contained rect is absorbed", {add(0, 0, 10, 10), add(2, 2, 4, 4)}, {ltrb(0, 0, 10, 10)}},
        {"container absorbs", {add(2, 2, 4, 4), add(0, 0, 10, 10)}, {ltrb(0, 0, 10, 10)}},
        {"filling a hole restores one rect",
         {add(0, 0, 3, 1), add(0, 1, 1, 2), add(2, 1, 3, 2), add(0, 2, 3, 3), add(1, 1, 2, 2)},
         {ltrb(0, 0, 3, 3)}},
        {"raster tiles merge",
         {add(0, 0, 16, 16), add(16, 0, 32, 16), add(0, 16, 16, 32), add(16, 16, 32, 32)},
         {ltrb(0, 0, 32, 32)}},
        {"raster tiles after merge",
         {add(0, 0, 16, 16), add(0, 16, 16, 32), add(16, 16, 32, 32)},
         {ltrb(0, 0, 16, 16), ltrb(0, 16, 32, 32)}},
        {"cross",
         {add(4, 0, 6, 10), add(0, 4, 10, 6)},
         {ltrb(4, 0, 6, 4), ltrb(0, 4, 10, 6), ltrb(4, 6, 6, 10)}},
        {"negative coordinates", {add(-5, -5, -1, -1), add(-1, -5, 3, -1)}, {ltrb(-5, -5, 3, -1)}},
        {"intersect", {add(0, 0, 10, 10), isect(5, 5, 15, 15)}, {ltrb(5, 5, 10, 10)}},
        {"intersect disjoint", {add(0, 0, 10, 10), isect(10, 0, 20, 10)}, {}},
        {"intersect empty rect", {add(0, 0, 10, 10), isect(3, 3, 3, 3)}, {}},
        {"intersect splits spans",
         {add(0, 0, 2, 4), add(4, 0, 6, 4), isect(1, 1, 5, 3)},
         {ltrb(1, 1, 2, 3), ltrb(4, 1, 5, 3)}},
        {"subtract hole",
         {add(0, 0, 3, 3), sub(1, 1, 2, 2)},
         {ltrb(0, 0, 3, 1), ltrb(0, 1, 1, 2), ltrb(2, 1, 3, 2), ltrb(0, 2, 3, 3)}},
        {"subtract all", {add(0, 0, 3, 3), sub(-1, -1, 4, 4)}, {}},
        {"subtract disjoint", {add(0, 0, 3, 3), sub(3, 0, 6, 3)}, {ltrb(0, 0, 3, 3)}},
        {"subtract strip re-merges",
         {add(0, 0, 4, 1), add(0, 1, 2, 2), add(0, 2, 4, 3), sub(2, 0, 4, 3)},
         {ltrb(0, 0, 2, 3)}},
        {"subtract from empty", {sub(0, 0, 4, 4)}, {}},
        {"translate",
         {add(0, 0, 2, 2), add(4, 4, 6, 6), move(-3, 7)},
         {ltrb(-3, 7, -1, 9), ltrb(1, 11, 3, 13)}},
    };
    return kCases;
}

class RegionTableTest : public testing::TestWithParam<size_t> {};

TEST_P(RegionTableTest, ProducesExpectedRects) {
    const Case& c = cases()[GetParam()];
    SCOPED_TRACE(c.name);
    Region region;
    for (const Step& step : c.steps) apply(region, step);
    EXPECT_EQ(region.rects(), c.expected) << "got " << describe(region.rects());
    expect_canonical(region);

    // The same set built rect by rect in reverse order must compare equal.
    Region rebuilt;
    for (auto it = c.expected.rbegin(); it != c.expected.rend(); ++it) rebuilt.add_rect(*it);
    EXPECT_EQ(rebuilt, region);
}

// gtest test names allow only [A-Za-z0-9_].
std::string case_name(const testing::TestParamInfo<size_t>& param) {
    std::string name = cases()[param.param].name;
    for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, RegionTableTest, testing::Range(size_t{0}, cases().size()),
                         case_name);

TEST(RegionTest, QueriesOnSimpleRegion) {
    Region region;
    EXPECT_TRUE(region.is_empty());
    EXPECT_EQ(region.bounds(), Rect());
    EXPECT_EQ(region.area(), 0);
    EXPECT_FALSE(region.contains({0, 0}));
    EXPECT_FALSE(region.intersects(Rect::MakeXYWH(0, 0, 100, 100)));

    region.add_rect(Rect::MakeLTRB(0, 0, 2, 2));
    region.add_rect(Rect::MakeLTRB(5, 1, 8, 6));
    EXPECT_EQ(region.bounds(), Rect::MakeLTRB(0, 0, 8, 6));
    EXPECT_EQ(region.area(), 4 + 15);
    EXPECT_TRUE(region.contains({1, 1}));
    EXPECT_TRUE(region.contains({7, 5}));
    EXPECT_FALSE(region.contains({2, 1}));
    EXPECT_FALSE(region.contains({8, 5}));
    EXPECT_FALSE(region.contains({5, 6}));
    EXPECT_TRUE(region.intersects(Rect::MakeLTRB(1, 1, 6, 2)));
    EXPECT_FALSE(region.intersects(Rect::MakeLTRB(2, 0, 5, 6)));
    EXPECT_FALSE(region.intersects(Rect::MakeLTRB(0, 2, 5, 6)));
    EXPECT_FALSE(region.intersects(Rect::MakeLTRB(1, 1, 1, 2)));  // empty rect

    Region copy = region;
    EXPECT_EQ(copy, region);
    copy.clear();
    EXPECT_TRUE(copy.is_empty());
    EXPECT_NE(copy, region);
    EXPECT_EQ(Region(Rect::MakeXYWH(3, 4, 5, 6)).rects(),
              std::vector<Rect>{Rect::MakeXYWH(3, 4, 5, 6)});
}

TEST(RegionTest, RegionOperands) {
    Region a(Rect::MakeLTRB(0, 0, 4, 4));
    Region b(Rect::MakeLTRB(2, 2, 6, 6));

    Region u = a;
    u.add_region(b);
    EXPECT_EQ(u.area(), 16 + 16 - 4);
    Region i = a;
    i.intersect_with(b);
    EXPECT_EQ(i, Region(Rect::MakeLTRB(2, 2, 4, 4)));
    Region s = a;
    s.subtract(b);
    EXPECT_EQ(s.area(), 12);
    EXPECT_FALSE(s.intersects(Rect::MakeLTRB(2, 2, 4, 4)));

    Region empty;
    Region e = a;
    e.add_region(empty);
    EXPECT_EQ(e, a);
    e.subtract(empty);
    EXPECT_EQ(e, a);
    e.intersect_with(empty);
    EXPECT_TRUE(e.is_empty());
    empty.add_region(a);
    EXPECT_EQ(empty, a);
}

// ---------------------------------------------------------------------------------------------
// Randomized against a bitmap model.

// The model covers [kMin, kMax) in both axes; shapes start inside [0, 64) and translations are
// chosen so the region never leaves the model.
constexpr int kMin = -64;
constexpr int kMax = 128;
constexpr int kSpan = kMax - kMin;
using Bitmap = std::bitset<size_t(kSpan) * kSpan>;

size_t bit(int x, int y) {
    return size_t(y - kMin) * kSpan + size_t(x - kMin);
}

void model_fill(Bitmap& bits, const Rect& r, bool value) {
    const Rect c = r.intersect(Rect::MakeLTRB(kMin, kMin, kMax, kMax));
    for (int y = c.top(); y < c.bottom(); ++y)
        for (int x = c.left(); x < c.right(); ++x) bits[bit(x, y)] = value;
}

Bitmap model_of(const Region& region) {
    Bitmap bits;
    for (const Rect& r : region.rects()) model_fill(bits, r, true);
    return bits;
}

Bitmap model_rect(const Rect& r) {
    Bitmap bits;
    model_fill(bits, r, true);
    return bits;
}

Bitmap model_translate(const Bitmap& in, int dx, int dy) {
    Bitmap out;
    for (int y = kMin; y < kMax; ++y)
        for (int x = kMin; x < kMax; ++x)
            if (in[bit(x, y)]) out[bit(x + dx, y + dy)] = true;
    return out;
}

// The region's true bounds from the model, or an empty rect.
Rect model_bounds(const Bitmap& bits) {
    Rect bounds;
    for (int y = kMin; y < kMax; ++y)
        for (int x = kMin; x < kMax; ++x)
            if (bits[bit(x, y)]) bounds = bounds.united(Rect::MakeXYWH(x, y, 1, 1));
    return bounds;
}

// Builds the model's pixel set from 1-pixel-high runs added in a shuffled order: a very
// different construction history that must still give an equal (canonical) Region.
Region region_from_runs(const Bitmap& bits, std::mt19937& rng) {
    std::vector<Rect> runs;
    for (int y = kMin; y < kMax; ++y) {
        for (int x = kMin; x < kMax;) {
            if (!bits[bit(x, y)]) {
                ++x;
                continue;
            }
            int end = x;
            while (end < kMax && bits[bit(end, y)]) ++end;
            runs.push_back(Rect::MakeLTRB(x, y, end, y + 1));
            x = end;
        }
    }
    std::shuffle(runs.begin(), runs.end(), rng);
    Region out;
    for (const Rect& r : runs) out.add_rect(r);
    return out;
}

void expect_matches_model(const Region& region, const Bitmap& model, std::mt19937& rng) {
    expect_canonical(region);
    const std::vector<Rect> rects = region.rects();
    for (size_t i = 0; i < rects.size(); ++i) {
        ASSERT_TRUE(Rect::MakeLTRB(kMin, kMin, kMax, kMax).contains(rects[i]));
        for (size_t j = i + 1; j < rects.size(); ++j) {
            ASSERT_FALSE(rects[i].intersects(rects[j]))
                << describe(rects[i]) << " overlaps " << describe(rects[j]);
        }
    }
    ASSERT_EQ(model_of(region), model);
    for (int y = kMin; y < kMax; ++y)
        for (int x = kMin; x < kMax; ++x)
            ASSERT_EQ(region.contains({x, y}), bool(model[bit(x, y)])) << x << "," << y;
    EXPECT_EQ(region.area(), int64_t(model.count()));
    EXPECT_EQ(region.bounds(), model_bounds(model));
    EXPECT_EQ(region.is_empty(), model.none());
    EXPECT_EQ(region, region_from_runs(model, rng));

    for (int k = 0; k < 8; ++k) {
        std::uniform_int_distribution<int> pos(kMin, kMax - 1);
        const int x = pos(rng);
        const int y = pos(rng);
        const Rect probe = Rect::MakeLTRB(x, y, std::min(kMax, x + pos(rng) % 12 + 1),
                                          std::min(kMax, y + pos(rng) % 12 + 1));
        EXPECT_EQ(region.intersects(probe), (model & model_rect(probe)).any()) << describe(probe);
    }
}

Rect random_rect(std::mt19937& rng) {
    std::uniform_int_distribution<int> coord(0, 64);
    int l = coord(rng), r = coord(rng), t = coord(rng), b = coord(rng);
    // Mostly small rects, like damage; sometimes an empty one.
    if (rng() % 4 != 0) {
        r = l + int(rng() % 12);
        b = t + int(rng() % 12);
    }
    return Rect::MakeLTRB(std::min(l, r), std::min(t, b), std::max(l, r), std::max(t, b));
}

Region random_region(std::mt19937& rng, Bitmap& model) {
    Region region;
    model.reset();
    const int count = int(rng() % 8);
    for (int i = 0; i < count; ++i) {
        const Rect r = random_rect(rng);
        region.add_rect(r);
        model_fill(model, r, true);
    }
    return region;
}

TEST(RegionRandomTest, MatchesBitmapModel) {
    std::mt19937 rng(20240601);
    for (int round = 0; round < 300; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        Region region;
        Bitmap model;
        for (int step = 0; step < 25; ++step) {
            const Rect r = random_rect(rng);
            const int choice = int(rng() % 10);
            if (choice < 4) {
                region.add_rect(r);
                model_fill(model, r, true);
            } else if (choice == 4) {
                region.intersect_with(r);
                model &= model_rect(r);
            } else if (choice < 7) {
                region.subtract(r);
                model_fill(model, r, false);
            } else if (choice == 7) {
                Bitmap other_model;
                const Region other = random_region(rng, other_model);
                switch (rng() % 3) {
                    case 0:
                        region.add_region(other);
                        model |= other_model;
                        break;
                    case 1:
                        region.intersect_with(other);
                        model &= other_model;
                        break;
                    default:
                        region.subtract(other);
                        model &= ~other_model;
                        break;
                }
            } else {
                // Keep the shape inside the model area.
                const Rect b = region.bounds();
                int dx = int(rng() % 17) - 8;
                int dy = int(rng() % 17) - 8;
                if (!b.is_empty()) {
                    dx = std::clamp(dx, kMin - b.left(), kMax - b.right());
                    dy = std::clamp(dy, kMin - b.top(), kMax - b.bottom());
                }
                region.translate(dx, dy);
                model = model_translate(model, dx, dy);
            }
            ASSERT_NO_FATAL_FAILURE(expect_matches_model(region, model, rng)) << "step " << step;
        }
    }
}

TEST(RegionRandomTest, RasterOrderTilesMatchShuffledOrder) {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
        std::vector<Rect> tiles;
        const int density = int(rng() % 100);
        for (int ty = 0; ty < 4; ++ty)
            for (int tx = 0; tx < 4; ++tx)
                if (int(rng() % 100) < density)
                    tiles.push_back(Rect::MakeXYWH(tx * 16, ty * 16, 16, 16));
        Region raster;
        Bitmap model;
        for (const Rect& t : tiles) {
            raster.add_rect(t);
            model_fill(model, t, true);
        }
        std::shuffle(tiles.begin(), tiles.end(), rng);
        Region shuffled;
        for (const Rect& t : tiles) shuffled.add_rect(t);
        EXPECT_EQ(raster, shuffled);
        ASSERT_NO_FATAL_FAILURE(expect_matches_model(raster, model, rng));
    }
}

}  // namespace
}  // namespace spiced

namespace spiced {
namespace {

TEST(CoalesceRects, CoversTheRegionWithBoundedOverhead) {
    std::mt19937 rng(77);
    for (int trial = 0; trial < 200; ++trial) {
        Region region;
        for (int i = 0; i < 40; ++i) {
            // Tile-like damage: 16x16 cells on a 64x64 grid of tiles.
            const int32_t x = int32_t(rng() % 64) * 16, y = int32_t(rng() % 64) * 16;
            region.add_rect(Rect::MakeXYWH(x, y, 16 * int32_t(1 + rng() % 3), 16));
        }
        const auto rects = coalesce_rects(region, 0.25);
        Region covered;
        int64_t total = 0;
        for (const Rect& r : rects) {
            covered.add_rect(r);
            total += r.area();
        }
        Region missing = region;
        missing.subtract(covered);
        EXPECT_TRUE(missing.is_empty()) << "trial " << trial;
        EXPECT_LE(rects.size(), region.rect_count());
        // Each merge adds at most 25 % over its parts, and parts never exceed the region's
        // area plus earlier overheads; a generous global bound catches runaway growth.
        EXPECT_LE(total, region.area() * 4) << "trial " << trial;
    }
}

TEST(CoalesceRects, NeighbouringTilesBecomeOneRect) {
    Region region;
    for (int32_t x = 0; x < 8; ++x) region.add_rect(Rect::MakeXYWH(x * 16, 0, 16, 16));
    for (int32_t x = 0; x < 8; ++x) region.add_rect(Rect::MakeXYWH(x * 16 + 16, 16, 16, 16));
    const auto rects = coalesce_rects(region, 0.25);
    ASSERT_EQ(rects.size(), 1u);
    EXPECT_EQ(rects[0], Rect::MakeXYWH(0, 0, 144, 32));
    EXPECT_TRUE(coalesce_rects(Region(), 0.25).empty());
}

}  // namespace
}  // namespace spiced
