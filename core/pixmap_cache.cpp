#include "core/pixmap_cache.h"

namespace spiced {

bool PixmapCacheModel::lookup(uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    recency_.splice(recency_.begin(), recency_, it->second.position);
    return true;
}

std::vector<uint64_t> PixmapCacheModel::insert(uint64_t id, int64_t pixels) {
    std::vector<uint64_t> evicted;
    if (entries_.count(id) != 0 || !worth_caching(pixels)) return evicted;
    while (used_ + pixels > capacity_ && !recency_.empty()) {
        uint64_t victim = recency_.back();
        recency_.pop_back();
        used_ -= entries_[victim].pixels;
        entries_.erase(victim);
        evicted.push_back(victim);
    }
    recency_.push_front(id);
    entries_.emplace(id, Entry{pixels, recency_.begin()});
    used_ += pixels;
    return evicted;
}

void PixmapCacheModel::clear() {
    recency_.clear();
    entries_.clear();
    used_ = 0;
}

}  // namespace spiced
