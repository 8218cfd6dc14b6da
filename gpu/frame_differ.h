// FrameDiffer: the damage between the frame a client shows and the next one, for one display.
//
// A client that applied the source's moves (as COPY_BITS, in order) to the previous frame
// still lacks exactly the returned damage: whole 16x16 tiles (pixels/damage.h) where its
// picture differs from the next frame, compared only inside the source's hint. The previous
// frame is read in place; only the rows a move reads or writes come from a private copy with
// the moves applied. One instance per display stream; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "display/types.h"
#include "pixels/damage.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced {

class FrameDiffer {
public:
    // Tiles of kDamageTileSize use the fast detector; other sizes (> 0) the reference one.
    explicit FrameDiffer(int32_t tile_size = kDamageTileSize);
    Region diff(const Frame& previous, std::span<const MoveHint> moves, const Frame& next,
                const Region& hint);

private:
    std::span<const uint32_t* const> previous_rows(const Frame& previous,
                                                   std::span<const MoveHint> moves);

    std::unique_ptr<DamageDetector> detector_;
    std::unique_ptr<Frame> reference_;  // rows `touched_` marks, with the moves applied
    std::vector<const uint32_t*> rows_;
    std::vector<uint8_t> touched_;
};

}  // namespace spiced
