// The log's defences: LogLimiter's token bucket, and BackgroundLogging keeping threads that
// log from waiting on a stderr nobody reads.
#include "base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "base/log_limiter.h"
#include "tests/unit/stderr_capture.h"

namespace spiced {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(LogLimiterTest, ABurstThenOneLinePerPeriodAndTheRestCounted) {
    LogLimiter limiter(1s, 3);
    const Clock::time_point start{};
    uint64_t held = 99;
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(limiter.allow(held, start));
        EXPECT_EQ(held, 0u);
    }
    EXPECT_FALSE(limiter.allow(held, start));
    EXPECT_FALSE(limiter.allow(held, start + 900ms));
    EXPECT_EQ(limiter.held_back(), 2u);
    EXPECT_TRUE(limiter.allow(held, start + 1s));
    EXPECT_EQ(held, 2u);
    EXPECT_EQ(limiter.held_back(), 0u);
    EXPECT_FALSE(limiter.allow(held, start + 1500ms));
    // A quiet spell gives the whole burst back, never more.
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow(held, start + 60s));
    EXPECT_FALSE(limiter.allow(held, start + 60s));
    EXPECT_EQ(limiter.total(), 11u);
}

TEST(LogLimiterTest, TheDefaultIsOneLinePerPeriod) {
    LogLimiter limiter(std::chrono::milliseconds(200));
    const Clock::time_point start{};
    uint64_t held = 0;
    EXPECT_TRUE(limiter.allow(held, start));
    EXPECT_FALSE(limiter.allow(held, start + 100ms));
    EXPECT_TRUE(limiter.allow(held, start + 200ms));
    EXPECT_EQ(held, 1u);
}

TEST(LogLimiterTest, LinesHeldBackElsewhereAreReportedWithTheNextLine) {
    // A connection's own limiter let a line through that the shared one refused: the lines
    // that line stood for are carried by the shared limiter's count.
    LogLimiter shared(1s, 1);
    const Clock::time_point start{};
    uint64_t held = 0;
    EXPECT_TRUE(shared.allow(held, start));
    EXPECT_FALSE(shared.allow(held, start));
    shared.add_held_back(4);
    EXPECT_EQ(shared.held_back(), 5u);
    EXPECT_TRUE(shared.allow(held, start + 1s));
    EXPECT_EQ(held, 5u);
}

TEST(BackgroundLoggingTest, ThreadsThatLogDoNotWaitForABlockedStderrAndDropsAreCounted) {
    StderrCapture pipe;
    constexpr int kLines = 20000;  // ~2.4 MB of lines: more than the 1 MiB queue
    std::string text;
    {
        const BackgroundLogging background;
        pipe.fill();
        // Without the writer thread this would block on the full pipe for good; the
        // deadline only keeps a regression from hanging the suite.
        auto logger = std::async(std::launch::async, [] {
            for (int i = 0; i < kLines; ++i)
                log_write(LogLevel::kWarning, "test", "line %06d %s", i,
                          std::string(80, 'y').c_str());
        });
        ASSERT_EQ(logger.wait_for(60s), std::future_status::ready)
            << "a thread that logs waited for stderr";
        text = pipe.read_until("lines dropped");
        // The writer caught up: lines flow again.
        log_write(LogLevel::kWarning, "test", "line %06d after the drops", kLines);
        text += pipe.read_until("after the drops\n");
    }
    EXPECT_NE(text.find("[test] line 000000"), std::string::npos);
    EXPECT_NE(text.find("[test] line 020000 after the drops"), std::string::npos);
    EXPECT_NE(text.find("[log] "), std::string::npos);
    EXPECT_NE(text.find("lines dropped: stderr did not keep up"), std::string::npos);
    // Lines come out whole and in order.
    int previous = -1;
    size_t whole = 0;
    for (size_t at = text.find("[test] line "); at != std::string::npos;
         at = text.find("[test] line ", at + 1)) {
        const int number = std::stoi(text.substr(at + 12, 6));
        EXPECT_GT(number, previous);
        previous = number;
        ++whole;
    }
    EXPECT_GT(whole, 1000u);
    EXPECT_LT(whole, size_t{kLines});  // some were dropped, and said so
}

TEST(BackgroundLoggingTest, FlushWritesEverythingQueued) {
    StderrCapture pipe;
    const BackgroundLogging background;
    for (int i = 0; i < 100; ++i) log_write(LogLevel::kError, "test", "queued %d", i);
    BackgroundLogging::flush();
    const std::string text = pipe.read_until("queued 99\n");
    EXPECT_NE(text.find("queued 0\n"), std::string::npos);
    EXPECT_NE(text.find("queued 99\n"), std::string::npos);
}

}  // namespace
}  // namespace spiced
