// Cost of the demo desktop's render() at 1080p, whole and by part.
#include <benchmark/benchmark.h>

#include <vector>

#include "demo/cad.h"
#include "demo/demo_desktop.h"
#include "demo/layout.h"
#include "demo/video.h"

namespace spiced {
namespace {

void BM_RenderConsecutiveFrames(benchmark::State& state) {
    const Size size{static_cast<int32_t>(state.range(0)), static_cast<int32_t>(state.range(1))};
    DemoDesktop desktop({size, 1});
    auto frame = Frame::create(size);
    std::vector<MoveHint> moves;
    int64_t index = 0;
    for (auto _ : state) {
        moves.clear();
        desktop.render(index++, *frame, moves);
        benchmark::DoNotOptimize(frame->data());
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["frames/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RenderConsecutiveFrames)
    ->Args({1920, 1080})
    ->Args({1280, 720})
    ->Args({3840, 2160})
    ->Unit(benchmark::kMillisecond);

void BM_RenderWithInk(benchmark::State& state) {
    // Worst-ish case for the ink layer: scribbles spread over every part of the screen.
    DemoDesktop desktop({{1920, 1080}, 1});
    for (int32_t y = 20; y < 1060; y += 40) {
        desktop.pointer_moved({10, y}, 1);
        desktop.pointer_moved({1910, y}, 1);
        desktop.pointer_moved({10, y}, 0);
    }
    auto frame = Frame::create({1920, 1080});
    std::vector<MoveHint> moves;
    int64_t index = 0;
    for (auto _ : state) {
        moves.clear();
        desktop.render(index++, *frame, moves);
        benchmark::DoNotOptimize(frame->data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderWithInk)->Unit(benchmark::kMillisecond);

void BM_VideoClip(benchmark::State& state) {
    const DemoLayout layout = make_layout({1920, 1080});
    VideoClip clip(layout.video.size(), 1);
    auto frame = Frame::create({1920, 1080});
    int64_t index = 0;
    for (auto _ : state) {
        clip.render(index++, *frame, layout.video.origin());
        benchmark::DoNotOptimize(frame->data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VideoClip)->Unit(benchmark::kMicrosecond);

void BM_CadWireframe(benchmark::State& state) {
    const DemoLayout layout = make_layout({1920, 1080});
    CadModel model;
    auto frame = Frame::create({1920, 1080});
    int64_t index = 0;
    for (auto _ : state) {
        model.render(index++, *frame, layout.cad_view);
        benchmark::DoNotOptimize(frame->data());
    }
    state.counters["edges"] = static_cast<double>(model.edge_count());
}
BENCHMARK(BM_CadWireframe)->Unit(benchmark::kMicrosecond);

void BM_CopyFullFrame(benchmark::State& state) {
    // The floor: render() copies the cached static desktop into every frame.
    auto from = Frame::create({1920, 1080});
    auto to = Frame::create({1920, 1080});
    for (auto _ : state) {
        to->copy_from(*from, from->rect(), {0, 0});
        benchmark::DoNotOptimize(to->data());
    }
}
BENCHMARK(BM_CopyFullFrame)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
