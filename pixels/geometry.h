// Integer geometry shared by every pixel module: points, sizes and half-open rectangles.
#pragma once

#include <algorithm>
#include <cstdint>

namespace spiced {

struct Point {
    int32_t x = 0;
    int32_t y = 0;
    friend bool operator==(const Point&, const Point&) = default;
};

struct Size {
    int32_t width = 0;
    int32_t height = 0;
    bool is_empty() const { return width <= 0 || height <= 0; }
    int64_t area() const { return is_empty() ? 0 : int64_t{width} * height; }
    friend bool operator==(const Size&, const Size&) = default;
};

// [left, right) x [top, bottom). Build with MakeXYWH / MakeLTRB; an empty rect has no area.
class Rect {
public:
    constexpr Rect() = default;
    static constexpr Rect MakeLTRB(int32_t l, int32_t t, int32_t r, int32_t b) {
        return Rect(l, t, r, b);
    }
    static constexpr Rect MakeXYWH(int32_t x, int32_t y, int32_t w, int32_t h) {
        return Rect(x, y, x + w, y + h);
    }
    static constexpr Rect MakeSize(Size s) { return Rect(0, 0, s.width, s.height); }

    constexpr int32_t left() const { return left_; }
    constexpr int32_t top() const { return top_; }
    constexpr int32_t right() const { return right_; }
    constexpr int32_t bottom() const { return bottom_; }
    constexpr int32_t width() const { return right_ - left_; }
    constexpr int32_t height() const { return bottom_ - top_; }
    constexpr Point origin() const { return {left_, top_}; }
    constexpr Size size() const { return {width(), height()}; }
    constexpr bool is_empty() const { return left_ >= right_ || top_ >= bottom_; }
    constexpr int64_t area() const { return is_empty() ? 0 : int64_t{width()} * height(); }

    constexpr bool contains(Point p) const {
        return p.x >= left_ && p.x < right_ && p.y >= top_ && p.y < bottom_;
    }
    constexpr bool contains(const Rect& r) const {
        return r.left_ >= left_ && r.right_ <= right_ && r.top_ >= top_ && r.bottom_ <= bottom_;
    }
    constexpr Rect intersect(const Rect& r) const {
        Rect out(std::max(left_, r.left_), std::max(top_, r.top_), std::min(right_, r.right_),
                 std::min(bottom_, r.bottom_));
        return out.is_empty() ? Rect() : out;
    }
    constexpr bool intersects(const Rect& r) const { return !intersect(r).is_empty(); }
    // Smallest rect holding both; an empty operand is ignored.
    constexpr Rect united(const Rect& r) const {
        if (is_empty()) return r;
        if (r.is_empty()) return *this;
        return Rect(std::min(left_, r.left_), std::min(top_, r.top_), std::max(right_, r.right_),
                    std::max(bottom_, r.bottom_));
    }
    constexpr Rect translated(int32_t dx, int32_t dy) const {
        return Rect(left_ + dx, top_ + dy, right_ + dx, bottom_ + dy);
    }

    friend constexpr bool operator==(const Rect&, const Rect&) = default;

private:
    constexpr Rect(int32_t l, int32_t t, int32_t r, int32_t b)
        : left_(l), top_(t), right_(r), bottom_(b) {}

    int32_t left_ = 0;
    int32_t top_ = 0;
    int32_t right_ = 0;
    int32_t bottom_ = 0;
};

}  // namespace spiced
