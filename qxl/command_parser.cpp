#include "qxl/command_parser.h"

#include <spice-server/spice.h>
#include <spice/enums.h>
#include <spice/qxl_dev.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spiced::qxl {
namespace {

template <class T>
using Result = Expected<T, std::string>;

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof(text), "0x%" PRIx64, value);
    return text;
}

std::string num(uint64_t value) {
    return std::to_string(value);
}

Unexpected<std::string> fail(std::string why) {
    return unexpected(std::move(why));
}

// "what: why", so a nested failure still reads as one line saying where it happened.
Unexpected<std::string> fail_in(const char* what, const std::string& why) {
    return unexpected(std::string(what) + ": " + why);
}

Result<uint64_t> advance(uint64_t addr, uint64_t by) {
    uint64_t out = 0;
    if (__builtin_add_overflow(addr, by, &out))
        return fail("address " + hex(addr) + " plus " + num(by) + " wraps around 64 bits");
    return out;
}

// Rects that no driver sends and that would make width()/height() overflow downstream.
Result<Rect> checked_rect(const QXLRect& r, const char* what) {
    const int32_t left = r.left, top = r.top, right = r.right, bottom = r.bottom;
    if (left > right || top > bottom)
        return fail(std::string(what) + " (" + std::to_string(left) + "," + std::to_string(top) +
                    ")-(" + std::to_string(right) + "," + std::to_string(bottom) + ") is inverted");
    if (int64_t{right} - left > std::numeric_limits<int32_t>::max() ||
        int64_t{bottom} - top > std::numeric_limits<int32_t>::max())
        return fail(std::string(what) + " is wider or taller than 2^31 pixels");
    return Rect::MakeLTRB(left, top, right, bottom);
}

Rect plain_rect(const QXLRect& r) {
    return Rect::MakeLTRB(r.left, r.top, r.right, r.bottom);
}

Point point(const QXLPoint& p) {
    return {p.x, p.y};
}
Point point16(const QXLPoint16& p) {
    return {p.x, p.y};
}

// x555 to x888 for QXL_COMMAND_FLAG_COMPAT_16BPP: each 5-bit channel is widened by
// repeating its top bits, so 0x1f becomes 0xff.
uint32_t color_555_to_888(uint32_t c) {
    const uint32_t b = c & 0x1f, g = (c >> 5) & 0x1f, r = (c >> 10) & 0x1f;
    const auto widen = [](uint32_t v) { return (v << 3) | (v >> 2); };
    return widen(r) << 16 | widen(g) << 8 | widen(b);
}

// Bits per pixel of SPICE_BITMAP_FMT_*, 0 for an unknown format.
unsigned bitmap_bpp(uint8_t format) {
    switch (format) {
        case SPICE_BITMAP_FMT_1BIT_LE:
        case SPICE_BITMAP_FMT_1BIT_BE:
            return 1;
        case SPICE_BITMAP_FMT_4BIT_LE:
        case SPICE_BITMAP_FMT_4BIT_BE:
            return 4;
        case SPICE_BITMAP_FMT_8BIT:
        case SPICE_BITMAP_FMT_8BIT_A:
            return 8;
        case SPICE_BITMAP_FMT_16BIT:
            return 16;
        case SPICE_BITMAP_FMT_24BIT:
            return 24;
        case SPICE_BITMAP_FMT_32BIT:
        case SPICE_BITMAP_FMT_RGBA:
            return 32;
        default:
            return 0;
    }
}

bool bitmap_indexed(uint8_t format) {
    return format == SPICE_BITMAP_FMT_1BIT_LE || format == SPICE_BITMAP_FMT_1BIT_BE ||
           format == SPICE_BITMAP_FMT_4BIT_LE || format == SPICE_BITMAP_FMT_4BIT_BE ||
           format == SPICE_BITMAP_FMT_8BIT;
}

unsigned surface_bpp(uint32_t format) {
    switch (format) {
        case SPICE_SURFACE_FMT_1_A:
            return 1;
        case SPICE_SURFACE_FMT_8_A:
            return 8;
        case SPICE_SURFACE_FMT_16_555:
        case SPICE_SURFACE_FMT_16_565:
            return 16;
        case SPICE_SURFACE_FMT_32_xRGB:
        case SPICE_SURFACE_FMT_32_ARGB:
            return 32;
        default:
            return 0;
    }
}

std::vector<uint8_t> linearize(const ChunkedBytes& data) {
    std::vector<uint8_t> out;
    out.reserve(data.size);
    for (const GuestBytes chunk : data.chunks) out.insert(out.end(), chunk.begin(), chunk.end());
    return out;
}

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// One command's walk through guest memory: the memslot group and command flags it came with.
class Reader {
public:
    Reader(const MemSlots& slots, const ParserLimits& limits, uint32_t group, uint32_t flags)
        : slots_(slots), limits_(limits), group_(group), flags_(flags) {}

    Result<Command> drawable(uint64_t addr) const;
    Result<Command> update(uint64_t addr) const;
    Result<Command> message(uint64_t addr) const;
    Result<Command> surface(uint64_t addr) const;
    Result<Command> cursor(uint64_t addr) const;

private:
    // The struct at `addr`, copied, and where it lives (for the release info it starts with).
    template <class T>
    Result<std::pair<T, const uint8_t*>> read_at(uint64_t addr) const {
        auto where = slots_.translate(group_, addr, sizeof(T));
        if (!where) return unexpected(where.error());
        T value;
        std::memcpy(&value, *where, sizeof(T));
        return std::pair<T, const uint8_t*>(value, *where);
    }
    template <class T>
    Result<T> read(uint64_t addr) const {
        return slots_.read<T>(group_, addr);
    }
    ReleaseTicket ticket(const uint8_t* where) const {
        // Guest RAM is writable host memory that we only map const for reading; the release
        // path links this QXLReleaseInfo into the guest's release ring.
        return {reinterpret_cast<QXLReleaseInfo*>(const_cast<uint8_t*>(where)), group_};
    }
    uint32_t color(uint32_t c) const {
        return (flags_ & QXL_COMMAND_FLAG_COMPAT_16BPP) ? color_555_to_888(c) : c;
    }

    Result<ChunkedBytes> chain(uint64_t addr, size_t max_total) const;
    Result<std::shared_ptr<const Image>> image(uint64_t addr, bool is_mask) const;
    Result<std::shared_ptr<const Image>> source(uint64_t addr, const QXLRect& area,
                                                Rect& out_area) const;
    Result<Bitmap> bitmap(const QXLBitmap& qxl, bool is_mask) const;
    Result<std::shared_ptr<const Palette>> palette(uint64_t addr, uint8_t format) const;
    Result<Brush> brush(const QXLBrush& qxl) const;
    Result<Mask> mask(const QXLQMask& qxl) const;
    Result<Clip> clip(const QXLClip& qxl) const;
    Result<std::vector<PathSegment>> path(uint64_t addr) const;
    Result<Stroke> stroke(const QXLStroke& qxl) const;
    Result<Text> text(const QXLText& qxl) const;
    Result<Composite> composite(const QXLComposite& qxl) const;
    Result<std::optional<Transform>> transform(uint64_t addr) const;
    template <class Drawable_>
    Result<DrawOp> draw_op(const Drawable_& qxl, Drawable& out) const;

    const MemSlots& slots_;
    const ParserLimits& limits_;
    uint32_t group_;
    uint32_t flags_;
};

// Follows a QXLDataChunk chain from the chunk header at `addr`. Each chunk's bytes are checked
// in their own slot; the chain may hold at most `max_total` bytes and limits_.max_chunks
// chunks (empty ones count: they cost us a read each) and may not visit a header twice.
Result<ChunkedBytes> Reader::chain(uint64_t addr, size_t max_total) const {
    ChunkedBytes out;
    std::unordered_set<uint64_t> seen;
    size_t count = 0;
    while (true) {
        if (++count > limits_.max_chunks)
            return fail("the chunk chain is longer than " + num(limits_.max_chunks) + " chunks");
        if (!seen.insert(addr).second) return fail("the chunk chain loops back to " + hex(addr));
        auto header = read<QXLDataChunk>(addr);
        if (!header) return fail_in("chunk header", header.error());
        const uint32_t size = header->data_size;
        if (size > max_total - out.size)
            return fail("the chunk chain holds more than " + num(max_total) + " bytes");
        auto data_addr = advance(addr, sizeof(QXLDataChunk));
        if (!data_addr) return unexpected(data_addr.error());
        auto data = slots_.bytes(group_, *data_addr, size);
        if (!data) return fail_in("chunk data", data.error());
        if (size > 0) out.chunks.push_back(*data);
        out.size += size;
        const uint64_t next = header->next_chunk;
        if (next == 0) return out;
        addr = next;
    }
}

Result<std::shared_ptr<const Palette>> Reader::palette(uint64_t addr, uint8_t format) const {
    auto header = read<QXLPalette>(addr);
    if (!header) return fail_in("palette", header.error());
    const uint16_t count = header->num_ents;
    if (count == 0 || count > 256)
        return fail("a palette has " + num(count) + " entries; 1 to 256 are allowed");
    auto ents_addr = advance(addr, sizeof(QXLPalette));
    if (!ents_addr) return unexpected(ents_addr.error());
    auto ents = slots_.bytes(group_, *ents_addr, size_t{count} * 4);
    if (!ents) return fail_in("palette entries", ents.error());
    auto out = std::make_shared<Palette>();
    out->unique = header->unique;
    // Every index the format can hold gets an entry, so the renderer never looks one up out
    // of range; guests that send fewer get black for the rest.
    const size_t indexes = size_t{1} << std::min(8u, bitmap_bpp(format));
    out->entries.assign(std::max<size_t>(count, indexes), 0);
    for (size_t i = 0; i < count; ++i) out->entries[i] = color(load_u32(ents->data() + i * 4));
    return std::shared_ptr<const Palette>(std::move(out));
}

Result<Bitmap> Reader::bitmap(const QXLBitmap& qxl, bool is_mask) const {
    Bitmap out;
    out.format = qxl.format;
    const uint8_t flags = qxl.flags;
    out.top_down = (flags & QXL_BITMAP_TOP_DOWN) != 0;
    out.stride = qxl.stride;
    const uint32_t width = qxl.x, height = qxl.y;
    const unsigned bpp = bitmap_bpp(out.format);
    if (bpp == 0) return fail("bitmap format " + num(out.format) + " is unknown");
    if (width == 0 || height == 0 || width > limits_.max_width || height > limits_.max_height)
        return fail("a " + num(width) + "x" + num(height) + " bitmap is empty or larger than " +
                    num(limits_.max_width) + "x" + num(limits_.max_height));
    const uint64_t row_bytes = (uint64_t{width} * bpp + 7) / 8;
    if (out.stride < row_bytes)
        return fail("bitmap stride " + num(out.stride) + " is less than the " + num(row_bytes) +
                    " bytes of a " + num(width) + "-pixel row");
    const uint64_t full = uint64_t{height} * out.stride;
    if (full > limits_.max_image_bytes)
        return fail("a bitmap of " + num(full) + " bytes exceeds the limit of " +
                    num(limits_.max_image_bytes));
    // The last row needs only its pixels: drivers may stop there.
    const uint64_t needed = full - out.stride + row_bytes;

    const uint64_t palette_addr = qxl.palette;
    if (bitmap_indexed(out.format)) {
        if (palette_addr != 0) {
            auto pal = palette(palette_addr, out.format);
            if (!pal) return unexpected(pal.error());
            out.palette = std::move(*pal);
        } else if (!is_mask) {
            return fail("an indexed bitmap (format " + num(out.format) + ") has no palette");
        }
    }

    const uint64_t data_addr = qxl.data;
    if (data_addr == 0) return fail("a bitmap has no data");
    if (flags & QXL_BITMAP_DIRECT) {
        auto data = slots_.bytes(group_, data_addr, needed);
        if (!data) return fail_in("bitmap data", data.error());
        out.data.chunks.push_back(*data);
        out.data.size = needed;
        return out;
    }
    auto data = chain(data_addr, limits_.max_image_bytes);
    if (!data) return fail_in("bitmap data", data.error());
    if (data->size < needed)
        return fail("bitmap data has " + num(data->size) + " bytes where " + num(needed) +
                    " are needed");
    // Rows must not straddle chunks, so each row is one contiguous span; bytes past the last
    // row are dropped.
    ChunkedBytes rows;
    for (size_t i = 0; i < data->chunks.size() && rows.size < full; ++i) {
        GuestBytes chunk = data->chunks[i];
        if (chunk.size() > full - rows.size) chunk = chunk.first(full - rows.size);
        const bool last = rows.size + chunk.size() >= needed;
        if (!last && chunk.size() % out.stride != 0)
            return fail("a bitmap data chunk of " + num(chunk.size()) +
                        " bytes splits a row of stride " + num(out.stride));
        rows.chunks.push_back(chunk);
        rows.size += chunk.size();
    }
    out.data = std::move(rows);
    return out;
}

Result<std::shared_ptr<const Image>> Reader::image(uint64_t addr, bool is_mask) const {
    auto desc = read<QXLImageDescriptor>(addr);
    if (!desc) return fail_in("image", desc.error());
    auto body_addr = advance(addr, sizeof(QXLImageDescriptor));
    if (!body_addr) return unexpected(body_addr.error());
    auto out = std::make_shared<Image>();
    out->id = desc->id;
    out->type = desc->type;
    out->cacheable = (desc->flags & QXL_IMAGE_CACHE) != 0;
    out->width = desc->width;
    out->height = desc->height;
    switch (out->type) {
        case SPICE_IMAGE_TYPE_BITMAP: {
            auto qxl = read<QXLBitmap>(*body_addr);
            if (!qxl) return fail_in("bitmap", qxl.error());
            auto bits = bitmap(*qxl, is_mask);
            if (!bits) return unexpected(bits.error());
            // The bitmap's own size is what its rows were checked against.
            out->width = qxl->x;
            out->height = qxl->y;
            out->content = std::move(*bits);
            break;
        }
        case SPICE_IMAGE_TYPE_SURFACE: {
            auto qxl = read<QXLSurfaceId>(*body_addr);
            if (!qxl) return fail_in("surface image", qxl.error());
            out->content = SurfaceImage{qxl->surface_id};
            break;
        }
        case SPICE_IMAGE_TYPE_QUIC:
        case SPICE_IMAGE_TYPE_LZ_RGB: {
            if (out->width == 0 || out->height == 0 || out->width > limits_.max_width ||
                out->height > limits_.max_height)
                return fail("a " + num(out->width) + "x" + num(out->height) +
                            " compressed image is empty or too large");
            auto size = read<uint32_t>(*body_addr);
            if (!size) return fail_in("compressed image", size.error());
            if (*size > limits_.max_image_bytes)
                return fail("a compressed image of " + num(*size) + " bytes exceeds the limit");
            auto chunk_addr = advance(*body_addr, sizeof(uint32_t));
            if (!chunk_addr) return unexpected(chunk_addr.error());
            auto data = chain(*chunk_addr, *size);
            if (!data) return fail_in("compressed image", data.error());
            if (data->size != *size)
                return fail("a compressed image says " + num(*size) +
                            " bytes but its chunks hold " + num(data->size));
            out->content = CompressedImage{std::move(*data)};
            break;
        }
        default:
            return fail("image type " + num(out->type) + " is not supported");
    }
    return std::shared_ptr<const Image>(std::move(out));
}

// The source image of a copy-like op and its area, which must lie within a bitmap source.
Result<std::shared_ptr<const Image>> Reader::source(uint64_t addr, const QXLRect& area,
                                                    Rect& out_area) const {
    if (addr == 0) return fail("the source image is missing");
    auto src = image(addr, false);
    if (!src) return fail_in("source", src.error());
    auto rect = checked_rect(area, "the source area");
    if (!rect) return unexpected(rect.error());
    if (rect->left() < 0 || rect->top() < 0) return fail("the source area starts off the image");
    if ((*src)->type == SPICE_IMAGE_TYPE_BITMAP &&
        (uint64_t(rect->right()) > (*src)->width || uint64_t(rect->bottom()) > (*src)->height))
        return fail("the source area reaches past the " + num((*src)->width) + "x" +
                    num((*src)->height) + " bitmap");
    out_area = *rect;
    return src;
}

Result<Brush> Reader::brush(const QXLBrush& qxl) const {
    Brush out;
    switch (qxl.type) {
        case SPICE_BRUSH_TYPE_NONE:
            break;
        case SPICE_BRUSH_TYPE_SOLID:
            out.kind = Brush::Kind::kSolid;
            out.color = color(qxl.u.color);
            break;
        case SPICE_BRUSH_TYPE_PATTERN: {
            out.kind = Brush::Kind::kPattern;
            const uint64_t pat = qxl.u.pattern.pat;
            if (pat == 0) return fail("a pattern brush has no image");
            auto img = image(pat, false);
            if (!img) return fail_in("brush pattern", img.error());
            out.pattern = std::move(*img);
            out.pattern_pos = point(qxl.u.pattern.pos);
            break;
        }
        default:
            return fail("brush type " + num(qxl.type) + " is unknown");
    }
    return out;
}

Result<Mask> Reader::mask(const QXLQMask& qxl) const {
    Mask out;
    const uint64_t bits = qxl.bitmap;
    if (bits == 0) return out;
    auto img = image(bits, true);
    if (!img) return fail_in("mask", img.error());
    out.bitmap = std::move(*img);
    out.invert = (qxl.flags & SPICE_MASK_FLAGS_INVERS) != 0;
    out.pos = point(qxl.pos);
    return out;
}

Result<Clip> Reader::clip(const QXLClip& qxl) const {
    Clip out;
    if (qxl.type == SPICE_CLIP_TYPE_NONE) return out;
    if (qxl.type != SPICE_CLIP_TYPE_RECTS)
        return fail("clip type " + num(qxl.type) + " is unknown");
    const uint64_t addr = qxl.data;
    auto header = read<QXLClipRects>(addr);
    if (!header) return fail_in("clip rects", header.error());
    const uint64_t bytes = uint64_t{header->num_rects} * sizeof(QXLRect);
    if (bytes > limits_.max_copied_bytes)
        return fail("a clip of " + num(header->num_rects) + " rects exceeds the limit");
    auto chunk_addr = advance(addr, offsetof(QXLClipRects, chunk));
    if (!chunk_addr) return unexpected(chunk_addr.error());
    auto data = chain(*chunk_addr, bytes);
    if (!data) return fail_in("clip rects", data.error());
    if (data->size != bytes)
        return fail("a clip says " + num(header->num_rects) + " rects but its chunks hold " +
                    num(data->size) + " bytes");
    const std::vector<uint8_t> raw = linearize(*data);
    out.has_rects = true;
    out.rects.reserve(header->num_rects);
    for (size_t i = 0; i < header->num_rects; ++i) {
        QXLRect r;
        std::memcpy(&r, raw.data() + i * sizeof(QXLRect), sizeof(r));
        auto rect = checked_rect(r, "a clip rect");
        if (!rect) return unexpected(rect.error());
        out.rects.push_back(*rect);
    }
    return out;
}

Result<std::vector<PathSegment>> Reader::path(uint64_t addr) const {
    if (addr == 0) return fail("a stroke has no path");
    auto chunk_addr = advance(addr, offsetof(QXLPath, chunk));
    if (!chunk_addr) return unexpected(chunk_addr.error());
    // QXLPath::data_size is not needed: the chunks are what we checked. spice-server ignores
    // it too, so drivers need not keep it right.
    auto data = chain(*chunk_addr, limits_.max_copied_bytes);
    if (!data) return fail_in("path", data.error());
    const std::vector<uint8_t> raw = linearize(*data);
    std::vector<PathSegment> out;
    size_t at = 0;
    // A tail too short for a segment header is padding, as spice-server treats it.
    while (raw.size() - at >= sizeof(QXLPathSeg)) {
        QXLPathSeg seg;
        std::memcpy(&seg, raw.data() + at, sizeof(seg));
        at += sizeof(seg);
        const uint64_t bytes = uint64_t{seg.count} * sizeof(QXLPointFix);
        if (bytes > raw.size() - at)
            return fail("path segment " + num(out.size()) + " has " + num(seg.count) +
                        " points but only " + num(raw.size() - at) + " bytes remain");
        PathSegment segment;
        segment.flags = seg.flags;
        segment.points.resize(seg.count);
        for (uint32_t i = 0; i < seg.count; ++i) {
            QXLPointFix p;
            std::memcpy(&p, raw.data() + at + size_t{i} * sizeof(p), sizeof(p));
            segment.points[i] = {p.x, p.y};
        }
        at += bytes;
        out.push_back(std::move(segment));
    }
    return out;
}

Result<Stroke> Reader::stroke(const QXLStroke& qxl) const {
    Stroke out;
    auto segments = path(qxl.path);
    if (!segments) return unexpected(segments.error());
    out.path = std::move(*segments);
    out.line_flags = qxl.attr.flags;
    out.width = qxl.attr.width;
    if (out.line_flags & SPICE_LINE_FLAGS_STYLED) {
        const uint8_t nseg = qxl.attr.style_nseg;
        const uint64_t style = qxl.attr.style;
        if (nseg == 0 || style == 0) return fail("a styled line has no dash lengths");
        auto bytes = slots_.bytes(group_, style, size_t{nseg} * sizeof(QXLFIXED));
        if (!bytes) return fail_in("line style", bytes.error());
        out.style.resize(nseg);
        std::memcpy(out.style.data(), bytes->data(), bytes->size());
    }
    auto b = brush(qxl.brush);
    if (!b) return unexpected(b.error());
    out.brush = std::move(*b);
    out.fore_mode = qxl.fore_mode;
    out.back_mode = qxl.back_mode;
    return out;
}

Result<Text> Reader::text(const QXLText& qxl) const {
    Text out;
    const uint64_t addr = qxl.str;
    auto header = read<QXLString>(addr);
    if (!header) return fail_in("text string", header.error());
    const uint16_t flags = header->flags;
    if (flags & SPICE_STRING_FLAGS_RASTER_A1)
        out.bpp = 1;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A4)
        out.bpp = 4;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A8)
        out.bpp = 8;
    else
        return fail("a string has no raster glyph format (flags " + hex(flags) + ")");
    auto chunk_addr = advance(addr, offsetof(QXLString, chunk));
    if (!chunk_addr) return unexpected(chunk_addr.error());
    auto data = chain(*chunk_addr, limits_.max_copied_bytes);
    if (!data) return fail_in("text string", data.error());
    if (data->size != header->data_size)
        return fail("a string says " + num(header->data_size) + " bytes but its chunks hold " +
                    num(data->size));
    const std::vector<uint8_t> raw = linearize(*data);
    size_t at = 0;
    while (at < raw.size()) {
        if (raw.size() - at < sizeof(QXLRasterGlyph))
            return fail("glyph " + num(out.glyphs.size()) + "'s header runs past the string's end");
        QXLRasterGlyph g;
        std::memcpy(&g, raw.data() + at, sizeof(g));
        at += sizeof(g);
        const uint64_t size = uint64_t{g.height} * ((uint64_t{g.width} * out.bpp + 7) / 8);
        if (size > raw.size() - at)
            return fail("glyph " + num(out.glyphs.size()) + " (" + num(g.width) + "x" +
                        num(g.height) + ") needs " + num(size) + " bytes but the string has " +
                        num(raw.size() - at) + " left");
        RasterGlyph glyph;
        glyph.render_pos = point(g.render_pos);
        glyph.glyph_origin = point(g.glyph_origin);
        glyph.width = g.width;
        glyph.height = g.height;
        glyph.data.assign(raw.begin() + static_cast<ptrdiff_t>(at),
                          raw.begin() + static_cast<ptrdiff_t>(at + size));
        at += size;
        out.glyphs.push_back(std::move(glyph));
    }
    if (out.glyphs.size() != header->length)
        return fail("a string says " + num(header->length) + " glyphs but holds " +
                    num(out.glyphs.size()));
    out.back_area = plain_rect(qxl.back_area);
    auto fore = brush(qxl.fore_brush);
    if (!fore) return fail_in("text foreground", fore.error());
    auto back = brush(qxl.back_brush);
    if (!back) return fail_in("text background", back.error());
    out.fore_brush = std::move(*fore);
    out.back_brush = std::move(*back);
    out.fore_mode = qxl.fore_mode;
    out.back_mode = qxl.back_mode;
    return out;
}

Result<std::optional<Transform>> Reader::transform(uint64_t addr) const {
    if (addr == 0) return std::optional<Transform>();
    auto t = read<QXLTransform>(addr);
    if (!t) return fail_in("transform", t.error());
    Transform out;
    out.t00 = static_cast<int32_t>(t->t00);
    out.t01 = static_cast<int32_t>(t->t01);
    out.t02 = static_cast<int32_t>(t->t02);
    out.t10 = static_cast<int32_t>(t->t10);
    out.t11 = static_cast<int32_t>(t->t11);
    out.t12 = static_cast<int32_t>(t->t12);
    return std::optional<Transform>(out);
}

Result<Composite> Reader::composite(const QXLComposite& qxl) const {
    Composite out;
    const uint64_t src = qxl.src;
    if (src == 0) return fail("a composite has no source image");
    auto img = image(src, false);
    if (!img) return fail_in("composite source", img.error());
    out.src = std::move(*img);
    auto src_transform = transform(qxl.src_transform);
    if (!src_transform) return unexpected(src_transform.error());
    out.src_transform = *src_transform;
    const uint64_t mask_addr = qxl.mask;
    if (mask_addr != 0) {
        auto m = image(mask_addr, false);
        if (!m) return fail_in("composite mask", m.error());
        out.mask = std::move(*m);
        auto mask_transform = transform(qxl.mask_transform);
        if (!mask_transform) return unexpected(mask_transform.error());
        out.mask_transform = *mask_transform;
    }
    // The HAS_* bits describe what we parsed, not what the guest claimed.
    out.flags = qxl.flags & ~uint32_t{SPICE_COMPOSITE_HAS_MASK | SPICE_COMPOSITE_HAS_SRC_TRANSFORM |
                                      SPICE_COMPOSITE_HAS_MASK_TRANSFORM};
    if (out.mask) out.flags |= SPICE_COMPOSITE_HAS_MASK;
    if (out.src_transform) out.flags |= SPICE_COMPOSITE_HAS_SRC_TRANSFORM;
    if (out.mask_transform) out.flags |= SPICE_COMPOSITE_HAS_MASK_TRANSFORM;
    out.src_origin = point16(qxl.src_origin);
    out.mask_origin = point16(qxl.mask_origin);
    return out;
}

// The ops shared by QXLDrawable and QXLCompatDrawable (their unions differ only in alpha
// blend and composite).
template <class Drawable_>
Result<DrawOp> Reader::draw_op(const Drawable_& qxl, Drawable& out) const {
    switch (qxl.type) {
        case QXL_DRAW_NOP:
            return DrawOp(Nop{});
        case QXL_DRAW_FILL: {
            const QXLFill f = qxl.u.fill;
            Fill op;
            auto b = brush(f.brush);
            if (!b) return unexpected(b.error());
            auto m = mask(f.mask);
            if (!m) return unexpected(m.error());
            op.brush = std::move(*b);
            op.rop_descriptor = f.rop_descriptor;
            op.mask = std::move(*m);
            return DrawOp(std::move(op));
        }
        case QXL_DRAW_OPAQUE: {
            const QXLOpaque o = qxl.u.opaque;
            Opaque op;
            auto src = source(o.src_bitmap, o.src_area, op.src_area);
            if (!src) return fail_in("opaque", src.error());
            auto b = brush(o.brush);
            if (!b) return unexpected(b.error());
            auto m = mask(o.mask);
            if (!m) return unexpected(m.error());
            op.src = std::move(*src);
            op.brush = std::move(*b);
            op.rop_descriptor = o.rop_descriptor;
            op.scale_mode = o.scale_mode;
            op.mask = std::move(*m);
            return DrawOp(std::move(op));
        }
        case QXL_DRAW_COPY:
        case QXL_DRAW_BLEND: {
            const QXLCopy c = qxl.type == QXL_DRAW_COPY ? qxl.u.copy : qxl.u.blend;
            Copy op;
            auto src = source(c.src_bitmap, c.src_area, op.src_area);
            if (!src) return fail_in(qxl.type == QXL_DRAW_COPY ? "copy" : "blend", src.error());
            auto m = mask(c.mask);
            if (!m) return unexpected(m.error());
            op.src = std::move(*src);
            op.rop_descriptor = c.rop_descriptor;
            op.scale_mode = c.scale_mode;
            op.mask = std::move(*m);
            // A copy that keeps the old bbox content makes no sense; some drivers set the flag
            // anyway, so it is dropped (as spice-server does).
            out.self_bitmap = false;
            if (qxl.type == QXL_DRAW_COPY) return DrawOp(std::move(op));
            Blend blend;
            static_cast<Copy&>(blend) = std::move(op);
            return DrawOp(std::move(blend));
        }
        case QXL_DRAW_TRANSPARENT: {
            const QXLTransparent t = qxl.u.transparent;
            Transparent op;
            auto src = source(t.src_bitmap, t.src_area, op.src_area);
            if (!src) return fail_in("transparent", src.error());
            op.src = std::move(*src);
            op.src_color = t.src_color;
            op.true_color = t.true_color;
            return DrawOp(std::move(op));
        }
        case QXL_COPY_BITS:
            return DrawOp(CopyBits{point(qxl.u.copy_bits.src_pos)});
        case QXL_DRAW_ROP3: {
            const QXLRop3 r = qxl.u.rop3;
            Rop3 op;
            auto src = source(r.src_bitmap, r.src_area, op.src_area);
            if (!src) return fail_in("rop3", src.error());
            auto b = brush(r.brush);
            if (!b) return unexpected(b.error());
            auto m = mask(r.mask);
            if (!m) return unexpected(m.error());
            op.src = std::move(*src);
            op.brush = std::move(*b);
            op.rop3 = r.rop3;
            op.scale_mode = r.scale_mode;
            op.mask = std::move(*m);
            return DrawOp(std::move(op));
        }
        case QXL_DRAW_STROKE: {
            auto s = stroke(qxl.u.stroke);
            if (!s) return fail_in("stroke", s.error());
            return DrawOp(std::move(*s));
        }
        case QXL_DRAW_TEXT: {
            auto t = text(qxl.u.text);
            if (!t) return fail_in("text", t.error());
            return DrawOp(std::move(*t));
        }
        case QXL_DRAW_BLACKNESS:
        case QXL_DRAW_WHITENESS:
        case QXL_DRAW_INVERS: {
            // QXLBlackness, QXLWhiteness and QXLInvers are one type.
            auto m = mask(qxl.u.blackness.mask);
            if (!m) return unexpected(m.error());
            if (qxl.type == QXL_DRAW_BLACKNESS) return DrawOp(Blackness{std::move(*m)});
            if (qxl.type == QXL_DRAW_WHITENESS) return DrawOp(Whiteness{std::move(*m)});
            return DrawOp(Invers{std::move(*m)});
        }
        default:
            return fail("drawable type " + num(qxl.type) + " is unknown");
    }
}

Result<Command> Reader::drawable(uint64_t addr) const {
    Command cmd;
    Drawable out;
    Result<DrawOp> op = fail("the drawable has no op");
    if (flags_ & QXL_COMMAND_FLAG_COMPAT) {
        auto read_result = read_at<QXLCompatDrawable>(addr);
        if (!read_result) return fail_in("drawable", read_result.error());
        const QXLCompatDrawable& qxl = read_result->first;
        cmd.release = ticket(read_result->second);
        auto bbox = checked_rect(qxl.bbox, "the bbox");
        if (!bbox) return unexpected(bbox.error());
        out.bbox = *bbox;
        auto c = clip(qxl.clip);
        if (!c) return unexpected(c.error());
        out.clip = std::move(*c);
        out.surface_id = 0;
        out.effect = qxl.effect;
        out.mm_time = qxl.mm_time;
        out.self_bitmap = qxl.bitmap_offset != 0;
        if (qxl.type == QXL_DRAW_ALPHA_BLEND) {
            const QXLCompatAlphaBlend a = qxl.u.alpha_blend;
            AlphaBlend blend;
            auto src = source(a.src_bitmap, a.src_area, blend.src_area);
            if (!src) return fail_in("alpha blend", src.error());
            blend.src = std::move(*src);
            blend.alpha = a.alpha;
            op = DrawOp(std::move(blend));
        } else if (qxl.type == QXL_DRAW_COMPOSITE) {
            return fail("old (compat) drawables cannot composite");
        } else {
            op = draw_op(qxl, out);
            if (op && qxl.type == QXL_COPY_BITS) {
                // Old drivers did not name the surface a copy-bits reads; it is their only
                // surface, 0, at src_pos.
                const Point src = point(qxl.u.copy_bits.src_pos);
                const int64_t right = int64_t{src.x} + out.bbox.width();
                const int64_t bottom = int64_t{src.y} + out.bbox.height();
                if (right > std::numeric_limits<int32_t>::max() ||
                    bottom > std::numeric_limits<int32_t>::max())
                    return fail("the copy-bits source lies past 2^31 pixels");
                out.surfaces_dest[0] = 0;
                out.surfaces_rects[0] = Rect::MakeLTRB(src.x, src.y, static_cast<int32_t>(right),
                                                       static_cast<int32_t>(bottom));
            }
        }
    } else {
        auto read_result = read_at<QXLDrawable>(addr);
        if (!read_result) return fail_in("drawable", read_result.error());
        const QXLDrawable& qxl = read_result->first;
        cmd.release = ticket(read_result->second);
        auto bbox = checked_rect(qxl.bbox, "the bbox");
        if (!bbox) return unexpected(bbox.error());
        out.bbox = *bbox;
        auto c = clip(qxl.clip);
        if (!c) return unexpected(c.error());
        out.clip = std::move(*c);
        out.surface_id = qxl.surface_id;
        out.effect = qxl.effect;
        out.mm_time = qxl.mm_time;
        out.self_bitmap = qxl.self_bitmap != 0;
        for (int i = 0; i < 3; ++i) {
            out.surfaces_dest[i] = qxl.surfaces_dest[i];
            out.surfaces_rects[i] = plain_rect(qxl.surfaces_rects[i]);
        }
        if (qxl.type == QXL_DRAW_ALPHA_BLEND) {
            const QXLAlphaBlend a = qxl.u.alpha_blend;
            AlphaBlend blend;
            auto src = source(a.src_bitmap, a.src_area, blend.src_area);
            if (!src) return fail_in("alpha blend", src.error());
            blend.src = std::move(*src);
            blend.alpha = a.alpha;
            blend.alpha_flags = a.alpha_flags;
            op = DrawOp(std::move(blend));
        } else if (qxl.type == QXL_DRAW_COMPOSITE) {
            auto comp = composite(qxl.u.composite);
            if (!comp) return fail_in("composite", comp.error());
            op = DrawOp(std::move(*comp));
        } else {
            op = draw_op(qxl, out);
        }
    }
    if (!op) return unexpected(op.error());
    out.op = std::move(*op);
    cmd.body = std::move(out);
    return cmd;
}

Result<Command> Reader::update(uint64_t addr) const {
    Command cmd;
    UpdateCommand out;
    QXLRect area;
    if (flags_ & QXL_COMMAND_FLAG_COMPAT) {
        auto qxl = read_at<QXLCompatUpdateCmd>(addr);
        if (!qxl) return fail_in("update", qxl.error());
        cmd.release = ticket(qxl->second);
        area = qxl->first.area;
        out.update_id = qxl->first.update_id;
    } else {
        auto qxl = read_at<QXLUpdateCmd>(addr);
        if (!qxl) return fail_in("update", qxl.error());
        cmd.release = ticket(qxl->second);
        area = qxl->first.area;
        out.update_id = qxl->first.update_id;
        out.surface_id = qxl->first.surface_id;
    }
    auto rect = checked_rect(area, "the update area");
    if (!rect) return unexpected(rect.error());
    out.area = *rect;
    cmd.body = std::move(out);
    return cmd;
}

Result<Command> Reader::message(uint64_t addr) const {
    Command cmd;
    auto where = slots_.translate(group_, addr, sizeof(QXLMessage));
    if (!where) return fail_in("message", where.error());
    cmd.release = ticket(*where);
    auto text_addr = advance(addr, sizeof(QXLMessage));
    if (!text_addr) return unexpected(text_addr.error());
    auto tail = slots_.tail(group_, *text_addr);
    if (!tail) return fail_in("message", tail.error());
    const GuestBytes text = tail->first(std::min(tail->size(), limits_.max_message_bytes));
    // One pass over the guest's bytes: find the NUL and copy up to it, so a concurrent write
    // cannot move the end after we measured it.
    MessageCommand out;
    for (const uint8_t c : text) {
        if (c == 0) {
            cmd.body = std::move(out);
            return cmd;
        }
        out.text.push_back(c);
    }
    return fail("a message has no terminating NUL within " + num(text.size()) + " bytes");
}

Result<Command> Reader::surface(uint64_t addr) const {
    auto qxl = read_at<QXLSurfaceCmd>(addr);
    if (!qxl) return fail_in("surface command", qxl.error());
    const QXLSurfaceCmd& s = qxl->first;
    Command cmd;
    cmd.release = ticket(qxl->second);
    SurfaceCommand out;
    out.surface_id = s.surface_id;
    out.flags = s.flags;
    if (s.type == QXL_SURFACE_CMD_DESTROY) {
        out.kind = SurfaceCommand::Kind::kDestroy;
        cmd.body = std::move(out);
        return cmd;
    }
    if (s.type != QXL_SURFACE_CMD_CREATE)
        return fail("surface command type " + num(s.type) + " is unknown");
    const QXLSurface create = s.u.surface_create;
    out.kind = SurfaceCommand::Kind::kCreate;
    out.format = create.format;
    out.width = create.width;
    out.height = create.height;
    out.stride = create.stride;
    const unsigned bpp = surface_bpp(out.format);
    if (bpp == 0) return fail("surface format " + num(out.format) + " is unknown");
    if (out.width == 0 || out.height == 0 || out.width > limits_.max_width ||
        out.height > limits_.max_height)
        return fail("a " + num(out.width) + "x" + num(out.height) +
                    " surface is empty or larger than " + num(limits_.max_width) + "x" +
                    num(limits_.max_height));
    const uint64_t row_bytes = (uint64_t{out.width} * bpp + 7) / 8;
    // In 64 bits: -INT32_MIN does not fit in 32.
    const uint64_t abs_stride =
        out.stride < 0 ? uint64_t(-int64_t{out.stride}) : uint64_t(out.stride);
    if (abs_stride < row_bytes)
        return fail("surface stride " + std::to_string(out.stride) + " is less than the " +
                    num(row_bytes) + " bytes of a row");
    const uint64_t size = abs_stride * out.height;
    if (size > limits_.max_image_bytes)
        return fail("a surface of " + num(size) + " bytes exceeds the limit of " +
                    num(limits_.max_image_bytes));
    auto memory = slots_.bytes(group_, create.data, size);
    if (!memory) return fail_in("surface memory", memory.error());
    out.memory = *memory;
    cmd.body = std::move(out);
    return cmd;
}

Result<Command> Reader::cursor(uint64_t addr) const {
    auto qxl = read_at<QXLCursorCmd>(addr);
    if (!qxl) return fail_in("cursor command", qxl.error());
    const QXLCursorCmd& c = qxl->first;
    Command cmd;
    cmd.release = ticket(qxl->second);
    CursorCommand out;
    switch (c.type) {
        case QXL_CURSOR_MOVE:
            out.kind = CursorCommand::Kind::kMove;
            out.position = point16(c.u.position);
            break;
        case QXL_CURSOR_HIDE:
            out.kind = CursorCommand::Kind::kHide;
            out.visible = false;
            break;
        case QXL_CURSOR_TRAIL:
            out.kind = CursorCommand::Kind::kTrail;
            out.trail_length = c.u.trail.length;
            out.trail_frequency = c.u.trail.frequency;
            break;
        case QXL_CURSOR_SET: {
            out.kind = CursorCommand::Kind::kSet;
            out.position = point16(c.u.set.position);
            out.visible = c.u.set.visible != 0;
            const uint64_t shape_addr = c.u.set.shape;
            auto header = read<QXLCursor>(shape_addr);
            if (!header) return fail_in("cursor shape", header.error());
            auto shape = std::make_shared<CursorShape>();
            shape->unique = header->header.unique;
            shape->type = header->header.type;
            shape->width = header->header.width;
            shape->height = header->header.height;
            shape->hotspot = {header->header.hot_spot_x, header->header.hot_spot_y};
            if (shape->type >= SPICE_CURSOR_TYPE_ENUM_END)
                return fail("cursor type " + num(shape->type) + " is unknown");
            if (shape->width > limits_.max_cursor_size || shape->height > limits_.max_cursor_size)
                return fail("a " + num(shape->width) + "x" + num(shape->height) +
                            " cursor is larger than " + num(limits_.max_cursor_size) + " a side");
            auto chunk_addr = advance(shape_addr, offsetof(QXLCursor, chunk));
            if (!chunk_addr) return unexpected(chunk_addr.error());
            auto data = chain(*chunk_addr, limits_.max_cursor_bytes);
            if (!data) return fail_in("cursor shape", data.error());
            // spice-server trusts the smaller of data_size and the chunks; so do we.
            const size_t size = std::min<size_t>(header->data_size, data->size);
            const uint64_t w = shape->width, h = shape->height;
            uint64_t needed = 0;
            if (shape->type == SPICE_CURSOR_TYPE_ALPHA) needed = w * h * 4;
            if (shape->type == SPICE_CURSOR_TYPE_MONO) needed = (w + 7) / 8 * h * 2;
            if (size < needed)
                return fail("a " + num(w) + "x" + num(h) + " cursor of type " + num(shape->type) +
                            " needs " + num(needed) + " bytes but has " + num(size));
            shape->data.reserve(size);
            for (const GuestBytes chunk : data->chunks) {
                const size_t take = std::min(chunk.size(), size - shape->data.size());
                shape->data.insert(shape->data.end(), chunk.begin(), chunk.begin() + take);
            }
            out.shape = std::move(shape);
            break;
        }
        default:
            return fail("cursor command type " + num(c.type) + " is unknown");
    }
    cmd.body = std::move(out);
    return cmd;
}

}  // namespace

Expected<Command, std::string> CommandParser::parse(const QXLCommandExt& ext) const {
    const Reader reader(slots_, limits_, ext.group_id, ext.flags);
    const uint64_t addr = ext.cmd.data;
    switch (ext.cmd.type) {
        case QXL_CMD_DRAW:
            return reader.drawable(addr);
        case QXL_CMD_UPDATE:
            return reader.update(addr);
        case QXL_CMD_MESSAGE:
            return reader.message(addr);
        case QXL_CMD_SURFACE:
            return reader.surface(addr);
        case QXL_CMD_CURSOR:
            return fail("a cursor command arrived on the display ring");
        default:
            return fail("command type " + num(ext.cmd.type) + " is unknown on the display ring");
    }
}

Expected<Command, std::string> CommandParser::parse_cursor(const QXLCommandExt& ext) const {
    if (ext.cmd.type != QXL_CMD_CURSOR)
        return fail("command type " + num(ext.cmd.type) + " arrived on the cursor ring");
    const Reader reader(slots_, limits_, ext.group_id, ext.flags);
    return reader.cursor(ext.cmd.data);
}

Expected<ReleaseTicket, std::string> CommandParser::release_ticket(const QXLCommandExt& ext) const {
    const bool compat = (ext.flags & QXL_COMMAND_FLAG_COMPAT) != 0;
    size_t size = 0;
    switch (ext.cmd.type) {
        case QXL_CMD_DRAW:
            size = compat ? sizeof(QXLCompatDrawable) : sizeof(QXLDrawable);
            break;
        case QXL_CMD_UPDATE:
            size = compat ? sizeof(QXLCompatUpdateCmd) : sizeof(QXLUpdateCmd);
            break;
        case QXL_CMD_MESSAGE:
            size = sizeof(QXLMessage);
            break;
        case QXL_CMD_SURFACE:
            size = sizeof(QXLSurfaceCmd);
            break;
        case QXL_CMD_CURSOR:
            size = sizeof(QXLCursorCmd);
            break;
        default:
            return fail("command type " + num(ext.cmd.type) + " has no release info");
    }
    auto where = slots_.translate(ext.group_id, ext.cmd.data, size);
    if (!where) return unexpected(where.error());
    // See Reader::ticket: the guest's release ring is written through this pointer.
    return ReleaseTicket{reinterpret_cast<QXLReleaseInfo*>(const_cast<uint8_t*>(*where)),
                         ext.group_id};
}

}  // namespace spiced::qxl
