// The demo display pipeline on one core: render the next frame, diff it against the moved
// previous frame, and encode every damaged rectangle the way a display channel would.
// Reports frames/s (items_per_second) and the encoded bytes per frame, with a 1080p memcpy in
// the same run as the ceiling of any per-frame full copy.
#include <benchmark/benchmark.h>

#include <cstring>

#include "core/display_pipeline.h"
#include "encode/image_encoder.h"

namespace spiced {
namespace {

std::unique_ptr<DisplayPipeline> make_pipeline() {
    return std::make_unique<DisplayPipeline>(
        std::make_unique<DemoDesktop>(DemoConfig{{1920, 1080}, 1}), PipelineOptions{});
}

void run_pipeline(benchmark::State& state, std::unique_ptr<ImageEncoder> encoder) {
    auto pipeline = make_pipeline();
    ByteWriter out(8 << 20);
    uint64_t bytes = 0, rects = 0;
    for (auto _ : state) {
        pipeline->tick();
        out.buffer().clear();
        if (encoder) {
            for (const Rect& area : coalesce_rects(pipeline->damage(), 0.25)) {
                auto ok = encoder->encode(pipeline->current(), area, out, 0);
                benchmark::DoNotOptimize(ok);
                ++rects;
            }
        }
        bytes += out.size();
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
    state.counters["bytes_per_frame"] =
        benchmark::Counter(double(bytes) / double(state.iterations()));
    state.counters["rects_per_frame"] =
        benchmark::Counter(double(rects) / double(state.iterations()));
}

void BM_PipelineRenderAndDamage(benchmark::State& state) {
    run_pipeline(state, nullptr);
}
void BM_PipelineWithLz4(benchmark::State& state) {
    run_pipeline(state, make_lz4_encoder());
}
void BM_PipelineWithBitmap(benchmark::State& state) {
    run_pipeline(state, make_bitmap_encoder());
}

void BM_Memcpy1080pFrame(benchmark::State& state) {
    std::vector<uint8_t> a(1920 * 1080 * 4, 1), b(a.size());
    for (auto _ : state) {
        std::memcpy(b.data(), a.data(), a.size());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
    state.SetBytesProcessed(int64_t(state.iterations() * a.size()));
}

// A fixed 300 frames (10 s of animation, every kind of motion the demo has) per run, so runs
// compare the same work.
BENCHMARK(BM_PipelineRenderAndDamage)->Unit(benchmark::kMillisecond)->Iterations(300);
BENCHMARK(BM_PipelineWithLz4)->Unit(benchmark::kMillisecond)->Iterations(300);
BENCHMARK(BM_PipelineWithBitmap)->Unit(benchmark::kMillisecond)->Iterations(300);
BENCHMARK(BM_Memcpy1080pFrame)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
