#include "core/display_pipeline.h"

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
    // Bring the old picture to where a client that applied the moves would be, then diff.
    for (const MoveHint& move : moves_)
        reference_->copy_from(
            *reference_,
            Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
            move.dest.origin());
    damage_ = index_ < 0 ? Region(rendered->rect()) : detector_->detect(*reference_, *rendered);
    // The damage covers every pixel that differs: copying it makes the reference current.
    for (const Rect& rect : damage_.rects()) reference_->copy_from(*rendered, rect, rect.origin());
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
