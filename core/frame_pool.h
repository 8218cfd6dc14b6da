// FramePool: frame buffers for a producer that publishes immutable frames to other threads.
//
// publish() turns a filled frame into a std::shared_ptr<const Frame> that any thread may hold
// and read; when the last holder lets go, the buffer comes back through a lock-free queue and
// the producer's next take() reuses it instead of allocating (and page-faulting) a new one.
// take() and publish() belong to the producer thread; the release side is any thread.
#pragma once

#include <memory>
#include <utility>

#include "gpu/frame.h"
#include "io/mpsc_queue.h"

namespace spiced {

class FramePool {
public:
    // Keeps at most `spare` returned buffers; more are freed as they come back.
    explicit FramePool(Size size, size_t spare = 8)
        : size_(size), returns_(std::make_shared<Returns>(spare)) {}

    // A buffer of the pool's size with unspecified contents (a recycled one when available).
    std::unique_ptr<Frame> take() {
        if (auto recycled = returns_->try_pop()) return std::move(*recycled);
        return Frame::create(size_);
    }

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
