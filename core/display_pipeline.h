// DisplayPipeline: turns the demo desktop into a stream of frames with damage and move hints.
//
// Per tick it renders the next frame into a pooled buffer, applies the source's move hints to
// a private reference copy of the previous frame and diffs the two, so the damage is exactly
// what a client that applied the moves (as COPY_BITS) still needs; then it publishes the new
// frame as an immutable shared_ptr that shards read on their own threads. The desktop
// source's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/frame_pool.h"
#include "demo/demo_desktop.h"
#include "gpu/damage.h"
#include "gpu/frame.h"

namespace spiced {

struct PipelineOptions {
    std::optional<int64_t> freeze_at;  // --demo-freeze N
    std::string dump_path;             // --dump-frame FILE ("" = off)
};

class DisplayPipeline {
public:
    DisplayPipeline(std::unique_ptr<DemoDesktop> desktop, PipelineOptions options);

    // Produces the next frame if there is one (a frozen desktop only re-renders after input).
    // Returns true when current() changed; damage() and moves() then describe the change.
    bool tick();

    const Frame& current() const { return *shown_; }
    // The current frame, for readers on other threads.
    const std::shared_ptr<const Frame>& shared_current() const { return shown_; }
    const Region& damage() const { return damage_; }
    const std::vector<MoveHint>& moves() const { return moves_; }
    int64_t frame_index() const { return index_; }
    uint64_t frames_produced() const { return produced_; }
    DemoDesktop& desktop() { return *desktop_; }

private:
    void dump();

    std::unique_ptr<DemoDesktop> desktop_;
    PipelineOptions options_;
    std::unique_ptr<DamageDetector> detector_;
    FramePool pool_;
    std::shared_ptr<const Frame> shown_;
    // Equal to *shown_ after every tick; the next tick applies its moves here in place.
    std::unique_ptr<Frame> reference_;
    Region damage_;
    std::vector<MoveHint> moves_;
    int64_t index_ = -1;
    uint64_t produced_ = 0;
    bool frozen_ = false;
};

}  // namespace spiced
