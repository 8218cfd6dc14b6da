#pragma once
// Frames of a QXL primary surface for readers on other threads, recycled once no reader holds
// them. Each kept frame remembers what changed since it was last filled, so refilling it copies
// only that.

#include <functional>
#include <memory>
#include <vector>

#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced::qxl {

class FrameRing {
public:
    // Copies the current pixels of a region into a frame (one call per frame handed out, so
    // a device reader submits once).
    using Fill = std::function<void(const Region&, Frame&)>;

    void reset() { slots_.clear(); }

    // A frame of `size` whose pixels are current: `damage` (what changed since the previous
    // call) and whatever this slot missed since it was last filled are copied through `fill`.
    std::shared_ptr<const Frame> next(Size size, const Region& damage, const Fill& fill);

    static constexpr size_t kMaxSlots = 4;

private:
    struct Slot {
        std::shared_ptr<Frame> frame;
        Region stale;
    };
    std::vector<Slot> slots_;
};

}  // namespace spiced::qxl
