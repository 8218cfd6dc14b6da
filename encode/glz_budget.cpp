#include "encode/glz_budget.h"

#include <algorithm>
#include <utility>

#include "encode/codecs.h"

namespace spiced {

namespace {
// The largest window whose encoder fits in `bytes` (0 when none does). glz_encoder_bytes is
// monotonic, so a binary search over pixels finds it.
int64_t largest_window_within(size_t bytes, int64_t at_most) {
    int64_t lo = 0;
    int64_t hi = at_most;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (glz_encoder_bytes(mid) <= bytes) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}
}  // namespace

GlzMemoryBudget::Lease& GlzMemoryBudget::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        budget_ = std::move(other.budget_);
        window_pixels_ = std::exchange(other.window_pixels_, 0);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

void GlzMemoryBudget::Lease::release() {
    if (budget_ && bytes_ > 0) budget_->used_bytes_.fetch_sub(bytes_, std::memory_order_relaxed);
    budget_.reset();
    window_pixels_ = 0;
    bytes_ = 0;
}

GlzMemoryBudget::Lease GlzMemoryBudget::reserve(int64_t wanted_pixels) {
    const int64_t wanted = std::clamp<int64_t>(wanted_pixels, 0, kGlzMaxWindowPixels);
    if (wanted == 0) return {};
    const int64_t floor = std::min(wanted, kMinWindowPixels);
    size_t used = used_bytes_.load(std::memory_order_relaxed);
    for (;;) {
        const size_t free_bytes = used < limit_bytes_ ? limit_bytes_ - used : 0;
        const size_t allowed = std::min(free_bytes, limit_bytes_ / kMaxShare);
        const int64_t window =
            glz_encoder_bytes(wanted) <= allowed ? wanted : largest_window_within(allowed, wanted);
        if (window < floor) return {};
        const size_t bytes = glz_encoder_bytes(window);
        if (used_bytes_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) {
            return Lease(shared_from_this(), window, bytes);
        }
    }
}

}  // namespace spiced
