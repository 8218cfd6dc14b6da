#include "demo/ink.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace spiced {
namespace {

constexpr uint32_t kPalette[] = {0x000000, 0xffe040, 0xff3b30, 0x34c759,
                                 0x2f80ff, 0xff5cf0, 0x40e0e0, 0x141414};

}  // namespace

InkLayer::InkLayer(Size size)
    : size_(size.is_empty() ? Size{} : size),
      tiles_x_((size_.width + kTile - 1) / kTile),
      ink_(static_cast<size_t>(size_.area())),
      dirty_(static_cast<size_t>(tiles_x_) * ((size_.height + kTile - 1) / kTile)) {}

bool InkLayer::stamp(Point center, int32_t radius, Color color, int32_t inner_radius) {
    const Rect box = Rect::MakeLTRB(center.x - radius, center.y - radius, center.x + radius + 1,
                                    center.y + radius + 1)
                         .intersect(Rect::MakeSize(size_));
    bool changed = false;
    // +r rounds the disk's outline nicely (no lone pixels at the four extremes).
    const int32_t r2 = radius * radius + radius;
    const int32_t inner2 = inner_radius < 0 ? -1 : inner_radius * inner_radius + inner_radius;
    for (int32_t y = box.top(); y < box.bottom(); ++y) {
        uint8_t* row = ink_.data() + static_cast<size_t>(y) * size_.width;
        const int32_t dy = y - center.y;
        for (int32_t x = box.left(); x < box.right(); ++x) {
            const int32_t dx = x - center.x;
            const int32_t d2 = dx * dx + dy * dy;
            if (d2 > r2 || d2 <= inner2 || row[x] == color) continue;
            row[x] = color;
            changed = true;
        }
    }
    if (changed) {
        for (int32_t ty = box.top() / kTile; ty <= (box.bottom() - 1) / kTile; ++ty) {
            for (int32_t tx = box.left() / kTile; tx <= (box.right() - 1) / kTile; ++tx) {
                dirty_[static_cast<size_t>(ty) * tiles_x_ + tx] = 1;
            }
        }
    }
    return changed;
}

bool InkLayer::stroke(Point a, Point b, int32_t radius, Color color) {
    // Long jumps (a pointer leaving and re-entering the window) are not joined: they would
    // paint a line the user never drew.
    const int32_t dx = b.x - a.x, dy = b.y - a.y;
    const int32_t length = std::max(std::abs(dx), std::abs(dy));
    if (length > 400) return stamp(b, radius, color);
    const int32_t step = std::max(1, radius);
    bool changed = false;
    for (int32_t i = 0; i <= length; i += step) {
        changed |= stamp({a.x + dx * i / std::max(length, 1), a.y + dy * i / std::max(length, 1)},
                         radius, color);
    }
    changed |= stamp(b, radius, color);
    return changed;
}

void InkLayer::composite(Frame& frame) const {
    const Rect area = Rect::MakeSize(size_).intersect(frame.rect());
    for (size_t t = 0; t < dirty_.size(); ++t) {
        if (!dirty_[t]) continue;
        const int32_t tx = static_cast<int32_t>(t % tiles_x_) * kTile;
        const int32_t ty = static_cast<int32_t>(t / tiles_x_) * kTile;
        const Rect tile = Rect::MakeXYWH(tx, ty, kTile, kTile).intersect(area);
        for (int32_t y = tile.top(); y < tile.bottom(); ++y) {
            const uint8_t* in = ink_.data() + static_cast<size_t>(y) * size_.width;
            uint32_t* out = frame.row(y);
            for (int32_t x = tile.left(); x < tile.right(); ++x) {
                // Skip eight clean pixels at once: most of a dirty tile is still clean.
                if ((x & 7) == 0 && x + 8 <= tile.right()) {
                    uint64_t word;
                    std::memcpy(&word, in + x, sizeof word);
                    if (word == 0) {
                        x += 7;
                        continue;
                    }
                }
                if (in[x] != kNone) out[x] = kPalette[in[x]];
            }
        }
    }
}

}  // namespace spiced
