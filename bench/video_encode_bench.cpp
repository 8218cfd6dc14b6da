// Video stream encoders on the moving scene of bench/video_scene.h: pictures a second
// (counter "fps"), wall time per picture (the iteration time: send_frame plus receive_packet,
// the latency a picture adds) and bytes per picture (counter "bytes") at the default 4 Mbit/s,
// 30 fps. Named encode/<backend>/<width>x<height>/threads:<n>.
//
// Also the BGRX to I420 conversion alone, the portable reference against the SIMD path
// (to_i420/<isa>/<width>x<height>, counter "MB/s" of BGRX input).
//
// Drawing the next picture is not timed (PauseTiming): it is a copy of the frame plus the
// moving disc, and would otherwise count as encoder time.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/video_scene.h"
#include "encode/video_encoders.h"
#include "pixels/yuv.h"

namespace spiced {
namespace {

constexpr Size kSizes[] = {{1280, 720}, {1920, 1080}};

void BM_Encode(benchmark::State& state, std::string backend, Size size, int threads) {
    VideoEncoderSettings settings;
    settings.size = size;
    settings.threads = threads;
    auto made = backend == "x264" ? make_x264_encoder(settings) : make_mjpeg_encoder(settings);
    if (!made) {
        state.SkipWithError(made.error().c_str());
        return;
    }
    VideoEncoder& encoder = **made;
    const VideoScene scene(size);
    auto frame = Frame::create(size);
    int64_t index = 0;
    size_t bytes = 0;
    for (auto _ : state) {
        state.PauseTiming();
        scene.render(index++, *frame, frame->rect());
        state.ResumeTiming();
        // The first picture is a keyframe anyway; later ones are P pictures, as in a stream.
        auto sent = encoder.send_frame(*frame, frame->rect(), false);
        auto packet = encoder.receive_packet();
        if (!sent || !packet || !*packet) {
            state.SkipWithError(!sent ? sent.error().c_str() : "no packet");
            return;
        }
        bytes += (*packet)->data.size();
    }
    state.counters["fps"] =
        benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["bytes"] = double(bytes) / double(std::max<int64_t>(state.iterations(), 1));
}

void BM_ToI420(benchmark::State& state, YuvIsa isa, Size size) {
    if (!yuv_isa_available(isa)) {
        state.SkipWithError("instruction set not available");
        return;
    }
    const VideoScene scene(size);
    auto frame = scene.render(7);
    const size_t luma = size_t(size.area());
    std::vector<uint8_t> planes(luma + luma / 2);
    std::span<uint8_t> all(planes);
    const I420Planes out{all.first(luma),
                         size.width,
                         all.subspan(luma, luma / 4),
                         size.width / 2,
                         all.subspan(luma + luma / 4),
                         size.width / 2};
    for (auto _ : state) {
        auto ok = bgrx_to_i420(*frame, frame->rect(), out, isa);
        if (!ok) {
            state.SkipWithError(ok.error().c_str());
            return;
        }
        benchmark::DoNotOptimize(planes.data());
        benchmark::ClobberMemory();
    }
    state.counters["MB/s"] = benchmark::Counter(
        4.0 * double(luma) / 1e6 * double(state.iterations()), benchmark::Counter::kIsRate);
}

std::string size_name(Size size) {
    return std::to_string(size.width) + "x" + std::to_string(size.height);
}

[[maybe_unused]] const bool registered = [] {
    for (Size size : kSizes) {
        for (int threads : {1, 2}) {
            benchmark::RegisterBenchmark(
                ("encode/x264/" + size_name(size) + "/threads:" + std::to_string(threads)).c_str(),
                BM_Encode, "x264", size, threads)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }
        benchmark::RegisterBenchmark(("encode/mjpeg/" + size_name(size) + "/threads:1").c_str(),
                                     BM_Encode, "mjpeg", size, 1)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        for (auto [isa, name] :
             {std::pair{YuvIsa::kPortable, "portable"}, std::pair{YuvIsa::kSse2, "sse2"}}) {
            benchmark::RegisterBenchmark(
                ("to_i420/" + std::string(name) + "/" + size_name(size)).c_str(), BM_ToI420, isa,
                size)
                ->Unit(benchmark::kMicrosecond);
        }
    }
    return true;
}();

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
