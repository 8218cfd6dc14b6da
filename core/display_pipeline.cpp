#include "core/display_pipeline.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "gpu/ppm.h"

namespace spiced {

DisplayPipeline::DisplayPipeline(std::unique_ptr<DemoDesktop> desktop, PipelineOptions options)
    : desktop_(std::move(desktop)),
      options_(std::move(options)),
      detector_(make_fast_damage_detector()),
      pool_(desktop_->size()),
      reference_(Frame::create(desktop_->size())) {
    // Frame 0 exists before the first tick, so a client connecting at once has a picture.
    tick();
}

bool DisplayPipeline::tick() {
    int64_t next = index_ + 1;
    const bool input_changed = desktop_->take_input_changed();
    if (frozen_) {
        if (!input_changed) return false;
        next = index_;  // a frozen desktop re-renders its frame with the new input
    }
    moves_.clear();
    std::unique_ptr<Frame> rendered = pool_.take();
    desktop_->render(next, *rendered, moves_);
    damage_ =
        index_ < 0 ? Region(rendered->rect()) : detector_->detect_rows(previous_rows(), *rendered);
    shown_ = pool_.publish(std::move(rendered));
    index_ = next;
    ++produced_;

    const bool just_froze =
        !frozen_ && options_.freeze_at.has_value() && index_ >= *options_.freeze_at;
    if (just_froze) {
        frozen_ = true;
        LOG_INFO("display", "demo frozen at frame %lld", static_cast<long long>(index_));
    }
    if (just_froze || (input_changed && !options_.dump_path.empty())) dump();
    return true;
}

std::span<const uint32_t* const> DisplayPipeline::previous_rows() {
    const Frame& previous = *shown_;
    const int32_t height = previous.height();
    rows_.resize(size_t(height));
    for (int32_t y = 0; y < height; ++y) rows_[size_t(y)] = previous.row(y);
    if (moves_.empty()) return rows_;
    // The old picture where a client that applied the moves (as COPY_BITS, in order) would
    // be: every row a move reads or writes comes from a private copy with the moves applied,
    // the rest straight from the published frame. Rows, not rectangles, because the detector
    // reads whole rows.
    touched_.assign(size_t(height), 0);
    auto touch = [&](int32_t top, int32_t rows) {
        for (int32_t y = std::max(top, 0); y < std::min(top + rows, height); ++y)
            touched_[size_t(y)] = 1;
    };
    for (const MoveHint& move : moves_) {
        touch(move.src.y, move.dest.height());
        touch(move.dest.top(), move.dest.height());
    }
    const size_t row_bytes = size_t(previous.width()) * sizeof(uint32_t);
    for (int32_t y = 0; y < height; ++y) {
        if (touched_[size_t(y)]) std::memcpy(reference_->row(y), previous.row(y), row_bytes);
    }
    for (const MoveHint& move : moves_)
        reference_->copy_from(
            *reference_,
            Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
            move.dest.origin());
    for (int32_t y = 0; y < height; ++y) {
        if (touched_[size_t(y)]) rows_[size_t(y)] = reference_->row(y);
    }
    return rows_;
}

void DisplayPipeline::dump() {
    if (options_.dump_path.empty()) return;
    auto written = write_ppm(*shown_, options_.dump_path);
    if (!written) {
        LOG_WARN("display", "--dump-frame: %s", written.error().c_str());
    } else {
        LOG_DEBUG("display", "frame %lld written to %s", static_cast<long long>(index_),
                  options_.dump_path.c_str());
    }
}

}  // namespace spiced
