// What a SPICE client does with a display update, for tests that check the damage and moves
// the server computes: apply the moves as COPY_BITS (in order), then repaint the damage from
// the new frame; afterwards the client's picture must equal the frame.
#pragma once

#include <span>
#include <string>

#include "display/types.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced::testing_support {

// First pixel whose B, G, R differ ("" when none; the X byte is not compared: damage ignores
// it too), or "size" when the frames differ in size.
inline std::string first_difference(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) return "size";
    for (int32_t y = 0; y < a.height(); ++y) {
        for (int32_t x = 0; x < a.width(); ++x) {
            if ((a.row(y)[x] ^ b.row(y)[x]) & 0x00ffffffu)
                return std::to_string(x) + "," + std::to_string(y);
        }
    }
    return "";
}

inline void apply_moves(Frame& client, std::span<const MoveHint> moves) {
    for (const MoveHint& move : moves) {
        client.copy_from(
            client, Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
            move.dest.origin());
    }
}

inline void repaint(Frame& client, const Frame& next, const Region& damage) {
    for (const Rect& rect : damage.rects()) client.copy_from(next, rect, rect.origin());
}

}  // namespace spiced::testing_support
