// PixmanRenderer: each drawable drawn on small surfaces and read back pixel by pixel. Expected
// values follow spice-common's software canvas (the reference the renderer mirrors).
#include <gtest/gtest.h>

#include <spice/enums.h>

#include <cstring>
#include <list>
#include <vector>

#include "base/bytes.h"
#include "encode/lz.h"
#include "encode/quic.h"
#include "qxl/pixman_renderer.h"

namespace spiced::qxl {
namespace {

constexpr uint32_t kXrgb = SPICE_SURFACE_FMT_32_xRGB;
constexpr uint32_t kOpOver = 3;  // PIXMAN_OP_OVER: SPICE_COMPOSITE_* carries pixman's operators

class RendererTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(r_.create_surface(0, kXrgb, {16, 16}, {}, 0)); }

    GuestBytes keep(std::vector<uint8_t> bytes) {
        store_.push_back(std::move(bytes));
        return store_.back();
    }

    std::unique_ptr<Frame> read(uint32_t id = 0) {
        auto f = Frame::create(r_.surface_size(id));
        EXPECT_TRUE(r_.read(id, f->rect(), *f));
        return f;
    }
    uint32_t px(int32_t x, int32_t y, uint32_t id = 0) { return read(id)->pixel(x, y); }

    // A bitmap image from raw rows (already in the wire layout), split into chunks of at
    // most `chunk` bytes.
    std::shared_ptr<Image> bitmap(uint8_t format, uint32_t w, uint32_t h, uint32_t stride,
                                  std::vector<uint8_t> rows, bool top_down = true,
                                  std::vector<uint32_t> palette = {}, size_t chunk = 0) {
        auto image = std::make_shared<Image>();
        image->type = SPICE_IMAGE_TYPE_BITMAP;
        image->width = w;
        image->height = h;
        Bitmap bm;
        bm.format = format;
        bm.top_down = top_down;
        bm.stride = stride;
        GuestBytes all = keep(std::move(rows));
        if (chunk == 0) chunk = all.size();
        for (size_t at = 0; at < all.size(); at += chunk) {
            bm.data.chunks.push_back(all.subspan(at, std::min(chunk, all.size() - at)));
        }
        bm.data.size = all.size();
        if (!palette.empty()) {
            auto p = std::make_shared<Palette>();
            p->entries = std::move(palette);
            bm.palette = p;
        }
        image->content = std::move(bm);
        return image;
    }

    std::shared_ptr<Image> bitmap32(uint32_t w, uint32_t h, const std::vector<uint32_t>& pixels,
                                    uint8_t format = SPICE_BITMAP_FMT_32BIT) {
        std::vector<uint8_t> bytes(pixels.size() * 4);
        std::memcpy(bytes.data(), pixels.data(), bytes.size());
        return bitmap(format, w, h, w * 4, std::move(bytes));
    }

    static Drawable drawable(Rect bbox, DrawOp op, uint32_t surface = 0) {
        Drawable d;
        d.surface_id = surface;
        d.bbox = bbox;
        d.op = std::move(op);
        return d;
    }

    static Brush solid(uint32_t color) {
        Brush b;
        b.kind = Brush::Kind::kSolid;
        b.color = color;
        return b;
    }

    void fill(Rect rect, uint32_t color, uint16_t rop = SPICE_ROPD_OP_PUT, uint32_t id = 0) {
        Fill f;
        f.brush = solid(color);
        f.rop_descriptor = rop;
        auto damage = r_.draw(drawable(rect, f, id));
        ASSERT_TRUE(damage) << damage.error();
    }

    PixmanRenderer r_;
    std::list<std::vector<uint8_t>> store_;
};

TEST_F(RendererTest, FillSolidReturnsExactDamage) {
    Fill f;
    f.brush = solid(0x123456);
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    auto damage = r_.draw(drawable(Rect::MakeLTRB(2, 3, 6, 5), f));
    ASSERT_TRUE(damage) << damage.error();
    EXPECT_EQ(*damage, Region(Rect::MakeLTRB(2, 3, 6, 5)));
    EXPECT_EQ(px(2, 3), 0x123456u);
    EXPECT_EQ(px(5, 4), 0x123456u);
    EXPECT_EQ(px(6, 4), 0u);
    EXPECT_EQ(px(2, 5), 0u);
}

TEST_F(RendererTest, FillBboxIsClippedToTheSurface) {
    Fill f;
    f.brush = solid(0xffffff);
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    auto damage = r_.draw(drawable(Rect::MakeLTRB(10, 10, 40, 40), f));
    ASSERT_TRUE(damage) << damage.error();
    EXPECT_EQ(*damage, Region(Rect::MakeLTRB(10, 10, 16, 16)));
    EXPECT_EQ(px(15, 15), 0xffffffu);
}

TEST_F(RendererTest, FillRopDescriptors) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x0f0f0f);
    fill(Rect::MakeLTRB(0, 0, 1, 1), 0xff0000, SPICE_ROPD_OP_OR);
    fill(Rect::MakeLTRB(1, 0, 2, 1), 0x00ffff, SPICE_ROPD_OP_AND);
    fill(Rect::MakeLTRB(2, 0, 3, 1), 0xffffff, SPICE_ROPD_OP_XOR);
    fill(Rect::MakeLTRB(3, 0, 4, 1), 0x00ff00, SPICE_ROPD_OP_PUT | SPICE_ROPD_INVERS_BRUSH);
    fill(Rect::MakeLTRB(4, 0, 5, 1), 0x000000, SPICE_ROPD_OP_OR | SPICE_ROPD_INVERS_RES);
    fill(Rect::MakeLTRB(5, 0, 6, 1), 0x00ff00, SPICE_ROPD_OP_AND | SPICE_ROPD_INVERS_DEST);
    // INVERS_SRC names the source, which a fill does not read: plain PUT.
    fill(Rect::MakeLTRB(6, 0, 7, 1), 0x00ff00, SPICE_ROPD_OP_PUT | SPICE_ROPD_INVERS_SRC);
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0xff0f0fu);
    EXPECT_EQ(f->pixel(1, 0), 0x000f0fu);
    EXPECT_EQ(f->pixel(2, 0), 0xf0f0f0u);
    EXPECT_EQ(f->pixel(3, 0), 0xff00ffu);
    EXPECT_EQ(f->pixel(4, 0), 0xf0f0f0u);  // ~(0 | d)
    EXPECT_EQ(f->pixel(5, 0), 0x00f000u);  // s & ~d
    EXPECT_EQ(f->pixel(6, 0), 0x00ff00u);
}

TEST_F(RendererTest, FillPatternTilesFromItsPosition) {
    Fill f;
    f.brush.kind = Brush::Kind::kPattern;
    f.brush.pattern = bitmap32(2, 2, {0x111111, 0x222222, 0x333333, 0x444444});
    f.brush.pattern_pos = {1, 0};
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeLTRB(0, 0, 4, 2), f)));
    auto fr = read();
    EXPECT_EQ(fr->pixel(1, 0), 0x111111u);
    EXPECT_EQ(fr->pixel(0, 0), 0x222222u);
    EXPECT_EQ(fr->pixel(2, 1), 0x444444u);
    EXPECT_EQ(fr->pixel(3, 1), 0x333333u);
}

TEST_F(RendererTest, ClipRectsLimitDrawingAndDamage) {
    Fill f;
    f.brush = solid(0xabcdef);
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    Drawable d = drawable(Rect::MakeLTRB(0, 0, 10, 10), f);
    d.clip.has_rects = true;
    d.clip.rects = {Rect::MakeLTRB(0, 0, 2, 2), Rect::MakeLTRB(8, 8, 12, 12)};
    auto damage = r_.draw(d);
    ASSERT_TRUE(damage) << damage.error();
    Region expected(Rect::MakeLTRB(0, 0, 2, 2));
    expected.add_rect(Rect::MakeLTRB(8, 8, 10, 10));
    EXPECT_EQ(*damage, expected);
    auto fr = read();
    EXPECT_EQ(fr->pixel(1, 1), 0xabcdefu);
    EXPECT_EQ(fr->pixel(2, 2), 0u);
    EXPECT_EQ(fr->pixel(9, 9), 0xabcdefu);
    EXPECT_EQ(fr->pixel(10, 10), 0u);
}

TEST_F(RendererTest, CopyBitmapTopDownAndBottomUp) {
    Copy c;
    c.src = bitmap32(2, 2, {0x010101, 0x020202, 0x030303, 0x040404});
    c.src_area = Rect::MakeXYWH(0, 0, 2, 2);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(4, 4, 2, 2), c)));
    EXPECT_EQ(px(4, 4), 0x010101u);
    EXPECT_EQ(px(5, 5), 0x040404u);

    std::vector<uint8_t> rows(16);
    const uint32_t bottom_up[] = {0x030303, 0x040404, 0x010101, 0x020202};
    std::memcpy(rows.data(), bottom_up, 16);
    c.src = bitmap(SPICE_BITMAP_FMT_32BIT, 2, 2, 8, rows, /*top_down=*/false);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(8, 8, 2, 2), c)));
    EXPECT_EQ(px(8, 8), 0x010101u);
    EXPECT_EQ(px(9, 9), 0x040404u);
}

TEST_F(RendererTest, CopySrcAreaOffsetAndInvertedSource) {
    Copy c;
    c.src = bitmap32(3, 1, {0x0000ff, 0x00ff00, 0xff0000});
    c.src_area = Rect::MakeXYWH(1, 0, 2, 1);
    c.rop_descriptor = SPICE_ROPD_OP_PUT | SPICE_ROPD_INVERS_SRC;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 2, 1), c)));
    EXPECT_EQ(px(0, 0), 0xff00ffu);
    EXPECT_EQ(px(1, 0), 0x00ffffu);
}

TEST_F(RendererTest, CopyScalesNearest) {
    Copy c;
    c.src = bitmap32(2, 2, {0x111111, 0x222222, 0x333333, 0x444444});
    c.src_area = Rect::MakeXYWH(0, 0, 2, 2);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    c.scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 4), c)));
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0x111111u);
    EXPECT_EQ(f->pixel(1, 1), 0x111111u);
    EXPECT_EQ(f->pixel(2, 0), 0x222222u);
    EXPECT_EQ(f->pixel(3, 3), 0x444444u);
    EXPECT_EQ(f->pixel(0, 3), 0x333333u);
}

TEST_F(RendererTest, BitmapFormats) {
    auto copy_at = [&](std::shared_ptr<Image> image, int32_t y) {
        Copy c;
        c.src = std::move(image);
        c.src_area = Rect::MakeXYWH(0, 0, 4, 1);
        c.rop_descriptor = SPICE_ROPD_OP_PUT;
        auto res = r_.draw(drawable(Rect::MakeXYWH(0, y, 4, 1), c));
        ASSERT_TRUE(res) << res.error();
    };
    const std::vector<uint32_t> pal = {0x000000, 0xff0000, 0x00ff00, 0x0000ff};
    copy_at(bitmap(SPICE_BITMAP_FMT_1BIT_BE, 4, 1, 1, {0b10100000}, true, pal), 0);
    copy_at(bitmap(SPICE_BITMAP_FMT_1BIT_LE, 4, 1, 1, {0b00000101}, true, pal), 1);
    copy_at(bitmap(SPICE_BITMAP_FMT_4BIT_BE, 4, 1, 2, {0x12, 0x30}, true, pal), 2);
    copy_at(bitmap(SPICE_BITMAP_FMT_4BIT_LE, 4, 1, 2, {0x21, 0x03}, true, pal), 3);
    copy_at(bitmap(SPICE_BITMAP_FMT_8BIT, 4, 1, 4, {1, 2, 3, 0}, true, pal), 4);
    // 16-bit x1r5g5b5: red, green, blue, white
    copy_at(
        bitmap(SPICE_BITMAP_FMT_16BIT, 4, 1, 8, {0x00, 0x7c, 0xe0, 0x03, 0x1f, 0x00, 0xff, 0x7f}),
        5);
    // 24-bit B, G, R
    copy_at(bitmap(SPICE_BITMAP_FMT_24BIT, 4, 1, 12, {0, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0, 1, 2, 3}),
            6);
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0xff0000u);
    EXPECT_EQ(f->pixel(1, 0), 0x000000u);
    EXPECT_EQ(f->pixel(2, 0), 0xff0000u);
    EXPECT_EQ(f->pixel(0, 1), 0xff0000u);
    EXPECT_EQ(f->pixel(1, 1), 0x000000u);
    EXPECT_EQ(f->pixel(2, 1), 0xff0000u);
    for (int y : {2, 3}) {
        EXPECT_EQ(f->pixel(0, y), 0xff0000u) << y;
        EXPECT_EQ(f->pixel(1, y), 0x00ff00u) << y;
        EXPECT_EQ(f->pixel(2, y), 0x0000ffu) << y;
        EXPECT_EQ(f->pixel(3, y), 0x000000u) << y;
    }
    EXPECT_EQ(f->pixel(0, 4), 0xff0000u);
    EXPECT_EQ(f->pixel(3, 4), 0x000000u);
    EXPECT_EQ(f->pixel(0, 5), 0xff0000u);
    EXPECT_EQ(f->pixel(1, 5), 0x00ff00u);
    EXPECT_EQ(f->pixel(2, 5), 0x0000ffu);
    EXPECT_EQ(f->pixel(3, 5), 0xffffffu);
    EXPECT_EQ(f->pixel(0, 6), 0xff0000u);
    EXPECT_EQ(f->pixel(1, 6), 0x00ff00u);
    EXPECT_EQ(f->pixel(2, 6), 0x0000ffu);
    EXPECT_EQ(f->pixel(3, 6), 0x030201u);
}

TEST_F(RendererTest, BitmapRowsMaySpanChunks) {
    std::vector<uint32_t> pixels(3 * 3);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint32_t(0x010101 * (i + 1));
    std::vector<uint8_t> bytes(pixels.size() * 4);
    std::memcpy(bytes.data(), pixels.data(), bytes.size());
    Copy c;
    c.src = bitmap(SPICE_BITMAP_FMT_32BIT, 3, 3, 12, bytes, true, {}, /*chunk=*/5);
    c.src_area = Rect::MakeXYWH(0, 0, 3, 3);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 3, 3), c)));
    auto f = read();
    for (int32_t y = 0; y < 3; ++y) {
        for (int32_t x = 0; x < 3; ++x) EXPECT_EQ(f->pixel(x, y), pixels[size_t(y * 3 + x)]);
    }
}

TEST_F(RendererTest, CopyFromAnotherSurfaceAndFromItself) {
    ASSERT_TRUE(r_.create_surface(1, kXrgb, {4, 4}, {}, 0));
    fill(Rect::MakeLTRB(0, 0, 4, 4), 0x445566, SPICE_ROPD_OP_PUT, 1);
    auto src = std::make_shared<Image>();
    src->type = SPICE_IMAGE_TYPE_SURFACE;
    src->width = 4;
    src->height = 4;
    src->content = SurfaceImage{1};
    Copy c;
    c.src = src;
    c.src_area = Rect::MakeXYWH(0, 0, 4, 4);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(2, 2, 4, 4), c)));
    EXPECT_EQ(px(2, 2), 0x445566u);
    EXPECT_EQ(px(5, 5), 0x445566u);

    // From surface 0 onto itself, overlapping: reads the pixels from before the draw.
    fill(Rect::MakeLTRB(0, 0, 1, 1), 0x0000ff);
    src->content = SurfaceImage{0};
    c.src_area = Rect::MakeXYWH(0, 0, 3, 1);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(1, 0, 3, 1), c)));
    EXPECT_EQ(px(1, 0), 0x0000ffu);
    EXPECT_EQ(px(2, 0), 0x000000u);
}

// Scrolls by copy_bits in all four directions and compares with a memmove reference.
TEST_F(RendererTest, CopyBitsOverlapping) {
    for (int32_t y = 0; y < 16; ++y) {
        for (int32_t x = 0; x < 16; ++x) fill(Rect::MakeXYWH(x, y, 1, 1), uint32_t(y * 16 + x));
    }
    struct Move {
        Rect bbox;
        Point src;
    };
    for (const Move& m :
         {Move{Rect::MakeLTRB(0, 1, 16, 16), {0, 0}}, Move{Rect::MakeLTRB(0, 0, 16, 15), {0, 1}},
          Move{Rect::MakeLTRB(2, 0, 16, 16), {0, 0}}, Move{Rect::MakeLTRB(0, 0, 13, 13), {3, 3}}}) {
        auto before = read();
        Drawable d = drawable(m.bbox, CopyBits{m.src});
        // Two clip rects in one band: the order within a row matters too.
        d.clip.has_rects = true;
        d.clip.rects = {Rect::MakeLTRB(0, 0, 8, 16), Rect::MakeLTRB(9, 0, 16, 16)};
        ASSERT_TRUE(r_.draw(d));
        auto after = read();
        const int32_t dx = m.bbox.left() - m.src.x;
        const int32_t dy = m.bbox.top() - m.src.y;
        for (int32_t y = 0; y < 16; ++y) {
            for (int32_t x = 0; x < 16; ++x) {
                const bool inside = m.bbox.contains(Point{x, y}) && x != 8;
                const uint32_t want = inside ? before->pixel(x - dx, y - dy) : before->pixel(x, y);
                ASSERT_EQ(after->pixel(x, y), want)
                    << x << "," << y << " dx " << dx << " dy " << dy;
            }
        }
    }
}

TEST_F(RendererTest, BlacknessWhitenessInvers) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x336699);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 1, 1), Blackness{})));
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(1, 0, 1, 1), Whiteness{})));
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(2, 0, 1, 1), Invers{})));
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0x000000u);
    EXPECT_EQ(f->pixel(1, 0), 0xffffffu);
    EXPECT_EQ(f->pixel(2, 0), 0xcc9966u);
    EXPECT_EQ(f->pixel(3, 0), 0x336699u);
}

TEST_F(RendererTest, Rop3SpotValues) {
    const uint32_t d0 = 0x00f0f0f0;
    const uint32_t s0 = 0x00cccccc;
    const uint32_t p0 = 0x00aaaaaa;
    struct Case {
        uint8_t rop;
        uint32_t want;
    };
    const Case cases[] = {
        {0x00, 0x000000},
        {0xff, 0xffffff},
        {0xcc, s0},                       // SRCCOPY
        {0xaa, d0},                       // D
        {0xf0, p0},                       // PATCOPY
        {0x88, s0 & d0},                  // SRCAND
        {0x66, s0 ^ d0},                  // SRCINVERT
        {0x5a, (p0 ^ d0) & 0xffffff},     // PATINVERT
        {0xea, ((s0 & p0) | d0)},         // DPSao
        {0xb8, (((d0 ^ p0) & s0) ^ p0)},  // PSDPxax
        {0x33, ~s0 & 0xffffff},           // NOTSRCCOPY
    };
    int32_t x = 0;
    for (const Case& c : cases) {
        fill(Rect::MakeXYWH(x, 0, 1, 1), d0);
        Rop3 op;
        op.src = bitmap32(1, 1, {s0});
        op.src_area = Rect::MakeXYWH(0, 0, 1, 1);
        op.brush = solid(p0);
        op.rop3 = c.rop;
        ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(x, 0, 1, 1), op)));
        EXPECT_EQ(px(x, 0), c.want) << "rop3 " << int(c.rop);
        ++x;
    }
}

TEST_F(RendererTest, TransparentSkipsTheKeyColour) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x777777);
    Transparent t;
    t.src = bitmap32(3, 1, {0xff00ff, 0x123456, 0xff00ff});
    t.src_area = Rect::MakeXYWH(0, 0, 3, 1);
    t.src_color = 0xff00ff;
    t.true_color = 0xff00ff;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 3, 1), t)));
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0x777777u);
    EXPECT_EQ(f->pixel(1, 0), 0x123456u);
    EXPECT_EQ(f->pixel(2, 0), 0x777777u);
}

TEST_F(RendererTest, AlphaBlendWithSourceAlphaAndOverallAlpha) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0xffffff);
    AlphaBlend a;
    // Premultiplied: half-transparent red.
    a.src = bitmap32(1, 1, {0x80800000}, SPICE_BITMAP_FMT_RGBA);
    a.src_area = Rect::MakeXYWH(0, 0, 1, 1);
    a.alpha = 0xff;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 1, 1), a)));
    EXPECT_EQ(px(0, 0), 0xff7f7fu);

    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x000000);
    a.src = bitmap32(1, 1, {0x0000ff});
    a.alpha = 0x80;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(1, 0, 1, 1), a)));
    EXPECT_EQ(read()->row(0)[1], 0x000080u);  // X byte stays 0 without DEST_HAS_ALPHA

    // Scaled 1x1 -> 2x2.
    a.alpha = 0xff;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(4, 4, 2, 2), a)));
    EXPECT_EQ(px(5, 5), 0x0000ffu);
}

TEST_F(RendererTest, CompositeOver) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x0000ff);
    Composite c;
    c.flags = kOpOver;
    c.src = bitmap32(2, 1, {0xffff0000, 0x80008000}, SPICE_BITMAP_FMT_RGBA);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(3, 3, 2, 1), c)));
    auto f = read();
    EXPECT_EQ(f->pixel(3, 3), 0xff0000u);
    EXPECT_EQ(f->pixel(4, 3), 0x00807fu);
    EXPECT_EQ(f->pixel(5, 3), 0x0000ffu);
}

TEST_F(RendererTest, CompositeWithRepeatAndMask) {
    Composite c;
    // OVER, source repeat NORMAL, with an a8 mask.
    c.flags = kOpOver | (1u << 14) | SPICE_COMPOSITE_HAS_MASK;
    c.src = bitmap32(1, 1, {0xff00ff00}, SPICE_BITMAP_FMT_RGBA);
    c.mask = bitmap(SPICE_BITMAP_FMT_8BIT_A, 3, 1, 4, {0xff, 0x00, 0xff, 0x00});
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 3, 1), c)));
    auto f = read();
    EXPECT_EQ(f->pixel(0, 0), 0x00ff00u);
    EXPECT_EQ(f->pixel(1, 0), 0x000000u);
    EXPECT_EQ(f->pixel(2, 0), 0x00ff00u);
}

TEST_F(RendererTest, TextA1WithBackground) {
    Text t;
    t.bpp = 1;
    RasterGlyph g;
    g.render_pos = {2, 2};
    g.glyph_origin = {0, 0};
    g.width = 3;
    g.height = 2;
    // Rows are stored bottom row first; MSB is the leftmost pixel.
    g.data = {0b01000000, 0b10100000};
    t.glyphs.push_back(g);
    t.fore_brush = solid(0xff0000);
    t.back_brush = solid(0x0000ff);
    t.fore_mode = SPICE_ROPD_OP_PUT;
    t.back_mode = SPICE_ROPD_OP_PUT;
    t.back_area = Rect::MakeLTRB(1, 1, 6, 5);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeLTRB(1, 1, 6, 5), t)));
    auto f = read();
    EXPECT_EQ(f->pixel(2, 2), 0xff0000u);
    EXPECT_EQ(f->pixel(3, 2), 0x0000ffu);
    EXPECT_EQ(f->pixel(4, 2), 0xff0000u);
    EXPECT_EQ(f->pixel(2, 3), 0x0000ffu);
    EXPECT_EQ(f->pixel(3, 3), 0xff0000u);
    EXPECT_EQ(f->pixel(1, 1), 0x0000ffu);
    EXPECT_EQ(f->pixel(6, 1), 0x000000u);
    EXPECT_EQ(f->row(2)[2] >> 24, 0u);
}

TEST_F(RendererTest, StrokeLinesAsXDrawsThem) {
    auto stroke = [&](std::vector<FixedPoint> points) {
        Stroke s;
        PathSegment seg;
        seg.flags = (1u << 0) | (1u << 1);  // QXL_PATH_BEGIN | QXL_PATH_END
        seg.points = std::move(points);
        s.path.push_back(seg);
        s.brush = solid(0xffffff);
        s.fore_mode = SPICE_ROPD_OP_PUT;
        auto res = r_.draw(drawable(Rect::MakeLTRB(0, 0, 16, 16), s));
        ASSERT_TRUE(res) << res.error();
    };
    // Horizontal, 28.4 fixed point: the last point is not drawn (CapNotLast).
    stroke({{1 * 16, 5 * 16}, {6 * 16, 5 * 16}});
    auto f = read();
    EXPECT_EQ(f->pixel(0, 5), 0u);
    for (int32_t x = 1; x < 6; ++x) EXPECT_EQ(f->pixel(x, 5), 0xffffffu) << x;
    EXPECT_EQ(f->pixel(6, 5), 0u);
    // A shallow diagonal: X's Bresenham picks (0,8) (1,9) (2,9) (3,10).
    stroke({{0, 8 * 16}, {4 * 16, 10 * 16}});
    f = read();
    EXPECT_EQ(f->pixel(0, 8), 0xffffffu);
    EXPECT_EQ(f->pixel(1, 9), 0xffffffu);
    EXPECT_EQ(f->pixel(2, 9), 0xffffffu);
    EXPECT_EQ(f->pixel(3, 10), 0xffffffu);
    EXPECT_EQ(f->pixel(1, 8), 0u);
    EXPECT_EQ(f->pixel(2, 10), 0u);
    EXPECT_EQ(f->pixel(4, 10), 0u);
}

TEST_F(RendererTest, MaskWithInvert) {
    Fill f;
    f.brush = solid(0x00ff00);
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    // 4x1 mask 1010 (MSB first), placed so mask x 1 lands on bbox.left.
    f.mask.bitmap = bitmap(SPICE_BITMAP_FMT_1BIT_BE, 4, 1, 1, {0b10100000});
    f.mask.pos = {1, 0};
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 1), f)));
    auto fr = read();
    EXPECT_EQ(fr->pixel(0, 0), 0u);         // mask x 1
    EXPECT_EQ(fr->pixel(1, 0), 0x00ff00u);  // mask x 2
    EXPECT_EQ(fr->pixel(2, 0), 0u);         // mask x 3
    EXPECT_EQ(fr->pixel(3, 0), 0u);         // outside the mask
    f.mask.invert = true;
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(0, 1, 4, 1), f)));
    fr = read();
    EXPECT_EQ(fr->pixel(0, 1), 0x00ff00u);
    EXPECT_EQ(fr->pixel(1, 1), 0u);
    EXPECT_EQ(fr->pixel(2, 1), 0x00ff00u);
    EXPECT_EQ(fr->pixel(3, 1), 0u);
}

TEST_F(RendererTest, BadInputsAreRejectedAndChangeNothing) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x010203);
    Fill f;
    f.brush = solid(0xffffff);
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 4), f, /*surface=*/7)));
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeXYWH(20, 20, 4, 4), f)));
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeLTRB(5, 5, 2, 2), f)));

    Copy c;
    // Claims 4x4 but holds three rows.
    c.src = bitmap(SPICE_BITMAP_FMT_32BIT, 4, 4, 16, std::vector<uint8_t>(48));
    c.src_area = Rect::MakeXYWH(0, 0, 4, 4);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    auto res = r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 4), c));
    ASSERT_FALSE(res);
    EXPECT_NE(res.error().find("too small"), std::string::npos) << res.error();

    // Indexed bitmap without a palette; a source surface that does not exist.
    c.src = bitmap(SPICE_BITMAP_FMT_8BIT, 4, 4, 4, std::vector<uint8_t>(16));
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 4), c)));
    auto missing = std::make_shared<Image>();
    missing->type = SPICE_IMAGE_TYPE_SURFACE;
    missing->content = SurfaceImage{9};
    c.src = missing;
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 4), c)));

    auto fr = read();
    for (int32_t y = 0; y < 16; ++y) {
        for (int32_t x = 0; x < 16; ++x) ASSERT_EQ(fr->pixel(x, y), 0x010203u);
    }
}

TEST_F(RendererTest, SurfacesCreateReadWriteBack) {
    // Bottom-up initial content (negative stride): memory starts with the last row.
    std::vector<uint8_t> mem(2 * 8);
    const uint32_t rows[] = {0x000002, 0x000002, 0x000001, 0x000001};  // row 1, then row 0
    std::memcpy(mem.data(), rows, mem.size());
    ASSERT_TRUE(r_.create_surface(2, kXrgb, {2, 2}, mem, -8));
    EXPECT_EQ(px(0, 0, 2), 0x000001u);
    EXPECT_EQ(px(1, 1, 2), 0x000002u);
    EXPECT_FALSE(r_.create_surface(2, kXrgb, {2, 2}, {}, 0));  // id in use
    EXPECT_FALSE(r_.create_surface(3, kXrgb, {2, 2}, std::span(mem).first(8), 8));
    EXPECT_FALSE(r_.create_surface(3, kXrgb, {16385, 1}, {}, 0));
    EXPECT_FALSE(r_.create_surface(3, 12345, {2, 2}, {}, 0));
    EXPECT_FALSE(r_.create_surface(3, kXrgb, {0, 2}, {}, 0));

    fill(Rect::MakeXYWH(1, 0, 1, 1), 0xabcdef, SPICE_ROPD_OP_PUT, 2);
    std::vector<uint8_t> out(16, 0xee);
    ASSERT_TRUE(r_.write_back(2, Rect::MakeXYWH(0, 0, 2, 2), out, -8));
    uint32_t back[4];
    std::memcpy(back, out.data(), 16);
    EXPECT_EQ(back[2] & 0xffffff, 0x000001u);
    EXPECT_EQ(back[3] & 0xffffff, 0xabcdefu);
    EXPECT_EQ(back[0] & 0xffffff, 0x000002u);
    EXPECT_FALSE(r_.write_back(2, Rect::MakeXYWH(0, 0, 2, 2), std::span(out).first(8), 8));

    // 16-bit 565 surface: fills take the surface's own colour format.
    ASSERT_TRUE(r_.create_surface(4, SPICE_SURFACE_FMT_16_565, {2, 1}, {}, 0));
    fill(Rect::MakeXYWH(0, 0, 1, 1), 0xf800, SPICE_ROPD_OP_PUT, 4);
    EXPECT_EQ(px(0, 0, 4), 0xff0000u);
    r_.destroy_surface(4);
    EXPECT_FALSE(r_.has_surface(4));
}

TEST_F(RendererTest, SurfaceByteCap) {
    PixmanRendererOptions o;
    o.max_surface_bytes = 1000;
    PixmanRenderer small(o);
    EXPECT_FALSE(small.create_surface(0, kXrgb, {16, 16}, {}, 0));
    EXPECT_TRUE(small.create_surface(0, kXrgb, {15, 15}, {}, 0));
}

TEST_F(RendererTest, QuicImagesDecodeAndCache) {
    auto frame = Frame::create({4, 2});
    for (int32_t y = 0; y < 2; ++y) {
        for (int32_t x = 0; x < 4; ++x) frame->row(y)[x] = uint32_t(0x102030 * (x + 1) + y);
    }
    ByteWriter out;
    ASSERT_TRUE(quic_encode(*frame, frame->rect(), QuicType::kRgb32, out));
    auto image = std::make_shared<Image>();
    image->type = SPICE_IMAGE_TYPE_QUIC;
    image->width = 4;
    image->height = 2;
    image->id = 42;
    image->cacheable = true;
    CompressedImage ci;
    ci.data.chunks.push_back(keep(out.take()));
    ci.data.size = ci.data.chunks[0].size();
    image->content = ci;
    Copy c;
    c.src = image;
    c.src_area = Rect::MakeXYWH(0, 0, 4, 2);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    auto res = r_.draw(drawable(Rect::MakeXYWH(0, 0, 4, 2), c));
    ASSERT_TRUE(res) << res.error();
    auto f = read();
    for (int32_t y = 0; y < 2; ++y) {
        for (int32_t x = 0; x < 4; ++x) EXPECT_EQ(f->pixel(x, y), frame->pixel(x, y));
    }
    EXPECT_EQ(r_.cached_images(), 1u);
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(4, 4, 4, 2), c)));
    EXPECT_EQ(r_.cached_images(), 1u);
    EXPECT_EQ(px(7, 5), frame->pixel(3, 1));
    r_.reset_image_cache();
    EXPECT_EQ(r_.cached_images(), 0u);
    EXPECT_EQ(r_.cached_bytes(), 0u);
}

TEST_F(RendererTest, LzRgbImagesDecodeWithOrWithoutTheSizePrefix) {
    auto frame = Frame::create({3, 3});
    for (int32_t y = 0; y < 3; ++y) {
        for (int32_t x = 0; x < 3; ++x) frame->row(y)[x] = uint32_t(0x0a0b0c * (x + 3 * y + 1));
    }
    ByteWriter stream;
    ASSERT_TRUE(lz_encode(*frame, frame->rect(), LzImageType::kRgb32, stream));
    // The SPICE wire body: a u32 byte count, then the stream.
    std::vector<uint8_t> prefixed(4 + stream.size());
    const auto count = uint32_t(stream.size());
    std::memcpy(prefixed.data(), &count, 4);
    std::memcpy(prefixed.data() + 4, stream.buffer().data(), stream.size());
    int32_t at = 0;
    for (const std::vector<uint8_t>* body : {&stream.buffer(), &prefixed}) {
        auto image = std::make_shared<Image>();
        image->type = SPICE_IMAGE_TYPE_LZ_RGB;
        image->width = 3;
        image->height = 3;
        CompressedImage ci;
        ci.data.chunks.push_back(keep(*body));
        ci.data.size = body->size();
        image->content = ci;
        Copy c;
        c.src = image;
        c.src_area = Rect::MakeXYWH(0, 0, 3, 3);
        c.rop_descriptor = SPICE_ROPD_OP_PUT;
        auto res = r_.draw(drawable(Rect::MakeXYWH(at, 0, 3, 3), c));
        ASSERT_TRUE(res) << res.error();
        auto f = read();
        for (int32_t y = 0; y < 3; ++y) {
            for (int32_t x = 0; x < 3; ++x) EXPECT_EQ(f->pixel(at + x, y), frame->pixel(x, y));
        }
        at += 4;
    }
    // LZ_PLT carries no palette from QXL: refused with a reason.
    auto plt = std::make_shared<Image>();
    plt->type = SPICE_IMAGE_TYPE_LZ_PLT;
    plt->width = 3;
    plt->height = 3;
    plt->content = CompressedImage{};
    Copy c;
    c.src = plt;
    c.src_area = Rect::MakeXYWH(0, 0, 3, 3);
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    EXPECT_FALSE(r_.draw(drawable(Rect::MakeXYWH(0, 8, 3, 3), c)));
}

TEST_F(RendererTest, Rop3WithPatternBrush) {
    fill(Rect::MakeLTRB(0, 0, 16, 16), 0x0000ff);
    Rop3 op;
    op.src = bitmap32(2, 1, {0x00ff00, 0x00ff00});
    op.src_area = Rect::MakeXYWH(0, 0, 2, 1);
    op.brush.kind = Brush::Kind::kPattern;
    op.brush.pattern = bitmap32(2, 1, {0xff0000, 0x000000});
    op.brush.pattern_pos = {0, 0};
    op.rop3 = 0xfe;  // DPSoo: p | s | d
    ASSERT_TRUE(r_.draw(drawable(Rect::MakeXYWH(4, 0, 2, 1), op)));
    EXPECT_EQ(px(4, 0), 0xffff00u | 0xffu);
    EXPECT_EQ(px(5, 0), 0x00ffffu);
}

TEST_F(RendererTest, StrokeXorRespectsClipAndClosesPaths) {
    Stroke s;
    PathSegment seg;
    seg.flags = (1u << 0) | (1u << 1) | (1u << 3);  // BEGIN | END | CLOSE
    seg.points = {{2 * 16, 2 * 16}, {6 * 16, 2 * 16}, {6 * 16, 6 * 16}, {2 * 16, 6 * 16}};
    s.path.push_back(seg);
    s.brush = solid(0xffffff);
    s.fore_mode = SPICE_ROPD_OP_XOR;
    Drawable d = drawable(Rect::MakeLTRB(0, 0, 16, 16), s);
    d.clip.has_rects = true;
    d.clip.rects = {Rect::MakeLTRB(0, 0, 16, 5)};
    ASSERT_TRUE(r_.draw(d));
    auto f = read();
    for (int32_t x = 2; x < 6; ++x) EXPECT_EQ(f->pixel(x, 2), 0xffffffu) << x;
    EXPECT_EQ(f->pixel(6, 2), 0xffffffu);  // the right edge starts here
    EXPECT_EQ(f->pixel(6, 4), 0xffffffu);
    EXPECT_EQ(f->pixel(6, 5), 0u);         // clipped
    EXPECT_EQ(f->pixel(2, 3), 0xffffffu);  // the closing edge comes back up to (2,3)
    EXPECT_EQ(f->pixel(4, 4), 0u);
}

TEST(RenderFactory, MakesAPixmanRenderer) {
    auto r = make_pixman_renderer();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->create_surface(0, SPICE_SURFACE_FMT_32_ARGB, {8, 8}, {}, 0));
    EXPECT_EQ(r->surface_size(0), (Size{8, 8}));
}

}  // namespace
}  // namespace spiced::qxl
