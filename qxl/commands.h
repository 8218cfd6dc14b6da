// The QXL commands a guest sends, as the parser (qxl/command_parser.h) hands them to the
// renderer (qxl/renderer.h) and to the QXL display source: plain values, checked.
//
// Small structures (rects, clips, brushes, palettes, paths, glyph headers) are copied out of
// guest memory once, so the guest cannot change them between our check and our use. Large
// payloads (bitmap rows, QUIC/LZ bodies, glyph bitmaps, surface memory) stay where they are:
// GuestBytes spans that the parser checked against their memslot. They are valid until the
// command that carried them is released to the guest; the guest may scribble on them
// meanwhile, which changes pixels but can never make us read outside the slot.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "pixels/geometry.h"

union QXLReleaseInfo;  // <spice/qxl_dev.h> (a union there; a struct key here would not compile)

namespace spiced::qxl {

using GuestBytes = std::span<const uint8_t>;

// Data the guest split into a chain of QXLDataChunks (bitmap rows, QUIC bodies, clip rects,
// paths, glyph strings): the chunks in order, each checked. `size` is their sum.
struct ChunkedBytes {
    std::vector<GuestBytes> chunks;
    size_t size = 0;
};

// SPICE_BITMAP_FMT_* (1BIT_LE ... RGBA, 8BIT_A) with its palette for the indexed formats.
struct Palette {
    uint64_t unique = 0;
    std::vector<uint32_t> entries;  // 0x00RRGGBB, at most 256
};

struct Bitmap {
    uint8_t format = 0;     // SPICE_BITMAP_FMT_*
    bool top_down = false;  // QXL_BITMAP_TOP_DOWN: row 0 is the top row
    uint32_t stride = 0;    // bytes per row; rows do not cross chunk boundaries unless direct
    // Rows, bottom-up unless top_down. The parser checked that `data.size` holds
    // height * stride bytes (the last row only needs its pixels).
    ChunkedBytes data;
    std::shared_ptr<const Palette> palette;  // set for the 1/4/8-bit indexed formats
};

// A compressed image body as the guest sent it (SPICE_IMAGE_TYPE_QUIC, LZ_RGB, LZ_PLT): the
// same bytes a SPICE client would get, not yet decoded.
struct CompressedImage {
    ChunkedBytes data;
};

// The image is another surface's current pixels (SPICE_IMAGE_TYPE_SURFACE).
struct SurfaceImage {
    uint32_t surface_id = 0;
};

struct Image {
    // QXLImageDescriptor: `id` names the image for caches when `cacheable`
    // (QXL_IMAGE_CACHE); the same id always means the same pixels.
    uint64_t id = 0;
    uint8_t type = 0;  // SPICE_IMAGE_TYPE_*
    bool cacheable = false;
    uint32_t width = 0;
    uint32_t height = 0;
    std::variant<Bitmap, CompressedImage, SurfaceImage> content;
};

// The 1-bit mask of QXLQMask. No bitmap means no mask.
struct Mask {
    bool invert = false;  // SPICE_MASK_FLAGS_INVERS
    Point pos;
    std::shared_ptr<const Image> bitmap;
};

struct Brush {
    enum class Kind : uint8_t { kNone, kSolid, kPattern };
    Kind kind = Kind::kNone;
    uint32_t color = 0;  // kSolid, in the surface's format (0x00RRGGBB for 32/24-bit)
    std::shared_ptr<const Image> pattern;  // kPattern
    Point pattern_pos;
};

// QXLClip: nothing or a list of rects (SPICE_CLIP_TYPE_RECTS), in surface coordinates.
struct Clip {
    bool has_rects = false;
    std::vector<Rect> rects;
};

struct Fill {
    Brush brush;
    uint16_t rop_descriptor = 0;  // SPICE_ROPD_*
    Mask mask;
};
struct Opaque {
    std::shared_ptr<const Image> src;
    Rect src_area;
    Brush brush;
    uint16_t rop_descriptor = 0;
    uint8_t scale_mode = 0;  // SPICE_IMAGE_SCALE_MODE_*
    Mask mask;
};
// QXL_DRAW_COPY and QXL_DRAW_BLEND share it (QXLCopy == QXLBlend).
struct Copy {
    std::shared_ptr<const Image> src;
    Rect src_area;
    uint16_t rop_descriptor = 0;
    uint8_t scale_mode = 0;
    Mask mask;
};
struct Blend : Copy {};
struct Transparent {
    std::shared_ptr<const Image> src;
    Rect src_area;
    uint32_t src_color = 0;  // the colour that is not drawn
    uint32_t true_color = 0;
};
struct AlphaBlend {
    uint16_t alpha_flags = 0;  // SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA, SRC_SURFACE_HAS_ALPHA
    uint8_t alpha = 0;
    std::shared_ptr<const Image> src;
    Rect src_area;
};
struct CopyBits {
    Point src_pos;  // the bbox's content comes from here, on the same surface
};
struct Rop3 {
    std::shared_ptr<const Image> src;
    Rect src_area;
    Brush brush;
    uint8_t rop3 = 0;
    uint8_t scale_mode = 0;
    Mask mask;
};

// 28.4 fixed point (QXLFIXED / QXLPointFix).
struct FixedPoint {
    int32_t x = 0;
    int32_t y = 0;
};
struct PathSegment {
    uint32_t flags = 0;  // QXL_PATH_BEGIN / END / CLOSE / BEZIER
    std::vector<FixedPoint> points;
};
struct Stroke {
    std::vector<PathSegment> path;
    uint8_t line_flags = 0;      // SPICE_LINE_FLAGS_STYLED, START_WITH_GAP
    int32_t width = 0;           // QXLFIXED
    std::vector<int32_t> style;  // dash lengths, QXLFIXED, when styled
    Brush brush;
    uint16_t fore_mode = 0;  // SPICE_ROPD_*
    uint16_t back_mode = 0;
};

struct RasterGlyph {
    Point render_pos;
    Point glyph_origin;
    uint16_t width = 0;
    uint16_t height = 0;
    // Rows of `bpp` bits per pixel, each row padded to a byte; copied out of the string.
    std::vector<uint8_t> data;
};
struct Text {
    uint8_t bpp = 1;  // from SPICE_STRING_FLAGS_RASTER_A1 / A4 / A8
    std::vector<RasterGlyph> glyphs;
    Rect back_area;
    Brush fore_brush;
    Brush back_brush;
    uint16_t fore_mode = 0;
    uint16_t back_mode = 0;
};
// QXL_DRAW_BLACKNESS, WHITENESS, INVERS: the bbox (inside the clip and the mask) becomes
// black, white, or inverted.
struct Blackness {
    Mask mask;
};
struct Whiteness {
    Mask mask;
};
struct Invers {
    Mask mask;
};

// A 2x3 affine matrix in 16.16 fixed point (QXLTransform).
struct Transform {
    int32_t t00 = 0, t01 = 0, t02 = 0, t10 = 0, t11 = 0, t12 = 0;
};
struct Composite {
    uint32_t flags = 0;  // SPICE_COMPOSITE_*: operator, filters, repeats, component alpha...
    std::shared_ptr<const Image> src;
    std::optional<Transform> src_transform;
    std::shared_ptr<const Image> mask;  // may be null
    std::optional<Transform> mask_transform;
    Point src_origin;
    Point mask_origin;
};
struct Nop {};

using DrawOp = std::variant<Nop, Fill, Opaque, Copy, Blend, Transparent, AlphaBlend, CopyBits, Rop3,
                            Stroke, Text, Blackness, Whiteness, Invers, Composite>;

// QXL_CMD_DRAW.
struct Drawable {
    uint32_t surface_id = 0;
    uint8_t effect = 0;  // QXL_EFFECT_*
    Rect bbox;           // in surface_id's coordinates; checked to lie inside it by the renderer
    Clip clip;
    uint32_t mm_time = 0;
    // Surfaces whose pixels this drawable reads, and where (QXLDrawable::surfaces_dest/rects);
    // -1 for none.
    int32_t surfaces_dest[3] = {-1, -1, -1};
    Rect surfaces_rects[3];
    // QXLDrawable::self_bitmap: the guest asks for the bbox's old content to be kept as an
    // image. We ignore it (only the Windows driver's compat path set it).
    bool self_bitmap = false;
    DrawOp op;
};

// QXL_CMD_SURFACE.
struct SurfaceCommand {
    enum class Kind : uint8_t { kCreate, kDestroy };
    Kind kind = Kind::kCreate;
    uint32_t surface_id = 0;
    uint32_t flags = 0;   // QXL_SURF_FLAG_KEEP_DATA
    uint32_t format = 0;  // SPICE_SURFACE_FMT_*
    uint32_t width = 0;
    uint32_t height = 0;
    int32_t stride = 0;  // negative: rows bottom-up, `memory` starts at the last row
    // The surface's pixels in guest memory (|stride| * height bytes), checked; empty for
    // kDestroy.
    GuestBytes memory;
};

// QXL_CMD_UPDATE: the guest asks for `area` of `surface_id` to be rendered into its memory.
struct UpdateCommand {
    Rect area;
    uint32_t update_id = 0;
    uint32_t surface_id = 0;
};

// QXL_CMD_MESSAGE: a NUL-terminated note from the driver (logged, rate-limited).
struct MessageCommand {
    std::vector<uint8_t> text;
};

struct CursorShape {
    uint64_t unique = 0;
    uint16_t type = 0;  // SPICE_CURSOR_TYPE_* (ALPHA, MONO, COLOR4, COLOR8, COLOR16, 24, 32)
    uint16_t width = 0;
    uint16_t height = 0;
    Point hotspot;
    // The shape's bytes (QXLCursor::data_size of them), copied: cursors are small.
    std::vector<uint8_t> data;
};

// QXL_CMD_CURSOR.
struct CursorCommand {
    enum class Kind : uint8_t { kSet, kMove, kHide, kTrail };
    Kind kind = Kind::kSet;
    Point position;
    bool visible = true;                       // kSet
    std::shared_ptr<const CursorShape> shape;  // kSet
    uint16_t trail_length = 0;                 // kTrail
    uint16_t trail_frequency = 0;
};

// Every command carries its QXLReleaseInfo, which goes back to the guest through
// QXLInterface::release_resource once we are done with the command (and with every span in
// it). `release_info` points into guest memory (host address); `group_id` is the command's
// memslot group.
struct ReleaseTicket {
    QXLReleaseInfo* release_info = nullptr;
    uint32_t group_id = 0;
};

struct Command {
    ReleaseTicket release;
    std::variant<Drawable, SurfaceCommand, UpdateCommand, MessageCommand, CursorCommand> body;
};

}  // namespace spiced::qxl
