// GLZ encoder throughput and ratio: single screen-corpus images (MB/s of 32-bit input,
// ratio = 24-bit raw / compressed), the demo terminal scrolling for 30 lines with an 8 Mi-pixel
// window (where the dictionary of earlier images pays), and memcpy of the same bytes as the
// ceiling measured in the same run.
//
// Single images are measured with a window of exactly that image's size, so each encode
// evicts the previous copy and finds nothing from it: the figure is one image on its own,
// not a repeat of the last iteration.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "bench/screen_corpus.h"
#include "demo/demo_desktop.h"
#include "demo/layout.h"
#include "demo/terminal.h"
#include "encode/codecs.h"

namespace spiced {
namespace {

const std::vector<CorpusImage>& corpus() {
    static const std::vector<CorpusImage> images = make_screen_corpus();
    return images;
}

void BM_GlzSingleImage(benchmark::State& state) {
    const Frame& frame = *corpus()[size_t(state.range(0))].frame;
    const bool zlib = state.range(1) != 0;
    state.SetLabel(corpus()[size_t(state.range(0))].kind + (zlib ? " zlib" : ""));
    auto encoder = make_glz_encoder({frame.size().area(), zlib});
    ByteWriter out(size_t(frame.size().area()) * 4);
    size_t compressed = 0;
    for (auto _ : state) {
        out.buffer().clear();
        auto type = encoder->encode(frame, frame.rect(), out, 0);
        if (!type) state.SkipWithError(type.error().c_str());
        compressed = out.size();
        benchmark::DoNotOptimize(out.buffer().data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * frame.size().area() * 4);
    state.counters["ratio"] = double(frame.size().area()) * 3 / double(compressed);
}
BENCHMARK(BM_GlzSingleImage)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->Unit(benchmark::kMillisecond);

// 30 consecutive scroll steps of the demo terminal (one new log line each), as 30 images.
std::vector<std::unique_ptr<Frame>> make_scroll_sequence() {
    DemoDesktop desktop(DemoConfig{{1920, 1080}, 1});
    auto full = Frame::create(desktop.size());
    std::vector<MoveHint> moves;
    std::vector<std::unique_ptr<Frame>> frames;
    const Rect text = desktop.layout().terminal_text;
    for (int64_t i = 0; i < 90 + 30 * TerminalText::kFramesPerLine; ++i) {
        desktop.render(i, *full, moves);
        if (i >= 90 && i % TerminalText::kFramesPerLine == 0) {
            auto cut = Frame::create(text.size());
            cut->copy_from(*full, text, {0, 0});
            frames.push_back(std::move(cut));
        }
    }
    return frames;
}

void BM_GlzScrollSequence(benchmark::State& state) {
    static const auto frames = make_scroll_sequence();
    const bool zlib = state.range(0) != 0;
    int64_t pixels = 0;
    size_t compressed = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto encoder = make_glz_encoder({int64_t{8} << 20, zlib});
        ByteWriter out(size_t{16} << 20);
        state.ResumeTiming();
        pixels = 0;
        for (const auto& frame : frames) {
            auto type = encoder->encode(*frame, frame->rect(), out, 0);
            if (!type) state.SkipWithError(type.error().c_str());
            pixels += frame->size().area();
        }
        compressed = out.size();
        benchmark::DoNotOptimize(out.buffer().data());
    }
    state.SetLabel(std::to_string(frames.size()) + " images of " +
                   std::to_string(frames[0]->width()) + "x" + std::to_string(frames[0]->height()) +
                   (zlib ? " zlib" : ""));
    state.SetBytesProcessed(int64_t(state.iterations()) * pixels * 4);
    state.counters["ratio"] = double(pixels) * 3 / double(compressed);
}
BENCHMARK(BM_GlzScrollSequence)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_MemcpyCeiling(benchmark::State& state) {
    const Frame& frame = *corpus()[size_t(state.range(0))].frame;
    const size_t bytes = size_t(frame.size().area()) * 4;
    std::vector<uint8_t> dest(bytes);
    for (auto _ : state) {
        std::memcpy(dest.data(), frame.data(), bytes);
        benchmark::DoNotOptimize(dest.data());
        benchmark::ClobberMemory();
    }
    state.SetLabel(corpus()[size_t(state.range(0))].kind);
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}
BENCHMARK(BM_MemcpyCeiling)->Arg(4)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
