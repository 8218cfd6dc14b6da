#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "io/mpsc_queue.h"
#include "io/spsc_ring.h"
#include "io/task_inbox.h"

namespace spiced {
namespace {

// Counts live instances through a counter the test owns, so a leaked or doubly destroyed
// element shows up as a wrong count (and ASan sees the heap payload).
class Tracked {
public:
    Tracked(int* live, int value) : live_(live), value_(std::make_unique<int>(value)) { ++*live_; }
    Tracked(Tracked&& other) noexcept : live_(other.live_), value_(std::move(other.value_)) {
        ++*live_;
    }
    Tracked& operator=(Tracked&&) = delete;
    ~Tracked() { --*live_; }
    int value() const { return value_ ? *value_ : -1; }

private:
    int* live_;
    std::unique_ptr<int> value_;
};

// Both queues present the same single-consumer interface; these run every shared test on each.
struct SpscKind {
    template <typename T>
    using Queue = SpscRing<T>;
};
struct MpscKind {
    template <typename T>
    using Queue = MpscQueue<T>;
};

template <typename Kind>
class QueueTest : public ::testing::Test {};
using QueueKinds = ::testing::Types<SpscKind, MpscKind>;
TYPED_TEST_SUITE(QueueTest, QueueKinds);

TYPED_TEST(QueueTest, PreservesOrderAndReportsFullAndEmpty) {
    typename TypeParam::template Queue<int> queue(4);
    ASSERT_EQ(queue.capacity(), 4u);
    EXPECT_FALSE(queue.try_pop());
    EXPECT_EQ(queue.size_approx(), 0u);
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.try_push(int{i}));
    EXPECT_EQ(queue.size_approx(), 4u);
    EXPECT_FALSE(queue.try_push(99));
    for (int i = 0; i < 4; ++i) {
        auto value = queue.try_pop();
        ASSERT_TRUE(value);
        EXPECT_EQ(*value, i);
    }
    EXPECT_FALSE(queue.try_pop());
    EXPECT_EQ(queue.size_approx(), 0u);
}

TYPED_TEST(QueueTest, WrapsAroundManyLaps) {
    typename TypeParam::template Queue<int> queue(4);
    int pushed = 0;
    int popped = 0;
    // Alternate between three pushes and two pops, so the fill level and the slot where each
    // lap starts keep changing; drain whenever full.
    while (pushed < 1000) {
        for (int i = 0; i < 3; ++i) {
            if (queue.try_push(int{pushed})) ++pushed;
        }
        for (int i = 0; i < 2; ++i) {
            auto value = queue.try_pop();
            ASSERT_TRUE(value);
            EXPECT_EQ(*value, popped++);
        }
        EXPECT_EQ(queue.size_approx(), static_cast<size_t>(pushed - popped));
    }
    while (auto value = queue.try_pop()) EXPECT_EQ(*value, popped++);
    EXPECT_EQ(popped, pushed);
}

TYPED_TEST(QueueTest, FailedPushLeavesTheValueWithTheCaller) {
    typename TypeParam::template Queue<std::unique_ptr<int>> queue(2);
    while (queue.try_push(std::make_unique<int>(1))) {
    }
    auto keep = std::make_unique<int>(7);
    EXPECT_FALSE(queue.try_push(std::move(keep)));
    ASSERT_TRUE(keep);  // NOLINT(bugprone-use-after-move): a failed push does not move
    EXPECT_EQ(*keep, 7);
}

TYPED_TEST(QueueTest, CarriesMoveOnlyPayloads) {
    typename TypeParam::template Queue<std::unique_ptr<int>> pointers(8);
    EXPECT_TRUE(pointers.try_push(std::make_unique<int>(42)));
    auto pointer = pointers.try_pop();
    ASSERT_TRUE(pointer && *pointer);
    EXPECT_EQ(**pointer, 42);

    typename TypeParam::template Queue<std::vector<uint8_t>> buffers(8);
    std::vector<uint8_t> buffer(1000, 0xab);
    const uint8_t* data = buffer.data();
    EXPECT_TRUE(buffers.try_push(std::move(buffer)));
    auto out = buffers.try_pop();
    ASSERT_TRUE(out);
    EXPECT_EQ(out->data(), data);  // moved, not copied
    EXPECT_EQ(out->size(), 1000u);
}

TYPED_TEST(QueueTest, DestroysRemainingElements) {
    int live = 0;
    {
        typename TypeParam::template Queue<Tracked> queue(4);
        // Move the start off slot 0 first, so the remaining elements wrap past the end.
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(queue.try_push(Tracked(&live, i)));
        for (int i = 0; i < 3; ++i) EXPECT_EQ(queue.try_pop()->value(), i);
        EXPECT_EQ(live, 0);
        for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.try_push(Tracked(&live, i)));
        EXPECT_EQ(queue.try_pop()->value(), 0);
        EXPECT_EQ(live, 3);
    }
    EXPECT_EQ(live, 0);
    {
        typename TypeParam::template Queue<Tracked> full(2);
        while (full.try_push(Tracked(&live, 1))) {
        }
        EXPECT_EQ(live, 2);
    }
    EXPECT_EQ(live, 0);
}

TEST(SpscRingTest, RoundsCapacityUpToAPowerOfTwo) {
    const std::pair<size_t, size_t> cases[] = {
        {0, 1}, {1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048}};
    for (auto [asked, expected] : cases) {
        SpscRing<int> ring(asked);
        EXPECT_EQ(ring.capacity(), expected) << "asked for " << asked;
        for (size_t i = 0; i < expected; ++i) EXPECT_TRUE(ring.try_push(1));
        EXPECT_FALSE(ring.try_push(1)) << "asked for " << asked;
    }
}

TEST(MpscQueueTest, RoundsCapacityUpToAPowerOfTwoOfAtLeastTwo) {
    const std::pair<size_t, size_t> cases[] = {{0, 2}, {1, 2},       {2, 2},       {3, 4},
                                               {5, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048}};
    for (auto [asked, expected] : cases) {
        MpscQueue<int> queue(asked);
        EXPECT_EQ(queue.capacity(), expected) << "asked for " << asked;
        for (size_t i = 0; i < expected; ++i) EXPECT_TRUE(queue.try_push(1));
        EXPECT_FALSE(queue.try_push(1)) << "asked for " << asked;
    }
}

// The two-thread runs check content and order only; how fast they go is not asserted.
TEST(SpscRingTest, OneProducerOneConsumerKeepOrder) {
    constexpr uint64_t kItems = 1'000'000;
    // Small, so the producer keeps finding the ring full and the consumer keeps finding it
    // empty: both slow paths run often.
    SpscRing<uint64_t> ring(64);
    std::thread producer([&ring] {
        for (uint64_t i = 0; i < kItems; ++i) {
            while (!ring.try_push(uint64_t{i})) std::this_thread::yield();
        }
    });
    uint64_t expected = 0;
    uint64_t out_of_order = 0;
    while (expected < kItems) {
        auto value = ring.try_pop();
        if (!value) {
            std::this_thread::yield();
            continue;
        }
        if (*value != expected) ++out_of_order;
        expected = *value + 1;
    }
    producer.join();
    EXPECT_EQ(out_of_order, 0u);
    EXPECT_FALSE(ring.try_pop());
}

TEST(MpscQueueTest, FourProducersOneConsumerKeepEachProducersOrder) {
    constexpr int kProducers = 4;
    constexpr uint64_t kItemsEach = 200'000;
    MpscQueue<uint64_t> queue(64);
    std::vector<std::thread> producers;
    for (uint64_t id = 0; id < kProducers; ++id) {
        producers.emplace_back([&queue, id] {
            for (uint64_t i = 0; i < kItemsEach; ++i) {
                while (!queue.try_push(id << 32 | i)) std::this_thread::yield();
            }
        });
    }
    std::vector<uint64_t> next(kProducers, 0);
    uint64_t received = 0;
    uint64_t bad = 0;
    while (received < kProducers * kItemsEach) {
        auto value = queue.try_pop();
        if (!value) {
            std::this_thread::yield();
            continue;
        }
        ++received;
        uint64_t id = *value >> 32;
        uint64_t sequence = *value & 0xffffffff;
        if (id >= kProducers || sequence != next[id]) {
            ++bad;
            if (id >= kProducers) continue;
        }
        next[id] = sequence + 1;
    }
    for (auto& producer : producers) producer.join();
    EXPECT_EQ(bad, 0u);
    for (int id = 0; id < kProducers; ++id) EXPECT_EQ(next[id], kItemsEach) << "producer " << id;
    EXPECT_FALSE(queue.try_pop());
    EXPECT_EQ(queue.size_approx(), 0u);
}

TEST(MpscQueueTest, FourProducersHandOverOwnedPayloads) {
    // Heap payloads under ASan: a slot read before it is published, or destroyed twice, shows
    // up as a use-after-free or a leak rather than a wrong number.
    constexpr int kProducers = 4;
    constexpr int kItemsEach = 20'000;
    MpscQueue<std::unique_ptr<int>> queue(16);
    std::vector<std::thread> producers;
    for (int id = 0; id < kProducers; ++id) {
        producers.emplace_back([&queue, id] {
            for (int i = 0; i < kItemsEach; ++i) {
                auto item = std::make_unique<int>(id * kItemsEach + i);
                while (!queue.try_push(std::move(item))) std::this_thread::yield();
            }
        });
    }
    int64_t sum = 0;
    for (int received = 0; received < kProducers * kItemsEach;) {
        if (auto item = queue.try_pop()) {
            sum += **item;
            ++received;
        } else {
            std::this_thread::yield();
        }
    }
    for (auto& producer : producers) producer.join();
    const int64_t total = int64_t{kProducers} * kItemsEach;
    EXPECT_EQ(sum, total * (total - 1) / 2);
}

TEST(TaskInboxTest, EmptyThenFifoOnOneThread) {
    TaskInbox inbox;
    EXPECT_FALSE(inbox.pop().has_value());
    std::vector<int> ran;
    for (int i = 0; i < 5; ++i) inbox.push([&ran, i] { ran.push_back(i); });
    while (auto task = inbox.pop()) (*task)();
    EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_FALSE(inbox.pop().has_value());
    // Reusable after running dry (the stub node goes back in).
    inbox.push([&ran] { ran.push_back(9); });
    auto again = inbox.pop();
    ASSERT_TRUE(again.has_value());
    (*again)();
    EXPECT_EQ(ran.back(), 9);
}

TEST(TaskInboxTest, DestructorFreesQueuedTasks) {
    int live = 0;
    {
        TaskInbox inbox;
        for (int i = 0; i < 3; ++i) {
            auto payload = std::make_shared<Tracked>(&live, i);
            inbox.push([payload] {});
        }
        EXPECT_EQ(live, 3);
    }
    EXPECT_EQ(live, 0);
}

TEST(TaskInboxTest, FourProducersOneConsumerKeepEachProducersOrderAndLoseNothing) {
    constexpr int kProducers = 4;
    constexpr int kEach = 50000;
    TaskInbox inbox;
    std::vector<int> last(kProducers, -1);
    bool in_order = true;
    int ran = 0;
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            for (int i = 0; i < kEach; ++i) {
                inbox.push([&, p, i] {
                    in_order = in_order && last[size_t(p)] == i - 1;
                    last[size_t(p)] = i;
                    ++ran;
                });
            }
        });
    }
    while (ran < kProducers * kEach) {
        if (auto task = inbox.pop()) {
            (*task)();
        } else {
            std::this_thread::yield();
        }
    }
    for (auto& producer : producers) producer.join();
    EXPECT_TRUE(in_order);
    EXPECT_FALSE(inbox.pop().has_value());
}

}  // namespace
}  // namespace spiced
