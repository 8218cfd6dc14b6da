// Damage detection: which parts of a frame changed since the previous one, in whole tiles.
//
// A detector compares two frames and returns the Region covering every kDamageTileSize tile
// (clipped to the frame) that holds at least one changed pixel. Only the low 24 bits of a
// pixel (B, G, R) are compared: the X byte of SPICE's 32_xRGB format is undefined, guests
// leave garbage in it, and treating that as damage would re-encode pixels nobody can see.
// Frames of different sizes make the whole current frame damage. Strides may differ: rows
// are read through Frame::row. A source that knows roughly where it drew passes that as a
// hint, and only tiles touching the hint are compared (the rest is taken as unchanged).
//
// The reference detector is the obviously-correct oracle; the fast one must return exactly
// the same Region for every input. One detector instance serves one frame stream: detect()
// may reuse per-instance scratch memory, so an instance must not be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced {

// 16x16 pixels: the macroblock size of H.264 and VP8, so damage lines up with codec blocks,
// and one tile row of 32-bit pixels is 64 bytes, one cache line on x86 and most ARM cores.
inline constexpr int32_t kDamageTileSize = 16;

class DamageDetector {
public:
    virtual ~DamageDetector();
    Region detect(const Frame& previous, const Frame& current);
    // The previous picture given as one pointer per row of `current` (each row at least
    // current.width() pixels): a pipeline can then compare against its last published frame
    // with only the rows that moves rewrote taken from a private copy, instead of keeping a
    // whole private copy of the previous frame current.
    Region detect_rows(std::span<const uint32_t* const> previous_rows, const Frame& current) {
        return detect_rows_in(previous_rows, current, Region(current.rect()));
    }
    // The same, comparing only the tiles that `hint` touches.
    virtual Region detect_rows_in(std::span<const uint32_t* const> previous_rows,
                                  const Frame& current, const Region& hint) = 0;
};

// Instruction sets the fast detector can use; kBest picks the widest the CPU supports at run
// time. The others exist so tests and benchmarks can pin each code path.
enum class DamageIsa { kBest, kPortable, kSse2, kAvx2 };

// `tile_size` > 0: the reference also serves other tile sizes (the compositor's option).
std::unique_ptr<DamageDetector> make_reference_damage_detector(int32_t tile_size = kDamageTileSize);
// Returns nullptr when `isa` is not available on this CPU or build.
std::unique_ptr<DamageDetector> make_fast_damage_detector(DamageIsa isa = DamageIsa::kBest);

}  // namespace spiced
