// The CPU renderer. Reference semantics: spice-common's canvas_base.c / sw_canvas.c (what
// spice-server's update_area and spice-gtk draw); this is our own implementation of them.
//
// Every draw first resolves everything that can fail (surface, bbox, sources, masks,
// brushes) and only then touches pixels, so a failed draw changes nothing.
#include "qxl/pixman_renderer.h"

#include <pixman.h>
#include <spice/enums.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "encode/image_decoder.h"
#include "encode/lz.h"
#include "encode/quic.h"

namespace spiced::qxl {
namespace {

constexpr int32_t kMaxSide = 16384;

// QXL_PATH_* from <spice/qxl_dev.h>, which cannot be included next to qxl/commands.h (that
// forward-declares QXLReleaseInfo as a struct; qxl_dev.h defines it as a union).
constexpr uint32_t kPathBegin = 1u << 0;
constexpr uint32_t kPathEnd = 1u << 1;
constexpr uint32_t kPathClose = 1u << 3;
constexpr uint32_t kPathBezier = 1u << 4;

using Error = std::string;
Unexpected<Error> fail(std::string why) {
    return unexpected(std::move(why));
}

// ---------------------------------------------------------------------------------------
// pixman RAII

struct ImageUnref {
    void operator()(pixman_image_t* image) const { pixman_image_unref(image); }
};
using ImagePtr = std::unique_ptr<pixman_image_t, ImageUnref>;

ImagePtr share(pixman_image_t* image) {
    return ImagePtr(pixman_image_ref(image));
}

ImagePtr new_image(pixman_format_code_t format, int32_t width, int32_t height) {
    // pixman allocates zeroed memory and frees it with the image.
    return ImagePtr(pixman_image_create_bits(format, width, height, nullptr, 0));
}

void release_owner(pixman_image_t*, void* owner) {
    pixman_image_unref(static_cast<pixman_image_t*>(owner));
}

// Another pixman image over the same bits, in another format of the same depth or with its
// own transform/filter/repeat: cached images and surfaces are shared, so their own image
// objects are never reconfigured. The view holds a reference to the owner of the bits.
ImagePtr view_of(pixman_image_t* image, pixman_format_code_t format) {
    ImagePtr view(pixman_image_create_bits(
        format, pixman_image_get_width(image), pixman_image_get_height(image),
        pixman_image_get_data(image), pixman_image_get_stride(image)));
    if (view) pixman_image_set_destroy_function(view.get(), release_owner, pixman_image_ref(image));
    return view;
}
ImagePtr view_of(pixman_image_t* image) {
    return view_of(image, pixman_image_get_format(image));
}

int bpp_of(pixman_image_t* image) {
    return PIXMAN_FORMAT_BPP(pixman_image_get_format(image));
}
int32_t width_of(pixman_image_t* image) {
    return pixman_image_get_width(image);
}
int32_t height_of(pixman_image_t* image) {
    return pixman_image_get_height(image);
}
Rect rect_of(pixman_image_t* image) {
    return Rect::MakeXYWH(0, 0, width_of(image), height_of(image));
}
uint8_t* row_of(pixman_image_t* image, int32_t y) {
    return reinterpret_cast<uint8_t*>(pixman_image_get_data(image)) +
           ptrdiff_t{y} * pixman_image_get_stride(image);
}

class PixRegion {
public:
    PixRegion() { pixman_region32_init(&region_); }
    explicit PixRegion(const Rect& r) {
        if (r.is_empty()) {
            pixman_region32_init(&region_);
        } else {
            pixman_region32_init_rect(&region_, r.left(), r.top(), unsigned(r.width()),
                                      unsigned(r.height()));
        }
    }
    static PixRegion from_boxes(const std::vector<pixman_box32_t>& boxes) {
        PixRegion out;
        pixman_region32_fini(&out.region_);
        pixman_region32_init_rects(&out.region_, boxes.data(), int(boxes.size()));
        return out;
    }
    PixRegion(const PixRegion& other) {
        pixman_region32_init(&region_);
        pixman_region32_copy(&region_, other.raw());
    }
    PixRegion& operator=(const PixRegion& other) {
        if (this != &other) pixman_region32_copy(&region_, other.raw());
        return *this;
    }
    ~PixRegion() { pixman_region32_fini(&region_); }

    // pixman's region API takes non-const pointers even for reads.
    pixman_region32_t* raw() const { return const_cast<pixman_region32_t*>(&region_); }
    bool empty() const { return !pixman_region32_not_empty(raw()); }
    void intersect(const PixRegion& other) {
        pixman_region32_intersect(&region_, &region_, other.raw());
    }
    void intersect(const Rect& r) { intersect(PixRegion(r)); }
    void translate(int32_t dx, int32_t dy) { pixman_region32_translate(&region_, dx, dy); }
    std::span<const pixman_box32_t> boxes() const {
        int n = 0;
        const pixman_box32_t* b = pixman_region32_rectangles(raw(), &n);
        return {b, size_t(n)};
    }
    Rect extents() const {
        const pixman_box32_t* e = pixman_region32_extents(raw());
        return empty() ? Rect() : Rect::MakeLTRB(e->x1, e->y1, e->x2, e->y2);
    }
    Region to_region() const {
        Region out;
        for (const auto& b : boxes()) out.add_rect(Rect::MakeLTRB(b.x1, b.y1, b.x2, b.y2));
        return out;
    }

private:
    pixman_region32_t region_;
};

// Sets `clip` on `image` for one composite and removes it again.
class ClipScope {
public:
    ClipScope(pixman_image_t* image, const PixRegion& clip) : image_(image) {
        pixman_image_set_clip_region32(image_, clip.raw());
    }
    ~ClipScope() { pixman_image_set_clip_region32(image_, nullptr); }
    ClipScope(const ClipScope&) = delete;
    ClipScope& operator=(const ClipScope&) = delete;

private:
    pixman_image_t* image_;
};

// ---------------------------------------------------------------------------------------
// Pixel access for the per-pixel operations (rops, colour keys, rop3) that pixman lacks.

uint32_t get_pixel(const uint8_t* row, int bpp, int32_t x) {
    switch (bpp) {
        case 32: {
            uint32_t v;
            std::memcpy(&v, row + size_t(x) * 4, 4);
            return v;
        }
        case 16: {
            uint16_t v;
            std::memcpy(&v, row + size_t(x) * 2, 2);
            return v;
        }
        case 8:
            return row[x];
        default:  // pixman a1 on a little-endian host: pixel x is bit x % 8 of byte x / 8
            return (row[x >> 3] >> (x & 7)) & 1u;
    }
}

void put_pixel(uint8_t* row, int bpp, int32_t x, uint32_t v) {
    switch (bpp) {
        case 32:
            std::memcpy(row + size_t(x) * 4, &v, 4);
            break;
        case 16: {
            auto v16 = uint16_t(v);
            std::memcpy(row + size_t(x) * 2, &v16, 2);
            break;
        }
        case 8:
            row[x] = uint8_t(v);
            break;
        default:
            if (v & 1u) {
                row[x >> 3] = uint8_t(row[x >> 3] | (1u << (x & 7)));
            } else {
                row[x >> 3] = uint8_t(row[x >> 3] & ~(1u << (x & 7)));
            }
            break;
    }
}

// Calls f(x, y, old) for every pixel of `region` (inside `image`) and stores its result.
template <typename F>
void modify_pixels(pixman_image_t* image, const PixRegion& region, F&& f) {
    const int bpp = bpp_of(image);
    for (const auto& b : region.boxes()) {
        for (int32_t y = b.y1; y < b.y2; ++y) {
            uint8_t* row = row_of(image, y);
            if (bpp == 32) {
                auto* p = reinterpret_cast<uint32_t*>(row);
                for (int32_t x = b.x1; x < b.x2; ++x) p[x] = f(x, y, p[x]);
            } else {
                for (int32_t x = b.x1; x < b.x2; ++x) {
                    put_pixel(row, bpp, x, f(x, y, get_pixel(row, bpp, x)));
                }
            }
        }
    }
}

int32_t floor_mod(int64_t a, int32_t m) {
    int64_t r = a % m;
    return int32_t(r < 0 ? r + m : r);
}

// ---------------------------------------------------------------------------------------
// Binary raster ops as truth tables: bit (s << 1 | d) of the table is the result for source
// bit s and destination bit d. The canvas's SpiceROP values are the same 16 functions.

constexpr uint8_t kRopClear = 0x0;
constexpr uint8_t kRopInvert = 0x5;  // ~d
constexpr uint8_t kRopNoop = 0xa;    // d
constexpr uint8_t kRopCopy = 0xc;    // s
constexpr uint8_t kRopSet = 0xf;

inline uint32_t apply_rop(uint8_t rop, uint32_t s, uint32_t d) {
    uint32_t r = 0;
    if (rop & 1) r |= ~s & ~d;
    if (rop & 2) r |= ~s & d;
    if (rop & 4) r |= s & ~d;
    if (rop & 8) r |= s & d;
    return r;
}

enum class RopInput : uint8_t { kSrc, kBrush, kDest };

// SPICE_ROPD_* names the inputs by role (src, brush, dest); an operation reads two of them.
// Only the inversions of the two it reads count, and the first operator bit present wins
// in the canvas's order.
uint8_t rop_from_descriptor(uint16_t desc, RopInput src, RopInput dest) {
    auto inverted = [desc](RopInput in) {
        switch (in) {
            case RopInput::kSrc:
                return (desc & SPICE_ROPD_INVERS_SRC) != 0;
            case RopInput::kBrush:
                return (desc & SPICE_ROPD_INVERS_BRUSH) != 0;
            case RopInput::kDest:
                return (desc & SPICE_ROPD_INVERS_DEST) != 0;
        }
        return false;
    };
    int op;
    if (desc & SPICE_ROPD_OP_PUT) {
        op = 0;
    } else if (desc & SPICE_ROPD_OP_OR) {
        op = 1;
    } else if (desc & SPICE_ROPD_OP_AND) {
        op = 2;
    } else if (desc & SPICE_ROPD_OP_XOR) {
        op = 3;
    } else if (desc & SPICE_ROPD_OP_BLACKNESS) {
        return kRopClear;
    } else if (desc & SPICE_ROPD_OP_WHITENESS) {
        return kRopSet;
    } else if (desc & SPICE_ROPD_OP_INVERS) {
        return kRopInvert;
    } else {
        return kRopCopy;
    }
    const unsigned inv_s = inverted(src) ? 1 : 0;
    const unsigned inv_d = inverted(dest) ? 1 : 0;
    const unsigned inv_r = (desc & SPICE_ROPD_INVERS_RES) ? 1 : 0;
    uint8_t table = 0;
    for (unsigned s = 0; s < 2; ++s) {
        for (unsigned d = 0; d < 2; ++d) {
            const unsigned a = s ^ inv_s;
            const unsigned b = d ^ inv_d;
            unsigned r = 0;
            switch (op) {
                case 0:
                    r = a;
                    break;
                case 1:
                    r = a | b;
                    break;
                case 2:
                    r = a & b;
                    break;
                default:
                    r = a ^ b;
                    break;
            }
            table = uint8_t(table | ((r ^ inv_r) << (s << 1 | d)));
        }
    }
    return table;
}

// Ternary rop (Windows numbering): bit (p << 2 | s << 1 | d) of `code` is the result.
inline uint32_t apply_rop3(uint8_t code, uint32_t p, uint32_t s, uint32_t d) {
    uint32_t r = 0;
    for (unsigned i = 0; i < 8; ++i) {
        if (code >> i & 1u) r |= ((i & 4) ? p : ~p) & ((i & 2) ? s : ~s) & ((i & 1) ? d : ~d);
    }
    return r;
}

// ---------------------------------------------------------------------------------------
// Formats

pixman_format_code_t surface_pixman_format(uint32_t format) {
    switch (format) {
        case SPICE_SURFACE_FMT_1_A:
            return PIXMAN_a1;
        case SPICE_SURFACE_FMT_8_A:
            return PIXMAN_a8;
        case SPICE_SURFACE_FMT_16_555:
            return PIXMAN_x1r5g5b5;
        case SPICE_SURFACE_FMT_16_565:
            return PIXMAN_r5g6b5;
        case SPICE_SURFACE_FMT_32_xRGB:
            return PIXMAN_x8r8g8b8;
        case SPICE_SURFACE_FMT_32_ARGB:
            return PIXMAN_a8r8g8b8;
        default:
            return pixman_format_code_t(0);
    }
}

// The same layout without its alpha channel (x8r8g8b8 for a8r8g8b8); formats that are only
// alpha stay as they are.
pixman_format_code_t without_alpha(pixman_format_code_t f) {
    if (PIXMAN_FORMAT_A(f) == 0 || PIXMAN_FORMAT_RGB(f) == 0) return f;
    return pixman_format_code_t(PIXMAN_FORMAT(PIXMAN_FORMAT_BPP(f), PIXMAN_FORMAT_TYPE(f), 0,
                                              PIXMAN_FORMAT_R(f), PIXMAN_FORMAT_G(f),
                                              PIXMAN_FORMAT_B(f)));
}

uint32_t rgb_555_to_888(uint32_t c) {
    return ((c & 0x001f) << 3) | ((c & 0x001c) >> 2) | ((c & 0x03e0) << 6) | ((c & 0x0380) << 1) |
           ((c & 0x7c00) << 9) | ((c & 0x7000) << 4);
}
uint32_t rgb_565_to_888(uint32_t c) {
    return ((c & 0x001f) << 3) | ((c & 0x001c) >> 2) | ((c & 0x07e0) << 5) | ((c & 0x0600) >> 1) |
           ((c & 0xf800) << 8) | ((c & 0xe000) << 3);
}
uint32_t rgb_888_to_555(uint32_t c) {
    return ((c >> 3) & 0x001f) | ((c >> 6) & 0x03e0) | ((c >> 9) & 0x7c00);
}
uint32_t rgb_888_to_565(uint32_t c) {
    return ((c >> 3) & 0x001f) | ((c >> 5) & 0x07e0) | ((c >> 8) & 0xf800);
}

// `src` in a layout whose raw pixels can be combined with a `dest_format` surface's: 32-bit
// pixels are taken as they are (the canvas copies alpha bytes into xRGB surfaces too), other
// depths are converted.
ImagePtr in_layout(pixman_image_t* src, pixman_format_code_t dest_format) {
    const pixman_format_code_t f = pixman_image_get_format(src);
    if (f == dest_format || (PIXMAN_FORMAT_BPP(f) == 32 && PIXMAN_FORMAT_BPP(dest_format) == 32)) {
        return share(src);
    }
    ImagePtr out = new_image(dest_format, width_of(src), height_of(src));
    if (!out) return out;
    pixman_image_composite32(PIXMAN_OP_SRC, src, nullptr, out.get(), 0, 0, 0, 0, 0, 0,
                             width_of(src), height_of(src));
    return out;
}

ImagePtr copy_image(pixman_image_t* src) {
    ImagePtr out = new_image(pixman_image_get_format(src), width_of(src), height_of(src));
    if (!out) return out;
    const size_t bytes = size_t(pixman_image_get_stride(src)) * size_t(height_of(src));
    std::memcpy(pixman_image_get_data(out.get()), pixman_image_get_data(src), bytes);
    return out;
}

// ---------------------------------------------------------------------------------------
// Guest data split in chunks

class ChunkReader {
public:
    explicit ChunkReader(const ChunkedBytes& bytes) : bytes_(bytes) {
        size_t at = 0;
        for (const auto& c : bytes_.chunks) {
            starts_.push_back(at);
            at += c.size();
        }
        size_ = at;
    }
    // The parser's `size` is a claim; the chunks are what we can actually read.
    size_t size() const { return size_; }

    // `len` bytes at `offset` as one contiguous run: straight from the chunk when they lie
    // in one, gathered into `scratch` when a row spans chunks. Null if out of range.
    const uint8_t* get(size_t offset, size_t len, std::vector<uint8_t>& scratch) const {
        if (offset > size_ || len > size_ - offset) return nullptr;
        if (len == 0) return scratch.data();
        size_t i =
            size_t(std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin()) - 1;
        while (bytes_.chunks[i].size() == 0 && i + 1 < bytes_.chunks.size()) ++i;
        size_t in_chunk = offset - starts_[i];
        if (bytes_.chunks[i].size() - in_chunk >= len) return bytes_.chunks[i].data() + in_chunk;
        scratch.resize(len);
        size_t done = 0;
        while (done < len) {
            const auto& c = bytes_.chunks[i];
            const size_t n = std::min(len - done, c.size() - in_chunk);
            std::memcpy(scratch.data() + done, c.data() + in_chunk, n);
            done += n;
            in_chunk = 0;
            ++i;
        }
        return scratch.data();
    }

    std::vector<uint8_t> linear() const {
        std::vector<uint8_t> out;
        out.reserve(size_);
        for (const auto& c : bytes_.chunks) out.insert(out.end(), c.begin(), c.end());
        return out;
    }

private:
    const ChunkedBytes& bytes_;
    std::vector<size_t> starts_;
    size_t size_ = 0;
};

// ---------------------------------------------------------------------------------------
// Image decoding

bool is_indexed(uint8_t format) {
    return format == SPICE_BITMAP_FMT_1BIT_LE || format == SPICE_BITMAP_FMT_1BIT_BE ||
           format == SPICE_BITMAP_FMT_4BIT_LE || format == SPICE_BITMAP_FMT_4BIT_BE ||
           format == SPICE_BITMAP_FMT_8BIT;
}

// Bits per pixel of a bitmap format; 0 for an unknown one.
uint32_t bitmap_bits(uint8_t format) {
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

Expected<void, Error> check_image_size(uint32_t width, uint32_t height, size_t max_bytes) {
    if (width == 0 || height == 0) return fail("image has no pixels");
    if (width > uint32_t(kMaxSide) || height > uint32_t(kMaxSide)) {
        return fail("image larger than 16384x16384");
    }
    if (uint64_t{width} * height * 4 > max_bytes) return fail("image over the byte limit");
    return {};
}

// Decodes a bitmap to the pixman format the canvas keeps it in when it wants the original:
// indexed formats become x8r8g8b8 through the palette, 16-bit x1r5g5b5, 24/32-bit
// x8r8g8b8, RGBA a8r8g8b8 and 8BIT_A a8. `palette_16`: the destination surface is 16-bit,
// whose palettes hold x1r5g5b5 entries.
Expected<ImagePtr, Error> decode_bitmap(const Image& image, const Bitmap& bm, bool palette_16,
                                        size_t max_bytes) {
    if (auto ok = check_image_size(image.width, image.height, max_bytes); !ok) {
        return fail(ok.error());
    }
    const uint32_t bits = bitmap_bits(bm.format);
    if (bits == 0) return fail("unknown bitmap format " + std::to_string(bm.format));
    const auto width = int32_t(image.width);
    const auto height = int32_t(image.height);
    const size_t row_bytes = (size_t(image.width) * bits + 7) / 8;
    if (bm.stride < row_bytes) return fail("bitmap stride shorter than its rows");
    ChunkReader reader(bm.data);
    const size_t need = size_t(bm.stride) * size_t(height - 1) + row_bytes;
    if (reader.size() < need || bm.data.size < need) {
        return fail("bitmap data too small for its size (" + std::to_string(reader.size()) +
                    " bytes, needs " + std::to_string(need) + ")");
    }

    uint32_t palette[256] = {};
    if (is_indexed(bm.format)) {
        if (!bm.palette) return fail("indexed bitmap without a palette");
        const size_t n = std::min<size_t>(bm.palette->entries.size(), 256);
        for (size_t i = 0; i < n; ++i) {
            const uint32_t e = bm.palette->entries[i];
            palette[i] = palette_16 ? rgb_555_to_888(e) : (e & 0x00ffffffu);
        }
    }

    pixman_format_code_t format = PIXMAN_x8r8g8b8;
    if (bm.format == SPICE_BITMAP_FMT_16BIT) format = PIXMAN_x1r5g5b5;
    if (bm.format == SPICE_BITMAP_FMT_RGBA) format = PIXMAN_a8r8g8b8;
    if (bm.format == SPICE_BITMAP_FMT_8BIT_A) format = PIXMAN_a8;
    ImagePtr out = new_image(format, width, height);
    if (!out) return fail("out of memory for a bitmap");

    std::vector<uint8_t> scratch;
    for (int32_t r = 0; r < height; ++r) {
        const uint8_t* src = reader.get(size_t(r) * bm.stride, row_bytes, scratch);
        uint8_t* dst_row = row_of(out.get(), bm.top_down ? r : height - 1 - r);
        auto* dst32 = reinterpret_cast<uint32_t*>(dst_row);
        switch (bm.format) {
            case SPICE_BITMAP_FMT_1BIT_LE:
                for (int32_t x = 0; x < width; ++x)
                    dst32[x] = palette[(src[x >> 3] >> (x & 7)) & 1];
                break;
            case SPICE_BITMAP_FMT_1BIT_BE:
                for (int32_t x = 0; x < width; ++x) {
                    dst32[x] = palette[(src[x >> 3] >> (7 - (x & 7))) & 1];
                }
                break;
            case SPICE_BITMAP_FMT_4BIT_LE:
                for (int32_t x = 0; x < width; ++x) {
                    dst32[x] = palette[(src[x >> 1] >> ((x & 1) * 4)) & 0xf];
                }
                break;
            case SPICE_BITMAP_FMT_4BIT_BE:
                for (int32_t x = 0; x < width; ++x) {
                    dst32[x] = palette[(src[x >> 1] >> ((x & 1) ? 0 : 4)) & 0xf];
                }
                break;
            case SPICE_BITMAP_FMT_8BIT:
                for (int32_t x = 0; x < width; ++x) dst32[x] = palette[src[x]];
                break;
            case SPICE_BITMAP_FMT_24BIT:
                for (int32_t x = 0; x < width; ++x) {
                    const uint8_t* p = src + size_t(x) * 3;
                    dst32[x] = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16;
                }
                break;
            default:  // 16BIT, 32BIT, RGBA, 8BIT_A: the pixman layout is the wire layout
                std::memcpy(dst_row, src, row_bytes);
                break;
        }
    }
    return out;
}

// Uncached 16/32-bit bitmaps whose rows lie in one chunk are drawn straight from guest
// memory: their wire layout is pixman's, and copying a full-screen bitmap first would double
// the cost of the commonest draw. The image lives only for one draw (the command holds the
// memory until it is released); sources are never written to. Null when not possible.
ImagePtr wrap_bitmap(const Image& image, const Bitmap& bm) {
    pixman_format_code_t format;
    switch (bm.format) {
        case SPICE_BITMAP_FMT_32BIT:
            format = PIXMAN_x8r8g8b8;
            break;
        case SPICE_BITMAP_FMT_RGBA:
            format = PIXMAN_a8r8g8b8;
            break;
        case SPICE_BITMAP_FMT_16BIT:
            format = PIXMAN_x1r5g5b5;
            break;
        default:
            return nullptr;
    }
    if (bm.data.chunks.empty() || image.width == 0 || image.height == 0 ||
        image.width > uint32_t(kMaxSide) || image.height > uint32_t(kMaxSide)) {
        return nullptr;
    }
    const GuestBytes chunk = bm.data.chunks.front();
    const size_t row_bytes = size_t(image.width) * size_t(PIXMAN_FORMAT_BPP(format) / 8);
    const size_t need = size_t(bm.stride) * size_t(image.height - 1) + row_bytes;
    if (bm.stride < row_bytes || bm.stride % 4 != 0 || chunk.size() < need ||
        reinterpret_cast<uintptr_t>(chunk.data()) % 4 != 0 || bm.stride > uint32_t(INT32_MAX)) {
        return nullptr;
    }
    // pixman takes a non-const pointer for every image, sources included.
    auto* base = const_cast<uint8_t*>(chunk.data());
    int stride = int(bm.stride);
    if (!bm.top_down) {
        base += size_t(bm.stride) * size_t(image.height - 1);
        stride = -stride;
    }
    return ImagePtr(pixman_image_create_bits(format, int(image.width), int(image.height),
                                             reinterpret_cast<uint32_t*>(base), stride));
}

ImagePtr image_from_frame(const Frame& frame, pixman_format_code_t format) {
    ImagePtr out = new_image(format, frame.width(), frame.height());
    if (!out) return out;
    for (int32_t y = 0; y < frame.height(); ++y) {
        std::memcpy(row_of(out.get(), y), frame.row(y), size_t(frame.width()) * 4);
    }
    return out;
}

// QXL hands the bytes of the QUIC/LZ chunk; a SPICE message body has a u32 size first. Take
// either.
std::span<const uint8_t> stream_start(std::span<const uint8_t> body, const char magic[4]) {
    if (body.size() >= 4 && std::memcmp(body.data(), magic, 4) == 0) return body;
    if (body.size() >= 8 && std::memcmp(body.data() + 4, magic, 4) == 0) return body.subspan(4);
    return body;
}

Expected<ImagePtr, Error> decode_compressed(const Image& image, const CompressedImage& c,
                                            size_t max_bytes) {
    if (auto ok = check_image_size(image.width, image.height, max_bytes); !ok) {
        return fail(ok.error());
    }
    const std::vector<uint8_t> body = ChunkReader(c.data).linear();
    ImagePtr out;
    if (image.type == SPICE_IMAGE_TYPE_QUIC) {
        auto decoded = quic_decode(stream_start(body, "QUIC"), int64_t(max_bytes / 4));
        if (!decoded) return fail("QUIC image does not decode: " + decoded.error());
        if (decoded->type == QuicType::kGray || decoded->type == QuicType::kRgb16) {
            return fail("QUIC image of a type clients do not draw");
        }
        const Frame& f = *decoded->frame;
        if (f.width() != int32_t(image.width) || f.height() != int32_t(image.height)) {
            return fail("QUIC image size differs from its descriptor");
        }
        out = image_from_frame(
            f, decoded->type == QuicType::kRgba ? PIXMAN_a8r8g8b8 : PIXMAN_x8r8g8b8);
    } else if (image.type == SPICE_IMAGE_TYPE_LZ_RGB) {
        const auto stream = stream_start(body, "  ZL");
        auto header = lz_read_header(stream);
        if (!header) return fail("LZ image does not decode: " + header.error());
        if (lz_is_palette(header->type)) return fail("LZ_RGB image holds a palette stream");
        auto decoded = lz_decode(stream);
        if (!decoded) return fail("LZ image does not decode: " + decoded.error());
        const Frame& f = **decoded;
        if (f.width() != int32_t(image.width) || f.height() != int32_t(image.height)) {
            return fail("LZ image size differs from its descriptor");
        }
        out = image_from_frame(
            f, header->type == LzImageType::kRgba ? PIXMAN_a8r8g8b8 : PIXMAN_x8r8g8b8);
    } else if (image.type == SPICE_IMAGE_TYPE_LZ_PLT) {
        // The palette of an LZ_PLT body is a pointer QXL commands do not carry.
        return fail("LZ_PLT images are not supported from QXL (no palette)");
    } else {
        return fail("unsupported image type " + std::to_string(image.type));
    }
    if (!out) return fail("out of memory for an image");
    return out;
}

// ---------------------------------------------------------------------------------------
// Surfaces

struct Surface {
    uint32_t format = 0;
    pixman_format_code_t pixman_format = pixman_format_code_t(0);
    Size size;
    ImagePtr image;
    size_t bytes = 0;

    int bpp() const { return PIXMAN_FORMAT_BPP(pixman_format); }
    Rect rect() const { return Rect::MakeSize(size); }
    size_t row_bytes() const { return (size_t(size.width) * size_t(bpp()) + 7) / 8; }
};

// A brush made ready for one surface: a colour in its format, or a tile in its layout.
struct Paint {
    Brush::Kind kind = Brush::Kind::kNone;
    uint32_t color = 0;
    ImagePtr tile;
    Point pos;
};

// Fills `region` of `image` with `paint` under binary rop `rop`.
void paint_region(pixman_image_t* image, const PixRegion& region, const Paint& paint, uint8_t rop) {
    if (rop == kRopNoop || region.empty()) return;
    const int bpp = bpp_of(image);
    if (paint.kind != Brush::Kind::kPattern) {
        const uint32_t color = paint.kind == Brush::Kind::kSolid ? paint.color : 0;
        uint32_t value = color;
        if (rop == kRopClear) value = 0;
        if (rop == kRopSet) value = 0xffffffffu;
        if ((rop == kRopCopy || rop == kRopClear || rop == kRopSet) && bpp >= 8) {
            for (const auto& b : region.boxes()) {
                pixman_fill(pixman_image_get_data(image), pixman_image_get_stride(image) / 4, bpp,
                            b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1, value);
            }
            return;
        }
        modify_pixels(image, region,
                      [&](int32_t, int32_t, uint32_t d) { return apply_rop(rop, color, d); });
        return;
    }
    pixman_image_t* tile = paint.tile.get();
    const int32_t tw = width_of(tile);
    const int32_t th = height_of(tile);
    const int tile_bpp = bpp_of(tile);
    modify_pixels(image, region, [&](int32_t x, int32_t y, uint32_t d) {
        const uint8_t* trow = row_of(tile, floor_mod(int64_t{y} - paint.pos.y, th));
        const uint32_t s = get_pixel(trow, tile_bpp, floor_mod(int64_t{x} - paint.pos.x, tw));
        return apply_rop(rop, s, d);
    });
}

// Copies `src` into `dst` within `region`: dest (x, y) takes src (x - dx, y - dy); parts
// whose source lies outside `src` are left alone.
void blit(pixman_image_t* dst, const PixRegion& region, pixman_image_t* src, int32_t dx,
          int32_t dy) {
    const bool raw =
        bpp_of(src) == bpp_of(dst) &&
        (bpp_of(src) == 32 || pixman_image_get_format(src) == pixman_image_get_format(dst)) &&
        bpp_of(src) >= 8;
    const int bytes_pp = bpp_of(dst) / 8;
    const Rect src_rect = rect_of(src).translated(dx, dy);
    for (const auto& b : region.boxes()) {
        const Rect r = Rect::MakeLTRB(b.x1, b.y1, b.x2, b.y2).intersect(src_rect);
        if (r.is_empty()) continue;
        if (raw) {
            for (int32_t y = r.top(); y < r.bottom(); ++y) {
                std::memmove(row_of(dst, y) + size_t(r.left()) * bytes_pp,
                             row_of(src, y - dy) + size_t(r.left() - dx) * bytes_pp,
                             size_t(r.width()) * bytes_pp);
            }
        } else {
            pixman_image_composite32(PIXMAN_OP_SRC, src, nullptr, dst, r.left() - dx, r.top() - dy,
                                     0, 0, r.left(), r.top(), r.width(), r.height());
        }
    }
}

// Per-pixel combination of `src` (already in dst's layout) into `dst` within `region`.
template <typename F>
void combine(pixman_image_t* dst, const PixRegion& region, pixman_image_t* src, int32_t dx,
             int32_t dy, F&& f) {
    PixRegion clipped(region);
    clipped.intersect(rect_of(src).translated(dx, dy));
    const int src_bpp = bpp_of(src);
    modify_pixels(dst, clipped, [&](int32_t x, int32_t y, uint32_t d) {
        return f(x, y, get_pixel(row_of(src, y - dy), src_bpp, x - dx), d);
    });
}

pixman_transform_t scale_transform(const Rect& src_area, const Rect& dest) {
    const auto fsx = pixman_fixed_t((int64_t{src_area.width()} * 65536) / dest.width());
    const auto fsy = pixman_fixed_t((int64_t{src_area.height()} * 65536) / dest.height());
    pixman_transform_t t;
    pixman_transform_init_scale(&t, fsx, fsy);
    pixman_transform_translate(&t, nullptr, pixman_int_to_fixed(src_area.left()),
                               pixman_int_to_fixed(src_area.top()));
    return t;
}

// A view of `src` that samples `src_area` stretched over `dest` when composited at dest's
// origin with source offset 0 (the canvas's scaling, pixel centres and all).
ImagePtr scaled_view(pixman_image_t* src, const Rect& src_area, const Rect& dest,
                     pixman_filter_t filter) {
    ImagePtr view = view_of(src);
    if (!view) return view;
    const pixman_transform_t t = scale_transform(src_area, dest);
    pixman_image_set_transform(view.get(), &t);
    pixman_image_set_repeat(view.get(), PIXMAN_REPEAT_NONE);
    pixman_image_set_filter(view.get(), filter, nullptr, 0);
    return view;
}

// `src_area` of `src` scaled to `dest`, rendered into a new image in `format` covering only
// `extents` (a part of dest); pixel (0, 0) of the result is extents' origin.
ImagePtr scale_to_temp(pixman_image_t* src, const Rect& src_area, const Rect& dest,
                       const Rect& extents, pixman_filter_t filter, pixman_format_code_t format) {
    ImagePtr view = scaled_view(src, src_area, dest, filter);
    if (!view) return view;
    ImagePtr out = new_image(format, extents.width(), extents.height());
    if (!out) return out;
    pixman_image_composite32(PIXMAN_OP_SRC, view.get(), nullptr, out.get(),
                             extents.left() - dest.left(), extents.top() - dest.top(), 0, 0, 0, 0,
                             extents.width(), extents.height());
    return out;
}

bool is_same_size(const Rect& a, const Rect& b) {
    return a.width() == b.width() && a.height() == b.height();
}

// ---------------------------------------------------------------------------------------
// Zero-width lines, pixel for pixel as X's miZeroLine (which the canvas uses) draws them:
// Bresenham with X's default octant bias, the last point of a polyline not drawn
// (CapNotLast).

constexpr unsigned kXDecreasing = 4;
constexpr unsigned kYDecreasing = 2;
constexpr unsigned kYMajor = 1;
// Octants (as XDECREASING|YDECREASING|YMAJOR bit sets) where an exact tie steps on the
// major axis only: X's DEFAULTZEROLINEBIAS (its octants 2, 3, 4, 5).
constexpr unsigned kZeroLineBias = (1u << (kYDecreasing | kYMajor)) |
                                   (1u << (kXDecreasing | kYDecreasing | kYMajor)) |
                                   (1u << (kXDecreasing | kYDecreasing)) | (1u << kXDecreasing);

struct Span {
    int32_t y;
    int32_t x;
    int32_t width;
};

// Emits the pixels of one segment (x1, y1) -> (x2, y2), endpoint excluded, as spans; only
// pixels inside `bounds` are emitted (the step count along the major axis is bounded by it,
// so a huge guest coordinate costs nothing). `on` decides, per emitted pixel index along
// the segment, whether the pixel is drawn (dashes).
template <typename On>
void zero_line_segment(int32_t x1, int32_t y1, int32_t x2, int32_t y2, const Rect& bounds,
                       std::vector<Span>& spans, On&& on) {
    int64_t adx = int64_t{x2} - x1;
    int64_t ady = int64_t{y2} - y1;
    int sx = 1, sy = 1;
    unsigned octant = 0;
    if (adx < 0) {
        adx = -adx;
        sx = -1;
        octant |= kXDecreasing;
    }
    if (ady < 0) {
        ady = -ady;
        sy = -1;
        octant |= kYDecreasing;
    }
    const bool x_major = adx > ady;
    if (!x_major) octant |= kYMajor;
    const int64_t major = x_major ? adx : ady;
    const int64_t minor = x_major ? ady : adx;
    if (major == 0) return;
    const int64_t bias = (kZeroLineBias >> octant) & 1;
    // X's error term after j major steps decides how many minor steps were taken: the
    // closed form lets us start at the first step inside `bounds`.
    auto minor_steps = [&](int64_t j) {
        const int64_t num = -major - bias + 2 * j * minor;
        const int64_t den = 2 * major;
        const int64_t q = num >= 0 ? num / den : -((-num + den - 1) / den);
        return q + 1;
    };
    // Range of j whose major coordinate is inside bounds.
    const int64_t m0 = x_major ? x1 : y1;
    const int sm = x_major ? sx : sy;
    const int64_t lo = x_major ? bounds.left() : bounds.top();
    const int64_t hi = x_major ? bounds.right() - 1 : bounds.bottom() - 1;
    int64_t j0 = 0, j1 = major - 1;
    if (sm > 0) {
        j0 = std::max<int64_t>(j0, lo - m0);
        j1 = std::min<int64_t>(j1, hi - m0);
    } else {
        j0 = std::max<int64_t>(j0, m0 - hi);
        j1 = std::min<int64_t>(j1, m0 - lo);
    }
    for (int64_t j = j0; j <= j1; ++j) {
        if (!on(j)) continue;
        const int64_t n = minor_steps(j);
        const int64_t x = x_major ? x1 + sx * j : x1 + sx * n;
        const int64_t y = x_major ? y1 + sy * n : y1 + sy * j;
        if (!bounds.contains(Point{int32_t(x), int32_t(y)})) continue;
        if (!spans.empty() && spans.back().y == y &&
            (spans.back().x + spans.back().width == x || spans.back().x - 1 == x)) {
            if (x < spans.back().x) spans.back().x = int32_t(x);
            ++spans.back().width;
        } else {
            spans.push_back({int32_t(y), int32_t(x), 1});
        }
    }
}

// 28.4 fixed point to pixels as the canvas rounds (halves round down).
int32_t fix_to_int(int32_t fixed) {
    const int32_t rem = fixed & 0x0f;
    int32_t val = fixed >> 4;
    if (rem > 8) ++val;
    return val;
}

// Flattens a cubic Bezier into `out` (points after p0) the way the canvas subdivides:
// halve until both control points deviate from the chord by under half a pixel.
void flatten_bezier(FixedPoint p0, FixedPoint p1, FixedPoint p2, FixedPoint p3,
                    std::vector<Point>& out, int depth = 0) {
    // 128-bit: guest coordinates are arbitrary, and the squares of their differences would
    // overflow 64 bits.
    using Wide = __int128;
    auto dot = [](Wide ax, Wide ay, Wide bx, Wide by) { return (ax * bx + ay * by) >> 4; };
    const Wide a2 = dot(Wide{p1.x} - p0.x, Wide{p1.y} - p0.y, Wide{p1.x} - p0.x, Wide{p1.y} - p0.y);
    const Wide b2 = dot(Wide{p3.x} - p0.x, Wide{p3.y} - p0.y, Wide{p3.x} - p0.x, Wide{p3.y} - p0.y);
    const Wide c2 = dot(Wide{p2.x} - p3.x, Wide{p2.y} - p3.y, Wide{p2.x} - p3.x, Wide{p2.y} - p3.y);
    const Wide ab = dot(Wide{p1.x} - p0.x, Wide{p1.y} - p0.y, Wide{p3.x} - p0.x, Wide{p3.y} - p0.y);
    const Wide cb = dot(Wide{p2.x} - p3.x, Wide{p2.y} - p3.y, Wide{p0.x} - p3.x, Wide{p0.y} - p3.y);
    const Wide h1 = (a2 * b2 - ab * ab) >> 3;
    const Wide h2 = (c2 * b2 - cb * cb) >> 3;
    // The depth limit only guards against guest values that never converge.
    if ((h1 < b2 && h2 < b2) || depth > 16) {
        out.push_back({fix_to_int(p3.x), fix_to_int(p3.y)});
        return;
    }
    auto mid = [](FixedPoint a, FixedPoint b) {
        return FixedPoint{int32_t((int64_t{a.x} + b.x) / 2), int32_t((int64_t{a.y} + b.y) / 2)};
    };
    const FixedPoint p01 = mid(p0, p1), p12 = mid(p1, p2), p23 = mid(p2, p3);
    const FixedPoint p012 = mid(p01, p12), p123 = mid(p12, p23);
    const FixedPoint p0123 = mid(p012, p123);
    flatten_bezier(p0, p01, p012, p0123, out, depth + 1);
    flatten_bezier(p0123, p123, p23, p3, out, depth + 1);
}

// ---------------------------------------------------------------------------------------
// Text

// Writes one raster glyph into the string mask (a1 or a8) whose origin is `mask_origin`.
// Glyph rows are stored bottom row first, as the canvas reads them; A1 rows are MSB-first.
void put_glyph(const RasterGlyph& g, int bpp, pixman_image_t* mask, Point mask_origin) {
    const int32_t left = g.render_pos.x + g.glyph_origin.x - mask_origin.x;
    const int32_t top = g.render_pos.y + g.glyph_origin.y - mask_origin.y;
    const size_t stride = (size_t(g.width) * size_t(bpp) + 7) / 8;
    const int32_t mw = width_of(mask);
    const int32_t mh = height_of(mask);
    for (int32_t r = 0; r < g.height; ++r) {
        const int32_t y = top + r;
        if (y < 0 || y >= mh) continue;
        const uint8_t* src = g.data.data() + stride * size_t(g.height - 1 - r);
        uint8_t* dst = row_of(mask, y);
        for (int32_t c = 0; c < g.width; ++c) {
            const int32_t x = left + c;
            if (x < 0 || x >= mw) continue;
            if (bpp == 1) {
                if ((src[c >> 3] >> (7 - (c & 7))) & 1) put_pixel(dst, 1, x, 1);
            } else {
                uint8_t v =
                    bpp == 8 ? src[c] : uint8_t((c & 1) ? src[c >> 1] << 4 : src[c >> 1] & 0xf0);
                dst[x] = std::max(dst[x], v);
            }
        }
    }
}

// A solid pixman colour from a brush colour in the surface's format, as the canvas makes it
// for text (5-bit channels for 16-bit surfaces).
pixman_color_t brush_color(uint32_t color, uint32_t surface_format) {
    const bool depth16 =
        surface_format == SPICE_SURFACE_FMT_16_555 || surface_format == SPICE_SURFACE_FMT_16_565;
    const unsigned shift = depth16 ? 5 : 8;
    const uint32_t mask = depth16 ? 0x1f : 0xff;
    pixman_color_t c;
    c.blue = uint16_t(((color & mask) * 0xffff) / mask);
    color >>= shift;
    c.green = uint16_t(((color & mask) * 0xffff) / mask);
    color >>= shift;
    c.red = uint16_t(((color & mask) * 0xffff) / mask);
    c.alpha = 0xffff;
    return c;
}

// xRGB surfaces keep their X byte 0 after compositing (pixman writes alpha there).
void clear_x_byte(const Surface& s, const PixRegion& region) {
    if (s.format != SPICE_SURFACE_FMT_32_xRGB) return;
    modify_pixels(s.image.get(), region,
                  [](int32_t, int32_t, uint32_t d) { return d & 0x00ffffffu; });
}

bool valid_pixman_op(uint32_t op) {
    return op <= PIXMAN_OP_SATURATE || (op >= PIXMAN_OP_DISJOINT_CLEAR && op <= 0x1b) ||
           (op >= PIXMAN_OP_CONJOINT_CLEAR && op <= 0x2b) ||
           (op >= PIXMAN_OP_MULTIPLY && op <= PIXMAN_OP_HSL_LUMINOSITY);
}

pixman_transform_t to_pixman(const Transform& t) {
    pixman_transform_t p;
    p.matrix[0][0] = t.t00;
    p.matrix[0][1] = t.t01;
    p.matrix[0][2] = t.t02;
    p.matrix[1][0] = t.t10;
    p.matrix[1][1] = t.t11;
    p.matrix[1][2] = t.t12;
    p.matrix[2][0] = 0;
    p.matrix[2][1] = 0;
    p.matrix[2][2] = pixman_fixed_1;
    return p;
}

struct CacheEntry {
    ImagePtr image;
    size_t bytes = 0;
    std::list<uint64_t>::iterator lru;
};

}  // namespace

// ---------------------------------------------------------------------------------------

struct PixmanRenderer::Impl {
    explicit Impl(const PixmanRendererOptions& o) : options(o) {}

    PixmanRendererOptions options;
    std::unordered_map<uint32_t, Surface> surfaces;
    size_t surface_bytes = 0;
    std::unordered_map<uint64_t, CacheEntry> cache;
    std::list<uint64_t> lru;  // most recently used first
    size_t cache_bytes = 0;

    Surface* find(uint32_t id) {
        auto it = surfaces.find(id);
        return it == surfaces.end() ? nullptr : &it->second;
    }
    const Surface* find(uint32_t id) const {
        auto it = surfaces.find(id);
        return it == surfaces.end() ? nullptr : &it->second;
    }

    void remember(uint64_t id, const ImagePtr& image) {
        const size_t bytes =
            size_t(pixman_image_get_stride(image.get())) * size_t(height_of(image.get()));
        if (bytes > options.image_cache_bytes) return;
        while (cache_bytes + bytes > options.image_cache_bytes && !lru.empty()) {
            auto victim = cache.find(lru.back());
            cache_bytes -= victim->second.bytes;
            cache.erase(victim);
            lru.pop_back();
        }
        lru.push_front(id);
        cache[id] = CacheEntry{share(image.get()), bytes, lru.begin()};
        cache_bytes += bytes;
    }

    // A bitmap/QUIC/LZ image decoded (through the cache when the guest allows), in its
    // original pixman format. Shared: never written to.
    Expected<ImagePtr, Error> decoded(const Image& image, bool palette_16) {
        const Bitmap* bm = std::get_if<Bitmap>(&image.content);
        // Indexed bitmaps decode differently for 16-bit surfaces; keep those out of the cache.
        const bool use_cache = image.cacheable && !(palette_16 && bm && is_indexed(bm->format));
        if (use_cache) {
            auto it = cache.find(image.id);
            if (it != cache.end()) {
                lru.splice(lru.begin(), lru, it->second.lru);
                return share(it->second.image.get());
            }
        }
        Expected<ImagePtr, Error> out = fail("image has no content");
        if (bm && !use_cache) {
            if (ImagePtr direct = wrap_bitmap(image, *bm)) return direct;
        }
        if (bm) {
            out = decode_bitmap(image, *bm, palette_16, options.max_surface_bytes);
        } else if (auto* c = std::get_if<CompressedImage>(&image.content)) {
            out = decode_compressed(image, *c, options.max_surface_bytes);
        }
        if (out && use_cache) remember(image.id, *out);
        return out;
    }

    // The pixels of `image` for drawing on surface `dest_id`. Surface images are read in
    // place, except the destination itself, which is copied first (a draw may read what it
    // writes). `surface_alpha`: an xRGB source surface's X byte counts as alpha.
    Expected<ImagePtr, Error> source(const std::shared_ptr<const Image>& image, uint32_t dest_id,
                                     bool surface_alpha = false) {
        if (!image) return fail("drawable has no source image");
        if (auto* si = std::get_if<SurfaceImage>(&image->content)) {
            const Surface* s = find(si->surface_id);
            if (!s) return fail("source surface " + std::to_string(si->surface_id) + " unknown");
            ImagePtr out =
                si->surface_id == dest_id ? copy_image(s->image.get()) : share(s->image.get());
            if (!out) return fail("out of memory copying a surface");
            if (surface_alpha && s->format == SPICE_SURFACE_FMT_32_xRGB) {
                out = view_of(out.get(), PIXMAN_a8r8g8b8);
                if (!out) return fail("out of memory");
            }
            return out;
        }
        const Surface* dest = find(dest_id);
        const bool palette_16 = dest && dest->bpp() == 16;
        return decoded(*image, palette_16);
    }

    Expected<Paint, Error> resolve_brush(const Brush& brush, const Surface& dest,
                                         uint32_t dest_id) {
        Paint p;
        p.kind = brush.kind;
        p.color = brush.color;
        if (brush.kind == Brush::Kind::kPattern) {
            auto tile = source(brush.pattern, dest_id);
            if (!tile) return fail("brush pattern: " + tile.error());
            p.tile = in_layout(tile->get(), dest.pixman_format);
            if (!p.tile) return fail("out of memory converting a pattern");
            p.pos = brush.pattern_pos;
        }
        return p;
    }

    // Narrows `region` to the set bits of a QMask (its bitmap placed so that mask.pos lands
    // on the bbox's top-left), inverted within the bitmap when asked.
    Expected<void, Error> apply_mask(const Mask& mask, const Rect& bbox, PixRegion& region) {
        if (!mask.bitmap) return {};
        const Image& image = *mask.bitmap;
        const Bitmap* bm = std::get_if<Bitmap>(&image.content);
        if (!bm ||
            (bm->format != SPICE_BITMAP_FMT_1BIT_LE && bm->format != SPICE_BITMAP_FMT_1BIT_BE)) {
            return fail("mask is not a 1-bit bitmap");
        }
        if (auto ok = check_image_size(image.width, image.height, options.max_surface_bytes); !ok) {
            return fail("mask: " + ok.error());
        }
        const size_t row_bytes = (size_t(image.width) + 7) / 8;
        ChunkReader reader(bm->data);
        const auto height = int32_t(image.height);
        if (bm->stride < row_bytes ||
            reader.size() < size_t(bm->stride) * size_t(height - 1) + row_bytes) {
            return fail("mask bitmap data too small for its size");
        }
        ImagePtr a1 = new_image(PIXMAN_a1, int32_t(image.width), height);
        if (!a1) return fail("out of memory for a mask");
        std::vector<uint8_t> scratch;
        for (int32_t r = 0; r < height; ++r) {
            const uint8_t* src = reader.get(size_t(r) * bm->stride, row_bytes, scratch);
            uint8_t* dst = row_of(a1.get(), bm->top_down ? r : height - 1 - r);
            for (size_t i = 0; i < row_bytes; ++i) {
                uint8_t v = src[i];
                if (bm->format == SPICE_BITMAP_FMT_1BIT_BE) {
                    // pixman's a1 keeps the first pixel in bit 0
                    v = uint8_t(((v * 0x0802u & 0x22110u) | (v * 0x8020u & 0x88440u)) * 0x10101u >>
                                16);
                }
                dst[i] = v;
            }
        }
        PixRegion bits;
        pixman_region32_init_from_image(bits.raw(), a1.get());
        if (mask.invert) {
            pixman_box32_t box{0, 0, int32_t(image.width), height};
            pixman_region32_inverse(bits.raw(), bits.raw(), &box);
        }
        bits.translate(bbox.left() - mask.pos.x, bbox.top() - mask.pos.y);
        region.intersect(bits);
        return {};
    }

    // --- the drawables -------------------------------------------------------------

    Expected<void, Error> draw_fill(const Drawable& d, Surface& s, PixRegion region,
                                    const Fill& f) {
        if (auto ok = apply_mask(f.mask, d.bbox, region); !ok) return ok;
        auto paint = resolve_brush(f.brush, s, d.surface_id);
        if (!paint) return fail(paint.error());
        paint_region(s.image.get(), region, *paint,
                     rop_from_descriptor(f.rop_descriptor, RopInput::kBrush, RopInput::kDest));
        return {};
    }

    Expected<pixman_filter_t, Error> scale_filter(uint8_t mode) {
        if (mode == SPICE_IMAGE_SCALE_MODE_NEAREST) return PIXMAN_FILTER_NEAREST;
        if (mode == SPICE_IMAGE_SCALE_MODE_INTERPOLATE) return PIXMAN_FILTER_GOOD;
        return fail("unknown scale mode " + std::to_string(mode));
    }

    // Puts `src_area` of `src` on `bbox` (scaled when the sizes differ) within `region`,
    // combined with rop.
    Expected<void, Error> put_image(Surface& s, const PixRegion& region, const Rect& bbox,
                                    pixman_image_t* src, const Rect& src_area, uint8_t scale_mode,
                                    uint8_t rop) {
        if (region.empty() || rop == kRopNoop) return {};
        if (is_same_size(bbox, src_area)) {
            const int32_t dx = bbox.left() - src_area.left();
            const int32_t dy = bbox.top() - src_area.top();
            if (rop == kRopCopy) {
                blit(s.image.get(), region, src, dx, dy);
            } else {
                ImagePtr conv = in_layout(src, s.pixman_format);
                if (!conv) return fail("out of memory");
                combine(s.image.get(), region, conv.get(), dx, dy,
                        [rop](int32_t, int32_t, uint32_t sp, uint32_t dp) {
                            return apply_rop(rop, sp, dp);
                        });
            }
            return {};
        }
        auto filter = scale_filter(scale_mode);
        if (!filter) return fail(filter.error());
        if (rop == kRopCopy) {
            ImagePtr view = scaled_view(src, src_area, bbox, *filter);
            if (!view) return fail("out of memory");
            ClipScope clip(s.image.get(), region);
            pixman_image_composite32(PIXMAN_OP_SRC, view.get(), nullptr, s.image.get(), 0, 0, 0, 0,
                                     bbox.left(), bbox.top(), bbox.width(), bbox.height());
            return {};
        }
        const Rect ext = region.extents();
        ImagePtr scaled = scale_to_temp(src, src_area, bbox, ext, *filter, s.pixman_format);
        if (!scaled) return fail("out of memory");
        combine(
            s.image.get(), region, scaled.get(), ext.left(), ext.top(),
            [rop](int32_t, int32_t, uint32_t sp, uint32_t dp) { return apply_rop(rop, sp, dp); });
        return {};
    }

    static Expected<void, Error> check_src_area(const Rect& src_area) {
        if (src_area.is_empty()) return fail("empty source area");
        return {};
    }

    Expected<void, Error> draw_copy(const Drawable& d, Surface& s, PixRegion region,
                                    const Copy& c) {
        if (auto ok = check_src_area(c.src_area); !ok) return ok;
        if (auto ok = apply_mask(c.mask, d.bbox, region); !ok) return ok;
        auto src = source(c.src, d.surface_id);
        if (!src) return fail(src.error());
        if (!is_same_size(d.bbox, c.src_area)) {
            if (auto f = scale_filter(c.scale_mode); !f) return fail(f.error());
        }
        const uint8_t rop = rop_from_descriptor(c.rop_descriptor, RopInput::kSrc, RopInput::kDest);
        return put_image(s, region, d.bbox, src->get(), c.src_area, c.scale_mode, rop);
    }

    Expected<void, Error> draw_opaque(const Drawable& d, Surface& s, PixRegion region,
                                      const Opaque& o) {
        if (auto ok = check_src_area(o.src_area); !ok) return ok;
        if (auto ok = apply_mask(o.mask, d.bbox, region); !ok) return ok;
        auto src = source(o.src, d.surface_id);
        if (!src) return fail(src.error());
        auto paint = resolve_brush(o.brush, s, d.surface_id);
        if (!paint) return fail(paint.error());
        if (!is_same_size(d.bbox, o.src_area)) {
            if (auto f = scale_filter(o.scale_mode); !f) return fail(f.error());
        }
        // The image is put, then the brush combined with it: the rop's "dest" is the image.
        if (auto ok = put_image(s, region, d.bbox, src->get(), o.src_area, o.scale_mode, kRopCopy);
            !ok) {
            return ok;
        }
        paint_region(s.image.get(), region, *paint,
                     rop_from_descriptor(o.rop_descriptor, RopInput::kBrush, RopInput::kSrc));
        return {};
    }

    Expected<void, Error> draw_transparent(const Drawable& d, Surface& s, const PixRegion& region,
                                           const Transparent& t) {
        if (auto ok = check_src_area(t.src_area); !ok) return ok;
        auto src = source(t.src, d.surface_id);
        if (!src) return fail(src.error());
        uint32_t key = 0;
        switch (s.format) {
            case SPICE_SURFACE_FMT_32_xRGB:
            case SPICE_SURFACE_FMT_32_ARGB:
                key = t.true_color & 0x00ffffffu;
                break;
            case SPICE_SURFACE_FMT_16_555:
                key = rgb_888_to_555(t.true_color);
                break;
            case SPICE_SURFACE_FMT_16_565:
                key = rgb_888_to_565(t.true_color);
                break;
            default:
                break;
        }
        const uint32_t compare_mask = s.bpp() == 32 ? 0x00ffffffu : 0xffffffffu;
        auto keyed = [key, compare_mask](int32_t, int32_t, uint32_t sp, uint32_t dp) {
            return (sp & compare_mask) == key ? dp : sp;
        };
        if (region.empty()) return {};
        if (is_same_size(d.bbox, t.src_area)) {
            ImagePtr conv = in_layout(src->get(), s.pixman_format);
            if (!conv) return fail("out of memory");
            combine(s.image.get(), region, conv.get(), d.bbox.left() - t.src_area.left(),
                    d.bbox.top() - t.src_area.top(), keyed);
            return {};
        }
        const Rect ext = region.extents();
        ImagePtr scaled = scale_to_temp(src->get(), t.src_area, d.bbox, ext, PIXMAN_FILTER_NEAREST,
                                        s.pixman_format);
        if (!scaled) return fail("out of memory");
        combine(s.image.get(), region, scaled.get(), ext.left(), ext.top(), keyed);
        return {};
    }

    Expected<void, Error> draw_alpha_blend(const Drawable& d, Surface& s, const PixRegion& region,
                                           const AlphaBlend& a) {
        if (auto ok = check_src_area(a.src_area); !ok) return ok;
        auto src = source(a.src, d.surface_id,
                          (a.alpha_flags & SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA) != 0);
        if (!src) return fail(src.error());
        if (a.alpha == 0 || region.empty()) return {};
        const bool dest_alpha = (a.alpha_flags & SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA) != 0;
        ImagePtr dest = dest_alpha && s.format == SPICE_SURFACE_FMT_32_xRGB
                            ? view_of(s.image.get(), PIXMAN_a8r8g8b8)
                            : share(s.image.get());
        if (!dest) return fail("out of memory");
        ImagePtr mask;
        if (a.alpha != 0xff) {
            pixman_color_t c{0, 0, 0, uint16_t(a.alpha * 0x101)};
            mask.reset(pixman_image_create_solid_fill(&c));
            if (!mask) return fail("out of memory");
        }
        ImagePtr view = is_same_size(d.bbox, a.src_area)
                            ? view_of(src->get())
                            : scaled_view(src->get(), a.src_area, d.bbox, PIXMAN_FILTER_NEAREST);
        if (!view) return fail("out of memory");
        pixman_image_set_repeat(view.get(), PIXMAN_REPEAT_NONE);
        const Point so = is_same_size(d.bbox, a.src_area) ? a.src_area.origin() : Point{0, 0};
        {
            ClipScope clip(dest.get(), region);
            pixman_image_composite32(PIXMAN_OP_OVER, view.get(), mask.get(), dest.get(), so.x, so.y,
                                     0, 0, d.bbox.left(), d.bbox.top(), d.bbox.width(),
                                     d.bbox.height());
        }
        if (!dest_alpha) clear_x_byte(s, region);
        return {};
    }

    Expected<void, Error> draw_copy_bits(const Drawable& d, Surface& s, PixRegion region,
                                         const CopyBits& c) {
        const int64_t dx64 = int64_t{d.bbox.left()} - c.src_pos.x;
        const int64_t dy64 = int64_t{d.bbox.top()} - c.src_pos.y;
        if (dx64 == 0 && dy64 == 0) return {};
        if (std::abs(dx64) >= s.size.width || std::abs(dy64) >= s.size.height) {
            return {};  // nothing of the source is on the surface
        }
        const auto dx = int32_t(dx64);
        const auto dy = int32_t(dy64);
        region.intersect(s.rect().translated(dx, dy));
        if (region.empty()) return {};
        // Overlap-safe order: rows away from the source first, and within a row spans away
        // from the source first; boxes come in bands sorted by y, then x.
        const auto boxes = region.boxes();
        std::vector<pixman_box32_t> order(boxes.begin(), boxes.end());
        const int bytes_pp = std::max(1, s.bpp() / 8);
        pixman_image_t* img = s.image.get();
        auto copy_row_span = [&](int32_t y, const pixman_box32_t& b) {
            if (s.bpp() >= 8) {
                std::memmove(row_of(img, y) + size_t(b.x1) * bytes_pp,
                             row_of(img, y - dy) + size_t(b.x1 - dx) * bytes_pp,
                             size_t(b.x2 - b.x1) * bytes_pp);
                return;
            }
            const uint8_t* src = row_of(img, y - dy);
            uint8_t* dst = row_of(img, y);
            if (dx > 0) {
                for (int32_t x = b.x2 - 1; x >= b.x1; --x)
                    put_pixel(dst, 1, x, get_pixel(src, 1, x - dx));
            } else {
                for (int32_t x = b.x1; x < b.x2; ++x)
                    put_pixel(dst, 1, x, get_pixel(src, 1, x - dx));
            }
        };
        // Group the boxes into bands (equal y1/y2), walk bands and rows in the safe order.
        std::vector<std::pair<size_t, size_t>> bands;
        for (size_t i = 0; i < order.size();) {
            size_t j = i;
            while (j < order.size() && order[j].y1 == order[i].y1) ++j;
            bands.emplace_back(i, j);
            i = j;
        }
        if (dy > 0) std::reverse(bands.begin(), bands.end());
        for (const auto& [first, last] : bands) {
            const int32_t y1 = order[first].y1;
            const int32_t y2 = order[first].y2;
            for (int32_t k = 0; k < y2 - y1; ++k) {
                const int32_t y = dy > 0 ? y2 - 1 - k : y1 + k;
                if (dx > 0) {
                    for (size_t i = last; i-- > first;) copy_row_span(y, order[i]);
                } else {
                    for (size_t i = first; i < last; ++i) copy_row_span(y, order[i]);
                }
            }
        }
        return {};
    }

    Expected<void, Error> draw_solid(const Drawable& d, Surface& s, PixRegion region,
                                     const Mask& mask, uint8_t rop) {
        if (auto ok = apply_mask(mask, d.bbox, region); !ok) return ok;
        Paint black;
        black.kind = Brush::Kind::kSolid;
        paint_region(s.image.get(), region, black, rop);
        return {};
    }

    Expected<void, Error> draw_rop3(const Drawable& d, Surface& s, PixRegion region,
                                    const Rop3& r) {
        if (auto ok = check_src_area(r.src_area); !ok) return ok;
        if (auto ok = apply_mask(r.mask, d.bbox, region); !ok) return ok;
        auto src = source(r.src, d.surface_id);
        if (!src) return fail(src.error());
        auto paint = resolve_brush(r.brush, s, d.surface_id);
        if (!paint) return fail(paint.error());
        ImagePtr layout;
        int32_t dx = 0, dy = 0;
        if (is_same_size(d.bbox, r.src_area)) {
            if (!rect_of(src->get()).contains(r.src_area)) {
                return fail("rop3 source area outside its image");
            }
            layout = in_layout(src->get(), s.pixman_format);
            dx = d.bbox.left() - r.src_area.left();
            dy = d.bbox.top() - r.src_area.top();
        } else {
            auto filter = scale_filter(r.scale_mode);
            if (!filter) return fail(filter.error());
            if (region.empty()) return {};
            const Rect ext = region.extents();
            layout = scale_to_temp(src->get(), r.src_area, d.bbox, ext, *filter, s.pixman_format);
            dx = ext.left();
            dy = ext.top();
        }
        if (!layout) return fail("out of memory");
        pixman_image_t* simg = layout.get();
        const uint8_t code = r.rop3;
        if (paint->kind == Brush::Kind::kPattern) {
            pixman_image_t* tile = paint->tile.get();
            const int32_t tw = width_of(tile);
            const int32_t th = height_of(tile);
            const int tbpp = bpp_of(tile);
            const Point pos = paint->pos;
            combine(s.image.get(), region, simg, dx, dy,
                    [&](int32_t x, int32_t y, uint32_t sp, uint32_t dp) {
                        const uint8_t* trow = row_of(tile, floor_mod(int64_t{y} - pos.y, th));
                        const uint32_t pp =
                            get_pixel(trow, tbpp, floor_mod(int64_t{x} - pos.x, tw));
                        return apply_rop3(code, pp, sp, dp);
                    });
            return {};
        }
        const uint32_t p = paint->kind == Brush::Kind::kSolid ? paint->color : 0;
        combine(s.image.get(), region, simg, dx, dy,
                [code, p](int32_t, int32_t, uint32_t sp, uint32_t dp) {
                    return apply_rop3(code, p, sp, dp);
                });
        return {};
    }

    Expected<void, Error> draw_stroke(const Drawable& d, Surface& s, const PixRegion& region,
                                      const Stroke& st) {
        // Check the whole path first: a bad segment must not leave half a stroke behind.
        bool have_point = false;
        for (const auto& seg : st.path) {
            size_t k = 0;
            if (seg.flags & kPathBegin) {
                if (!seg.points.empty()) have_point = true;
                k = seg.points.empty() ? 0 : 1;
            }
            if (seg.flags & kPathBezier) {
                if ((seg.points.size() - k) % 3 != 0) {
                    return fail("Bezier path segment with a point count not a multiple of 3");
                }
                if (seg.points.size() > k && !have_point) {
                    return fail("Bezier curve without a start point");
                }
            } else if (seg.points.size() > k) {
                have_point = true;
            }
        }
        auto paint = resolve_brush(st.brush, s, d.surface_id);
        if (!paint) return fail(paint.error());
        if (region.empty()) return {};
        const uint8_t rop = rop_from_descriptor(st.fore_mode, RopInput::kBrush, RopInput::kDest);

        // Dashes as the canvas lays them out (START_WITH_GAP rotates the list); drawn along
        // the Bresenham pixels, which approximates X's width-1 dash rasteriser.
        std::vector<int64_t> dash;
        int64_t dash_total = 0;
        int64_t dash_pos = 0;
        if ((st.line_flags & SPICE_LINE_FLAGS_STYLED) && !st.style.empty()) {
            const size_t n = st.style.size();
            dash.resize(n);
            if (st.line_flags & SPICE_LINE_FLAGS_START_WITH_GAP) {
                dash[n - 1] = fix_to_int(st.style[0]);
                for (size_t i = 0; i + 1 < n; ++i) dash[i] = fix_to_int(st.style[i + 1]);
                dash_pos = std::max<int64_t>(dash[0], 0);
            } else {
                for (size_t i = 0; i < n; ++i) dash[i] = fix_to_int(st.style[i]);
            }
            for (auto& v : dash) {
                v = std::max<int64_t>(v, 0);
                dash_total += v;
            }
            if (dash_total == 0) dash.clear();
        }
        auto dash_on = [&](int64_t pos) {
            int64_t p = pos % dash_total;
            for (size_t i = 0; i < dash.size(); ++i) {
                if (p < dash[i]) return i % 2 == 0;
                p -= dash[i];
            }
            return false;
        };

        const Rect bounds = region.extents();
        std::vector<Point> points;
        std::vector<Span> spans;
        std::vector<pixman_box32_t> boxes;
        auto draw_polyline = [&]() {
            for (size_t i = 0; i + 1 < points.size(); ++i) {
                const Point a = points[i];
                const Point b = points[i + 1];
                spans.clear();
                const int64_t base = dash_pos;
                zero_line_segment(a.x, a.y, b.x, b.y, bounds, spans,
                                  [&](int64_t j) { return dash.empty() || dash_on(base + j); });
                dash_pos += std::max(std::abs(int64_t{b.x} - a.x), std::abs(int64_t{b.y} - a.y));
                if (spans.empty()) continue;
                // Each segment is filled on its own, as X fills each segment's spans: a
                // pixel two segments cross gets the rop twice.
                boxes.clear();
                for (const auto& sp : spans) {
                    boxes.push_back({sp.x, sp.y, sp.x + sp.width, sp.y + 1});
                }
                PixRegion line = PixRegion::from_boxes(boxes);
                line.intersect(region);
                paint_region(s.image.get(), line, *paint, rop);
            }
            points.clear();
        };
        auto to_point = [](const FixedPoint& p) { return Point{fix_to_int(p.x), fix_to_int(p.y)}; };
        for (const auto& seg : st.path) {
            size_t k = 0;
            if (seg.flags & kPathBegin) {
                draw_polyline();
                if (!seg.points.empty()) points.push_back(to_point(seg.points[k++]));
            }
            if (seg.flags & kPathBezier) {
                for (; k + 2 < seg.points.size(); k += 3) {
                    auto to_fix = [](int32_t v) {
                        return int32_t(std::clamp<int64_t>(int64_t{v} * 16, INT32_MIN, INT32_MAX));
                    };
                    const FixedPoint p0{to_fix(points.back().x), to_fix(points.back().y)};
                    flatten_bezier(p0, seg.points[k], seg.points[k + 1], seg.points[k + 2], points);
                }
            } else {
                for (; k < seg.points.size(); ++k) points.push_back(to_point(seg.points[k]));
            }
            if (seg.flags & kPathEnd) {
                if ((seg.flags & kPathClose) && !points.empty()) {
                    points.push_back(points.front());
                }
                draw_polyline();
            }
        }
        draw_polyline();
        return {};
    }

    // The brush text is drawn with, as a pixman source; null for no brush.
    Expected<ImagePtr, Error> text_brush(const Brush& brush, const Surface& s, uint32_t dest_id) {
        if (brush.kind == Brush::Kind::kNone) return ImagePtr();
        if (brush.kind == Brush::Kind::kSolid) {
            const pixman_color_t c = brush_color(brush.color, s.format);
            ImagePtr fill(pixman_image_create_solid_fill(&c));
            if (!fill) return fail("out of memory");
            return fill;
        }
        auto tile = source(brush.pattern, dest_id);
        if (!tile) return fail("text brush: " + tile.error());
        ImagePtr view = view_of(tile->get());
        if (!view) return fail("out of memory");
        pixman_transform_t t;
        pixman_transform_init_translate(&t, pixman_int_to_fixed(-brush.pattern_pos.x),
                                        pixman_int_to_fixed(-brush.pattern_pos.y));
        pixman_image_set_transform(view.get(), &t);
        pixman_image_set_repeat(view.get(), PIXMAN_REPEAT_NORMAL);
        return view;
    }

    Expected<void, Error> draw_text(const Drawable& d, Surface& s, const PixRegion& region,
                                    const Text& t) {
        if (t.bpp != 1 && t.bpp != 4 && t.bpp != 8) {
            return fail("text glyphs are not raster A1/A4/A8");
        }
        const bool back = !t.back_area.is_empty();
        // The canvas draws a text with a background only in PUT mode, and then nothing else.
        if (back && t.fore_mode != SPICE_ROPD_OP_PUT) {
            return fail("text with a background needs fore mode PUT");
        }
        int64_t l = INT64_MAX, top = INT64_MAX, r = INT64_MIN, bottom = INT64_MIN;
        for (const auto& g : t.glyphs) {
            const size_t stride = (size_t(g.width) * t.bpp + 7) / 8;
            if (g.data.size() < stride * g.height) return fail("glyph data shorter than its size");
            if (g.width == 0 || g.height == 0) continue;
            const int64_t gl = int64_t{g.render_pos.x} + g.glyph_origin.x;
            const int64_t gt = int64_t{g.render_pos.y} + g.glyph_origin.y;
            l = std::min(l, gl);
            top = std::min(top, gt);
            r = std::max(r, gl + g.width);
            bottom = std::max(bottom, gt + g.height);
        }
        Paint back_paint;
        if (back) {
            auto p = resolve_brush(t.back_brush, s, d.surface_id);
            if (!p) return fail(p.error());
            back_paint = std::move(*p);
        }
        auto brush = text_brush(t.fore_brush, s, d.surface_id);
        if (!brush) return fail(brush.error());
        if (region.empty()) return {};
        if (back) {
            PixRegion back_region(t.back_area);
            back_region.intersect(region);
            paint_region(s.image.get(), back_region, back_paint, kRopCopy);
        }
        if (!*brush || l >= r) return {};
        const Rect ext = region.extents();
        auto clamp = [](int64_t v) { return int32_t(std::clamp<int64_t>(v, -(1 << 30), 1 << 30)); };
        const Rect bounds = Rect::MakeLTRB(clamp(l), clamp(top), clamp(r), clamp(bottom));
        const Rect mask_rect = bounds.intersect(ext);
        if (mask_rect.is_empty()) return {};
        ImagePtr mask =
            new_image(t.bpp == 1 ? PIXMAN_a1 : PIXMAN_a8, mask_rect.width(), mask_rect.height());
        if (!mask) return fail("out of memory for a text mask");
        for (const auto& g : t.glyphs) put_glyph(g, t.bpp, mask.get(), mask_rect.origin());
        {
            ClipScope clip(s.image.get(), region);
            // The brush is sampled relative to the string's top-left, as the canvas does.
            pixman_image_composite32(PIXMAN_OP_OVER, brush->get(), mask.get(), s.image.get(),
                                     mask_rect.left() - bounds.left(),
                                     mask_rect.top() - bounds.top(), 0, 0, mask_rect.left(),
                                     mask_rect.top(), mask_rect.width(), mask_rect.height());
        }
        PixRegion touched(region);
        touched.intersect(mask_rect);
        clear_x_byte(s, touched);
        return {};
    }

    Expected<void, Error> draw_composite(const Drawable& d, Surface& s, const PixRegion& region,
                                         const Composite& c) {
        const uint32_t op = c.flags & 0xffu;
        const uint32_t src_filter = (c.flags >> 8) & 7u;
        const uint32_t mask_filter = (c.flags >> 11) & 7u;
        const uint32_t src_repeat = (c.flags >> 14) & 3u;
        const uint32_t mask_repeat = (c.flags >> 16) & 3u;
        const bool component_alpha = (c.flags & SPICE_COMPOSITE_COMPONENT_ALPHA) != 0;
        if (!valid_pixman_op(op)) return fail("unknown composite operator " + std::to_string(op));
        // Convolution filters need parameters the command does not carry.
        if (src_filter > PIXMAN_FILTER_BILINEAR || mask_filter > PIXMAN_FILTER_BILINEAR) {
            return fail("unsupported composite filter");
        }
        auto src = source(c.src, d.surface_id);
        if (!src) return fail(src.error());
        const bool src_is_surface = c.src && std::holds_alternative<SurfaceImage>(c.src->content);
        pixman_format_code_t sf = pixman_image_get_format(src->get());
        if (src_is_surface && (c.flags & SPICE_COMPOSITE_SOURCE_OPAQUE)) sf = without_alpha(sf);
        ImagePtr sview = view_of(src->get(), sf);
        if (!sview) return fail("out of memory");
        if ((c.flags & SPICE_COMPOSITE_HAS_SRC_TRANSFORM) && c.src_transform) {
            const pixman_transform_t t = to_pixman(*c.src_transform);
            pixman_image_set_transform(sview.get(), &t);
        }
        pixman_image_set_filter(sview.get(), pixman_filter_t(src_filter), nullptr, 0);
        pixman_image_set_repeat(sview.get(), pixman_repeat_t(src_repeat));

        ImagePtr mview;
        if (c.flags & SPICE_COMPOSITE_HAS_MASK) {
            auto m = source(c.mask, d.surface_id);
            if (!m) return fail("composite mask: " + m.error());
            mview = view_of(m->get());
            if (!mview) return fail("out of memory");
            if ((c.flags & SPICE_COMPOSITE_HAS_MASK_TRANSFORM) && c.mask_transform) {
                const pixman_transform_t t = to_pixman(*c.mask_transform);
                pixman_image_set_transform(mview.get(), &t);
            }
            pixman_image_set_filter(mview.get(), pixman_filter_t(mask_filter), nullptr, 0);
            pixman_image_set_repeat(mview.get(), pixman_repeat_t(mask_repeat));
            pixman_image_set_component_alpha(mview.get(), component_alpha ? 1 : 0);
        }
        if (region.empty()) return {};
        ImagePtr dest = (c.flags & SPICE_COMPOSITE_DEST_OPAQUE)
                            ? view_of(s.image.get(), without_alpha(s.pixman_format))
                            : share(s.image.get());
        if (!dest) return fail("out of memory");
        ClipScope clip(dest.get(), region);
        pixman_image_composite32(pixman_op_t(op), sview.get(), mview.get(), dest.get(),
                                 c.src_origin.x, c.src_origin.y, c.mask_origin.x, c.mask_origin.y,
                                 d.bbox.left(), d.bbox.top(), d.bbox.width(), d.bbox.height());
        return {};
    }

    Expected<Region, Error> draw(const Drawable& d) {
        Surface* s = find(d.surface_id);
        if (!s) return fail("surface " + std::to_string(d.surface_id) + " does not exist");
        const Rect& b = d.bbox;
        if (b.right() < b.left() || b.bottom() < b.top()) return fail("bbox is inverted");
        if (!b.is_empty() && !b.intersects(s->rect())) {
            return fail("bbox lies outside surface " + std::to_string(d.surface_id));
        }
        PixRegion region(b.intersect(s->rect()));
        if (d.clip.has_rects) {
            std::vector<pixman_box32_t> boxes;
            boxes.reserve(d.clip.rects.size());
            for (const auto& r : d.clip.rects) {
                if (!r.is_empty()) boxes.push_back({r.left(), r.top(), r.right(), r.bottom()});
            }
            region.intersect(PixRegion::from_boxes(boxes));
        }
        Expected<void, Error> result;
        Surface& surf = *s;
        struct Visitor {
            Impl& impl;
            const Drawable& d;
            Surface& s;
            const PixRegion& region;
            Expected<void, Error>& result;
            bool drew = true;
            void operator()(const Nop&) { drew = false; }
            void operator()(const Fill& op) { result = impl.draw_fill(d, s, region, op); }
            void operator()(const Opaque& op) { result = impl.draw_opaque(d, s, region, op); }
            void operator()(const Copy& op) { result = impl.draw_copy(d, s, region, op); }
            void operator()(const Blend& op) { result = impl.draw_copy(d, s, region, op); }
            void operator()(const Transparent& op) {
                result = impl.draw_transparent(d, s, region, op);
            }
            void operator()(const AlphaBlend& op) {
                result = impl.draw_alpha_blend(d, s, region, op);
            }
            void operator()(const CopyBits& op) { result = impl.draw_copy_bits(d, s, region, op); }
            void operator()(const Rop3& op) { result = impl.draw_rop3(d, s, region, op); }
            void operator()(const Stroke& op) { result = impl.draw_stroke(d, s, region, op); }
            void operator()(const Text& op) { result = impl.draw_text(d, s, region, op); }
            void operator()(const Blackness& op) {
                result = impl.draw_solid(d, s, region, op.mask, kRopClear);
            }
            void operator()(const Whiteness& op) {
                result = impl.draw_solid(d, s, region, op.mask, kRopSet);
            }
            void operator()(const Invers& op) {
                result = impl.draw_solid(d, s, region, op.mask, kRopInvert);
            }
            void operator()(const Composite& op) { result = impl.draw_composite(d, s, region, op); }
        };
        Visitor visitor{*this, d, surf, region, result};
        std::visit(visitor, d.op);
        if (!result) return fail(result.error());
        if (!visitor.drew) return Region();
        return region.to_region();
    }
};

// ---------------------------------------------------------------------------------------

PixmanRenderer::PixmanRenderer(const PixmanRendererOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
PixmanRenderer::~PixmanRenderer() = default;

Expected<void, std::string> PixmanRenderer::create_surface(uint32_t id, uint32_t format, Size size,
                                                           GuestBytes initial, int32_t stride) {
    if (impl_->find(id)) return fail("surface " + std::to_string(id) + " already exists");
    const pixman_format_code_t pf = surface_pixman_format(format);
    if (pf == pixman_format_code_t(0)) {
        return fail("unknown surface format " + std::to_string(format));
    }
    if (size.is_empty()) return fail("surface has no pixels");
    if (size.width > kMaxSide || size.height > kMaxSide) {
        return fail("surface larger than 16384x16384");
    }
    Surface s;
    s.format = format;
    s.pixman_format = pf;
    s.size = size;
    const size_t pix_stride = (size_t(size.width) * size_t(s.bpp()) + 31) / 32 * 4;
    s.bytes = pix_stride * size_t(size.height);
    if (s.bytes > impl_->options.max_surface_bytes) return fail("surface over the byte limit");
    if (impl_->surface_bytes + s.bytes > impl_->options.max_total_bytes) {
        return fail("surfaces over the total byte limit");
    }
    const size_t row_bytes = s.row_bytes();
    const size_t abs_stride = size_t(std::abs(int64_t{stride}));
    if (!initial.empty()) {
        if (abs_stride < row_bytes) return fail("surface stride shorter than a row");
        if (initial.size() < abs_stride * size_t(size.height - 1) + row_bytes) {
            return fail("too little memory for the surface");
        }
    }
    s.image = new_image(pf, size.width, size.height);
    if (!s.image) return fail("out of memory for the surface");
    if (!initial.empty()) {
        for (int32_t y = 0; y < size.height; ++y) {
            const size_t at =
                stride > 0 ? size_t(y) * abs_stride : size_t(size.height - 1 - y) * abs_stride;
            std::memcpy(row_of(s.image.get(), y), initial.data() + at, row_bytes);
        }
    }
    impl_->surface_bytes += s.bytes;
    impl_->surfaces.emplace(id, std::move(s));
    return {};
}

void PixmanRenderer::destroy_surface(uint32_t id) {
    auto it = impl_->surfaces.find(id);
    if (it == impl_->surfaces.end()) return;
    impl_->surface_bytes -= it->second.bytes;
    impl_->surfaces.erase(it);
}

void PixmanRenderer::destroy_all_surfaces() {
    impl_->surfaces.clear();
    impl_->surface_bytes = 0;
}

bool PixmanRenderer::has_surface(uint32_t id) const {
    return impl_->find(id) != nullptr;
}

Size PixmanRenderer::surface_size(uint32_t id) const {
    const Surface* s = impl_->find(id);
    return s ? s->size : Size{};
}

Expected<Region, std::string> PixmanRenderer::draw(const Drawable& drawable) {
    return impl_->draw(drawable);
}

bool PixmanRenderer::read(uint32_t id, const Rect& rect, Frame& out) const {
    const Surface* s = impl_->find(id);
    if (!s) return false;
    const Rect r = rect.intersect(s->rect()).intersect(out.rect());
    if (r.is_empty()) return true;
    pixman_image_t* img = s->image.get();
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        const uint8_t* src = row_of(img, y);
        uint32_t* dst = out.row(y);
        switch (s->format) {
            case SPICE_SURFACE_FMT_32_xRGB:
            case SPICE_SURFACE_FMT_32_ARGB:
                std::memcpy(dst + r.left(), src + size_t(r.left()) * 4, size_t(r.width()) * 4);
                break;
            case SPICE_SURFACE_FMT_16_555:
                for (int32_t x = r.left(); x < r.right(); ++x) {
                    dst[x] = rgb_555_to_888(get_pixel(src, 16, x));
                }
                break;
            case SPICE_SURFACE_FMT_16_565:
                for (int32_t x = r.left(); x < r.right(); ++x) {
                    dst[x] = rgb_565_to_888(get_pixel(src, 16, x));
                }
                break;
            case SPICE_SURFACE_FMT_8_A:
                // Alpha-only surfaces read as grey levels.
                for (int32_t x = r.left(); x < r.right(); ++x) dst[x] = src[x] * 0x010101u;
                break;
            default:
                for (int32_t x = r.left(); x < r.right(); ++x) {
                    dst[x] = get_pixel(src, 1, x) ? 0x00ffffffu : 0u;
                }
                break;
        }
    }
    return true;
}

bool PixmanRenderer::write_back(uint32_t id, const Rect& rect, std::span<uint8_t> memory,
                                int32_t stride) const {
    const Surface* s = impl_->find(id);
    if (!s) return false;
    const size_t abs_stride = size_t(std::abs(int64_t{stride}));
    const size_t row_bytes = s->row_bytes();
    if (abs_stride < row_bytes ||
        memory.size() < abs_stride * size_t(s->size.height - 1) + row_bytes) {
        return false;
    }
    const Rect r = rect.intersect(s->rect());
    if (r.is_empty()) return true;
    const int bpp = s->bpp();
    size_t first = 0;
    size_t len = 0;
    if (bpp >= 8) {
        first = size_t(r.left()) * size_t(bpp / 8);
        len = size_t(r.width()) * size_t(bpp / 8);
    } else {
        // 1-bit rows are written in whole bytes; the extra bits are ours anyway.
        first = size_t(r.left()) / 8;
        len = (size_t(r.right()) + 7) / 8 - first;
    }
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        const size_t at =
            stride > 0 ? size_t(y) * abs_stride : size_t(s->size.height - 1 - y) * abs_stride;
        std::memcpy(memory.data() + at + first, row_of(s->image.get(), y) + first, len);
    }
    return true;
}

void PixmanRenderer::reset_image_cache() {
    impl_->cache.clear();
    impl_->lru.clear();
    impl_->cache_bytes = 0;
}

size_t PixmanRenderer::cached_images() const {
    return impl_->cache.size();
}
size_t PixmanRenderer::cached_bytes() const {
    return impl_->cache_bytes;
}

std::unique_ptr<Renderer> make_pixman_renderer(const PixmanRendererOptions& options) {
    return std::make_unique<PixmanRenderer>(options);
}

}  // namespace spiced::qxl
