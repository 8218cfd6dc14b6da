// DisplayPipeline: turns the demo desktop into a stream of frames with damage and move hints.
//
// Per tick it renders the next frame into a pooled buffer and diffs it against the previous
// frame as a client that applied the source's move hints (as COPY_BITS) sees it, so the damage
// is exactly what that client still needs; then it publishes the new frame as an immutable
// shared_ptr that shards read on their own threads. The previous frame is read in place; only
// the rows a move reads or writes are copied (and moved) in a private frame. The desktop
// source's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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
    // The previous frame's rows, with the moves applied (see above).
    std::span<const uint32_t* const> previous_rows();
    void dump();

    std::unique_ptr<DemoDesktop> desktop_;
    PipelineOptions options_;
    std::unique_ptr<DamageDetector> detector_;
    FramePool pool_;
    std::shared_ptr<const Frame> shown_;
    // Rows of *shown_ that this tick's moves read or write, with the moves applied.
    std::unique_ptr<Frame> reference_;
    std::vector<const uint32_t*> rows_;
    std::vector<uint8_t> touched_;  // per row: taken from reference_
    Region damage_;
    std::vector<MoveHint> moves_;
    int64_t index_ = -1;
    uint64_t produced_ = 0;
    bool frozen_ = false;
};

}  // namespace spiced
