// Every image codec on the shared screen corpus (bench/screen_corpus.h), one thread, the way a
// display channel uses them: encode and decode throughput in MB/s (10^6 bytes/s of the 4*w*h
// BGRX input, counter "MB/s"), the compression ratio against 24-bit RGB (3*w*h / body bytes,
// counter "ratio") and, in the same run, memcpy of the same bytes as the ceiling any
// full-picture pass is held against.
//
// Benchmarks are named encode/<codec>/<kind>, decode/<codec>/<kind> and memcpy/<kind>, so
// --benchmark_filter=jpeg or =natural picks a row or a column. A codec whose factory returns
// nullptr (not in this build) or whose round trip fails reports an error instead of numbers.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"

namespace spiced {
namespace {

constexpr ImageCodec kCodecs[] = {ImageCodec::kBitmap, ImageCodec::kLz4, ImageCodec::kQuic,
                                  ImageCodec::kLz,     ImageCodec::kGlz, ImageCodec::kZlibGlz,
                                  ImageCodec::kJpeg};

// make_image_encoder's GLZ encoders model a 2^24-pixel client window (encode/dispatch.cpp);
// the decoder keeps the same one.
constexpr int64_t kGlzWindowPixels = int64_t{1} << 24;

bool is_stateful(ImageCodec codec) {
    return codec == ImageCodec::kGlz || codec == ImageCodec::kZlibGlz;
}

void add_counters(benchmark::State& state, const Frame& frame, size_t body_bytes) {
    const double input_mb = 4.0 * double(frame.size().area()) / 1e6;
    state.counters["MB/s"] =
        benchmark::Counter(input_mb * double(state.iterations()), benchmark::Counter::kIsRate);
    if (body_bytes > 0) {
        state.counters["ratio"] = 3.0 * double(frame.size().area()) / double(body_bytes);
        state.counters["bytes"] = double(body_bytes);
    }
}

struct Encoded {
    uint8_t type = 0;
    std::vector<uint8_t> body;
};

// One encode from a fresh encoder (for GLZ: an empty dictionary, so the picture cannot refer
// to an earlier copy of itself).
Expected<Encoded, std::string> encode_once(ImageCodec codec, const Frame& frame) {
    auto encoder = make_image_encoder(codec);
    if (!encoder)
        return unexpected(std::string(to_string(codec)) + ": not available in this build");
    ByteWriter out;
    auto type = encoder->encode(frame, frame.rect(), out, 0);
    if (!type) return unexpected(type.error());
    return Encoded{*type, out.take()};
}

void BM_Encode(benchmark::State& state, ImageCodec codec, const Frame* frame) {
    auto encoder = make_image_encoder(codec);
    if (!encoder) {
        state.SkipWithError("codec not available in this build");
        return;
    }
    ByteWriter out;
    for (auto _ : state) {
        if (is_stateful(codec)) {
            // Each iteration must be a first encode, or GLZ would find the previous copy in
            // its window and cost nothing; building the encoder is not what we measure.
            state.PauseTiming();
            encoder = make_image_encoder(codec);
            state.ResumeTiming();
        }
        out.buffer().clear();  // keeps the capacity, as a reused send buffer does
        auto type = encoder->encode(*frame, frame->rect(), out, 0);
        if (!type) {
            state.SkipWithError(("encode failed: " + type.error()).c_str());
            return;
        }
        benchmark::DoNotOptimize(out.buffer().data());
        benchmark::ClobberMemory();
    }
    add_counters(state, *frame, out.size());
}

void BM_Decode(benchmark::State& state, ImageCodec codec, const Frame* frame) {
    auto encoded = encode_once(codec, *frame);
    if (!encoded) {
        state.SkipWithError(encoded.error().c_str());
        return;
    }
    auto decoder = make_image_decoder(kGlzWindowPixels);
    {
        // Check the round trip once, outside the timing: lossless codecs exactly, JPEG by size.
        auto decoded = decoder->decode(encoded->type, frame->size(), encoded->body, 0);
        if (!decoded) {
            state.SkipWithError(("decode failed: " + decoded.error()).c_str());
            return;
        }
        bool same = (*decoded)->size() == frame->size();
        for (int32_t y = 0; same && codec != ImageCodec::kJpeg && y < frame->height(); ++y) {
            for (int32_t x = 0; same && x < frame->width(); ++x) {
                same = (*decoded)->pixel(x, y) == frame->pixel(x, y);
            }
        }
        if (!same) {
            state.SkipWithError("round trip does not match the input");
            return;
        }
    }
    for (auto _ : state) {
        if (is_stateful(codec)) {
            // The body was made against an empty dictionary; so must its decoder be.
            state.PauseTiming();
            decoder = make_image_decoder(kGlzWindowPixels);
            state.ResumeTiming();
        }
        auto decoded = decoder->decode(encoded->type, frame->size(), encoded->body, 0);
        if (!decoded) {
            state.SkipWithError(("decode failed: " + decoded.error()).c_str());
            return;
        }
        benchmark::DoNotOptimize((*decoded)->data());
    }
    add_counters(state, *frame, encoded->body.size());
}

void BM_Memcpy(benchmark::State& state, const Frame* frame) {
    const size_t bytes = size_t(frame->stride()) * size_t(frame->height());
    std::vector<uint8_t> copy(bytes);
    for (auto _ : state) {
        std::memcpy(copy.data(), frame->data(), bytes);
        benchmark::DoNotOptimize(copy.data());
        benchmark::ClobberMemory();
    }
    add_counters(state, *frame, 0);
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    using namespace spiced;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Rendered once (91 demo frames); the benchmarks only read it.
    const std::vector<CorpusImage> corpus = make_screen_corpus();
    for (const CorpusImage& image : corpus) {
        const Frame* frame = image.frame.get();
        benchmark::RegisterBenchmark(("memcpy/" + image.kind).c_str(), BM_Memcpy, frame);
        for (ImageCodec codec : kCodecs) {
            const std::string name = std::string(to_string(codec)) + "/" + image.kind;
            benchmark::RegisterBenchmark(("encode/" + name).c_str(), BM_Encode, codec, frame);
            benchmark::RegisterBenchmark(("decode/" + name).c_str(), BM_Decode, codec, frame);
        }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
