// Cost of StreamDetector::on_frame per 1080p demo frame (two streams running, the terminal
// scrolling, the editor typing and gliding), and on a frame whose damage is the whole screen.
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "demo/demo_desktop.h"
#include "gpu/frame_differ.h"
#include "display/stream_detector.h"

namespace spiced {
namespace {

constexpr Size kFullHd{1920, 1080};
// 10 s of the demo at 30 fps: two editor glides, the CAD stream's relocations.
constexpr int kFrames = 300;

struct DemoDamage {
    std::vector<Region> damage;
    std::vector<std::vector<MoveHint>> moves;
    std::unique_ptr<Frame> last;  // content samples read this one picture (cheap to keep)
};

const DemoDamage& demo_damage() {
    static const DemoDamage recorded = [] {
        DemoDamage out;
        DemoDesktop desktop({kFullHd, 1});
        FrameDiffer differ;
        auto previous = Frame::create(kFullHd);
        std::vector<MoveHint> moves;
        desktop.render(0, *previous, moves);
        for (int i = 1; i <= kFrames; ++i) {
            if (i % 3 == 0) desktop.type_text(i % 60 == 0 ? "\n" : "ab");
            auto next = Frame::create(kFullHd);
            moves.clear();
            desktop.render(i, *next, moves);
            out.damage.push_back(differ.diff(*previous, moves, *next, Region(next->rect())));
            out.moves.push_back(moves);
            previous = std::move(next);
        }
        out.last = std::move(previous);
        return out;
    }();
    return recorded;
}

void BM_DemoFrame(benchmark::State& state) {
    const DemoDamage& demo = demo_damage();
    StreamDetector detector;
    auto now = StreamDetector::Clock::time_point{};
    size_t i = 0;
    for (auto _ : state) {
        now += std::chrono::microseconds(33'333);
        StreamEvents events = detector.on_frame(now, *demo.last, demo.damage[i], demo.moves[i]);
        benchmark::DoNotOptimize(events);
        i = (i + 1) % demo.damage.size();
    }
    state.counters["streams"] = double(detector.active().size());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DemoFrame)->Unit(benchmark::kMicrosecond);

void BM_FullScreenDamage(benchmark::State& state) {
    const DemoDamage& demo = demo_damage();
    StreamDetector detector;
    const Region all(demo.last->rect());
    auto now = StreamDetector::Clock::time_point{};
    for (auto _ : state) {
        now += std::chrono::microseconds(33'333);
        StreamEvents events = detector.on_frame(now, *demo.last, all, {});
        benchmark::DoNotOptimize(events);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullScreenDamage)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
