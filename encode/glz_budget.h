// GlzMemoryBudget: the memory all GLZ encoders of a server may hold together
// (--glz-memory-limit). A GLZ encoder keeps a model of its client's dictionary, sized by
// the client itself (DISPLAY_INIT's glz_dictionary_window_size, up to 32M pixels, ~260 MB
// with the encoder's ring and scratch); without a server-wide budget, twenty clients asking
// for the largest window held 3.8 GB.
//
// A window is leased when the client states its size: the whole window when it fits, a
// smaller one when only that fits (the encoder then drops images earlier than the client
// would, which costs compression, not correctness), none when not even kMinWindowPixels
// fit (the client then gets LZ). No single window takes more than a sixteenth of the
// budget (64 MiB, ~7.5M pixels, of the default; spice-gtk asks for 3M), so it takes many
// clients asking for the largest window to push the others to LZ. Thread-safe: shards
// lease and release concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace spiced {

class GlzMemoryBudget : public std::enable_shared_from_this<GlzMemoryBudget> {
public:
    // Below this a window is not worth its ring: refused instead of shrunk further.
    static constexpr int64_t kMinWindowPixels = int64_t{1} << 20;
    static constexpr size_t kDefaultLimitBytes = size_t{1} << 30;
    static constexpr size_t kMaxShare = 16;  // of the limit, for one window

    explicit GlzMemoryBudget(size_t limit_bytes) : limit_bytes_(limit_bytes) {}

    // A leased window; returns its bytes to the budget when destroyed.
    class Lease {
    public:
        Lease() = default;
        Lease(Lease&& other) noexcept { *this = std::move(other); }
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { release(); }

        int64_t window_pixels() const { return window_pixels_; }
        size_t bytes() const { return bytes_; }

    private:
        friend class GlzMemoryBudget;
        Lease(std::shared_ptr<GlzMemoryBudget> budget, int64_t window_pixels, size_t bytes)
            : budget_(std::move(budget)), window_pixels_(window_pixels), bytes_(bytes) {}
        void release();

        std::shared_ptr<GlzMemoryBudget> budget_;
        int64_t window_pixels_ = 0;
        size_t bytes_ = 0;
    };

    // A window of at most `wanted_pixels` (see above); window_pixels() == 0 when refused.
    // The budget must be owned by a shared_ptr (leases keep it alive).
    Lease reserve(int64_t wanted_pixels);

    size_t limit_bytes() const { return limit_bytes_; }
    size_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }

private:
    const size_t limit_bytes_;
    std::atomic<size_t> used_bytes_{0};
};

}  // namespace spiced
