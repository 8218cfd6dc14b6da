// LogLimiter: at most one line per period for one source of repeated trouble (a client that
// keeps sending bad data), so a peer cannot turn our log into its amplifier. The caller asks
// before logging; what was held back is counted and reported with the next line.
#pragma once

#include <chrono>
#include <cstdint>

namespace spiced {

class LogLimiter {
public:
    explicit LogLimiter(std::chrono::steady_clock::duration period = std::chrono::seconds(1))
        : period_(period) {}

    // True when a line may go out now; `held_back` is then how many were suppressed since the
    // previous line. Counts every call in total().
    bool allow(uint64_t& held_back) {
        ++total_;
        const auto now = std::chrono::steady_clock::now();
        if (logged_once_ && now - last_ < period_) {
            ++held_back_;
            return false;
        }
        logged_once_ = true;
        last_ = now;
        held_back = held_back_;
        held_back_ = 0;
        return true;
    }
    uint64_t total() const { return total_; }

private:
    std::chrono::steady_clock::duration period_;
    std::chrono::steady_clock::time_point last_{};
    bool logged_once_ = false;
    uint64_t held_back_ = 0;
    uint64_t total_ = 0;
};

}  // namespace spiced
