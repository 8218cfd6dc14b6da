#include "pixels/region.h"

#include <algorithm>
#include <limits>
#include <span>

namespace spiced {

namespace {

enum class Op { kUnion, kIntersect, kSubtract };

constexpr bool apply(Op op, bool in_a, bool in_b) {
    switch (op) {
        case Op::kUnion:
            return in_a || in_b;
        case Op::kIntersect:
            return in_a && in_b;
        case Op::kSubtract:
            return in_a && !in_b;
    }
    return false;
}

}  // namespace

// Every boolean operation is one sweep over the y edges of both operands and, inside each
// band, one sweep over the x edges. Emitting an edge only when the op's result flips makes
// spans come out non-touching, and merging each band into an identical neighbour above keeps
// the whole region canonical, so operator== on the vectors is set equality.
class RegionOps {
public:
    using Span = Region::Span;
    using Band = Region::Band;

    static void combine_spans(std::span<const Span> a, std::span<const Span> b, Op op,
                              std::vector<Span>& out) {
        out.clear();
        // Edge i of a list is spans[i / 2].left when i is even, .right when odd; being past an
        // odd number of edges means being inside.
        const size_t na = a.size() * 2;
        const size_t nb = b.size() * 2;
        auto edge = [](std::span<const Span> s, size_t i) {
            return i % 2 == 0 ? s[i / 2].left : s[i / 2].right;
        };
        constexpr int32_t kPastEnd = std::numeric_limits<int32_t>::max();
        size_t ia = 0;
        size_t ib = 0;
        bool inside = false;
        int32_t start = 0;
        while (ia < na || ib < nb) {
            const int32_t xa = ia < na ? edge(a, ia) : kPastEnd;
            const int32_t xb = ib < nb ? edge(b, ib) : kPastEnd;
            const int32_t x = std::min(xa, xb);
            if (xa == x) ++ia;
            if (xb == x) ++ib;
            const bool now = apply(op, ia % 2 == 1, ib % 2 == 1);
            if (now == inside) continue;
            if (now) {
                start = x;
            } else {
                out.push_back({start, x});
            }
            inside = now;
        }
    }

    // Appends [top, bottom) x spans, folding it into the previous band when they touch and
    // agree, so the output never needs a separate normalisation pass.
    static void append_band(std::vector<Band>& out, int32_t top, int32_t bottom,
                            const std::vector<Span>& spans) {
        if (spans.empty() || top >= bottom) return;
        if (!out.empty() && out.back().bottom == top && out.back().spans == spans) {
            out.back().bottom = bottom;
            return;
        }
        out.push_back({top, bottom, spans});
    }

    static std::vector<Band> combine(std::span<const Band> a, std::span<const Band> b, Op op) {
        std::vector<Band> out;
        std::vector<Span> scratch;
        size_t i = 0;
        size_t j = 0;
        int32_t y = std::numeric_limits<int32_t>::min();
        while (i < a.size() || j < b.size()) {
            // Nothing below can survive once the operand the op needs is used up.
            if (op == Op::kIntersect && (i == a.size() || j == b.size())) break;
            if (op == Op::kSubtract && i == a.size()) break;

            const Band* band_a = i < a.size() && a[i].top <= y ? &a[i] : nullptr;
            const Band* band_b = j < b.size() && b[j].top <= y ? &b[j] : nullptr;
            if (band_a == nullptr && band_b == nullptr) {
                // In a gap of both operands: jump to whichever band starts first.
                y = std::min(i < a.size() ? a[i].top : std::numeric_limits<int32_t>::max(),
                             j < b.size() ? b[j].top : std::numeric_limits<int32_t>::max());
                continue;
            }
            // The slice ends where an active band ends or an inactive one begins.
            int32_t next = std::numeric_limits<int32_t>::max();
            if (i < a.size()) next = std::min(next, band_a ? band_a->bottom : a[i].top);
            if (j < b.size()) next = std::min(next, band_b ? band_b->bottom : b[j].top);

            combine_spans(band_a ? std::span<const Span>(band_a->spans) : std::span<const Span>(),
                          band_b ? std::span<const Span>(band_b->spans) : std::span<const Span>(),
                          op, scratch);
            append_band(out, y, next, scratch);

            y = next;
            if (band_a && band_a->bottom == y) ++i;
            if (band_b && band_b->bottom == y) ++j;
        }
        return out;
    }

    // Subtracting one rect only changes bands that overlap or touch its rows, so only that
    // slice is recombined. Bands outside the slice are separated from the rect's rows by at
    // least one row or keep their old spans, so canonical form survives the splice.
    static void subtract_rect(std::vector<Band>& bands, const Rect& rect) {
        auto first =
            std::lower_bound(bands.begin(), bands.end(), rect.top(),
                             [](const Band& band, int32_t top) { return band.bottom < top; });
        auto last =
            std::upper_bound(first, bands.end(), rect.bottom(),
                             [](int32_t bottom, const Band& band) { return bottom < band.top; });
        if (first == last) return;
        const Band rect_band{rect.top(), rect.bottom(), {{rect.left(), rect.right()}}};
        std::vector<Band> merged = combine(std::span<const Band>(first, last),
                                           std::span<const Band>(&rect_band, 1), Op::kSubtract);
        const auto at = bands.erase(first, last);
        bands.insert(at, std::make_move_iterator(merged.begin()),
                     std::make_move_iterator(merged.end()));
    }

    // Union with one rect, done in place: damage is added a few small rects at a time, and
    // recombining (which reallocates every touched band) would dominate. Bands straddling the
    // rect's top or bottom edge are split so each band lies wholly inside or outside its rows,
    // the span is merged into the bands inside, gaps get new bands, and finally touching
    // identical bands around the rect are merged back. Raster-order tiles end up appending at
    // the tail, so building a frame's damage tile by tile is linear.
    static void add_rect(std::vector<Band>& bands, const Rect& rect) {
        const Span span{rect.left(), rect.right()};
        // Shortcuts for raster order, which only ever touches the last band.
        if (bands.empty() || rect.top() >= bands.back().bottom) {
            bands.push_back({rect.top(), rect.bottom(), {span}});
            merge_touching(bands, bands.size() >= 2 ? bands.size() - 2 : 0, bands.size());
            return;
        }
        if (rect.top() == bands.back().top && rect.bottom() == bands.back().bottom) {
            insert_span(bands.back().spans, span);
            merge_touching(bands, bands.size() >= 2 ? bands.size() - 2 : 0, bands.size());
            return;
        }

        auto first_below = [&bands](int32_t y) {  // first band with bottom > y
            return size_t(std::upper_bound(bands.begin(), bands.end(), y,
                                           [](int32_t v, const Band& b) { return v < b.bottom; }) -
                          bands.begin());
        };
        auto split_at = [&](int32_t y) {
            const size_t i = first_below(y);
            if (i == bands.size() || bands[i].top >= y) return;
            Band upper{bands[i].top, y, bands[i].spans};
            bands[i].top = y;
            bands.insert(bands.begin() + ptrdiff_t(i), std::move(upper));
        };
        split_at(rect.top());
        split_at(rect.bottom());

        const size_t first = first_below(rect.top());
        size_t i = first;
        for (int32_t y = rect.top(); y < rect.bottom();) {
            if (i < bands.size() && bands[i].top == y) {
                insert_span(bands[i].spans, span);
                y = bands[i].bottom;
            } else {
                const int32_t gap_end =
                    i < bands.size() ? std::min(bands[i].top, rect.bottom()) : rect.bottom();
                bands.insert(bands.begin() + ptrdiff_t(i), Band{y, gap_end, {span}});
                y = gap_end;
            }
            ++i;
        }
        // Only bands from the one above the rect to the one below it can have become mergeable.
        merge_touching(bands, first > 0 ? first - 1 : 0, std::min(i + 1, bands.size()));
    }

    // Adds `span` to sorted, non-touching `spans`, absorbing every span it overlaps or touches.
    static void insert_span(std::vector<Span>& spans, Span span) {
        auto lo = std::lower_bound(spans.begin(), spans.end(), span.left,
                                   [](const Span& s, int32_t left) { return s.right < left; });
        auto hi = std::upper_bound(lo, spans.end(), span.right,
                                   [](int32_t right, const Span& s) { return right < s.left; });
        if (lo == hi) {
            spans.insert(lo, span);
            return;
        }
        lo->left = std::min(lo->left, span.left);
        lo->right = std::max((hi - 1)->right, span.right);
        spans.erase(lo + 1, hi);
    }

    // Merges touching bands with identical spans within bands[begin, end).
    static void merge_touching(std::vector<Band>& bands, size_t begin, size_t end) {
        if (end - begin < 2) return;
        size_t out = begin;
        for (size_t k = begin + 1; k < end; ++k) {
            if (bands[out].bottom == bands[k].top && bands[out].spans == bands[k].spans) {
                bands[out].bottom = bands[k].bottom;
            } else if (++out != k) {
                bands[out] = std::move(bands[k]);
            }
        }
        bands.erase(bands.begin() + ptrdiff_t(out + 1), bands.begin() + ptrdiff_t(end));
    }
};

Rect Region::bounds() const {
    if (bands_.empty()) return Rect();
    int32_t left = std::numeric_limits<int32_t>::max();
    int32_t right = std::numeric_limits<int32_t>::min();
    for (const Band& band : bands_) {
        left = std::min(left, band.spans.front().left);
        right = std::max(right, band.spans.back().right);
    }
    return Rect::MakeLTRB(left, bands_.front().top, right, bands_.back().bottom);
}

int64_t Region::area() const {
    int64_t total = 0;
    for (const Band& band : bands_) {
        int64_t width = 0;
        for (const Span& span : band.spans) width += int64_t{span.right} - span.left;
        total += width * (int64_t{band.bottom} - band.top);
    }
    return total;
}

bool Region::contains(Point p) const {
    auto band = std::upper_bound(bands_.begin(), bands_.end(), p.y,
                                 [](int32_t y, const Band& b) { return y < b.bottom; });
    if (band == bands_.end() || band->top > p.y) return false;
    auto span = std::upper_bound(band->spans.begin(), band->spans.end(), p.x,
                                 [](int32_t x, const Span& s) { return x < s.right; });
    return span != band->spans.end() && span->left <= p.x;
}

bool Region::intersects(const Rect& rect) const {
    if (rect.is_empty()) return false;
    auto band = std::upper_bound(bands_.begin(), bands_.end(), rect.top(),
                                 [](int32_t y, const Band& b) { return y < b.bottom; });
    for (; band != bands_.end() && band->top < rect.bottom(); ++band) {
        auto span = std::upper_bound(band->spans.begin(), band->spans.end(), rect.left(),
                                     [](int32_t x, const Span& s) { return x < s.right; });
        if (span != band->spans.end() && span->left < rect.right()) return true;
    }
    return false;
}

void Region::add_rect(const Rect& rect) {
    if (rect.is_empty()) return;
    RegionOps::add_rect(bands_, rect);
}

void Region::add_region(const Region& other) {
    if (other.is_empty()) return;
    if (is_empty()) {
        bands_ = other.bands_;
        return;
    }
    bands_ = RegionOps::combine(bands_, other.bands_, Op::kUnion);
}

void Region::intersect_with(const Rect& rect) {
    if (rect.is_empty()) {
        bands_.clear();
        return;
    }
    intersect_with(Region(rect));
}

void Region::intersect_with(const Region& other) {
    if (is_empty()) return;
    bands_ = RegionOps::combine(bands_, other.bands_, Op::kIntersect);
}

void Region::subtract(const Rect& rect) {
    if (rect.is_empty() || is_empty()) return;
    RegionOps::subtract_rect(bands_, rect);
}

void Region::subtract(const Region& other) {
    if (other.is_empty() || is_empty()) return;
    bands_ = RegionOps::combine(bands_, other.bands_, Op::kSubtract);
}

void Region::translate(int32_t dx, int32_t dy) {
    for (Band& band : bands_) {
        band.top += dy;
        band.bottom += dy;
        for (Span& span : band.spans) {
            span.left += dx;
            span.right += dx;
        }
    }
}

std::vector<Rect> Region::rects() const {
    std::vector<Rect> out;
    out.reserve(rect_count());
    for (const Band& band : bands_) {
        for (const Span& span : band.spans) {
            out.push_back(Rect::MakeLTRB(span.left, band.top, span.right, band.bottom));
        }
    }
    return out;
}

size_t Region::rect_count() const {
    size_t count = 0;
    for (const Band& band : bands_) count += band.spans.size();
    return count;
}

std::vector<Rect> coalesce_rects(const Region& region, double max_overhead) {
    // Greedy and local: banded rects arrive top to bottom, so a rect's best partner is among
    // the few emitted just before it. Looking back a bounded number keeps this linear.
    constexpr size_t kLookBack = 8;
    std::vector<Rect> out;
    for (const Rect& rect : region.rects()) {
        bool merged = false;
        const size_t first = out.size() > kLookBack ? out.size() - kLookBack : 0;
        for (size_t i = out.size(); i-- > first;) {
            const Rect joined = out[i].united(rect);
            const double parts = double(out[i].area()) + double(rect.area());
            if (double(joined.area()) <= parts * (1.0 + max_overhead)) {
                out[i] = joined;
                merged = true;
                break;
            }
        }
        if (!merged) out.push_back(rect);
    }
    return out;
}

}  // namespace spiced
