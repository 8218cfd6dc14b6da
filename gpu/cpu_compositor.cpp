// The CPU backend: the reference every device backend must match byte for byte, and what runs
// when there is no usable device. Built on pixels/ (Frame, the damage detectors, yuv).
#include <algorithm>
#include <cstring>

#include "gpu/compose_rules.h"
#include "gpu/compositor.h"
#include "gpu/frame_differ.h"

namespace spiced::gpu {

namespace {

class CpuCompositor final : public DisplayCompositor {
public:
    explicit CpuCompositor(int32_t tile_size) : tile_size_(tile_size), differ_(tile_size) {}

    Expected<Region, std::string> compose(const CompositionStep& step) override {
        if (auto ok = check_step(step); !ok) return unexpected(ok.error());
        std::shared_ptr<const Frame> next = paint(step);
        Region damage;
        if (!current_ || current_->size() != step.output_size) {
            damage = Region(Rect::MakeSize(step.output_size));
        } else if (step.want_damage) {
            damage = differ_.diff(*current_, step.moves, *next, step.hint);
        }
        // The frame we drew into last time is free again once nothing else holds it.
        spare_ = current_;
        current_ = std::move(next);
        return damage;
    }

    Expected<void, std::string> read_back(const Region& region, Frame& out) override {
        if (!current_ || out.size() != current_->size())
            return unexpected(std::string("compositor: read-back frame size differs"));
        for (const Rect& tile : tiles_touching(region, current_->size(), tile_size_))
            out.copy_from(*current_, tile, tile.origin());
        return {};
    }

    Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) override {
        if (!current_) return unexpected(std::string("compositor: nothing composed yet"));
        return bgrx_to_i420(*current_, area, out);
    }
    Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) override {
        if (!current_) return unexpected(std::string("compositor: nothing composed yet"));
        return bgrx_to_nv12(*current_, area, out);
    }

    Size output_size() const override { return current_ ? current_->size() : Size{}; }
    int32_t tile_size() const override { return tile_size_; }

private:
    // A display whose one layer is the whole output needs no copy: the layer is the output.
    std::shared_ptr<const Frame> paint(const CompositionStep& step) {
        if (step.layers.size() == 1 && !step.cursor) {
            const Layer& only = step.layers.front();
            if (only.frame->size() == step.output_size && only.dest == Point{0, 0} &&
                only.source == only.frame->rect())
                return only.frame;
        }
        std::shared_ptr<Frame> out;
        if (spare_ && spare_.use_count() == 1 && spare_->size() == step.output_size &&
            spare_->owns_pixels())
            out = std::const_pointer_cast<Frame>(spare_);
        else
            out = Frame::create(step.output_size);
        spare_.reset();
        out->fill(out->rect(), 0);
        for (const Layer& layer : step.layers) {
            const LayerCopy copy = clip_layer(layer, step.output_size);
            if (!copy.source.is_empty()) out->copy_from(*layer.frame, copy.source, copy.dest);
        }
        if (step.cursor) blend_cursor(*step.cursor, *out);
        return out;
    }

    static void blend_cursor(const CursorOverlay& cursor, Frame& out) {
        const CursorImage& image = cursor.shape->image;
        const CursorPlacement at = place_cursor(cursor, out.size());
        for (int32_t y = at.visible.top(); y < at.visible.bottom(); ++y) {
            uint32_t* row = out.row(y);
            const uint32_t* src = image.argb.data() + size_t(y - at.origin.y) * size_t(image.width);
            for (int32_t x = at.visible.left(); x < at.visible.right(); ++x)
                row[x] = blend_pixel(src[x - at.origin.x], row[x]);
        }
    }

    int32_t tile_size_;
    FrameDiffer differ_;
    std::shared_ptr<const Frame> current_;
    std::shared_ptr<const Frame> spare_;
};

class CpuBackend final : public GpuBackend {
public:
    GpuBackendKind kind() const override { return GpuBackendKind::kCpu; }
    std::string describe() const override { return "cpu"; }
    Expected<std::unique_ptr<DisplayCompositor>, std::string> create_compositor(
        int32_t tile_size) override {
        if (!valid_compositor_tile(tile_size))
            return unexpected("compositor: tile size " + std::to_string(tile_size) +
                              " is not a multiple of 4 in 4..256");
        return std::unique_ptr<DisplayCompositor>(std::make_unique<CpuCompositor>(tile_size));
    }
    Expected<std::unique_ptr<ScanoutReader>, std::string> import_scanout(
        const ScanoutBuffer& buffer) override {
        return make_mapped_scanout_reader(buffer);
    }
};

}  // namespace

std::unique_ptr<GpuBackend> make_cpu_backend() {
    return std::make_unique<CpuBackend>();
}

}  // namespace spiced::gpu
