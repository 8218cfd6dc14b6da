// QUIC encode and decode throughput on the screen corpus, per content kind.
//   MB/s is counted on the 32-bit input (4 * w * h bytes) for both directions;
//   ratio = raw 24-bit size / compressed stream (3 * w * h / bytes), as SPICE figures state it;
//   memcpy copies the same 4 * w * h bytes: the ceiling in the same run.
// Encode runs once per row coder (simd: 0 = the dispatched best, 1 = the SSE2/baseline build,
// 2 = portable C++); all write the same bytes.
// Run: quic_bench --benchmark_min_time=0.5 (add --benchmark_repetitions=5 for medians).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/quic.h"

namespace spiced {
namespace {

const std::vector<CorpusImage>& corpus() {
    static const std::vector<CorpusImage> images = make_screen_corpus();
    return images;
}

const Frame& image(size_t index) {
    return *corpus().at(index).frame;
}

int64_t input_bytes(const Frame& f) {
    return int64_t{f.width()} * f.height() * 4;
}

// range(1): QuicEncoder::Simd (0 best = AVX2 + BMI2 here, 1 baseline = SSE2, 2 portable).
void BM_QuicEncode(benchmark::State& state) {
    const Frame& f = image(size_t(state.range(0)));
    QuicEncoder encoder(QuicEncoder::Simd(state.range(1)));
    ByteWriter out(size_t(input_bytes(f)));
    size_t bytes = 0;
    for (auto _ : state) {
        out.buffer().clear();
        auto written = encoder.encode(f, f.rect(), QuicType::kRgb32, out);
        if (!written) {
            state.SkipWithError(written.error().c_str());
            return;
        }
        bytes = *written;
        benchmark::DoNotOptimize(out.buffer().data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * input_bytes(f));
    state.counters["ratio"] = 3.0 * f.width() * f.height() / double(bytes);
    state.counters["bytes"] = double(bytes);
    state.SetLabel(corpus().at(size_t(state.range(0))).kind);
}

void BM_QuicDecode(benchmark::State& state) {
    const Frame& f = image(size_t(state.range(0)));
    ByteWriter out;
    if (!quic_encode(f, f.rect(), QuicType::kRgb32, out)) {
        state.SkipWithError("encode failed");
        return;
    }
    for (auto _ : state) {
        auto decoded = quic_decode(out.buffer());
        if (!decoded) {
            state.SkipWithError(decoded.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(decoded->frame->data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * input_bytes(f));
    state.counters["ratio"] = 3.0 * f.width() * f.height() / double(out.size());
    state.SetLabel(corpus().at(size_t(state.range(0))).kind);
}

void BM_Memcpy(benchmark::State& state) {
    const Frame& f = image(size_t(state.range(0)));
    std::vector<uint8_t> dest(size_t(input_bytes(f)));
    for (auto _ : state) {
        std::memcpy(dest.data(), f.data(), dest.size());
        benchmark::DoNotOptimize(dest.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * input_bytes(f));
    state.SetLabel(corpus().at(size_t(state.range(0))).kind);
}

void corpus_args(benchmark::internal::Benchmark* b) {
    for (size_t i = 0; i < corpus().size(); ++i) b->Arg(int64_t(i));
}

void encode_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"image", "simd"});
    for (int64_t simd = 0; simd < 3; ++simd) {
        for (size_t i = 0; i < corpus().size(); ++i) b->Args({int64_t(i), simd});
    }
}

BENCHMARK(BM_QuicEncode)->Apply(encode_args);
BENCHMARK(BM_QuicDecode)->Apply(corpus_args);
BENCHMARK(BM_Memcpy)->Apply(corpus_args);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
