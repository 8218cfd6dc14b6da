#include "pixels/damage.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPICED_DAMAGE_X86 1
#endif

namespace spiced {

DamageDetector::~DamageDetector() = default;

Region DamageDetector::detect(const Frame& previous, const Frame& current) {
    if (previous.size() != current.size()) return Region(current.rect());
    std::vector<const uint32_t*> rows(size_t(previous.height()));
    for (int32_t y = 0; y < previous.height(); ++y) rows[size_t(y)] = previous.row(y);
    return detect_rows(rows, current);
}

namespace {

constexpr int32_t kTile = kDamageTileSize;
// B, G and R of a little-endian 32_xRGB pixel; the X byte is ignored (see damage.h).
constexpr uint32_t kRgbMask = 0x00ffffffu;

bool pixels_differ(const uint32_t* a, const uint32_t* b, int32_t count) {
    for (int32_t x = 0; x < count; ++x) {
        if ((a[x] ^ b[x]) & kRgbMask) return true;
    }
    return false;
}

class ReferenceDamageDetector final : public DamageDetector {
public:
    explicit ReferenceDamageDetector(int32_t tile) : tile_(tile) {}

    Region detect_rows_in(std::span<const uint32_t* const> previous, const Frame& current,
                          const Region& hint) override {
        if (previous.size() != size_t(current.height())) return Region(current.rect());
        Region damage;
        for (int32_t y = 0; y < current.height(); y += tile_) {
            for (int32_t x = 0; x < current.width(); x += tile_) {
                const Rect tile = Rect::MakeXYWH(x, y, tile_, tile_).intersect(current.rect());
                if (hint.intersects(tile) && tile_differs(previous, current, tile))
                    damage.add_rect(tile);
            }
        }
        return damage;
    }

private:
    int32_t tile_;

    static bool tile_differs(std::span<const uint32_t* const> previous, const Frame& current,
                             const Rect& tile) {
        for (int32_t y = tile.top(); y < tile.bottom(); ++y) {
            const uint32_t* a = previous[size_t(y)] + tile.left();
            const uint32_t* b = current.row(y) + tile.left();
            // Bitwise-equal rows cannot differ in RGB; only unequal ones need the masked look.
            if (std::memcmp(a, b, size_t(tile.width()) * 4) == 0) continue;
            if (pixels_differ(a, b, tile.width())) return true;
        }
        return false;
    }
};

// Marks dirty[t] for every still-clean full tile t < tiles whose pixels in this row differ,
// and returns how many tiles it newly marked. Most rows of a desktop do not change, so the SIMD
// kernels first settle that with one branch-free pass over the whole row at streaming speed;
// only rows with a difference pay for the per-tile loop.
using RowKernel = int32_t (*)(const uint32_t* a, const uint32_t* b, int32_t tiles, uint8_t* dirty);

int32_t mark_row_portable(const uint32_t* a, const uint32_t* b, int32_t tiles, uint8_t* dirty) {
    constexpr uint64_t kRgbMask64 = uint64_t{kRgbMask} << 32 | kRgbMask;
    int32_t marked = 0;
    for (int32_t t = 0; t < tiles; ++t) {
        if (dirty[t]) continue;
        const uint32_t* pa = a + size_t(t) * kTile;
        const uint32_t* pb = b + size_t(t) * kTile;
        uint64_t diff = 0;
        for (int32_t i = 0; i < kTile; i += 2) {
            uint64_t wa;
            uint64_t wb;
            std::memcpy(&wa, pa + i, sizeof wa);
            std::memcpy(&wb, pb + i, sizeof wb);
            diff |= wa ^ wb;
        }
        dirty[t] = (diff & kRgbMask64) != 0;
        marked += dirty[t];
    }
    return marked;
}

#ifdef SPICED_DAMAGE_X86
static_assert(kTile * 4 == 64, "the SIMD kernels compare one 64-byte tile row at a time");

[[gnu::target("sse2")]] int32_t mark_row_sse2(const uint32_t* a, const uint32_t* b, int32_t tiles,
                                              uint8_t* dirty) {
    const __m128i mask = _mm_set1_epi32(int32_t{kRgbMask});
    const __m128i zero = _mm_setzero_si128();
    {
        const auto* pa = reinterpret_cast<const __m128i*>(a);
        const auto* pb = reinterpret_cast<const __m128i*>(b);
        __m128i acc0 = zero;
        __m128i acc1 = zero;
        for (size_t i = 0; i < size_t(tiles) * 4; i += 2) {
            acc0 =
                _mm_or_si128(acc0, _mm_xor_si128(_mm_loadu_si128(pa + i), _mm_loadu_si128(pb + i)));
            acc1 = _mm_or_si128(
                acc1, _mm_xor_si128(_mm_loadu_si128(pa + i + 1), _mm_loadu_si128(pb + i + 1)));
        }
        const __m128i diff = _mm_and_si128(_mm_or_si128(acc0, acc1), mask);
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(diff, zero)) == 0xffff) return 0;
    }
    int32_t marked = 0;
    for (int32_t t = 0; t < tiles; ++t) {
        if (dirty[t]) continue;
        const auto* pa = reinterpret_cast<const __m128i*>(a + size_t(t) * kTile);
        const auto* pb = reinterpret_cast<const __m128i*>(b + size_t(t) * kTile);
        const __m128i d0 = _mm_xor_si128(_mm_loadu_si128(pa), _mm_loadu_si128(pb));
        const __m128i d1 = _mm_xor_si128(_mm_loadu_si128(pa + 1), _mm_loadu_si128(pb + 1));
        const __m128i d2 = _mm_xor_si128(_mm_loadu_si128(pa + 2), _mm_loadu_si128(pb + 2));
        const __m128i d3 = _mm_xor_si128(_mm_loadu_si128(pa + 3), _mm_loadu_si128(pb + 3));
        const __m128i diff =
            _mm_and_si128(_mm_or_si128(_mm_or_si128(d0, d1), _mm_or_si128(d2, d3)), mask);
        dirty[t] = _mm_movemask_epi8(_mm_cmpeq_epi8(diff, zero)) != 0xffff;
        marked += dirty[t];
    }
    return marked;
}

[[gnu::target("avx2")]] int32_t mark_row_avx2(const uint32_t* a, const uint32_t* b, int32_t tiles,
                                              uint8_t* dirty) {
    const __m256i mask = _mm256_set1_epi32(int32_t{kRgbMask});
    {
        const auto* pa = reinterpret_cast<const __m256i*>(a);
        const auto* pb = reinterpret_cast<const __m256i*>(b);
        __m256i acc0 = _mm256_setzero_si256();
        __m256i acc1 = _mm256_setzero_si256();
        for (size_t i = 0; i < size_t(tiles) * 2; i += 2) {
            acc0 = _mm256_or_si256(
                acc0, _mm256_xor_si256(_mm256_loadu_si256(pa + i), _mm256_loadu_si256(pb + i)));
            acc1 = _mm256_or_si256(acc1, _mm256_xor_si256(_mm256_loadu_si256(pa + i + 1),
                                                          _mm256_loadu_si256(pb + i + 1)));
        }
        if (_mm256_testz_si256(_mm256_or_si256(acc0, acc1), mask)) return 0;
    }
    int32_t marked = 0;
    for (int32_t t = 0; t < tiles; ++t) {
        if (dirty[t]) continue;
        const auto* pa = reinterpret_cast<const __m256i*>(a + size_t(t) * kTile);
        const auto* pb = reinterpret_cast<const __m256i*>(b + size_t(t) * kTile);
        const __m256i d0 = _mm256_xor_si256(_mm256_loadu_si256(pa), _mm256_loadu_si256(pb));
        const __m256i d1 = _mm256_xor_si256(_mm256_loadu_si256(pa + 1), _mm256_loadu_si256(pb + 1));
        dirty[t] = !_mm256_testz_si256(_mm256_or_si256(d0, d1), mask);
        marked += dirty[t];
    }
    return marked;
}
#endif

RowKernel pick_kernel(DamageIsa isa) {
#ifdef SPICED_DAMAGE_X86
    const bool has_avx2 = __builtin_cpu_supports("avx2");
    const bool has_sse2 = __builtin_cpu_supports("sse2");
    switch (isa) {
        case DamageIsa::kBest:
            if (has_avx2) return mark_row_avx2;
            if (has_sse2) return mark_row_sse2;
            return mark_row_portable;
        case DamageIsa::kPortable:
            return mark_row_portable;
        case DamageIsa::kSse2:
            return has_sse2 ? mark_row_sse2 : nullptr;
        case DamageIsa::kAvx2:
            return has_avx2 ? mark_row_avx2 : nullptr;
    }
    return nullptr;
#else
    return isa == DamageIsa::kBest || isa == DamageIsa::kPortable ? mark_row_portable : nullptr;
#endif
}

// Scans each tile row top to bottom, one pixel row at a time, so both frames are read as
// sequential streams the prefetcher can follow. A tile found dirty is skipped on the rows
// below, and a tile row stops early once every tile in it is dirty, so heavy damage reads
// far less than the whole frame.
class FastDamageDetector final : public DamageDetector {
public:
    explicit FastDamageDetector(RowKernel kernel) : kernel_(kernel) {}

    Region detect_rows_in(std::span<const uint32_t* const> previous, const Frame& current,
                          const Region& hint) override {
        if (previous.size() != size_t(current.height())) return Region(current.rect());
        Region damage;
        const int32_t width = current.width();
        const int32_t full_tiles = width / kTile;
        const int32_t tail = width % kTile;
        const int32_t tiles = full_tiles + (tail != 0 ? 1 : 0);
        const int32_t tile_rows = (current.height() + kTile - 1) / kTile;
        mark_hinted_tiles(hint, current.rect(), tiles, tile_rows);
        dirty_.resize(size_t(tiles));
        for (int32_t top = 0, tile_row = 0; top < current.height(); top += kTile, ++tile_row) {
            const uint8_t* hinted = hinted_.data() + size_t(tile_row) * size_t(tiles);
            runs_.clear();
            for (int32_t t = 0; t < tiles;) {
                if (!hinted[t]) {
                    ++t;
                    continue;
                }
                int32_t end = t + 1;
                while (end < tiles && hinted[end]) ++end;
                runs_.push_back({t, end});
                t = end;
            }
            if (runs_.empty()) continue;
            const int32_t bottom = std::min(top + kTile, current.height());
            std::fill(dirty_.begin(), dirty_.end(), uint8_t{0});
            int32_t clean = 0;
            for (const Run& run : runs_) clean += run.end - run.begin;
            for (int32_t y = top; y < bottom && clean > 0; ++y) {
                const uint32_t* a = previous[size_t(y)];
                const uint32_t* b = current.row(y);
                for (const Run& run : runs_) {
                    const int32_t full_end = std::min(run.end, full_tiles);
                    if (full_end > run.begin) {
                        const size_t x = size_t(run.begin) * kTile;
                        clean -=
                            kernel_(a + x, b + x, full_end - run.begin, dirty_.data() + run.begin);
                    }
                    if (tail != 0 && run.end == tiles && !dirty_[size_t(full_tiles)]) {
                        const size_t x = size_t(full_tiles) * kTile;
                        dirty_[size_t(full_tiles)] = pixels_differ(a + x, b + x, tail);
                        clean -= dirty_[size_t(full_tiles)];
                    }
                }
            }
            add_dirty_runs(damage, top, bottom, width);
        }
        return damage;
    }

private:
    struct Run {
        int32_t begin;
        int32_t end;
    };

    // One flag per tile: does the hint touch it.
    void mark_hinted_tiles(const Region& hint, const Rect& frame, int32_t tiles,
                           int32_t tile_rows) {
        hinted_.assign(size_t(tiles) * size_t(tile_rows), 0);
        for (const Rect& rect : hint.rects()) {
            const Rect r = rect.intersect(frame);
            if (r.is_empty()) continue;
            for (int32_t ty = r.top() / kTile; ty <= (r.bottom() - 1) / kTile; ++ty) {
                uint8_t* row = hinted_.data() + size_t(ty) * size_t(tiles);
                std::fill(row + r.left() / kTile, row + (r.right() - 1) / kTile + 1, uint8_t{1});
            }
        }
    }

    // Whole runs of dirty tiles, left to right, keep Region::add_rect on its append path.
    void add_dirty_runs(Region& damage, int32_t top, int32_t bottom, int32_t width) const {
        const int32_t tiles = int32_t(dirty_.size());
        for (int32_t t = 0; t < tiles;) {
            if (!dirty_[size_t(t)]) {
                ++t;
                continue;
            }
            int32_t end = t + 1;
            while (end < tiles && dirty_[size_t(end)]) ++end;
            damage.add_rect(Rect::MakeLTRB(t * kTile, top, std::min(end * kTile, width), bottom));
            t = end;
        }
    }

    RowKernel kernel_;
    std::vector<uint8_t> dirty_;   // one flag per tile column of the tile row being scanned
    std::vector<uint8_t> hinted_;  // one flag per tile of the frame
    std::vector<Run> runs_;        // hinted tile columns of the tile row being scanned
};

}  // namespace

std::unique_ptr<DamageDetector> make_reference_damage_detector(int32_t tile_size) {
    return std::make_unique<ReferenceDamageDetector>(tile_size);
}

std::unique_ptr<DamageDetector> make_fast_damage_detector(DamageIsa isa) {
    RowKernel kernel = pick_kernel(isa);
    if (kernel == nullptr) return nullptr;
    return std::make_unique<FastDamageDetector>(kernel);
}

}  // namespace spiced
