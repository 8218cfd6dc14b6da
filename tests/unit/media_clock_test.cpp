#include "base/media_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

namespace spiced {
namespace {

uint32_t steady_ms() {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

TEST(MediaClock, SteadyClockIsTheSteadyClockInMilliseconds) {
    const std::shared_ptr<const MediaClock> clock = steady_media_clock();
    ASSERT_TRUE(clock);
    const uint32_t before = steady_ms();
    const uint32_t now = clock->now_ms();
    const uint32_t after = steady_ms();
    // Differences, not comparisons: the u32 may wrap between two readings.
    EXPECT_GE(int32_t(now - before), 0);
    EXPECT_GE(int32_t(after - now), 0);

    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_GE(int32_t(clock->now_ms() - now), 20);
}

TEST(MediaClock, ManualClockMovesOnlyWhenToldAndWraps) {
    ManualMediaClock clock(UINT32_MAX - 5);
    EXPECT_EQ(clock.now_ms(), UINT32_MAX - 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(clock.now_ms(), UINT32_MAX - 5);
    clock.advance(10);
    EXPECT_EQ(clock.now_ms(), 4u);
    clock.set(1000);
    EXPECT_EQ(clock.now_ms(), 1000u);
}

TEST(MediaClock, AManualClockIsReadFromOtherThreads) {
    auto clock = std::make_shared<ManualMediaClock>(0);
    const std::shared_ptr<const MediaClock> reader = clock;
    std::thread mover([&] {
        for (int i = 0; i < 1000; ++i) clock->advance(1);
    });
    uint32_t last = 0;
    for (int i = 0; i < 1000; ++i) {
        const uint32_t now = reader->now_ms();
        EXPECT_GE(now, last) << "a reading went back";
        last = now;
    }
    mover.join();
    EXPECT_EQ(reader->now_ms(), 1000u);
}

}  // namespace
}  // namespace spiced
