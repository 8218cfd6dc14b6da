// FramePool: frame buffers for a producer that publishes immutable frames to other threads.
//
// publish() turns a filled frame into a std::shared_ptr<const Frame> that any thread may hold
// and read; when the last holder lets go, the buffer comes back through a lock-free queue and
// the producer's next take() reuses it instead of allocating (and page-faulting) a new one.
// take(), publish() and resize() belong to the producer thread; the release side is any thread.
#pragma once

#include <memory>
#include <utility>

#include "io/mpsc_queue.h"
#include "pixels/frame.h"
#include "pixels/geometry.h"

namespace spiced {

class FramePool {
public:
    // Keeps at most `spare` returned buffers; more are freed as they come back.
    explicit FramePool(Size size, size_t spare = 8)
        : size_(size), returns_(std::make_shared<Returns>(spare)) {}

    Size size() const { return size_; }

    // A buffer of the pool's size with unspecified contents (a recycled one when available).
    std::unique_ptr<Frame> take() {
        while (auto recycled = returns_->try_pop()) {
            // Buffers of an earlier size come back after a resize(); they are freed here.
            if ((*recycled)->size() == size_) return std::move(*recycled);
        }
        return Frame::create(size_);
    }

    // Later take()s hand out buffers of `size`. Frames still held by readers keep their size
    // and are freed, not reused, when they come back.
    void resize(Size size) { size_ = size; }

    std::shared_ptr<const Frame> publish(std::unique_ptr<Frame> frame) {
        // The deleter holds the queue, so a frame may outlive the pool.
        return std::shared_ptr<const Frame>(
            frame.release(), [returns = returns_](const Frame* released) {
                // The producer made it; readers only ever see it const.
                std::unique_ptr<Frame> owned(const_cast<Frame*>(released));
                if (!returns->try_push(std::move(owned))) {
                    // Enough spares already: `owned` frees it here.
                }
            });
    }

private:
    using Returns = MpscQueue<std::unique_ptr<Frame>>;
    Size size_;
    std::shared_ptr<Returns> returns_;
};

}  // namespace spiced
