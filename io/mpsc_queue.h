// MpscQueue: a bounded lock-free queue that any number of threads push to and exactly one
// thread pops from. try_push() may be called from any thread, try_pop() only from the one
// consumer thread; size_approx() and capacity() from anyone. Nothing blocks, nothing allocates
// after construction, and there is no mutex.
//
// The algorithm is Dmitry Vyukov's bounded MPMC queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue) with the
// consumer side simplified for a single consumer: every slot carries a sequence number that
// says whose turn it is. A producer claims a slot by advancing the enqueue position with a CAS,
// builds the element in it, then publishes it by bumping the slot's sequence; the consumer pops
// the slot at its position once that sequence says it is published. One consequence: a
// producer preempted between claiming and publishing hides the elements pushed after it until
// it resumes (try_pop() reports "empty" meanwhile); nothing is lost or reordered.
#pragma once

#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace spiced {

template <typename T>
class MpscQueue {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "a throwing move would leave a claimed slot unpublished forever");

public:
    // Holds at least `min_capacity` elements: the capacity is rounded up to a power of two, and
    // to at least 2 because with one slot "published" (sequence = position + 1) and "free for
    // the next lap" (sequence = next position) would be the same number.
    explicit MpscQueue(size_t min_capacity)
        : mask_(round_up_capacity(min_capacity) - 1),
          cells_(std::make_unique_for_overwrite<Cell[]>(mask_ + 1)) {
        for (size_t i = 0; i <= mask_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
    }

    // Destroys the elements still queued. No other thread may be using the queue.
    ~MpscQueue() {
        for (size_t position = dequeue_position_.load(std::memory_order_relaxed);; ++position) {
            Cell& cell = cells_[position & mask_];
            if (cell.sequence.load(std::memory_order_relaxed) != position + 1) break;
            cell.element()->~T();
        }
    }

    MpscQueue(const MpscQueue&) = delete;
    MpscQueue& operator=(const MpscQueue&) = delete;

    // Any thread. False when the queue is full; `value` is then left untouched, so the caller
    // still owns it and may retry.
    [[nodiscard]] bool try_push(T&& value) {
        size_t position = enqueue_position_.load(std::memory_order_relaxed);
        Cell* cell;
        for (;;) {
            cell = &cells_[position & mask_];
            size_t sequence = cell->sequence.load(std::memory_order_acquire);
            auto lag = static_cast<std::ptrdiff_t>(sequence - position);
            if (lag == 0) {
                // The slot is free for this lap; claim it unless another producer got there
                // first (then `position` is reloaded and we try the next one).
                if (enqueue_position_.compare_exchange_weak(position, position + 1,
                                                            std::memory_order_relaxed)) {
                    break;
                }
            } else if (lag < 0) {
                // The consumer has not yet emptied this slot from the previous lap: full.
                return false;
            } else {
                // Another producer claimed this position after our load; catch up.
                position = enqueue_position_.load(std::memory_order_relaxed);
            }
        }
        ::new (static_cast<void*>(cell->bytes)) T(std::move(value));
        // Release: the consumer that sees this sequence also sees the constructed element.
        cell->sequence.store(position + 1, std::memory_order_release);
        return true;
    }

    // The consumer thread only. The oldest published element, or nothing.
    [[nodiscard]] std::optional<T> try_pop() {
        size_t position = dequeue_position_.load(std::memory_order_relaxed);
        Cell& cell = cells_[position & mask_];
        if (cell.sequence.load(std::memory_order_acquire) != position + 1) return std::nullopt;
        T* slot = cell.element();
        std::optional<T> value(std::move(*slot));
        slot->~T();
        // Release: the producer that sees this sequence may build the next lap's element here.
        cell.sequence.store(position + mask_ + 1, std::memory_order_release);
        dequeue_position_.store(position + 1, std::memory_order_release);
        return value;
    }

    // Claimed slots minus popped ones: a snapshot that may be stale by the time the caller
    // looks at it, and that counts pushes still in progress.
    size_t size_approx() const {
        // Dequeue first: the enqueue position only grows and stays at or ahead of it.
        size_t dequeued = dequeue_position_.load(std::memory_order_acquire);
        size_t enqueued = enqueue_position_.load(std::memory_order_acquire);
        size_t size = enqueued - dequeued;
        return size < capacity() ? size : capacity();
    }

    size_t capacity() const { return mask_ + 1; }

private:
    // 64 bytes is the line size of every x86-64 and most AArch64 cores; GCC's
    // hardware_destructive_interference_size varies with -mtune and warns when used in headers.
    static constexpr size_t kCacheLine = 64;

    // Cells are not padded to a cache line each: producers mostly write different cells, and
    // padding would multiply the memory of small elements (Vyukov's original does the same).
    struct Cell {
        std::atomic<size_t> sequence;
        alignas(T) std::byte bytes[sizeof(T)];
        T* element() { return std::launder(reinterpret_cast<T*>(bytes)); }
    };

    static size_t round_up_capacity(size_t min_capacity) {
        // Beyond 2^63 there is no power of two to round to (and no memory to hold it).
        assert(min_capacity <= (size_t{1} << 63));
        return std::bit_ceil(min_capacity < 2 ? size_t{2} : min_capacity);
    }

    // Read-only after construction.
    const size_t mask_;
    const std::unique_ptr<Cell[]> cells_;

    // Positions count pushes and pops since construction and wrap at 2^64 harmlessly (the
    // capacity divides 2^64). Producers contend on one line, the consumer owns the other.
    alignas(kCacheLine) std::atomic<size_t> enqueue_position_{0};
    alignas(kCacheLine) std::atomic<size_t> dequeue_position_{0};
};

}  // namespace spiced
