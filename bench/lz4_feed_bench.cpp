// What we feed LZ4 matters: spice-server's LZ4 images compress the 32-bit rows as they are;
// ours pack them to 24-bit first (encode/lz4_encoder.cpp). Both with liblz4's fast mode and
// the same 64 KiB linked blocks, on the screen corpus, in the same run.
#include <benchmark/benchmark.h>
#include <lz4.h>

#include <cstring>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/image_encoder.h"

namespace spiced {
namespace {

const std::vector<CorpusImage>& corpus() {
    static const std::vector<CorpusImage> images = make_screen_corpus();
    return images;
}

// The 32-bit feed: rows copied as they are, compressed as one linked LZ4 stream.
size_t lz4_32bit(const Frame& frame, std::vector<char>& out) {
    constexpr size_t kBlock = size_t{64} * 1024;
    const size_t bytes = size_t(frame.width()) * frame.height() * 4;
    std::vector<char> input(bytes);
    for (int32_t y = 0; y < frame.height(); ++y) {
        std::memcpy(input.data() + size_t(y) * frame.width() * 4, frame.row(y),
                    size_t(frame.width()) * 4);
    }
    LZ4_stream_t* stream = LZ4_createStream();
    size_t total = 0;
    out.resize(size_t(LZ4_compressBound(int(kBlock))) + 4);
    for (size_t offset = 0; offset < bytes; offset += kBlock) {
        const int n = int(std::min(kBlock, bytes - offset));
        total += 4 + size_t(LZ4_compress_fast_continue(stream, input.data() + offset, out.data(), n,
                                                       int(out.size()), 1));
    }
    LZ4_freeStream(stream);
    return total;
}

void BM_Lz4Feed(benchmark::State& state) {
    const CorpusImage& image = corpus()[size_t(state.range(0))];
    const bool packed24 = state.range(1) != 0;
    const Frame& frame = *image.frame;
    auto encoder = make_lz4_encoder();
    ByteWriter out;
    std::vector<char> scratch;
    size_t compressed = 0;
    for (auto _ : state) {
        if (packed24) {
            out.buffer().clear();
            auto ok = encoder->encode(frame, frame.rect(), out, 0);
            benchmark::DoNotOptimize(ok);
            compressed = out.size();
        } else {
            compressed = lz4_32bit(frame, scratch);
        }
    }
    const double input = double(frame.width()) * frame.height() * 4;
    state.SetLabel(image.kind + (packed24 ? " 24-bit feed (ours)" : " 32-bit feed"));
    state.counters["MB/s"] =
        benchmark::Counter(input / 1e6, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["ratio"] = double(frame.width()) * frame.height() * 3 / double(compressed);
}

BENCHMARK(BM_Lz4Feed)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
