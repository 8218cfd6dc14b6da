#include "gpu/frame_differ.h"

#include <algorithm>
#include <cstring>

namespace spiced {

FrameDiffer::FrameDiffer(int32_t tile_size)
    : detector_(tile_size == kDamageTileSize ? make_fast_damage_detector()
                                             : make_reference_damage_detector(tile_size)) {}

Region FrameDiffer::diff(const Frame& previous, std::span<const MoveHint> moves, const Frame& next,
                         const Region& hint) {
    if (previous.size() != next.size()) return Region(next.rect());
    return detector_->detect_rows_in(previous_rows(previous, moves), next, hint);
}

std::span<const uint32_t* const> FrameDiffer::previous_rows(const Frame& previous,
                                                            std::span<const MoveHint> moves) {
    const int32_t height = previous.height();
    rows_.resize(size_t(height));
    for (int32_t y = 0; y < height; ++y) rows_[size_t(y)] = previous.row(y);
    if (moves.empty()) return rows_;
    if (!reference_ || reference_->size() != previous.size())
        reference_ = Frame::create(previous.size());
    // Rows, not rectangles, because the detector reads whole rows.
    touched_.assign(size_t(height), 0);
    auto touch = [&](int32_t top, int32_t count) {
        for (int32_t y = std::max(top, 0); y < std::min(top + count, height); ++y)
            touched_[size_t(y)] = 1;
    };
    for (const MoveHint& move : moves) {
        touch(move.src.y, move.dest.height());
        touch(move.dest.top(), move.dest.height());
    }
    const size_t row_bytes = size_t(previous.width()) * sizeof(uint32_t);
    for (int32_t y = 0; y < height; ++y) {
        if (touched_[size_t(y)]) std::memcpy(reference_->row(y), previous.row(y), row_bytes);
    }
    for (const MoveHint& move : moves)
        reference_->copy_from(
            *reference_,
            Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
            move.dest.origin());
    for (int32_t y = 0; y < height; ++y) {
        if (touched_[size_t(y)]) rows_[size_t(y)] = reference_->row(y);
    }
    return rows_;
}

}  // namespace spiced
