// Region: a set of pixels described as horizontal bands of sorted, non-overlapping spans
// (the representation WebRTC's DesktopRegion and pixman use). Damage is always a Region.
//
// Invariants: bands are sorted by top and do not overlap; spans within a band are sorted,
// disjoint and non-touching; vertically adjacent bands with identical spans are merged.
// A Region is a value type; it is not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "pixels/geometry.h"

namespace spiced {

class Region {
public:
    Region() = default;
    explicit Region(const Rect& rect) { add_rect(rect); }

    bool is_empty() const { return bands_.empty(); }
    void clear() { bands_.clear(); }
    // Bounding box of all pixels (empty Rect for an empty region).
    Rect bounds() const;
    int64_t area() const;
    bool contains(Point p) const;
    bool intersects(const Rect& rect) const;

    void add_rect(const Rect& rect);
    void add_region(const Region& other);
    void intersect_with(const Rect& rect);
    void intersect_with(const Region& other);
    void subtract(const Rect& rect);
    void subtract(const Region& other);
    void translate(int32_t dx, int32_t dy);

    // The region as disjoint rectangles, band by band, left to right (banded order).
    std::vector<Rect> rects() const;
    size_t rect_count() const;

    friend bool operator==(const Region&, const Region&) = default;

private:
    // The band-sweep helpers in region.cpp work on the private representation.
    friend class RegionOps;

    struct Span {
        int32_t left;
        int32_t right;
        friend bool operator==(const Span&, const Span&) = default;
    };
    struct Band {
        int32_t top;
        int32_t bottom;
        std::vector<Span> spans;
        friend bool operator==(const Band&, const Band&) = default;
    };

    std::vector<Band> bands_;
};

// Covers `region` with fewer, larger rectangles for sending: a rect is merged into a nearby
// one when their bounding box exceeds their combined area by at most `max_overhead` (0.25 =
// 25 %). Every pixel of `region` is covered; covered pixels outside it are bounded by the
// overhead. Tile-granular damage (many small rects per band) becomes a few draw operations,
// each with its own image header and its own compression context.
std::vector<Rect> coalesce_rects(const Region& region, double max_overhead);

}  // namespace spiced
