// LogLimiter: a token bucket of log lines for one source of repeated trouble (a client that
// keeps sending bad data, a connection that keeps asking for missing files), so a peer cannot
// turn our log into its amplifier. The caller asks before logging; what was held back is
// counted and reported with the next line that goes out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace spiced {

class LogLimiter {
public:
    // `burst` lines may go out at once; after that one line per `period`.
    explicit LogLimiter(std::chrono::steady_clock::duration period = std::chrono::seconds(1),
                        uint32_t burst = 1)
        : period_(period), burst_(std::max<uint32_t>(burst, 1)), tokens_(burst_) {}

    // True when a line may go out now; `held_back` is then how many were suppressed since the
    // previous line. Counts every call in total().
    bool allow(uint64_t& held_back) { return allow(held_back, std::chrono::steady_clock::now()); }
    bool allow(uint64_t& held_back, std::chrono::steady_clock::time_point now) {
        ++total_;
        refill(now);
        if (tokens_ == 0) {
            ++held_back_;
            return false;
        }
        --tokens_;
        held_back = held_back_;
        held_back_ = 0;
        return true;
    }
    // Lines another limiter let through that this one then held back, with the count they
    // carried (so a line refused by a shared limit still reports what it stood for).
    void add_held_back(uint64_t lines) { held_back_ += lines; }
    uint64_t total() const { return total_; }
    // Suppressed since the last line that went out (for a summary when the source goes away).
    uint64_t held_back() const { return held_back_; }

private:
    void refill(std::chrono::steady_clock::time_point now) {
        if (tokens_ == burst_) {
            refilled_at_ = now;
            return;
        }
        const auto periods = period_.count() > 0 ? (now - refilled_at_) / period_ : burst_;
        if (periods <= 0) return;
        tokens_ = static_cast<uint32_t>(std::min<int64_t>(burst_, tokens_ + periods));
        refilled_at_ = tokens_ == burst_ ? now : refilled_at_ + periods * period_;
    }

    std::chrono::steady_clock::duration period_;
    uint32_t burst_;
    uint32_t tokens_;
    std::chrono::steady_clock::time_point refilled_at_{};
    uint64_t held_back_ = 0;
    uint64_t total_ = 0;
};

}  // namespace spiced
