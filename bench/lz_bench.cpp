// SPICE LZ over the shared screen corpus, per content kind: the ImageEncoder as the display
// channel uses it (LZ_PLT when an area has <= 256 colours, else LZ_RGB), the forced RGB32
// stream (comparable with spice-server's LZ, which never picks a palette for 32-bit
// surfaces), our decoder, and memcpy of the same bytes as the ceiling.
//
// MB/s counts the 4 * w * h input bytes of a 32-bit frame; ratio = 3 * w * h / compressed
// bytes (packed 24-bit, the convention the other codec benchmarks use).
#include <benchmark/benchmark.h>

#include <spice/enums.h>

#include <cstring>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/lz.h"

namespace spiced {
namespace {

int64_t input_bytes(const Frame& frame) {
    return int64_t{4} * frame.width() * frame.height();
}

void set_ratio(benchmark::State& state, const Frame& frame, size_t compressed) {
    state.counters["ratio"] = 3.0 * frame.width() * frame.height() / double(compressed);
    state.SetBytesProcessed(int64_t(state.iterations()) * input_bytes(frame));
}

void encode_image(benchmark::State& state, const Frame& frame) {
    auto encoder = make_lz_encoder();
    ByteWriter out(size_t(input_bytes(frame)));
    uint8_t type = 0;
    for (auto _ : state) {
        out.buffer().clear();
        auto written = encoder->encode(frame, frame.rect(), out, 0);
        if (!written) {
            state.SkipWithError(written.error().c_str());
            return;
        }
        type = *written;
        benchmark::DoNotOptimize(out.buffer().data());
    }
    state.SetLabel(type == SPICE_IMAGE_TYPE_LZ_PLT ? "LZ_PLT" : "LZ_RGB");
    set_ratio(state, frame, out.size());
}

void encode_rgb32(benchmark::State& state, const Frame& frame) {
    LzCompressor compressor;
    ByteWriter out(size_t(input_bytes(frame)));
    for (auto _ : state) {
        out.buffer().clear();
        auto ok = compressor.encode(frame, frame.rect(), LzImageType::kRgb32, out);
        if (!ok) {
            state.SkipWithError(ok.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(out.buffer().data());
    }
    set_ratio(state, frame, out.size());
}

void decode_image(benchmark::State& state, const Frame& frame) {
    ByteWriter message;
    auto written = make_lz_encoder()->encode(frame, frame.rect(), message, 0);
    if (!written) {
        state.SkipWithError(written.error().c_str());
        return;
    }
    for (auto _ : state) {
        auto decoded = decode_lz_body(*written, frame.size(), message.buffer(), 0);
        if (!decoded) {
            state.SkipWithError(decoded.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(decoded->get());
    }
    set_ratio(state, frame, message.size());
}

void copy_image(benchmark::State& state, const Frame& frame) {
    std::vector<uint8_t> dest(size_t(input_bytes(frame)));
    for (auto _ : state) {
        std::memcpy(dest.data(), frame.data(), dest.size());
        benchmark::DoNotOptimize(dest.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * input_bytes(frame));
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    // Owned by main and captured by reference: the corpus outlives every benchmark run.
    const auto corpus = spiced::make_screen_corpus();
    for (const auto& image : corpus) {
        const spiced::Frame& frame = *image.frame;
        benchmark::RegisterBenchmark(
            ("lz_encode/" + image.kind).c_str(),
            [&frame](benchmark::State& s) { spiced::encode_image(s, frame); });
        benchmark::RegisterBenchmark(
            ("lz_encode_rgb32/" + image.kind).c_str(),
            [&frame](benchmark::State& s) { spiced::encode_rgb32(s, frame); });
        benchmark::RegisterBenchmark(
            ("lz_decode/" + image.kind).c_str(),
            [&frame](benchmark::State& s) { spiced::decode_image(s, frame); });
        benchmark::RegisterBenchmark(
            ("memcpy/" + image.kind).c_str(),
            [&frame](benchmark::State& s) { spiced::copy_image(s, frame); });
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
