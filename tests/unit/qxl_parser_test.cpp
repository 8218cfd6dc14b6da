// MemSlots and CommandParser against fake guest memory: a std::vector registered as a memslot,
// with QXL structs written into it the way a driver would.
#include <gtest/gtest.h>
#include <spice-server/spice.h>
#include <spice/enums.h>
#include <spice/qxl_dev.h>

#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "qxl/command_parser.h"
#include "qxl/memslots.h"

namespace spiced::qxl {
namespace {

constexpr uint32_t kGroup = 1;
constexpr uint32_t kSlot = 1;
constexpr uint32_t kGeneration = 2;
constexpr uint64_t kGuestBase = 0x10000;  // guest offset of the vector's first byte

// Guest RAM: a vector, registered as slot kSlot of group kGroup, with a bump allocator.
class Guest {
public:
    explicit Guest(size_t size = 1 << 20) : ram_(size) {}

    QXLDevMemSlot slot() const {
        QXLDevMemSlot s{};
        s.slot_group_id = kGroup;
        s.slot_id = kSlot;
        s.generation = kGeneration;
        s.virt_start = reinterpret_cast<uintptr_t>(ram_.data());
        s.virt_end = s.virt_start + ram_.size();
        s.addr_delta = s.virt_start - kGuestBase;
        return s;
    }
    static uint64_t address(uint64_t offset, uint64_t slot = kSlot,
                            uint64_t generation = kGeneration) {
        return slot << 56 | generation << 48 | (kGuestBase + offset);
    }
    uint64_t alloc(size_t n) {
        const size_t at = used_;
        used_ += (n + 7) & ~size_t{7};
        if (used_ > ram_.size()) throw std::runtime_error("fake guest memory exhausted");
        return address(at);
    }
    uint8_t* host(uint64_t addr) { return ram_.data() + ((addr & 0xffffffffffff) - kGuestBase); }
    template <class T>
    uint64_t put(const T& value) {
        const uint64_t addr = alloc(sizeof(T));
        std::memcpy(host(addr), &value, sizeof(T));
        return addr;
    }
    uint64_t put_bytes(std::span<const uint8_t> bytes) {
        const uint64_t addr = alloc(bytes.size());
        std::memcpy(host(addr), bytes.data(), bytes.size());
        return addr;
    }
    // A chain of QXLDataChunks holding `pieces`; returns the first header's address.
    uint64_t chain(const std::vector<std::vector<uint8_t>>& pieces) {
        uint64_t first = 0, prev = 0;
        for (const auto& piece : pieces) {
            const uint64_t addr = alloc(sizeof(QXLDataChunk) + piece.size());
            QXLDataChunk header{};
            header.data_size = static_cast<uint32_t>(piece.size());
            header.prev_chunk = prev;
            std::memcpy(host(addr), &header, sizeof(header));
            if (!piece.empty())
                std::memcpy(host(addr) + sizeof(header), piece.data(), piece.size());
            if (prev) set_next(prev, addr);
            if (!first) first = addr;
            prev = addr;
        }
        return first;
    }
    void set_next(uint64_t chunk, uint64_t next) {
        QXLDataChunk header;
        std::memcpy(&header, host(chunk), sizeof(header));
        header.next_chunk = next;
        std::memcpy(host(chunk), &header, sizeof(header));
    }
    // A struct whose last member is an inline QXLDataChunk (QXLPath, QXLString, QXLCursor,
    // QXLClipRects), followed by the first piece; later pieces are chained after it.
    template <class T>
    uint64_t put_with_chunks(T value, size_t chunk_offset,
                             const std::vector<std::vector<uint8_t>>& pieces) {
        const std::vector<uint8_t> first = pieces.empty() ? std::vector<uint8_t>() : pieces[0];
        const uint64_t addr = alloc(sizeof(T) + first.size());
        QXLDataChunk header{};
        header.data_size = static_cast<uint32_t>(first.size());
        if (pieces.size() > 1)
            header.next_chunk =
                chain(std::vector<std::vector<uint8_t>>(pieces.begin() + 1, pieces.end()));
        std::memcpy(reinterpret_cast<uint8_t*>(&value) + chunk_offset, &header, sizeof(header));
        std::memcpy(host(addr), &value, sizeof(T));
        if (!first.empty()) std::memcpy(host(addr) + sizeof(T), first.data(), first.size());
        return addr;
    }
    size_t size() const { return ram_.size(); }

private:
    std::vector<uint8_t> ram_;
    size_t used_ = 0;
};

template <class T>
std::vector<uint8_t> bytes_of(const T& value) {
    std::vector<uint8_t> out(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

QXLRect qrect(int32_t left, int32_t top, int32_t right, int32_t bottom) {
    QXLRect r{};
    r.left = left;
    r.top = top;
    r.right = right;
    r.bottom = bottom;
    return r;
}

class QxlParserTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = MemSlots::create(2, 8, 8, 8);
        ASSERT_TRUE(created) << created.error();
        slots_.emplace(std::move(*created));
        ASSERT_TRUE(slots_->add(guest_.slot()));
    }
    QXLCommandExt ext(uint32_t type, uint64_t addr, uint32_t flags = 0) const {
        QXLCommandExt e{};
        e.cmd.type = type;
        e.cmd.data = addr;
        e.group_id = kGroup;
        e.flags = flags;
        return e;
    }
    Expected<Command, std::string> parse(uint32_t type, uint64_t addr, uint32_t flags = 0,
                                         ParserLimits limits = {}) const {
        CommandParser parser(*slots_, limits);
        if (type == QXL_CMD_CURSOR) return parser.parse_cursor(ext(type, addr, flags));
        return parser.parse(ext(type, addr, flags));
    }
    // A drawable command around `d` (whose op fields the test filled in).
    Expected<Command, std::string> draw(QXLDrawable d, ParserLimits limits = {}) {
        d.release_info.id = 0x77;
        if (d.bbox.right == 0) d.bbox = qrect(0, 0, 64, 32);
        return parse(QXL_CMD_DRAW, guest_.put(d), 0, limits);
    }
    static const Drawable& drawable(const Expected<Command, std::string>& cmd) {
        return std::get<Drawable>(cmd->body);
    }
    // A 32-bit bitmap image, direct or in chunks of `rows_per_chunk` rows.
    uint64_t bitmap_image(uint32_t w, uint32_t h, uint8_t format = SPICE_BITMAP_FMT_32BIT,
                          uint32_t stride = 0, uint32_t rows_per_chunk = 0, uint64_t palette = 0) {
        const unsigned bpp =
            format == SPICE_BITMAP_FMT_32BIT || format == SPICE_BITMAP_FMT_RGBA    ? 32
            : format == SPICE_BITMAP_FMT_8BIT || format == SPICE_BITMAP_FMT_8BIT_A ? 8
                                                                                   : 1;
        if (stride == 0) stride = (w * bpp + 7) / 8;
        QXLImage img{};
        img.descriptor.id = 0x1234;
        img.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
        img.descriptor.flags = QXL_IMAGE_CACHE;
        img.descriptor.width = w;
        img.descriptor.height = h;
        img.bitmap.format = format;
        img.bitmap.x = w;
        img.bitmap.y = h;
        img.bitmap.stride = stride;
        img.bitmap.palette = palette;
        std::vector<uint8_t> pixels(size_t{stride} * h);
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i);
        if (rows_per_chunk == 0) {
            img.bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
            img.bitmap.data = guest_.put_bytes(pixels);
        } else {
            std::vector<std::vector<uint8_t>> pieces;
            for (uint32_t y = 0; y < h; y += rows_per_chunk) {
                const uint32_t rows = std::min(rows_per_chunk, h - y);
                pieces.emplace_back(pixels.begin() + y * stride,
                                    pixels.begin() + (y + rows) * stride);
            }
            img.bitmap.data = guest_.chain(pieces);
        }
        return guest_.put(img);
    }
    uint64_t palette(uint16_t count) {
        QXLPalette p{};
        p.unique = 99;
        p.num_ents = count;
        const uint64_t addr = guest_.alloc(sizeof(p) + size_t{count} * 4);
        std::memcpy(guest_.host(addr), &p, sizeof(p));
        for (uint32_t i = 0; i < count; ++i) {
            const uint32_t c = 0x010101 * i;
            std::memcpy(guest_.host(addr) + sizeof(p) + i * 4, &c, 4);
        }
        return addr;
    }

    Guest guest_;
    std::optional<MemSlots> slots_;
};

// ---- MemSlots ----------------------------------------------------------------------------

TEST(MemSlots, RefusesAbsurdDeviceNumbers) {
    EXPECT_FALSE(MemSlots::create(0, 8, 8, 8));
    EXPECT_FALSE(MemSlots::create(2, 0, 8, 8));
    EXPECT_FALSE(MemSlots::create(100000, 8, 8, 8));
    EXPECT_FALSE(MemSlots::create(2, 8, 40, 8));
    EXPECT_FALSE(MemSlots::create(2, 8, 8, 40));
    // Xspice declares 8 slots with 1 id bit: the slots addresses cannot name stay unused.
    EXPECT_TRUE(MemSlots::create(2, 8, 8, 1));
    EXPECT_TRUE(MemSlots::create(1, 1, 0, 0));
    QXLDevInitInfo info{};
    info.num_memslots_groups = 2;
    info.num_memslots = 8;
    info.memslot_gen_bits = 8;
    info.memslot_id_bits = 8;
    EXPECT_TRUE(MemSlots::create(info));
}

TEST_F(QxlParserTest, TranslatesInsideTheSlot) {
    const uint64_t addr = guest_.put(uint64_t{0x1122334455667788});
    auto p = slots_->translate(kGroup, addr, 8);
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(*p, guest_.host(addr));
    auto v = slots_->read<uint64_t>(kGroup, addr);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 0x1122334455667788u);
    EXPECT_TRUE(slots_->translate(kGroup, Guest::address(guest_.size() - 4), 4));
    EXPECT_TRUE(slots_->tail(kGroup, addr));
    EXPECT_EQ(slots_->tail(kGroup, Guest::address(guest_.size() - 4))->size(), 4u);
}

TEST_F(QxlParserTest, RejectsBadAddresses) {
    auto expect_fail = [&](uint32_t group, uint64_t addr, size_t size, const char* words) {
        auto p = slots_->translate(group, addr, size);
        ASSERT_FALSE(p) << "address " << std::hex << addr;
        EXPECT_NE(p.error().find(words), std::string::npos) << p.error();
    };
    expect_fail(kGroup, Guest::address(guest_.size() - 4), 5, "run past the end");
    expect_fail(kGroup, Guest::address(guest_.size()), 1, "outside memslot 1");
    expect_fail(kGroup, Guest::address(0) - 1, 1, "outside memslot 1");  // below the slot
    expect_fail(kGroup, Guest::address(0, kSlot, kGeneration + 1), 1, "generation 3");
    expect_fail(kGroup, Guest::address(0, 200), 1, "only 8");
    expect_fail(kGroup, Guest::address(0, 3), 1, "not registered");
    expect_fail(7, Guest::address(0), 1, "group 7");
    expect_fail(0, Guest::address(0), 1, "not registered");
    expect_fail(kGroup, Guest::address(16), SIZE_MAX - 8, "wrap");

    // A slot whose delta pushes the host address past 2^64.
    QXLDevMemSlot wrap = guest_.slot();
    wrap.slot_id = 2;
    wrap.addr_delta = UINT64_MAX - 0x10;
    ASSERT_TRUE(slots_->add(wrap));
    expect_fail(kGroup, Guest::address(0, 2), 1, "outside memslot 2");

    QXLDevMemSlot bad = guest_.slot();
    bad.generation = 300;  // more than 8 bits
    EXPECT_FALSE(slots_->add(bad));
    bad = guest_.slot();
    bad.virt_end = bad.virt_start;
    EXPECT_FALSE(slots_->add(bad));
    bad = guest_.slot();
    bad.slot_id = 8;
    EXPECT_FALSE(slots_->add(bad));

    ASSERT_TRUE(slots_->remove(kGroup, kSlot));
    expect_fail(kGroup, Guest::address(0), 1, "not registered");
    EXPECT_FALSE(slots_->remove(kGroup, 99));
    ASSERT_TRUE(slots_->add(guest_.slot()));
    slots_->reset();
    expect_fail(kGroup, Guest::address(0), 1, "not registered");
}

// ---- Drawables ---------------------------------------------------------------------------

TEST_F(QxlParserTest, FillWithSolidBrushAndChunkedClip) {
    std::vector<uint8_t> rects;
    for (const QXLRect& r : {qrect(0, 0, 10, 10), qrect(20, 5, 30, 15), qrect(1, 2, 3, 4)}) {
        const auto b = bytes_of(r);
        rects.insert(rects.end(), b.begin(), b.end());
    }
    QXLClipRects clip{};
    clip.num_rects = 3;
    // The first rect inline, the other two in a second chunk.
    const uint64_t clip_addr =
        guest_.put_with_chunks(clip, offsetof(QXLClipRects, chunk),
                               {std::vector<uint8_t>(rects.begin(), rects.begin() + 16),
                                std::vector<uint8_t>(rects.begin() + 16, rects.end())});

    QXLDrawable d{};
    d.surface_id = 3;
    d.effect = QXL_EFFECT_OPAQUE;
    d.type = QXL_DRAW_FILL;
    d.bbox = qrect(1, 2, 40, 30);
    d.mm_time = 1234;
    d.clip.type = SPICE_CLIP_TYPE_RECTS;
    d.clip.data = clip_addr;
    d.surfaces_dest[0] = -1;
    d.surfaces_dest[1] = 5;
    d.surfaces_dest[2] = -1;
    d.surfaces_rects[1] = qrect(0, 0, 8, 8);
    d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.fill.brush.u.color = 0xff8000;
    d.u.fill.rop_descriptor = SPICE_ROPD_OP_PUT;
    const uint64_t addr = guest_.put(d);
    auto cmd = parse(QXL_CMD_DRAW, addr);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(cmd->release.release_info, reinterpret_cast<QXLReleaseInfo*>(guest_.host(addr)));
    EXPECT_EQ(cmd->release.group_id, kGroup);
    const Drawable& dr = drawable(cmd);
    EXPECT_EQ(dr.surface_id, 3u);
    EXPECT_EQ(dr.effect, QXL_EFFECT_OPAQUE);
    EXPECT_EQ(dr.bbox, Rect::MakeLTRB(1, 2, 40, 30));
    EXPECT_EQ(dr.mm_time, 1234u);
    EXPECT_EQ(dr.surfaces_dest[1], 5);
    EXPECT_EQ(dr.surfaces_rects[1], Rect::MakeLTRB(0, 0, 8, 8));
    ASSERT_TRUE(dr.clip.has_rects);
    ASSERT_EQ(dr.clip.rects.size(), 3u);
    EXPECT_EQ(dr.clip.rects[1], Rect::MakeLTRB(20, 5, 30, 15));
    const auto& fill = std::get<Fill>(dr.op);
    EXPECT_EQ(fill.brush.kind, Brush::Kind::kSolid);
    EXPECT_EQ(fill.brush.color, 0xff8000u);
    EXPECT_EQ(fill.rop_descriptor, SPICE_ROPD_OP_PUT);
    EXPECT_FALSE(fill.mask.bitmap);
}

TEST_F(QxlParserTest, RejectsBadClipsAndRects) {
    QXLDrawable d{};
    d.type = QXL_DRAW_NOP;
    d.bbox = qrect(10, 0, 5, 10);  // inverted
    EXPECT_FALSE(draw(d));
    d.bbox = qrect(INT32_MIN, 0, INT32_MAX, 10);
    EXPECT_FALSE(draw(d));

    d.bbox = qrect(0, 0, 10, 10);
    d.clip.type = 7;
    EXPECT_FALSE(draw(d));

    // num_rects disagrees with the chunk bytes.
    QXLClipRects clip{};
    clip.num_rects = 2;
    d.clip.type = SPICE_CLIP_TYPE_RECTS;
    d.clip.data =
        guest_.put_with_chunks(clip, offsetof(QXLClipRects, chunk), {bytes_of(qrect(0, 0, 1, 1))});
    auto cmd = draw(d);
    ASSERT_FALSE(cmd);
    EXPECT_NE(cmd.error().find("2 rects"), std::string::npos) << cmd.error();

    clip.num_rects = 0x20000000;  // 8 GiB of rects
    d.clip.data = guest_.put_with_chunks(clip, offsetof(QXLClipRects, chunk), {});
    EXPECT_FALSE(draw(d));

    clip.num_rects = 1;
    d.clip.data =
        guest_.put_with_chunks(clip, offsetof(QXLClipRects, chunk), {bytes_of(qrect(5, 5, 1, 1))});
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, CopyWithDirectBitmap) {
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.self_bitmap = 1;  // dropped for copies
    d.u.copy.src_bitmap = bitmap_image(16, 8);
    d.u.copy.src_area = qrect(0, 0, 16, 8);
    d.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
    d.u.copy.scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const Drawable& dr = drawable(cmd);
    EXPECT_FALSE(dr.self_bitmap);
    const auto& copy = std::get<Copy>(dr.op);
    ASSERT_TRUE(copy.src);
    EXPECT_EQ(copy.src->id, 0x1234u);
    EXPECT_TRUE(copy.src->cacheable);
    EXPECT_EQ(copy.src->type, SPICE_IMAGE_TYPE_BITMAP);
    EXPECT_EQ(copy.src->width, 16u);
    EXPECT_EQ(copy.src->height, 8u);
    EXPECT_EQ(copy.src_area, Rect::MakeLTRB(0, 0, 16, 8));
    EXPECT_EQ(copy.scale_mode, SPICE_IMAGE_SCALE_MODE_NEAREST);
    const auto& bitmap = std::get<Bitmap>(copy.src->content);
    EXPECT_EQ(bitmap.format, SPICE_BITMAP_FMT_32BIT);
    EXPECT_TRUE(bitmap.top_down);
    EXPECT_EQ(bitmap.stride, 64u);
    ASSERT_EQ(bitmap.data.chunks.size(), 1u);
    EXPECT_EQ(bitmap.data.size, 64u * 8);
    EXPECT_EQ(bitmap.data.chunks[0][5], 5);
    EXPECT_FALSE(bitmap.palette);

    d.type = QXL_DRAW_BLEND;
    cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<Blend>(drawable(cmd).op).src_area, Rect::MakeLTRB(0, 0, 16, 8));

    d.u.copy.src_area = qrect(0, 0, 17, 8);  // past the bitmap
    EXPECT_FALSE(draw(d));
    d.u.copy.src_area = qrect(-1, 0, 4, 4);
    EXPECT_FALSE(draw(d));
    d.u.copy.src_area = qrect(4, 0, 2, 4);  // inverted
    EXPECT_FALSE(draw(d));
    d.u.copy.src_area = qrect(0, 0, 4, 4);
    d.u.copy.src_bitmap = 0;
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, ChunkedIndexedBitmapWithPalette) {
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.u.copy.src_bitmap = bitmap_image(10, 6, SPICE_BITMAP_FMT_8BIT, 12, 2, palette(3));
    d.u.copy.src_area = qrect(0, 0, 10, 6);
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& bitmap = std::get<Bitmap>(std::get<Copy>(drawable(cmd).op).src->content);
    EXPECT_FALSE(bitmap.top_down);
    EXPECT_EQ(bitmap.data.chunks.size(), 3u);
    EXPECT_EQ(bitmap.data.size, 72u);
    ASSERT_TRUE(bitmap.palette);
    EXPECT_EQ(bitmap.palette->unique, 99u);
    ASSERT_EQ(bitmap.palette->entries.size(), 256u);  // padded to every 8-bit index
    EXPECT_EQ(bitmap.palette->entries[2], 0x020202u);
    EXPECT_EQ(bitmap.palette->entries[3], 0u);
}

TEST_F(QxlParserTest, Compat16BppConvertsColours) {
    QXLDrawable d{};
    d.type = QXL_DRAW_FILL;
    d.bbox = qrect(0, 0, 4, 4);
    d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.fill.brush.u.color = 0x7c1f;  // red 31, green 0, blue 31
    auto cmd = parse(QXL_CMD_DRAW, guest_.put(d), QXL_COMMAND_FLAG_COMPAT_16BPP);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<Fill>(drawable(cmd).op).brush.color, 0xff00ffu);
}

TEST_F(QxlParserTest, RejectsBadBitmaps) {
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.u.copy.src_area = qrect(0, 0, 1, 1);
    auto expect_fail = [&](uint64_t image, const char* words) {
        d.u.copy.src_bitmap = image;
        auto cmd = draw(d);
        ASSERT_FALSE(cmd) << words;
        EXPECT_NE(cmd.error().find(words), std::string::npos) << cmd.error();
    };
    expect_fail(bitmap_image(16, 8, SPICE_BITMAP_FMT_32BIT, 60), "stride 60");
    expect_fail(bitmap_image(16, 8, SPICE_BITMAP_FMT_8BIT), "no palette");
    expect_fail(bitmap_image(16, 8, SPICE_BITMAP_FMT_8BIT, 0, 0, palette(300)), "300 entries");
    expect_fail(bitmap_image(16, 8, SPICE_BITMAP_FMT_8BIT, 0, 0, palette(0)), "0 entries");
    // A palette whose entries run off the end of the slot.
    QXLPalette tail_pal{};
    tail_pal.num_ents = 200;
    const uint64_t at_end = Guest::address(guest_.size() - sizeof(QXLPalette) - 8);
    std::memcpy(guest_.host(at_end), &tail_pal, sizeof(tail_pal));
    expect_fail(bitmap_image(16, 8, SPICE_BITMAP_FMT_8BIT, 0, 0, at_end), "palette entries");
    {
        // Chunks that split a row.
        QXLImage img{};
        img.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
        img.bitmap.format = SPICE_BITMAP_FMT_32BIT;
        img.bitmap.x = 4;
        img.bitmap.y = 2;
        img.bitmap.stride = 16;
        img.bitmap.data = guest_.chain({std::vector<uint8_t>(10), std::vector<uint8_t>(22)});
        expect_fail(guest_.put(img), "splits a row");
        // Too little data.
        img.bitmap.data = guest_.chain({std::vector<uint8_t>(16), std::vector<uint8_t>(8)});
        expect_fail(guest_.put(img), "are needed");
        // Direct data past the slot's end.
        img.bitmap.flags = QXL_BITMAP_DIRECT;
        img.bitmap.data = Guest::address(guest_.size() - 20);
        expect_fail(guest_.put(img), "bitmap data");
        // Absurd sizes.
        img.bitmap.x = 100000;
        img.bitmap.stride = 400000;
        expect_fail(guest_.put(img), "larger than");
        img.bitmap.x = 16384;
        img.bitmap.y = 16384;
        img.bitmap.stride = 0xffffffff;
        expect_fail(guest_.put(img), "exceeds the limit");
        img.bitmap.x = 0;
        expect_fail(guest_.put(img), "empty");
        img.bitmap.x = 4;
        img.bitmap.y = 2;
        img.bitmap.stride = 16;
        img.bitmap.format = 42;
        expect_fail(guest_.put(img), "format 42");
        img.descriptor.type = SPICE_IMAGE_TYPE_JPEG;
        expect_fail(guest_.put(img), "not supported");
    }
}

TEST_F(QxlParserTest, OpaqueWithPatternBrushAndMask) {
    QXLDrawable d{};
    d.type = QXL_DRAW_OPAQUE;
    d.u.opaque.src_bitmap = bitmap_image(8, 8);
    d.u.opaque.src_area = qrect(2, 2, 6, 6);
    d.u.opaque.brush.type = SPICE_BRUSH_TYPE_PATTERN;
    d.u.opaque.brush.u.pattern.pat = bitmap_image(4, 4);
    d.u.opaque.brush.u.pattern.pos = {1, 2};
    d.u.opaque.rop_descriptor = SPICE_ROPD_OP_XOR;
    d.u.opaque.mask.flags = SPICE_MASK_FLAGS_INVERS;
    d.u.opaque.mask.pos = {3, 4};
    // A 1-bit mask needs no palette.
    d.u.opaque.mask.bitmap = bitmap_image(8, 8, SPICE_BITMAP_FMT_1BIT_BE);
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& op = std::get<Opaque>(drawable(cmd).op);
    EXPECT_EQ(op.src_area, Rect::MakeLTRB(2, 2, 6, 6));
    EXPECT_EQ(op.brush.kind, Brush::Kind::kPattern);
    ASSERT_TRUE(op.brush.pattern);
    EXPECT_EQ(op.brush.pattern->width, 4u);
    EXPECT_EQ(op.brush.pattern_pos, (Point{1, 2}));
    EXPECT_EQ(op.rop_descriptor, SPICE_ROPD_OP_XOR);
    EXPECT_TRUE(op.mask.invert);
    EXPECT_EQ(op.mask.pos, (Point{3, 4}));
    ASSERT_TRUE(op.mask.bitmap);
    EXPECT_EQ(std::get<Bitmap>(op.mask.bitmap->content).format, SPICE_BITMAP_FMT_1BIT_BE);

    d.u.opaque.brush.type = 9;
    EXPECT_FALSE(draw(d));
    d.u.opaque.brush.type = SPICE_BRUSH_TYPE_PATTERN;
    d.u.opaque.brush.u.pattern.pat = 0;
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, SimpleOps) {
    QXLDrawable d{};
    d.type = QXL_DRAW_NOP;
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_TRUE(std::holds_alternative<Nop>(drawable(cmd).op));

    d.type = QXL_COPY_BITS;
    d.u.copy_bits.src_pos = {7, 9};
    cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<CopyBits>(drawable(cmd).op).src_pos, (Point{7, 9}));

    for (const uint8_t type : {QXL_DRAW_BLACKNESS, QXL_DRAW_WHITENESS, QXL_DRAW_INVERS}) {
        QXLDrawable m{};
        m.type = type;
        m.u.blackness.mask.bitmap = bitmap_image(4, 4, SPICE_BITMAP_FMT_1BIT_LE);
        cmd = draw(m);
        ASSERT_TRUE(cmd) << cmd.error();
        const DrawOp& op = drawable(cmd).op;
        const Mask& mask = type == QXL_DRAW_BLACKNESS   ? std::get<Blackness>(op).mask
                           : type == QXL_DRAW_WHITENESS ? std::get<Whiteness>(op).mask
                                                        : std::get<Invers>(op).mask;
        EXPECT_TRUE(mask.bitmap);
    }

    QXLDrawable r{};
    r.type = QXL_DRAW_ROP3;
    r.u.rop3.src_bitmap = bitmap_image(4, 4);
    r.u.rop3.src_area = qrect(0, 0, 4, 4);
    r.u.rop3.brush.type = SPICE_BRUSH_TYPE_SOLID;
    r.u.rop3.brush.u.color = 5;
    r.u.rop3.rop3 = 0xca;
    cmd = draw(r);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<Rop3>(drawable(cmd).op).rop3, 0xca);

    QXLDrawable t{};
    t.type = QXL_DRAW_TRANSPARENT;
    t.u.transparent.src_bitmap = bitmap_image(4, 4);
    t.u.transparent.src_area = qrect(0, 0, 4, 4);
    t.u.transparent.src_color = 0x00ff00;
    t.u.transparent.true_color = 0x00fe00;
    cmd = draw(t);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<Transparent>(drawable(cmd).op).src_color, 0x00ff00u);
    EXPECT_EQ(std::get<Transparent>(drawable(cmd).op).true_color, 0x00fe00u);

    QXLDrawable a{};
    a.type = QXL_DRAW_ALPHA_BLEND;
    a.u.alpha_blend.alpha_flags = SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA;
    a.u.alpha_blend.alpha = 128;
    a.u.alpha_blend.src_bitmap = bitmap_image(4, 4, SPICE_BITMAP_FMT_RGBA);
    a.u.alpha_blend.src_area = qrect(1, 1, 3, 3);
    cmd = draw(a);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& blend = std::get<AlphaBlend>(drawable(cmd).op);
    EXPECT_EQ(blend.alpha, 128);
    EXPECT_EQ(blend.alpha_flags, SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA);
    EXPECT_EQ(blend.src_area, Rect::MakeLTRB(1, 1, 3, 3));

    d.type = 200;
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, SurfaceAndCompressedImages) {
    QXLImage surf{};
    surf.descriptor.type = SPICE_IMAGE_TYPE_SURFACE;
    surf.surface_image.surface_id = 4;
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.u.copy.src_bitmap = guest_.put(surf);
    d.u.copy.src_area = qrect(0, 0, 100, 100);
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<SurfaceImage>(std::get<Copy>(drawable(cmd).op).src->content).surface_id, 4u);

    // QUIC: data_size, then an inline chunk and one more.
    struct Quic {
        QXLImageDescriptor descriptor;
        uint32_t data_size;
        QXLDataChunk chunk;
    } __attribute__((packed)) quic{};
    quic.descriptor.type = SPICE_IMAGE_TYPE_QUIC;
    quic.descriptor.width = 32;
    quic.descriptor.height = 16;
    quic.data_size = 30;
    d.u.copy.src_bitmap = guest_.put_with_chunks(
        quic, offsetof(Quic, chunk), {std::vector<uint8_t>(10, 1), std::vector<uint8_t>(20, 2)});
    d.u.copy.src_area = qrect(0, 0, 32, 16);
    cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const Image& img = *std::get<Copy>(drawable(cmd).op).src;
    EXPECT_EQ(img.type, SPICE_IMAGE_TYPE_QUIC);
    const auto& body = std::get<CompressedImage>(img.content);
    EXPECT_EQ(body.data.size, 30u);
    ASSERT_EQ(body.data.chunks.size(), 2u);
    EXPECT_EQ(body.data.chunks[1][0], 2);

    quic.data_size = 31;  // says more than the chunks hold
    d.u.copy.src_bitmap =
        guest_.put_with_chunks(quic, offsetof(Quic, chunk), {std::vector<uint8_t>(30, 1)});
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, StrokeWithPathAndStyle) {
    std::vector<uint8_t> path;
    auto append = [&](const auto& value) {
        const auto b = bytes_of(value);
        path.insert(path.end(), b.begin(), b.end());
    };
    QXLPathSeg seg{};
    seg.flags = QXL_PATH_BEGIN;
    seg.count = 2;
    append(seg);
    append(QXLPointFix{16, 32});
    append(QXLPointFix{48, 64});
    seg.flags = QXL_PATH_END | QXL_PATH_CLOSE;
    seg.count = 1;
    append(seg);
    append(QXLPointFix{-16, 0});
    QXLPath qpath{};
    qpath.data_size = static_cast<uint32_t>(path.size());
    // Split in the middle of a point: paths are linearized.
    const uint64_t path_addr =
        guest_.put_with_chunks(qpath, offsetof(QXLPath, chunk),
                               {std::vector<uint8_t>(path.begin(), path.begin() + 13),
                                std::vector<uint8_t>(path.begin() + 13, path.end())});
    const int32_t dashes[] = {16, 32, 48};

    QXLDrawable d{};
    d.type = QXL_DRAW_STROKE;
    d.u.stroke.path = path_addr;
    d.u.stroke.attr.flags = SPICE_LINE_FLAGS_STYLED;
    d.u.stroke.attr.width = 16;
    d.u.stroke.attr.style_nseg = 3;
    d.u.stroke.attr.style = guest_.put(dashes);
    d.u.stroke.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.stroke.brush.u.color = 0x123456;
    d.u.stroke.fore_mode = SPICE_ROPD_OP_PUT;
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& stroke = std::get<Stroke>(drawable(cmd).op);
    ASSERT_EQ(stroke.path.size(), 2u);
    EXPECT_EQ(stroke.path[0].flags, uint32_t{QXL_PATH_BEGIN});
    ASSERT_EQ(stroke.path[0].points.size(), 2u);
    EXPECT_EQ(stroke.path[0].points[1].x, 48);
    EXPECT_EQ(stroke.path[0].points[1].y, 64);
    EXPECT_EQ(stroke.path[1].points[0].x, -16);
    EXPECT_EQ(stroke.width, 16);
    EXPECT_EQ(stroke.style, (std::vector<int32_t>{16, 32, 48}));
    EXPECT_EQ(stroke.brush.color, 0x123456u);

    // A segment claiming more points than the path holds.
    seg.count = 1000;
    std::memcpy(path.data(), &seg, sizeof(seg));
    d.u.stroke.path = guest_.put_with_chunks(qpath, offsetof(QXLPath, chunk), {path});
    cmd = draw(d);
    ASSERT_FALSE(cmd);
    EXPECT_NE(cmd.error().find("1000 points"), std::string::npos) << cmd.error();
    seg.count = 0xffffffff;
    std::memcpy(path.data(), &seg, sizeof(seg));
    d.u.stroke.path = guest_.put_with_chunks(qpath, offsetof(QXLPath, chunk), {path});
    EXPECT_FALSE(draw(d));

    d.u.stroke.path = path_addr;
    d.u.stroke.attr.style_nseg = 0;
    EXPECT_FALSE(draw(d));
    d.u.stroke.path = 0;
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, TextWithRasterGlyphs) {
    for (const uint16_t flag : {SPICE_STRING_FLAGS_RASTER_A1, SPICE_STRING_FLAGS_RASTER_A4,
                                SPICE_STRING_FLAGS_RASTER_A8}) {
        const unsigned bpp = flag == SPICE_STRING_FLAGS_RASTER_A1   ? 1
                             : flag == SPICE_STRING_FLAGS_RASTER_A4 ? 4
                                                                    : 8;
        std::vector<uint8_t> data;
        auto glyph = [&](int32_t x, uint16_t w, uint16_t h) {
            QXLRasterGlyph g{};
            g.render_pos = {x, 10};
            g.glyph_origin = {0, -8};
            g.width = w;
            g.height = h;
            const auto b = bytes_of(g);
            data.insert(data.end(), b.begin(), b.end());
            const size_t size = size_t{h} * ((w * bpp + 7) / 8);
            for (size_t i = 0; i < size; ++i) data.push_back(static_cast<uint8_t>(i + 1));
        };
        glyph(0, 7, 9);
        glyph(8, 3, 2);
        QXLString str{};
        str.data_size = static_cast<uint32_t>(data.size());
        str.length = 2;
        str.flags = flag;
        QXLDrawable d{};
        d.type = QXL_DRAW_TEXT;
        d.u.text.str =
            guest_.put_with_chunks(str, offsetof(QXLString, chunk),
                                   {std::vector<uint8_t>(data.begin(), data.begin() + 25),
                                    std::vector<uint8_t>(data.begin() + 25, data.end())});
        d.u.text.back_area = qrect(0, 0, 20, 20);
        d.u.text.fore_brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.text.fore_brush.u.color = 0xffffff;
        d.u.text.back_brush.type = SPICE_BRUSH_TYPE_NONE;
        d.u.text.fore_mode = SPICE_ROPD_OP_PUT;
        auto cmd = draw(d);
        ASSERT_TRUE(cmd) << cmd.error();
        const auto& text = std::get<Text>(drawable(cmd).op);
        EXPECT_EQ(text.bpp, bpp);
        ASSERT_EQ(text.glyphs.size(), 2u);
        EXPECT_EQ(text.glyphs[1].render_pos, (Point{8, 10}));
        EXPECT_EQ(text.glyphs[0].glyph_origin, (Point{0, -8}));
        EXPECT_EQ(text.glyphs[0].width, 7);
        EXPECT_EQ(text.glyphs[0].data.size(), 9u * ((7 * bpp + 7) / 8));
        EXPECT_EQ(text.glyphs[0].data[0], 1);
        EXPECT_EQ(text.back_area, Rect::MakeLTRB(0, 0, 20, 20));
        EXPECT_EQ(text.fore_brush.color, 0xffffffu);
        EXPECT_EQ(text.back_brush.kind, Brush::Kind::kNone);

        // The last glyph claims more rows than the string holds.
        std::vector<uint8_t> cut(data.begin(), data.end() - 1);
        str.data_size = static_cast<uint32_t>(cut.size());
        d.u.text.str = guest_.put_with_chunks(str, offsetof(QXLString, chunk), {cut});
        auto bad = draw(d);
        ASSERT_FALSE(bad);
        EXPECT_NE(bad.error().find("glyph 1"), std::string::npos) << bad.error();
        // Wrong glyph count.
        str.data_size = static_cast<uint32_t>(data.size());
        str.length = 3;
        d.u.text.str = guest_.put_with_chunks(str, offsetof(QXLString, chunk), {data});
        EXPECT_FALSE(draw(d));
        // Header cut short.
        std::vector<uint8_t> partial = data;
        partial.resize(data.size() + 5);
        str.data_size = static_cast<uint32_t>(partial.size());
        str.length = 2;
        d.u.text.str = guest_.put_with_chunks(str, offsetof(QXLString, chunk), {partial});
        EXPECT_FALSE(draw(d));
        // data_size disagrees with the chunks.
        str.data_size = 3;
        d.u.text.str = guest_.put_with_chunks(str, offsetof(QXLString, chunk), {data});
        EXPECT_FALSE(draw(d));
    }
}

TEST_F(QxlParserTest, CompositeWithTransforms) {
    QXLTransform t{};
    t.t00 = 0x10000;
    t.t11 = 0x10000;
    t.t02 = static_cast<uint32_t>(-5 << 16);
    QXLDrawable d{};
    d.type = QXL_DRAW_COMPOSITE;
    d.u.composite.flags =
        uint32_t{QXL_OP_OVER} | SPICE_COMPOSITE_HAS_MASK_TRANSFORM;  // a false claim
    d.u.composite.src = bitmap_image(4, 4, SPICE_BITMAP_FMT_RGBA);
    d.u.composite.src_transform = guest_.put(t);
    d.u.composite.mask = bitmap_image(4, 4, SPICE_BITMAP_FMT_8BIT_A);
    d.u.composite.src_origin = {1, -2};
    d.u.composite.mask_origin = {3, 4};
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& comp = std::get<Composite>(drawable(cmd).op);
    EXPECT_EQ(comp.flags & 0xff, uint32_t{QXL_OP_OVER});
    EXPECT_TRUE(comp.flags & SPICE_COMPOSITE_HAS_MASK);
    EXPECT_TRUE(comp.flags & SPICE_COMPOSITE_HAS_SRC_TRANSFORM);
    EXPECT_FALSE(comp.flags & SPICE_COMPOSITE_HAS_MASK_TRANSFORM);
    ASSERT_TRUE(comp.src_transform);
    EXPECT_EQ(comp.src_transform->t02, -5 << 16);
    EXPECT_FALSE(comp.mask_transform);
    ASSERT_TRUE(comp.mask);
    EXPECT_EQ(comp.src_origin, (Point{1, -2}));
    EXPECT_EQ(comp.mask_origin, (Point{3, 4}));

    d.u.composite.src_transform = Guest::address(guest_.size() - 8);
    EXPECT_FALSE(draw(d));
    d.u.composite.src = 0;
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, CompatDrawable) {
    QXLCompatDrawable d{};
    d.release_info.id = 5;
    d.type = QXL_COPY_BITS;
    d.bitmap_offset = 1;
    d.bbox = qrect(10, 20, 30, 50);
    d.u.copy_bits.src_pos = {100, 200};
    auto cmd = parse(QXL_CMD_DRAW, guest_.put(d), QXL_COMMAND_FLAG_COMPAT);
    ASSERT_TRUE(cmd) << cmd.error();
    const Drawable& dr = drawable(cmd);
    EXPECT_EQ(dr.surface_id, 0u);
    EXPECT_TRUE(dr.self_bitmap);
    EXPECT_EQ(dr.surfaces_dest[0], 0);
    EXPECT_EQ(dr.surfaces_dest[1], -1);
    EXPECT_EQ(dr.surfaces_rects[0], Rect::MakeLTRB(100, 200, 120, 230));

    QXLCompatDrawable a{};
    a.type = QXL_DRAW_ALPHA_BLEND;
    a.bbox = qrect(0, 0, 4, 4);
    a.u.alpha_blend.alpha = 77;
    a.u.alpha_blend.src_bitmap = bitmap_image(4, 4);
    a.u.alpha_blend.src_area = qrect(0, 0, 4, 4);
    cmd = parse(QXL_CMD_DRAW, guest_.put(a), QXL_COMMAND_FLAG_COMPAT);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<AlphaBlend>(drawable(cmd).op).alpha, 77);

    a.type = QXL_DRAW_COMPOSITE;
    EXPECT_FALSE(parse(QXL_CMD_DRAW, guest_.put(a), QXL_COMMAND_FLAG_COMPAT));
}

// ---- Chunk chains ------------------------------------------------------------------------

TEST_F(QxlParserTest, RejectsChunkLoopsAndLongChains) {
    QXLImage img{};
    img.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
    img.bitmap.format = SPICE_BITMAP_FMT_32BIT;
    img.bitmap.x = 1;
    img.bitmap.y = 4;
    img.bitmap.stride = 4;
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.u.copy.src_area = qrect(0, 0, 1, 1);

    // a -> b -> a
    const uint64_t first = guest_.chain({std::vector<uint8_t>(4), std::vector<uint8_t>(4)});
    QXLDataChunk head;
    std::memcpy(&head, guest_.host(first), sizeof(head));
    guest_.set_next(head.next_chunk, first);
    img.bitmap.data = first;
    d.u.copy.src_bitmap = guest_.put(img);
    auto cmd = draw(d);
    ASSERT_FALSE(cmd);
    EXPECT_NE(cmd.error().find("loops"), std::string::npos) << cmd.error();

    // A chunk pointing at itself, with no data.
    const uint64_t self = guest_.chain({std::vector<uint8_t>()});
    guest_.set_next(self, self);
    img.bitmap.data = self;
    d.u.copy.src_bitmap = guest_.put(img);
    EXPECT_FALSE(draw(d));

    // Fine by default, too long with a lower limit.
    img.bitmap.data = guest_.chain({std::vector<uint8_t>(4),
                                    {},
                                    {},
                                    std::vector<uint8_t>(4),
                                    std::vector<uint8_t>(4),
                                    std::vector<uint8_t>(4)});
    d.u.copy.src_bitmap = guest_.put(img);
    EXPECT_TRUE(draw(d));
    ParserLimits few;
    few.max_chunks = 5;
    cmd = draw(d, few);
    ASSERT_FALSE(cmd);
    EXPECT_NE(cmd.error().find("longer than 5"), std::string::npos) << cmd.error();
    ParserLimits small;
    small.max_image_bytes = 12;
    EXPECT_FALSE(draw(d, small));

    // A chunk whose data would pass the end of memory.
    const uint64_t last = Guest::address(guest_.size() - sizeof(QXLDataChunk) - 4);
    QXLDataChunk huge{};
    huge.data_size = 0xffffffff;
    std::memcpy(guest_.host(last), &huge, sizeof(huge));
    img.bitmap.data = last;
    d.u.copy.src_bitmap = guest_.put(img);
    EXPECT_FALSE(draw(d));
    // A next pointer at the very top of the address space.
    img.bitmap.data = guest_.chain({std::vector<uint8_t>(4)});
    guest_.set_next(img.bitmap.data, UINT64_MAX - 4);
    d.u.copy.src_bitmap = guest_.put(img);
    EXPECT_FALSE(draw(d));
}

TEST_F(QxlParserTest, ChunksInAnotherSlotAreCheckedThere) {
    // Slot 2: a second, small piece of guest RAM at its own host address.
    std::vector<uint8_t> other(64, 0xab);
    QXLDevMemSlot s2{};
    s2.slot_group_id = kGroup;
    s2.slot_id = 2;
    s2.generation = 0;
    s2.virt_start = reinterpret_cast<uintptr_t>(other.data());
    s2.virt_end = s2.virt_start + other.size();
    s2.addr_delta = s2.virt_start;
    ASSERT_TRUE(slots_->add(s2));
    const uint64_t in_other = uint64_t{2} << 56 | 8;  // offset 8 of slot 2, generation 0
    QXLDataChunk tail{};
    tail.data_size = 16;
    std::memcpy(other.data() + 8, &tail, sizeof(tail));

    struct Lz {
        QXLImageDescriptor descriptor;
        uint32_t data_size;
        QXLDataChunk chunk;
    } __attribute__((packed)) lz{};
    lz.descriptor.type = SPICE_IMAGE_TYPE_LZ_RGB;
    lz.descriptor.width = 2;
    lz.descriptor.height = 2;
    lz.data_size = 20;
    lz.chunk.data_size = 4;
    lz.chunk.next_chunk = in_other;
    const uint64_t image = guest_.alloc(sizeof(lz) + 4);
    std::memcpy(guest_.host(image), &lz, sizeof(lz));
    QXLDrawable d{};
    d.type = QXL_DRAW_COPY;
    d.u.copy.src_bitmap = image;
    d.u.copy.src_area = qrect(0, 0, 2, 2);
    auto cmd = draw(d);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& body = std::get<CompressedImage>(std::get<Copy>(drawable(cmd).op).src->content);
    ASSERT_EQ(body.data.chunks.size(), 2u);
    EXPECT_EQ(body.data.chunks[1].data(), other.data() + 8 + sizeof(QXLDataChunk));

    // The same chunk claiming more than slot 2 holds fails, though slot 1 is large.
    tail.data_size = 40;
    std::memcpy(other.data() + 8, &tail, sizeof(tail));
    lz.data_size = 44;
    std::memcpy(guest_.host(image), &lz, sizeof(lz));
    cmd = draw(d);
    ASSERT_FALSE(cmd);
    EXPECT_NE(cmd.error().find("memslot 2"), std::string::npos) << cmd.error();
}

// ---- Surfaces, updates, messages ---------------------------------------------------------

TEST_F(QxlParserTest, SurfaceCreateAndDestroy) {
    QXLSurfaceCmd s{};
    s.release_info.id = 1;
    s.surface_id = 2;
    s.type = QXL_SURFACE_CMD_CREATE;
    s.flags = QXL_SURF_FLAG_KEEP_DATA;
    s.u.surface_create.format = SPICE_SURFACE_FMT_32_xRGB;
    s.u.surface_create.width = 64;
    s.u.surface_create.height = 32;
    s.u.surface_create.stride = -256;
    s.u.surface_create.data = guest_.alloc(256 * 32);
    auto cmd = parse(QXL_CMD_SURFACE, guest_.put(s));
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& create = std::get<SurfaceCommand>(cmd->body);
    EXPECT_EQ(create.kind, SurfaceCommand::Kind::kCreate);
    EXPECT_EQ(create.surface_id, 2u);
    EXPECT_EQ(create.flags, uint32_t{QXL_SURF_FLAG_KEEP_DATA});
    EXPECT_EQ(create.format, uint32_t{SPICE_SURFACE_FMT_32_xRGB});
    EXPECT_EQ(create.width, 64u);
    EXPECT_EQ(create.height, 32u);
    EXPECT_EQ(create.stride, -256);
    EXPECT_EQ(create.memory.data(), guest_.host(s.u.surface_create.data));
    EXPECT_EQ(create.memory.size(), 256u * 32);

    auto expect_fail = [&](QXLSurfaceCmd bad, const char* words) {
        auto r = parse(QXL_CMD_SURFACE, guest_.put(bad));
        ASSERT_FALSE(r) << words;
        EXPECT_NE(r.error().find(words), std::string::npos) << r.error();
    };
    QXLSurfaceCmd bad = s;
    bad.u.surface_create.stride = 255;
    expect_fail(bad, "stride 255");
    bad.u.surface_create.stride = INT32_MIN;
    expect_fail(bad, "");
    bad = s;
    bad.u.surface_create.format = 7;
    expect_fail(bad, "format 7");
    bad = s;
    bad.u.surface_create.width = 1 << 20;
    expect_fail(bad, "larger than");
    bad = s;
    bad.u.surface_create.height = 0;
    expect_fail(bad, "empty");
    bad = s;
    bad.u.surface_create.height = 16384;
    bad.u.surface_create.width = 16384;
    bad.u.surface_create.stride = 16384 * 8;
    expect_fail(bad, "exceeds the limit");
    bad = s;
    bad.u.surface_create.height = 4097;  // memory past the slot
    expect_fail(bad, "surface memory");
    bad = s;
    bad.type = 9;
    expect_fail(bad, "type 9");

    s.type = QXL_SURFACE_CMD_DESTROY;
    cmd = parse(QXL_CMD_SURFACE, guest_.put(s));
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<SurfaceCommand>(cmd->body).kind, SurfaceCommand::Kind::kDestroy);
    EXPECT_TRUE(std::get<SurfaceCommand>(cmd->body).memory.empty());
}

TEST_F(QxlParserTest, UpdateAndMessage) {
    QXLUpdateCmd u{};
    u.area = qrect(1, 2, 3, 4);
    u.update_id = 17;
    u.surface_id = 3;
    auto cmd = parse(QXL_CMD_UPDATE, guest_.put(u));
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& update = std::get<UpdateCommand>(cmd->body);
    EXPECT_EQ(update.area, Rect::MakeLTRB(1, 2, 3, 4));
    EXPECT_EQ(update.update_id, 17u);
    EXPECT_EQ(update.surface_id, 3u);
    u.area = qrect(3, 2, 1, 4);
    EXPECT_FALSE(parse(QXL_CMD_UPDATE, guest_.put(u)));

    const char text[] = "hello from the driver";
    const uint64_t msg = guest_.alloc(sizeof(QXLMessage) + sizeof(text));
    std::memcpy(guest_.host(msg) + sizeof(QXLMessage), text, sizeof(text));
    cmd = parse(QXL_CMD_MESSAGE, msg);
    ASSERT_TRUE(cmd) << cmd.error();
    const auto& m = std::get<MessageCommand>(cmd->body).text;
    EXPECT_EQ(std::string(m.begin(), m.end()), "hello from the driver");

    // No NUL before the end of the slot.
    const uint64_t end = Guest::address(guest_.size() - sizeof(QXLMessage) - 4);
    std::memset(guest_.host(end), 'x', sizeof(QXLMessage) + 4);
    EXPECT_FALSE(parse(QXL_CMD_MESSAGE, end));
    // No NUL within the limit.
    ParserLimits small;
    small.max_message_bytes = 5;
    EXPECT_FALSE(parse(QXL_CMD_MESSAGE, msg, 0, small));

    EXPECT_FALSE(parse(QXL_CMD_NOP, msg));
    EXPECT_FALSE(parse(99, msg));
    // A cursor command on the display ring, and a display command on the cursor ring.
    CommandParser parser(*slots_);
    EXPECT_FALSE(parser.parse(ext(QXL_CMD_CURSOR, msg)));
    EXPECT_FALSE(parser.parse_cursor(ext(QXL_CMD_DRAW, msg)));
}

TEST_F(QxlParserTest, FailedCommandsStillHaveReleaseTickets) {
    QXLDrawable d{};
    d.type = 200;  // unknown: the parse fails, the guest still wants its memory back
    const uint64_t addr = guest_.put(d);
    CommandParser parser(*slots_);
    EXPECT_FALSE(parser.parse(ext(QXL_CMD_DRAW, addr)));
    auto ticket = parser.release_ticket(ext(QXL_CMD_DRAW, addr));
    ASSERT_TRUE(ticket) << ticket.error();
    EXPECT_EQ(ticket->release_info, reinterpret_cast<QXLReleaseInfo*>(guest_.host(addr)));
    EXPECT_EQ(ticket->group_id, kGroup);
    // No ticket for a struct that is not all in the slot, nor for unknown types.
    const uint64_t end = Guest::address(guest_.size() - 16);
    EXPECT_FALSE(parser.release_ticket(ext(QXL_CMD_DRAW, end)));
    EXPECT_TRUE(parser.release_ticket(ext(QXL_CMD_MESSAGE, end)));
    EXPECT_FALSE(parser.release_ticket(ext(QXL_CMD_NOP, addr)));
}

// ---- Cursors -----------------------------------------------------------------------------

TEST_F(QxlParserTest, CursorCommands) {
    QXLCursor shape{};
    shape.header.unique = 42;
    shape.header.type = SPICE_CURSOR_TYPE_ALPHA;
    shape.header.width = 4;
    shape.header.height = 3;
    shape.header.hot_spot_x = 1;
    shape.header.hot_spot_y = 2;
    shape.data_size = 48;
    std::vector<uint8_t> pixels(48);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i);
    QXLCursorCmd c{};
    c.type = QXL_CURSOR_SET;
    c.u.set.position = {100, -5};
    c.u.set.visible = 1;
    c.u.set.shape =
        guest_.put_with_chunks(shape, offsetof(QXLCursor, chunk),
                               {std::vector<uint8_t>(pixels.begin(), pixels.begin() + 20),
                                std::vector<uint8_t>(pixels.begin() + 20, pixels.end())});
    const uint64_t addr = guest_.put(c);
    auto cmd = parse(QXL_CMD_CURSOR, addr);
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(cmd->release.release_info, reinterpret_cast<QXLReleaseInfo*>(guest_.host(addr)));
    const auto& set = std::get<CursorCommand>(cmd->body);
    EXPECT_EQ(set.kind, CursorCommand::Kind::kSet);
    EXPECT_EQ(set.position, (Point{100, -5}));
    EXPECT_TRUE(set.visible);
    ASSERT_TRUE(set.shape);
    EXPECT_EQ(set.shape->unique, 42u);
    EXPECT_EQ(set.shape->width, 4);
    EXPECT_EQ(set.shape->height, 3);
    EXPECT_EQ(set.shape->hotspot, (Point{1, 2}));
    EXPECT_EQ(set.shape->data, pixels);

    // Too few bytes for a 4x3 ALPHA cursor.
    shape.data_size = 47;
    c.u.set.shape = guest_.put_with_chunks(shape, offsetof(QXLCursor, chunk), {pixels});
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, guest_.put(c)));
    shape.data_size = 48;
    shape.header.width = 2000;
    c.u.set.shape = guest_.put_with_chunks(shape, offsetof(QXLCursor, chunk), {pixels});
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, guest_.put(c)));
    shape.header.width = 4;
    shape.header.type = 77;
    c.u.set.shape = guest_.put_with_chunks(shape, offsetof(QXLCursor, chunk), {pixels});
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, guest_.put(c)));
    c.u.set.shape = 0;
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, guest_.put(c)));

    QXLCursorCmd move{};
    move.type = QXL_CURSOR_MOVE;
    move.u.position = {7, 8};
    cmd = parse(QXL_CMD_CURSOR, guest_.put(move));
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<CursorCommand>(cmd->body).kind, CursorCommand::Kind::kMove);
    EXPECT_EQ(std::get<CursorCommand>(cmd->body).position, (Point{7, 8}));

    QXLCursorCmd hide{};
    hide.type = QXL_CURSOR_HIDE;
    cmd = parse(QXL_CMD_CURSOR, guest_.put(hide));
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<CursorCommand>(cmd->body).kind, CursorCommand::Kind::kHide);

    QXLCursorCmd trail{};
    trail.type = QXL_CURSOR_TRAIL;
    trail.u.trail.length = 5;
    trail.u.trail.frequency = 6;
    cmd = parse(QXL_CMD_CURSOR, guest_.put(trail));
    ASSERT_TRUE(cmd) << cmd.error();
    EXPECT_EQ(std::get<CursorCommand>(cmd->body).trail_length, 5);
    EXPECT_EQ(std::get<CursorCommand>(cmd->body).trail_frequency, 6);

    trail.type = 9;
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, guest_.put(trail)));
    // The command itself at the slot's end: its device_data would run past it.
    EXPECT_FALSE(parse(QXL_CMD_CURSOR, Guest::address(guest_.size() - 16)));
}

}  // namespace
}  // namespace spiced::qxl
