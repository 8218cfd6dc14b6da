// The compositor per frame at 1080p and 4K, on the CPU backend and on a Vulkan device (Mesa's
// lavapipe here; set SPICED_BENCH_GPU to a device index or name to run on a real GPU — the
// same command, see docs/benchmarks.md):
//   compose  two heads side by side into one output (every pixel written; no damage wanted)
//   damage   one full-frame layer whose every 10th tile row changed, compared inside a
//            whole-frame hint (the upload of the new frame included: host frames are what
//            sources give today)
//   i420 / nv12  BGRX to 4:2:0 of the whole output, planes in host memory
//   read_back    the changed tiles (10 %) of the output to a host frame
//   scanout_read a GL scanout (a memfd standing in for the dmabuf, XBGR as virgl's are) into a
//                host frame, whole picture: through its CPU mapping (cpu) or the device's
//                import (lavapipe: host memory; a GPU: the dmabuf)
//   scene        the recorded QXL scenes of tests/corpus/qxl-scenes (Xspice's session, a Linux
//                guest's console; 1024x768) step by step as the desktop composes them: damage
//                where the step wants it, the output kept; per step (items are steps)
// Frames processed per second are reported as items; bytes are one output frame.
#include <benchmark/benchmark.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gpu/compositor.h"
#include "gpu/scene_recording.h"
#include "gpu/vulkan_compositor.h"

namespace spiced::gpu {
namespace {

constexpr Size kSizes[] = {{1920, 1080}, {3840, 2160}};

std::shared_ptr<Frame> noise_frame(Size size, uint32_t seed) {
    auto frame = Frame::create(size);
    std::mt19937 random(seed);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = random() & 0x00ffffffu;
    }
    return frame;
}

// The backend a benchmark argument names: 0 the CPU, 1 the Vulkan device.
std::unique_ptr<GpuBackend> backend_for(int64_t which, benchmark::State& state) {
    if (which == 0) return make_cpu_backend();
    const char* device = std::getenv("SPICED_BENCH_GPU");
    auto vulkan = make_vulkan_backend(GpuChoice{device ? device : "llvmpipe", "libvulkan.so.1"});
    if (!vulkan) {
        state.SkipWithError(("no Vulkan device: " + vulkan.error()).c_str());
        return nullptr;
    }
    return std::move(*vulkan);
}

struct Fixture {
    std::unique_ptr<GpuBackend> backend;
    std::unique_ptr<DisplayCompositor> compositor;
    Size size;

    bool open(benchmark::State& state) {
        size = kSizes[state.range(1)];
        backend = backend_for(state.range(0), state);
        if (!backend) return false;
        auto made = backend->create_compositor(16);
        if (!made) {
            state.SkipWithError(made.error().c_str());
            return false;
        }
        compositor = std::move(*made);
        state.SetLabel(backend->describe() + " " + std::to_string(size.width) + "x" +
                       std::to_string(size.height));
        return true;
    }
    void count(benchmark::State& state) const {
        state.SetItemsProcessed(int64_t(state.iterations()));
        state.SetBytesProcessed(int64_t(state.iterations()) * size.width * size.height * 4);
    }
};

CompositionStep single_layer(std::shared_ptr<const Frame> frame) {
    CompositionStep step;
    step.output_size = frame->size();
    step.layers.push_back(Layer{frame, frame->rect(), {0, 0}});
    step.hint = Region(frame->rect());
    return step;
}

void BM_Compose(benchmark::State& state) {
    Fixture f;
    if (!f.open(state)) return;
    const Size half{f.size.width / 2, f.size.height};
    auto left = noise_frame(half, 1), right = noise_frame(half, 2);
    CompositionStep step;
    step.output_size = f.size;
    step.layers = {Layer{left, left->rect(), {0, 0}}, Layer{right, right->rect(), {half.width, 0}}};
    step.hint = Region(Rect::MakeSize(f.size));
    step.want_damage = false;
    for (auto _ : state) {
        auto done = f.compositor->compose(step);
        if (!done) state.SkipWithError(done.error().c_str());
    }
    f.count(state);
}

// Frames a and b differ in every 10th row of tiles; the benchmark alternates them.
void BM_Damage(benchmark::State& state) {
    Fixture f;
    if (!f.open(state)) return;
    auto a = noise_frame(f.size, 3);
    auto b = std::shared_ptr<Frame>(Frame::create(f.size));
    b->copy_from(*a, a->rect(), {0, 0});
    for (int32_t y = 0; y < f.size.height; y += 16 * 10)
        b->fill(Rect::MakeXYWH(0, y, f.size.width, 16), 0x123456);
    const CompositionStep steps[] = {single_layer(a), single_layer(b)};
    (void)f.compositor->compose(steps[0]);
    int64_t changed = 0;
    size_t i = 1;
    for (auto _ : state) {
        auto damage = f.compositor->compose(steps[i]);
        if (!damage)
            state.SkipWithError(damage.error().c_str());
        else
            changed = damage->area();
        i ^= 1;
    }
    state.counters["changed_%"] = 100.0 * double(changed) / (double(f.size.width) * f.size.height);
    f.count(state);
}

void BM_ReadBack(benchmark::State& state) {
    Fixture f;
    if (!f.open(state)) return;
    auto a = noise_frame(f.size, 4);
    (void)f.compositor->compose(single_layer(a));
    Region tenth;
    for (int32_t y = 0; y < f.size.height; y += 16 * 10)
        tenth.add_rect(Rect::MakeXYWH(0, y, f.size.width, 16));
    auto out = Frame::create(f.size);
    for (auto _ : state) {
        auto done = f.compositor->read_back(tenth, *out);
        if (!done) state.SkipWithError(done.error().c_str());
    }
    f.count(state);
}

void BM_ToYuv(benchmark::State& state, bool nv12) {
    Fixture f;
    if (!f.open(state)) return;
    auto a = noise_frame(f.size, 5);
    (void)f.compositor->compose(single_layer(a));
    const size_t pixels = size_t(f.size.width) * size_t(f.size.height);
    std::vector<uint8_t> planes(pixels * 3 / 2);
    const int32_t w = f.size.width;
    const I420Planes i420{{planes.data(), pixels},
                          w,
                          {planes.data() + pixels, pixels / 4},
                          w / 2,
                          {planes.data() + pixels * 5 / 4, pixels / 4},
                          w / 2};
    const Nv12Planes nv{{planes.data(), pixels}, w, {planes.data() + pixels, pixels / 2}, w};
    const Rect all = Rect::MakeSize(f.size);
    for (auto _ : state) {
        auto done = nv12 ? f.compositor->to_nv12(all, nv) : f.compositor->to_i420(all, i420);
        if (!done) state.SkipWithError(done.error().c_str());
    }
    f.count(state);
}
void BM_ToI420(benchmark::State& state) {
    BM_ToYuv(state, false);
}
void BM_ToNv12(benchmark::State& state) {
    BM_ToYuv(state, true);
}

void BM_ScanoutRead(benchmark::State& state) {
    Fixture f;
    if (!f.open(state)) return;
    const size_t length = size_t(f.size.width) * size_t(f.size.height) * 4;
    const int memfd = memfd_create("bench-scanout", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, off_t(length)) != 0) {
        state.SkipWithError("memfd");
        return;
    }
    void* mapping = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    auto picture = noise_frame(f.size, 6);
    std::memcpy(mapping, picture->row(0), length);
    const ScanoutBuffer buffer{memfd,  static_cast<const uint8_t*>(mapping), length,
                               f.size, uint32_t(f.size.width) * 4,           true,
                               true};
    {
        auto reader = f.backend->import_scanout(buffer);
        if (!reader) {
            state.SkipWithError(reader.error().c_str());
        } else {
            state.SetLabel(f.size.width == 1920 ? "1080p: " + (*reader)->method()
                                                : "4K: " + (*reader)->method());
            auto out = Frame::create(f.size);
            const Region all(Rect::MakeSize(f.size));
            for (auto _ : state) {
                auto done = (*reader)->read(all, *out);
                if (!done) state.SkipWithError(done.error().c_str());
            }
        }
    }
    munmap(mapping, length);
    close(memfd);
    f.count(state);
}

const char* const kScenes[] = {"xspice-session", "linux-console"};

void BM_Scene(benchmark::State& state) {
    auto backend = backend_for(state.range(0), state);
    if (!backend) return;
    const std::string name = kScenes[state.range(1)];
    auto reader = SceneReader::open(std::string(SPICED_SOURCE_DIR) + "/tests/corpus/qxl-scenes/" +
                                    name + ".scene");
    if (!reader) {
        state.SkipWithError(reader.error().c_str());
        return;
    }
    std::vector<CompositionStep> steps;
    while (true) {
        auto next = reader->next();
        if (!next || !*next) break;
        steps.push_back(std::move((*next)->step));
    }
    state.SetLabel(backend->describe() + " " + name + " (" + std::to_string(steps.size()) +
                   " steps)");
    for (auto _ : state) {
        // A fresh compositor per pass: the first step is a whole frame, as at a connect.
        auto compositor = backend->create_compositor(16);
        if (!compositor) {
            state.SkipWithError(compositor.error().c_str());
            break;
        }
        for (const CompositionStep& step : steps) {
            auto done = (*compositor)->compose(step);
            if (!done) state.SkipWithError(done.error().c_str());
        }
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(steps.size()));
}

// {backend: 0 cpu, 1 vulkan} x {size: 0 1080p, 1 4K}
void Arguments(benchmark::internal::Benchmark* b) {
    b->ArgNames({"vulkan", "4k"});
    for (int backend : {0, 1})
        for (int size : {0, 1}) b->Args({backend, size});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_Compose)->Apply(Arguments);
BENCHMARK(BM_Damage)->Apply(Arguments);
BENCHMARK(BM_ReadBack)->Apply(Arguments);
BENCHMARK(BM_ToI420)->Apply(Arguments);
BENCHMARK(BM_ToNv12)->Apply(Arguments);
BENCHMARK(BM_ScanoutRead)->Apply(Arguments);
BENCHMARK(BM_Scene)
    ->ArgNames({"vulkan", "scene"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace spiced::gpu

BENCHMARK_MAIN();
