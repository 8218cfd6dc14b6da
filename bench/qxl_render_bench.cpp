// The renderer's hot path: QXL_DRAW_COPY of 32-bit bitmaps onto a 1920x1080 xRGB surface,
// as a full-screen image and as 256x256 tiles whose drawables carry clip rects (what a guest
// sends while a window is partly covered). Bytes/s count the bitmap bytes drawn.
#include <benchmark/benchmark.h>

#include <spice/enums.h>

#include <cstring>
#include <memory>
#include <vector>

#include "qxl/pixman_renderer.h"

namespace spiced::qxl {
namespace {

constexpr Size kScreen{1920, 1080};

struct BitmapSource {
    std::vector<uint8_t> bytes;
    std::shared_ptr<Image> image;
};

BitmapSource make_bitmap(int32_t w, int32_t h, bool cacheable, uint64_t id) {
    BitmapSource out;
    out.bytes.resize(size_t(w) * size_t(h) * 4);
    for (size_t i = 0; i < out.bytes.size(); ++i) out.bytes[i] = uint8_t(i * 7 + (i >> 12));
    out.image = std::make_shared<Image>();
    out.image->type = SPICE_IMAGE_TYPE_BITMAP;
    out.image->width = uint32_t(w);
    out.image->height = uint32_t(h);
    out.image->id = id;
    out.image->cacheable = cacheable;
    Bitmap bm;
    bm.format = SPICE_BITMAP_FMT_32BIT;
    bm.top_down = true;
    bm.stride = uint32_t(w) * 4;
    bm.data.chunks.push_back(out.bytes);
    bm.data.size = out.bytes.size();
    out.image->content = std::move(bm);
    return out;
}

Drawable copy_drawable(const std::shared_ptr<Image>& image, Rect bbox) {
    Copy c;
    c.src = image;
    c.src_area = Rect::MakeSize(bbox.size());
    c.rop_descriptor = SPICE_ROPD_OP_PUT;
    Drawable d;
    d.bbox = bbox;
    d.op = std::move(c);
    return d;
}

void BM_CopyFullScreen(benchmark::State& state) {
    const bool cacheable = state.range(0) != 0;
    PixmanRenderer r;
    if (!r.create_surface(0, SPICE_SURFACE_FMT_32_xRGB, kScreen, {}, 0)) {
        state.SkipWithError("create_surface failed");
        return;
    }
    BitmapSource src = make_bitmap(kScreen.width, kScreen.height, cacheable, 1);
    const Drawable d = copy_drawable(src.image, Rect::MakeSize(kScreen));
    for (auto _ : state) {
        auto damage = r.draw(d);
        if (!damage) {
            state.SkipWithError(damage.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(damage->area());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(src.bytes.size()));
    state.SetLabel(cacheable ? "cached image" : "bitmap decoded per draw");
}
BENCHMARK(BM_CopyFullScreen)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// 256x256 tiles over the screen, each drawable clipped by two rects that leave out a
// 32-pixel vertical strip (a window edge across every tile).
void BM_CopyTilesWithClips(benchmark::State& state) {
    PixmanRenderer r;
    if (!r.create_surface(0, SPICE_SURFACE_FMT_32_xRGB, kScreen, {}, 0)) {
        state.SkipWithError("create_surface failed");
        return;
    }
    constexpr int32_t kTile = 256;
    BitmapSource src = make_bitmap(kTile, kTile, false, 2);
    std::vector<Drawable> drawables;
    for (int32_t y = 0; y + kTile <= kScreen.height; y += kTile) {
        for (int32_t x = 0; x + kTile <= kScreen.width; x += kTile) {
            Drawable d = copy_drawable(src.image, Rect::MakeXYWH(x, y, kTile, kTile));
            d.clip.has_rects = true;
            d.clip.rects = {Rect::MakeLTRB(x, y, x + 100, y + kTile),
                            Rect::MakeLTRB(x + 132, y, x + kTile, y + kTile)};
            drawables.push_back(std::move(d));
        }
    }
    for (auto _ : state) {
        for (const Drawable& d : drawables) {
            auto damage = r.draw(d);
            if (!damage) {
                state.SkipWithError(damage.error().c_str());
                return;
            }
            benchmark::DoNotOptimize(damage->area());
        }
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(drawables.size()) *
                            int64_t(src.bytes.size()));
    state.counters["tiles"] = double(drawables.size());
}
BENCHMARK(BM_CopyTilesWithClips)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace spiced::qxl

BENCHMARK_MAIN();
