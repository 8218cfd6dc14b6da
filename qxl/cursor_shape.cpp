#include "qxl/cursor_shape.h"

#include <spice/enums.h>

namespace spiced::qxl {
namespace {

// Larger shapes than any pointer; refusing them bounds what a guest makes us allocate.
constexpr uint16_t kMaxCursorSide = 512;

bool bit_at(const uint8_t* row, int32_t x) {
    return (row[x / 8] >> (7 - x % 8)) & 1;
}

}  // namespace

Expected<std::shared_ptr<const PointerShape>, std::string> pointer_shape_of(
    const CursorShape& shape) {
    const int32_t width = shape.width;
    const int32_t height = shape.height;
    if (width == 0 || height == 0 || width > kMaxCursorSide || height > kMaxCursorSide)
        return unexpected("cursor of " + std::to_string(width) + "x" + std::to_string(height) +
                          " pixels");
    const size_t pixels = size_t(width) * height;
    const size_t mask_stride = (size_t(width) + 7) / 8;
    const size_t mask_bytes = mask_stride * height;
    const uint8_t* data = shape.data.data();
    const size_t size = shape.data.size();

    auto result = std::make_shared<PointerShape>();
    result->id = shape.unique;
    result->image.width = width;
    result->image.height = height;
    result->image.hotspot = Point{std::min<int32_t>(shape.hotspot.x, width - 1),
                                  std::min<int32_t>(shape.hotspot.y, height - 1)};
    auto& argb = result->image.argb;
    argb.resize(pixels);

    // The colour types carry pixels, then (for 4/8 bits) a palette, then an AND mask whose set
    // bits are transparent.
    auto colour =
        [&](size_t pixel_bytes, size_t palette_entries,
            auto&& pixel_at) -> Expected<std::shared_ptr<const PointerShape>, std::string> {
        const size_t palette_offset = pixel_bytes;
        const size_t mask_offset = palette_offset + palette_entries * 4;
        if (size < mask_offset + mask_bytes)
            return unexpected("cursor data of " + std::to_string(size) + " bytes; type " +
                              std::to_string(shape.type) + " at " + std::to_string(width) + "x" +
                              std::to_string(height) + " needs " +
                              std::to_string(mask_offset + mask_bytes));
        const uint8_t* palette = data + palette_offset;
        for (int32_t y = 0; y < height; ++y) {
            const uint8_t* mask = data + mask_offset + y * mask_stride;
            for (int32_t x = 0; x < width; ++x) {
                const uint32_t rgb = pixel_at(x, y, palette) & 0x00ffffffu;
                argb[size_t(y) * width + x] = bit_at(mask, x) ? 0u : (0xff000000u | rgb);
            }
        }
        return std::shared_ptr<const PointerShape>(result);
    };
    auto le32 = [](const uint8_t* p) {
        return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    };

    switch (shape.type) {
        case SPICE_CURSOR_TYPE_ALPHA:
            if (size < pixels * 4)
                return unexpected("alpha cursor data of " + std::to_string(size) + " bytes for " +
                                  std::to_string(width) + "x" + std::to_string(height));
            for (size_t i = 0; i < pixels; ++i) argb[i] = le32(data + i * 4);
            return std::shared_ptr<const PointerShape>(result);
        case SPICE_CURSOR_TYPE_MONO: {
            if (size < mask_bytes * 2)
                return unexpected("mono cursor data of " + std::to_string(size) + " bytes for " +
                                  std::to_string(width) + "x" + std::to_string(height));
            for (int32_t y = 0; y < height; ++y) {
                const uint8_t* and_row = data + y * mask_stride;
                const uint8_t* xor_row = data + mask_bytes + y * mask_stride;
                for (int32_t x = 0; x < width; ++x) {
                    const bool a = bit_at(and_row, x);
                    const bool b = bit_at(xor_row, x);
                    // AND 1 XOR 0 keeps the screen; 0/0 black; 0/1 white; 1/1 inverts it, which a
                    // straight-alpha image cannot say: shown black, as clients do.
                    uint32_t pixel = 0;
                    if (!a)
                        pixel = b ? 0xffffffffu : 0xff000000u;
                    else if (b)
                        pixel = 0xff000000u;
                    argb[size_t(y) * width + x] = pixel;
                }
            }
            return std::shared_ptr<const PointerShape>(result);
        }
        case SPICE_CURSOR_TYPE_COLOR4: {
            const size_t stride = (size_t(width) + 1) / 2;
            return colour(stride * height, 16, [&](int32_t x, int32_t y, const uint8_t* palette) {
                const uint8_t byte = data[y * stride + x / 2];
                return le32(palette + 4 * ((x & 1) ? (byte & 0x0f) : (byte >> 4)));
            });
        }
        case SPICE_CURSOR_TYPE_COLOR8:
            return colour(pixels, 256, [&](int32_t x, int32_t y, const uint8_t* palette) {
                return le32(palette + 4 * data[size_t(y) * width + x]);
            });
        case SPICE_CURSOR_TYPE_COLOR16:
            return colour(pixels * 2, 0, [&](int32_t x, int32_t y, const uint8_t*) {
                const uint8_t* p = data + (size_t(y) * width + x) * 2;
                const uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8;
                const uint32_t r = (v >> 10) & 0x1f, g = (v >> 5) & 0x1f, b = v & 0x1f;
                // 5 bits to 8: the top bits repeat into the bottom ones.
                return (((r << 3) | (r >> 2)) << 16) | (((g << 3) | (g >> 2)) << 8) |
                       ((b << 3) | (b >> 2));
            });
        case SPICE_CURSOR_TYPE_COLOR24:
            return colour(pixels * 3, 0, [&](int32_t x, int32_t y, const uint8_t*) {
                const uint8_t* p = data + (size_t(y) * width + x) * 3;
                return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16;
            });
        case SPICE_CURSOR_TYPE_COLOR32:
            return colour(pixels * 4, 0, [&](int32_t x, int32_t y, const uint8_t*) {
                return le32(data + (size_t(y) * width + x) * 4);
            });
        default:
            return unexpected("cursor type " + std::to_string(shape.type) + " is unknown");
    }
}

}  // namespace spiced::qxl
