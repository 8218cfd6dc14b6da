#include "gpu/compose_rules.h"

#include <algorithm>

#include "display/types.h"

namespace spiced::gpu {

bool valid_compositor_tile(int32_t tile_size) {
    return tile_size >= kMinCompositorTile && tile_size <= kMaxCompositorTile && tile_size % 4 == 0;
}

std::vector<Rect> tiles_touching(const Region& region, Size output, int32_t tile_size) {
    const Rect frame = Rect::MakeSize(output);
    const int32_t columns = (output.width + tile_size - 1) / tile_size;
    const int32_t rows = (output.height + tile_size - 1) / tile_size;
    std::vector<uint8_t> touched(size_t(columns) * size_t(rows), 0);
    for (const Rect& rect : region.rects()) {
        const Rect r = rect.intersect(frame);
        if (r.is_empty()) continue;
        for (int32_t ty = r.top() / tile_size; ty <= (r.bottom() - 1) / tile_size; ++ty) {
            uint8_t* row = touched.data() + size_t(ty) * size_t(columns);
            std::fill(row + r.left() / tile_size, row + (r.right() - 1) / tile_size + 1,
                      uint8_t{1});
        }
    }
    std::vector<Rect> tiles;
    for (int32_t ty = 0; ty < rows; ++ty) {
        for (int32_t tx = 0; tx < columns; ++tx) {
            if (touched[size_t(ty) * size_t(columns) + size_t(tx)]) {
                tiles.push_back(Rect::MakeXYWH(tx * tile_size, ty * tile_size, tile_size, tile_size)
                                    .intersect(frame));
            }
        }
    }
    return tiles;
}

Expected<void, std::string> check_step(const CompositionStep& step) {
    const Size out = step.output_size;
    if (out.width <= 0 || out.height <= 0 || int64_t(out.width) * out.height > kMaxSurfacePixels)
        return unexpected("compositor: output size " + std::to_string(out.width) + "x" +
                          std::to_string(out.height) + " out of range");
    for (const Layer& layer : step.layers) {
        if (!layer.frame) return unexpected(std::string("compositor: layer without a frame"));
    }
    if (step.cursor) {
        const auto& shape = step.cursor->shape;
        if (!shape || shape->image.width < 0 || shape->image.height < 0 ||
            shape->image.argb.size() != size_t(shape->image.width) * size_t(shape->image.height))
            return unexpected(std::string("compositor: cursor image does not match its size"));
    }
    return {};
}

}  // namespace spiced::gpu
