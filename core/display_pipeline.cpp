#include "core/display_pipeline.h"

#include "base/log.h"
#include "gpu/ppm.h"

namespace spiced {

DisplayPipeline::DisplayPipeline(std::unique_ptr<DemoDesktop> desktop, PipelineOptions options)
    : desktop_(std::move(desktop)),
      options_(std::move(options)),
      detector_(make_fast_damage_detector()),
      shown_(Frame::create(desktop_->size())),
      scratch_(Frame::create(desktop_->size())) {
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
    desktop_->render(next, *scratch_, moves_);
    // Bring the old picture to where a client that applied the moves would be, then diff.
    for (const MoveHint& move : moves_)
        shown_->copy_from(
            *shown_, Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
            move.dest.origin());
    damage_ = index_ < 0 ? Region(scratch_->rect()) : detector_->detect(*shown_, *scratch_);
    std::swap(shown_, scratch_);
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
