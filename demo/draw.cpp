#include "demo/draw.h"

#include <algorithm>
#include <cstdlib>

#include "demo/font.h"

namespace spiced {

void fill_rect(Frame& frame, const Rect& rect, uint32_t color, const Rect& clip) {
    frame.fill(rect.intersect(clip), color);
}

void fill_vgradient(Frame& frame, const Rect& rect, uint32_t top, uint32_t bottom) {
    const Rect r = rect.intersect(frame.rect());
    const int32_t span = std::max(1, rect.height() - 1);
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        const uint32_t w = static_cast<uint32_t>((y - rect.top()) * 256 / span);
        uint32_t* row = frame.row(y);
        std::fill(row + r.left(), row + r.right(), blend(top, bottom, w));
    }
}

void draw_frame_rect(Frame& frame, const Rect& rect, uint32_t color, const Rect& clip) {
    if (rect.is_empty()) return;
    const int32_t l = rect.left(), t = rect.top(), r = rect.right(), b = rect.bottom();
    fill_rect(frame, Rect::MakeLTRB(l, t, r, t + 1), color, clip);
    fill_rect(frame, Rect::MakeLTRB(l, b - 1, r, b), color, clip);
    fill_rect(frame, Rect::MakeLTRB(l, t, l + 1, b), color, clip);
    fill_rect(frame, Rect::MakeLTRB(r - 1, t, r, b), color, clip);
}

void draw_line(Frame& frame, Point a, Point b, uint32_t color, const Rect& clip) {
    const Rect area = clip.intersect(frame.rect());
    if (area.is_empty()) return;
    const int32_t dx = std::abs(b.x - a.x), dy = -std::abs(b.y - a.y);
    const int32_t sx = a.x < b.x ? 1 : -1, sy = a.y < b.y ? 1 : -1;
    int32_t err = dx + dy;
    int32_t x = a.x, y = a.y;
    for (;;) {
        if (area.contains({x, y})) frame.row(y)[x] = color;
        if (x == b.x && y == b.y) break;
        const int32_t e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y += sy;
        }
    }
}

WindowGeometry window_geometry(const Rect& outer, int32_t title_height) {
    constexpr int32_t kBorder = 1;
    WindowGeometry w;
    w.outer = outer;
    w.title = Rect::MakeLTRB(outer.left() + kBorder, outer.top() + kBorder, outer.right() - kBorder,
                             outer.top() + kBorder + title_height)
                  .intersect(outer);
    w.content = Rect::MakeLTRB(outer.left() + kBorder, outer.top() + kBorder + title_height,
                               outer.right() - kBorder, outer.bottom() - kBorder)
                    .intersect(outer);
    return w;
}

void draw_window_chrome(Frame& frame, const WindowGeometry& window, std::string_view title,
                        bool active) {
    const Rect& t = window.title;
    draw_frame_rect(frame, window.outer, active ? rgb(0x20, 0x3a, 0x6a) : rgb(0x50, 0x58, 0x66),
                    window.outer);
    if (t.is_empty()) return;
    if (active) {
        fill_vgradient(frame, t, rgb(0x3c, 0x6e, 0xc8), rgb(0x2a, 0x52, 0x9c));
    } else {
        fill_vgradient(frame, t, rgb(0x9a, 0xa6, 0xb8), rgb(0x80, 0x8c, 0xa0));
    }
    // Caption buttons are squares of the title bar's height minus a margin, right-aligned.
    const int32_t size = std::max(0, t.height() - 8);
    int32_t bx = t.right() - 4 - size;
    const uint32_t glyph_color = active ? rgb(0xff, 0xff, 0xff) : rgb(0x30, 0x34, 0x3c);
    for (int i = 0; i < 3 && size > 4; ++i) {
        const Rect b = Rect::MakeXYWH(bx, t.top() + 4, size, size);
        fill_rect(frame, b, i == 0 ? rgb(0xd0, 0x40, 0x38) : blend(glyph_color, 0x808080, 160), t);
        draw_frame_rect(frame, b, rgb(0x20, 0x20, 0x28), t);
        const int32_t m = size / 4;
        if (i == 0) {  // close: a cross
            draw_line(frame, {b.left() + m, b.top() + m}, {b.right() - 1 - m, b.bottom() - 1 - m},
                      0xffffff, t);
            draw_line(frame, {b.left() + m, b.bottom() - 1 - m}, {b.right() - 1 - m, b.top() + m},
                      0xffffff, t);
        } else if (i == 1) {  // maximise: a box
            draw_frame_rect(
                frame, Rect::MakeLTRB(b.left() + m, b.top() + m, b.right() - m, b.bottom() - m),
                0xffffff, t);
        } else {  // minimise: a bar
            fill_rect(
                frame,
                Rect::MakeLTRB(b.left() + m, b.bottom() - m - 2, b.right() - m, b.bottom() - m),
                0xffffff, t);
        }
        bx -= size + 4;
    }
    const Rect text_clip = Rect::MakeLTRB(t.left() + 6, t.top(), bx, t.bottom());
    const Point origin{t.left() + 8, t.top() + (t.height() - kGlyphHeight) / 2};
    draw_text(frame, {origin.x + 1, origin.y + 1}, title, active ? rgb(0x18, 0x28, 0x48) : 0x707880,
              text_clip);
    draw_text(frame, origin, title, active ? 0xffffff : rgb(0x20, 0x24, 0x2c), text_clip);
}

void draw_drop_shadow(Frame& frame, const Rect& window, int32_t radius) {
    // The shadow is offset by half its radius and fades linearly over `radius` pixels; it is
    // drawn once into the cached background, so per-pixel integer maths is fine here.
    const Rect area = window.translated(radius / 2, radius / 2);
    const Rect outer = Rect::MakeLTRB(area.left() - radius, area.top() - radius,
                                      area.right() + radius, area.bottom() + radius)
                           .intersect(frame.rect());
    for (int32_t y = outer.top(); y < outer.bottom(); ++y) {
        uint32_t* row = frame.row(y);
        const int32_t dy = std::max({area.top() - y, y - (area.bottom() - 1), 0});
        for (int32_t x = outer.left(); x < outer.right(); ++x) {
            if (window.contains({x, y})) continue;
            const int32_t dx = std::max({area.left() - x, x - (area.right() - 1), 0});
            const int32_t d = std::max(dx, dy);
            if (d >= radius) continue;
            const uint32_t strength = static_cast<uint32_t>(90 * (radius - d) / radius);
            row[x] = blend(row[x], 0, strength);
        }
    }
}

}  // namespace spiced
