// SpscRing: a bounded lock-free ring for exactly one producer thread and one consumer thread.
// try_push() may be called only by the producer, try_pop() only by the consumer; size_approx()
// and capacity() by anyone. Neither side ever blocks or allocates after construction.
//
// The layout follows rigtorp's SPSCQueue and folly's ProducerConsumerQueue: the write index and
// the read index live on separate cache lines, and each side keeps a private copy of the other
// side's index, re-reading the shared one only when its copy says the ring is full (producer)
// or empty (consumer). In steady state a push or pop then touches no cache line the other core
// is writing.
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
class SpscRing {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "a throwing move would leave a slot half-filled");

public:
    // Holds at least `min_capacity` elements: the capacity is rounded up to a power of two (at
    // least 1) so an index maps to a slot with a mask instead of a division.
    explicit SpscRing(size_t min_capacity)
        : mask_(round_up_capacity(min_capacity) - 1),
          slots_(std::make_unique_for_overwrite<Slot[]>(mask_ + 1)) {}

    // Destroys the elements still queued. No other thread may be using the ring.
    ~SpscRing() {
        size_t tail = tail_.load(std::memory_order_relaxed);
        for (size_t head = head_.load(std::memory_order_relaxed); head != tail; ++head) {
            element(head)->~T();
        }
    }

    SpscRing(const SpscRing&) = delete;
    SpscRing& operator=(const SpscRing&) = delete;

    // Producer only. False when the ring is full; `value` is then left untouched, so the
    // caller still owns it and may retry.
    [[nodiscard]] bool try_push(T&& value) {
        size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - cached_head_ == mask_ + 1) {
            cached_head_ = head_.load(std::memory_order_acquire);
            if (tail - cached_head_ == mask_ + 1) return false;
        }
        ::new (static_cast<void*>(slots_[tail & mask_].bytes)) T(std::move(value));
        // Release: the consumer that sees the new tail also sees the constructed element.
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer only. The oldest element, or nothing when the ring is empty.
    [[nodiscard]] std::optional<T> try_pop() {
        size_t head = head_.load(std::memory_order_relaxed);
        if (head == cached_tail_) {
            cached_tail_ = tail_.load(std::memory_order_acquire);
            if (head == cached_tail_) return std::nullopt;
        }
        T* slot = element(head);
        std::optional<T> value(std::move(*slot));
        slot->~T();
        // Release: the producer that sees the new head may reuse the slot we just vacated.
        head_.store(head + 1, std::memory_order_release);
        return value;
    }

    // A snapshot that may be stale by the time the caller looks at it; exact when called by
    // the producer or the consumer while the other side is idle.
    size_t size_approx() const {
        // Read head first: tail only grows and never passes head + capacity, so the difference
        // cannot go negative; it can exceed the capacity if both sides moved between the loads.
        size_t head = head_.load(std::memory_order_acquire);
        size_t tail = tail_.load(std::memory_order_acquire);
        size_t size = tail - head;
        return size < capacity() ? size : capacity();
    }

    size_t capacity() const { return mask_ + 1; }

private:
    // 64 bytes is the line size of every x86-64 and most AArch64 cores; GCC's
    // hardware_destructive_interference_size varies with -mtune and warns when used in headers.
    static constexpr size_t kCacheLine = 64;

    struct Slot {
        alignas(T) std::byte bytes[sizeof(T)];
    };
    static size_t round_up_capacity(size_t min_capacity) {
        // Beyond 2^63 there is no power of two to round to (and no memory to hold it).
        assert(min_capacity <= (size_t{1} << 63));
        return std::bit_ceil(min_capacity == 0 ? size_t{1} : min_capacity);
    }
    T* element(size_t index) {
        return std::launder(reinterpret_cast<T*>(slots_[index & mask_].bytes));
    }

    // Read-only after construction: shared by both cores without contention.
    const size_t mask_;
    const std::unique_ptr<Slot[]> slots_;

    // The indices count pushes and pops since construction and wrap at 2^64, which is harmless:
    // the capacity divides 2^64, so `index & mask_` stays consistent across the wrap.
    //
    // Each side's index and its private copy of the other side's index share one cache line:
    // the owner writes the index on every call anyway, and the other side reads that line only
    // when its own copy runs out.
    alignas(kCacheLine) std::atomic<size_t> tail_{0};
    size_t cached_head_ = 0;  // producer only
    alignas(kCacheLine) std::atomic<size_t> head_{0};
    size_t cached_tail_ = 0;  // consumer only
};

}  // namespace spiced
