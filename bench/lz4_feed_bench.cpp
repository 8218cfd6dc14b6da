// What we feed LZ4 matters: spice-server's LZ4 images compress the 32-bit rows as they are;
// ours pack them to 24-bit first (encode/lz4_encoder.cpp). liblz4's fast mode, linked blocks,
// the screen corpus, one run. Feeds (second argument): 0 = the 32-bit rows copied into one
// buffer and compressed in 64 KiB blocks (the comparison docs/benchmarks.md quotes); 1 = our
// encoder; 2 = the 32-bit rows compressed where they lie, in one block, without the copy
// (spice-server's own loop when the bitmap is one chunk; the corpus frames are contiguous).
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

// The 32-bit feed: rows copied as they are, compressed as one linked LZ4 stream. `input` is
// reused across calls (allocating and zeroing it per image would bill the baseline for work
// spice-server does not do).
size_t lz4_32bit(const Frame& frame, std::vector<char>& input, std::vector<char>& out) {
    constexpr size_t kBlock = size_t{64} * 1024;
    const size_t bytes = size_t(frame.width()) * frame.height() * 4;
    input.resize(bytes);
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

// The 32-bit feed without the copy: the frame's rows are contiguous, so they go to liblz4 as
// one block straight from the frame.
size_t lz4_32bit_in_place(const Frame& frame, std::vector<char>& out) {
    const int bytes = frame.width() * frame.height() * 4;
    out.resize(size_t(LZ4_compressBound(bytes)) + 4);
    LZ4_stream_t* stream = LZ4_createStream();
    const int written =
        LZ4_compress_fast_continue(stream, reinterpret_cast<const char*>(frame.row(0)),
                                   out.data() + 4, bytes, int(out.size()) - 4, 1);
    LZ4_freeStream(stream);
    return 4 + size_t(written);
}

void BM_Lz4Feed(benchmark::State& state) {
    const CorpusImage& image = corpus()[size_t(state.range(0))];
    const int64_t feed = state.range(1);
    const bool packed24 = feed == 1;
    const Frame& frame = *image.frame;
    auto encoder = make_lz4_encoder();
    ByteWriter out;
    std::vector<char> copy;
    std::vector<char> scratch;
    if (feed == 2 && frame.stride() != frame.width() * 4) {
        state.SkipWithError("rows not contiguous");
        return;
    }
    size_t compressed = 0;
    for (auto _ : state) {
        if (packed24) {
            out.buffer().clear();
            auto ok = encoder->encode(frame, frame.rect(), out, 0);
            benchmark::DoNotOptimize(ok);
            compressed = out.size();
        } else if (feed == 0) {
            compressed = lz4_32bit(frame, copy, scratch);
        } else {
            compressed = lz4_32bit_in_place(frame, scratch);
        }
    }
    const double input = double(frame.width()) * frame.height() * 4;
    static const char* const kFeeds[] = {" 32-bit feed", " 24-bit feed (ours)",
                                         " 32-bit feed, in place"};
    state.SetLabel(image.kind + kFeeds[feed]);
    state.counters["MB/s"] =
        benchmark::Counter(input / 1e6, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["ratio"] = double(frame.width()) * frame.height() * 3 / double(compressed);
}

// Each kind's feeds run next to each other, so load from other processes hits them alike.
void feeds(benchmark::internal::Benchmark* bench) {
    for (int64_t kind = 0; kind < 5; ++kind) {
        for (int64_t feed = 0; feed < 3; ++feed) bench->Args({kind, feed});
    }
}

BENCHMARK(BM_Lz4Feed)->Apply(feeds)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
