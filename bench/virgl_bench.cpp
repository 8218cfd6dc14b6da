// The virgl source's cost per frame: our command stream through virglrenderer (EGL
// surfaceless; Mesa's llvmpipe where there is no GPU) and the read back into a host frame.
// Skipped when virglrenderer cannot start.
#include <benchmark/benchmark.h>

#include "virgl/scene.h"

namespace spiced {
namespace {

void BM_VirglSceneFrame(benchmark::State& state) {
    const Size size{static_cast<int32_t>(state.range(0)), static_cast<int32_t>(state.range(1))};
    auto scene = virgl::Scene::create(size);
    if (!scene) {
        state.SkipWithError(scene.error().c_str());
        return;
    }
    auto frame = Frame::create(size);
    Region changed;
    int64_t index = 0;
    for (auto _ : state) {
        if (auto rendered = (*scene)->render(index++, *frame, changed); !rendered) {
            state.SkipWithError(rendered.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(frame->data());
    }
    state.counters["frames/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_VirglSceneFrame)
    ->Args({1920, 1080})
    ->Args({1280, 720})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
