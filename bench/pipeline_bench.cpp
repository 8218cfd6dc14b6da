// The demo display pipeline on one core: the demo source renders the next frame, the
// desktop's FrameDiffer diffs it against the moved previous frame, and every damaged rectangle
// is encoded the way a display channel would. Reports frames/s (items_per_second) and the
// encoded bytes per frame, with a 1080p memcpy in the same run as the ceiling of any
// per-frame full copy.
#include <benchmark/benchmark.h>

#include <cstring>

#include "demo/demo_source.h"
#include "gpu/frame_differ.h"
#include "encode/codecs.h"
#include "io/reactor.h"

namespace spiced {
namespace {

// What the desktop thread does with a frame, minus publishing: diff, then encode.
class BenchSink final : public DisplaySink {
public:
    explicit BenchSink(std::unique_ptr<ImageEncoder> encoder)
        : encoder_(std::move(encoder)), loop_(std::move(*create_epoll_reactor({}))) {}

    void set_layout(uint32_t, DisplayLayout) override { previous_.reset(); }
    void submit_frame(uint32_t, FrameSubmission submission) override {
        const Frame& next = *submission.frame;
        const Region damage =
            previous_ ? differ_.diff(*previous_, submission.moves, next, submission.changed)
                      : Region(next.rect());
        out_.buffer().clear();
        if (encoder_) {
            for (const Rect& area : coalesce_rects(damage, 0.25)) {
                auto ok = encoder_->encode(next, area, out_, 0);
                benchmark::DoNotOptimize(ok);
                ++rects;
            }
        }
        bytes += out_.size();
        previous_ = std::move(submission.frame);
    }
    void set_cursor_shape(uint32_t, std::shared_ptr<const PointerShape>) override {}
    void move_cursor(uint32_t, Point) override {}
    void hide_cursor(uint32_t) override {}
    void set_keyboard_leds(uint32_t) override {}
    void capabilities_changed() override {}
    void send_agent_message(ClientId, uint32_t, std::vector<uint8_t>) override {}
    Reactor& loop() override { return *loop_; }

    uint64_t bytes = 0;
    uint64_t rects = 0;

private:
    std::unique_ptr<ImageEncoder> encoder_;
    std::unique_ptr<Reactor> loop_;  // never run: the demo only registers its frame timer
    FrameDiffer differ_;
    std::shared_ptr<const Frame> previous_;
    ByteWriter out_{8 << 20};
};

void run_pipeline(benchmark::State& state, std::unique_ptr<ImageEncoder> encoder) {
    // The demo's clock is the benchmark's: one frame period per iteration.
    auto fake_now = std::make_shared<std::chrono::steady_clock::time_point>();
    DemoSourceConfig config;
    config.clock = [fake_now] { return *fake_now; };
    DemoSource source(config);
    BenchSink sink(std::move(encoder));
    source.start(sink);
    sink.bytes = sink.rects = 0;
    for (auto _ : state) {
        *fake_now += std::chrono::nanoseconds(1'000'000'000 / 30);
        source.tick();
    }
    const uint64_t bytes = sink.bytes, rects = sink.rects;
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
