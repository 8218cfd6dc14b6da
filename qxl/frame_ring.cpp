#include "qxl/frame_ring.h"

namespace spiced::qxl {

std::shared_ptr<const Frame> FrameRing::next(Size size, const Region& damage, const Fill& fill) {
    if (!slots_.empty() && slots_.front().frame->size() != size) slots_.clear();
    Slot* slot = nullptr;
    for (Slot& candidate : slots_) {
        // Only we hold it: no reader can get it again but through us.
        if (candidate.frame.use_count() == 1) {
            slot = &candidate;
            break;
        }
    }
    if (!slot) {
        Slot fresh{std::shared_ptr<Frame>(Frame::create(size)), Region(Rect::MakeSize(size))};
        if (slots_.size() < kMaxSlots) {
            slots_.push_back(std::move(fresh));
            slot = &slots_.back();
        } else {
            // Every kept frame is still being read (a slow shard): this one is not kept, but
            // what changed in it is still owed to every kept frame.
            fill(Region(Rect::MakeSize(size)), *fresh.frame);
            for (Slot& other : slots_) other.stale.add_region(damage);
            return fresh.frame;
        }
    }
    Region copy = slot->stale;
    copy.add_region(damage);
    if (!copy.is_empty()) fill(copy, *slot->frame);
    slot->stale.clear();
    for (Slot& other : slots_) {
        if (&other != slot) other.stale.add_region(damage);
    }
    return slot->frame;
}

}  // namespace spiced::qxl
