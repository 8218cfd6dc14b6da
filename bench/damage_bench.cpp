// Damage detection throughput on 1080p frames. Bytes processed count one frame (the current
// one) per detect call, so the figures compare directly with the memcpy ceiling, which also
// counts the one frame it copies.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>

#include "pixels/damage.h"

namespace spiced {
namespace {

constexpr Size kFrameSize{1920, 1080};

enum class Change { kNone, kOnePercent, kAll };

std::unique_ptr<Frame> random_frame(Size size, std::mt19937& rng) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = uint32_t(rng()) & 0x00ffffffu;
    return frame;
}

// A copy of `previous` with the requested share of tiles changed. In the 1% case one pixel at
// a random spot of each chosen tile changes, so the detector cannot stop at a tile's top row.
std::unique_ptr<Frame> changed_copy(const Frame& previous, Change change, std::mt19937& rng) {
    auto current = Frame::create(previous.size());
    std::memcpy(current->data(), previous.data(), size_t(previous.stride()) * previous.height());
    if (change == Change::kAll) {
        for (int32_t y = 0; y < current->height(); ++y)
            for (int32_t x = 0; x < current->width(); ++x) current->row(y)[x] ^= 0x00010101u;
    } else if (change == Change::kOnePercent) {
        const int32_t tiles_x = (current->width() + kDamageTileSize - 1) / kDamageTileSize;
        const int32_t tiles_y = (current->height() + kDamageTileSize - 1) / kDamageTileSize;
        const int32_t count = tiles_x * tiles_y / 100;
        for (int32_t i = 0; i < count; ++i) {
            const int32_t x = int32_t(rng() % uint32_t(current->width()));
            const int32_t y = int32_t(rng() % uint32_t(current->height()));
            current->row(y)[x] ^= 0x00000001u;
        }
    }
    return current;
}

void run(benchmark::State& state, DamageDetector* detector, Change change) {
    if (detector == nullptr) {
        state.SkipWithError("instruction set not available on this CPU");
        return;
    }
    std::mt19937 rng(1);
    auto previous = random_frame(kFrameSize, rng);
    auto current = changed_copy(*previous, change, rng);
    size_t rects = 0;
    for (auto _ : state) {
        Region damage = detector->detect(*previous, *current);
        rects = damage.rect_count();
        benchmark::DoNotOptimize(damage);
    }
    state.counters["rects"] = double(rects);
    state.SetBytesProcessed(int64_t(state.iterations()) * current->stride() * current->height());
    state.SetItemsProcessed(int64_t(state.iterations()));  // frames
}

void BM_Reference(benchmark::State& state, Change change) {
    auto detector = make_reference_damage_detector();
    run(state, detector.get(), change);
}

void BM_Fast(benchmark::State& state, DamageIsa isa, Change change) {
    auto detector = make_fast_damage_detector(isa);
    run(state, detector.get(), change);
}

void BM_Memcpy(benchmark::State& state) {
    std::mt19937 rng(1);
    auto src = random_frame(kFrameSize, rng);
    auto dst = Frame::create(kFrameSize);
    const size_t bytes = size_t(src->stride()) * src->height();
    for (auto _ : state) {
        std::memcpy(dst->data(), src->data(), bytes);
        benchmark::DoNotOptimize(dst->data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
    state.SetItemsProcessed(int64_t(state.iterations()));
}

BENCHMARK_CAPTURE(BM_Reference, none, Change::kNone)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Reference, one_percent, Change::kOnePercent)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Reference, all, Change::kAll)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fast, none, DamageIsa::kBest, Change::kNone)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fast, one_percent, DamageIsa::kBest, Change::kOnePercent)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fast, all, DamageIsa::kBest, Change::kAll)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fast, sse2_none, DamageIsa::kSse2, Change::kNone)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fast, portable_none, DamageIsa::kPortable, Change::kNone)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spiced

BENCHMARK_MAIN();
