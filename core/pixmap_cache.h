// PixmapCacheModel: our exact copy of what one client's pixmap cache holds. The client never
// evicts on its own; we evict least-recently-used images when an insert would exceed the
// size it announced (in pixels, in DISPLAY_INIT) and tell it with INVAL_LIST.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace spiced {

class PixmapCacheModel {
public:
    void set_capacity(int64_t pixels) { capacity_ = pixels > 0 ? pixels : 0; }
    int64_t capacity() const { return capacity_; }
    int64_t used() const { return used_; }
    size_t size() const { return entries_.size(); }

    // True (and marks it recently used) when the client holds `id`.
    bool lookup(uint64_t id);
    // Whether an image of `pixels` may be cached at all (never more than a quarter of the
    // cache, so one big image can't flush everything).
    bool worth_caching(int64_t pixels) const { return pixels > 0 && pixels * 4 <= capacity_; }
    // Records that the client will hold `id`; returns the ids it must drop first.
    std::vector<uint64_t> insert(uint64_t id, int64_t pixels);
    void clear();

private:
    struct Entry {
        int64_t pixels;
        std::list<uint64_t>::iterator position;
    };
    int64_t capacity_ = 0;
    int64_t used_ = 0;
    std::list<uint64_t> recency_;  // front = most recently used
    std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace spiced
