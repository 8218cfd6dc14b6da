// Every image codec on the shared screen corpus (bench/screen_corpus.h), one thread, the way a
// display channel uses them: encode and decode throughput in MB/s (10^6 bytes/s of the 4*w*h
// BGRX input, counter "MB/s"), the compression ratio against 24-bit RGB (3*w*h / body bytes,
// counter "ratio") and, in the same run, memcpy of the same bytes as the ceiling any
// full-picture pass is held against.
//
// Benchmarks are named encode/<codec>/<kind>, decode/<codec>/<kind> and memcpy/<kind>, so
// --benchmark_filter=jpeg or =natural picks a row or a column. A codec whose factory returns
// nullptr (not in this build) or whose round trip fails reports an error instead of numbers.
//
// When the real screen corpus is there (tests/corpus/screens/<kind>/*.png, made by
// scripts/make-screen-corpus.sh; another folder with env SPICED_SCREEN_CORPUS), each of its
// kinds is one more column, screens_<kind> (screens_text, screens_natural, screens_cad,
// screens_video): one iteration encodes (decodes) every picture of the kind, MB/s counts all
// their input and the ratio is their total 24-bit size over their total body bytes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/image_file.h"

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

using Frames = std::span<const Frame* const>;

double pixels_of(Frames frames) {
    double area = 0;
    for (const Frame* frame : frames) area += double(frame->size().area());
    return area;
}

void add_counters(benchmark::State& state, Frames frames, size_t body_bytes) {
    const double input_mb = 4.0 * pixels_of(frames) / 1e6;
    state.counters["MB/s"] =
        benchmark::Counter(input_mb * double(state.iterations()), benchmark::Counter::kIsRate);
    if (body_bytes > 0) {
        state.counters["ratio"] = 3.0 * pixels_of(frames) / double(body_bytes);
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

// Each picture of the set once per iteration (one, for the generated corpus).
void BM_Encode(benchmark::State& state, ImageCodec codec, std::vector<const Frame*> frames) {
    auto encoder = make_image_encoder(codec);
    if (!encoder) {
        state.SkipWithError("codec not available in this build");
        return;
    }
    ByteWriter out;
    size_t body_bytes = 0;
    for (auto _ : state) {
        body_bytes = 0;
        for (const Frame* frame : frames) {
            if (is_stateful(codec)) {
                // Each encode must be a first encode, or GLZ would find the previous copy in
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
            body_bytes += out.size();
        }
    }
    add_counters(state, frames, body_bytes);
}

void BM_Decode(benchmark::State& state, ImageCodec codec, std::vector<const Frame*> frames) {
    std::vector<Encoded> bodies;
    size_t body_bytes = 0;
    auto decoder = make_image_decoder(kGlzWindowPixels);
    for (const Frame* frame : frames) {
        auto encoded = encode_once(codec, *frame);
        if (!encoded) {
            state.SkipWithError(encoded.error().c_str());
            return;
        }
        // Check the round trip once, outside the timing: lossless codecs exactly, JPEG by
        // size.
        if (is_stateful(codec)) decoder = make_image_decoder(kGlzWindowPixels);
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
        body_bytes += encoded->body.size();
        bodies.push_back(std::move(*encoded));
    }
    for (auto _ : state) {
        for (size_t i = 0; i < frames.size(); ++i) {
            if (is_stateful(codec)) {
                // The body was made against an empty dictionary; so must its decoder be.
                state.PauseTiming();
                decoder = make_image_decoder(kGlzWindowPixels);
                state.ResumeTiming();
            }
            auto decoded = decoder->decode(bodies[i].type, frames[i]->size(), bodies[i].body, 0);
            if (!decoded) {
                state.SkipWithError(("decode failed: " + decoded.error()).c_str());
                return;
            }
            benchmark::DoNotOptimize((*decoded)->data());
        }
    }
    add_counters(state, frames, body_bytes);
}

void BM_Memcpy(benchmark::State& state, std::vector<const Frame*> frames) {
    size_t largest = 0;
    for (const Frame* frame : frames)
        largest = std::max(largest, size_t(frame->stride()) * size_t(frame->height()));
    std::vector<uint8_t> copy(largest);
    for (auto _ : state) {
        for (const Frame* frame : frames) {
            std::memcpy(copy.data(), frame->data(),
                        size_t(frame->stride()) * size_t(frame->height()));
            benchmark::DoNotOptimize(copy.data());
            benchmark::ClobberMemory();
        }
    }
    add_counters(state, frames, 0);
}

// The real screen corpus by kind (kind -> pictures), empty when its folder is not there.
std::map<std::string, std::vector<std::unique_ptr<Frame>>> load_screen_files() {
    namespace fs = std::filesystem;
    const char* env = std::getenv("SPICED_SCREEN_CORPUS");
    const fs::path root = env && *env ? fs::path(env) : fs::path(SPICED_SCREEN_CORPUS_DIR);
    std::map<std::string, std::vector<std::unique_ptr<Frame>>> kinds;
    std::error_code error;
    if (!fs::is_directory(root, error)) return kinds;
    for (const char* kind : {"text", "natural", "cad", "video"}) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(root / kind, error)) {
            if (entry.path().extension() == ".png") files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& file : files) {
            auto frame = load_image_file(file.string());
            if (!frame) {
                std::fprintf(stderr, "codec_bench: %s: %s (skipped)\n", file.c_str(),
                             frame.error().c_str());
                continue;
            }
            kinds[kind].push_back(std::move(*frame));
        }
    }
    return kinds;
}

void register_set(const std::string& kind, const std::vector<const Frame*>& frames) {
    benchmark::RegisterBenchmark(("memcpy/" + kind).c_str(), BM_Memcpy, frames);
    for (ImageCodec codec : kCodecs) {
        const std::string name = std::string(to_string(codec)) + "/" + kind;
        benchmark::RegisterBenchmark(("encode/" + name).c_str(), BM_Encode, codec, frames);
        benchmark::RegisterBenchmark(("decode/" + name).c_str(), BM_Decode, codec, frames);
    }
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    using namespace spiced;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Rendered once (91 demo frames); the benchmarks only read it.
    const std::vector<CorpusImage> corpus = make_screen_corpus();
    for (const CorpusImage& image : corpus) register_set(image.kind, {image.frame.get()});
    // Loaded once; a kind without pictures has no column.
    const auto screens = load_screen_files();
    for (const auto& [kind, frames] : screens) {
        std::vector<const Frame*> set;
        for (const auto& frame : frames) set.push_back(frame.get());
        register_set("screens_" + kind, set);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
