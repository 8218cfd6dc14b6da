// MediaClock: SPICE's multimedia time, in milliseconds, wrapping at 2^32. The main channel
// tells clients where it stands (MAIN_INIT, MULTI_MEDIA_TIME) and every timed medium is
// stamped from the same clock: video pictures now, audio packets later, so a client can play
// them in step. One instance per server, shared (read-only, thread-safe); tests inject their
// own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace spiced {

class MediaClock {
public:
    virtual ~MediaClock() = default;
    virtual uint32_t now_ms() const = 0;
};

// The steady clock's milliseconds: monotonic, unaffected by wall-clock changes.
class SteadyMediaClock final : public MediaClock {
public:
    uint32_t now_ms() const override {
        return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count());
    }
};

// A clock that moves only when told (tests).
class ManualMediaClock final : public MediaClock {
public:
    explicit ManualMediaClock(uint32_t start_ms = 0) : now_(start_ms) {}
    uint32_t now_ms() const override { return now_.load(); }
    void set(uint32_t ms) { now_.store(ms); }
    void advance(uint32_t ms) { now_.fetch_add(ms); }

private:
    std::atomic<uint32_t> now_;
};

inline std::shared_ptr<const MediaClock> steady_media_clock() {
    return std::make_shared<SteadyMediaClock>();
}

}  // namespace spiced
