#include "demo/background.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "demo/draw.h"
#include "demo/font.h"
#include "demo/terminal.h"

namespace spiced {
namespace {

void draw_wallpaper(Frame& f, const Rect& desktop) {
    // A diagonal navy-to-teal gradient with faint ripples centred off-screen: smooth enough to
    // look like a wallpaper, textured enough that it is not one flat colour for the codecs.
    const float w = static_cast<float>(std::max(desktop.width(), 1));
    const float h = static_cast<float>(std::max(desktop.height(), 1));
    const uint32_t from = rgb(0x14, 0x22, 0x48), to = rgb(0x1e, 0x6e, 0x7e);
    const float cx = w * 1.1f, cy = -h * 0.2f;
    for (int32_t y = desktop.top(); y < desktop.bottom(); ++y) {
        uint32_t* row = f.row(y);
        for (int32_t x = desktop.left(); x < desktop.right(); ++x) {
            const float fx = static_cast<float>(x), fy = static_cast<float>(y);
            const float t = 0.6f * fx / w + 0.4f * fy / h;
            const float r = std::sqrt((fx - cx) * (fx - cx) + (fy - cy) * (fy - cy));
            const float ripple = 0.035f * std::sin(r * 0.045f);
            const float k = std::clamp(t + ripple, 0.0f, 1.0f);
            row[x] = blend(from, to, static_cast<uint32_t>(k * 256.0f));
        }
    }
}

void draw_icon(Frame& f, Point at, std::string_view label, uint32_t color, char letter) {
    const Rect icon = Rect::MakeXYWH(at.x + 16, at.y, 48, 48);
    const Rect clip = f.rect();
    fill_vgradient(f, icon, blend(color, 0xffffff, 70), blend(color, 0, 60));
    draw_frame_rect(f, icon, blend(color, 0, 140), clip);
    const char text[2] = {letter, '\0'};
    draw_text(f, {icon.left() + 20, icon.top() + 16}, text, 0xffffff, clip);
    const int32_t tx = at.x + 40 - text_width(label) / 2;
    draw_text(f, {tx + 1, icon.bottom() + 7}, label, 0x000000, clip);
    draw_text(f, {tx, icon.bottom() + 6}, label, 0xffffff, clip);
}

void draw_taskbar(Frame& f, const DemoLayout& l) {
    const Rect& bar = l.taskbar;
    fill_vgradient(f, bar, rgb(0x2c, 0x33, 0x40), rgb(0x1a, 0x1e, 0x26));
    fill_rect(f, Rect::MakeLTRB(bar.left(), bar.top(), bar.right(), bar.top() + 1),
              rgb(0x50, 0x5a, 0x6c), bar);
    const int32_t h = bar.height();
    const int32_t text_y = bar.top() + (h - kGlyphHeight) / 2;
    int32_t x = bar.left() + 4;
    const std::array<std::string_view, 5> buttons = {"spiced", "Terminal", "Player", "CAD",
                                                     "Editor"};
    for (size_t i = 0; i < buttons.size(); ++i) {
        const int32_t w = text_width(buttons[i]) + 24;
        if (x + w > l.status_text.left() - 8) break;
        const Rect b = Rect::MakeXYWH(x, bar.top() + 3, w, h - 6);
        const bool start = i == 0, active = i == 4;
        const uint32_t top = start ? rgb(0x3c, 0x8c, 0x5a)
                                   : (active ? rgb(0x4a, 0x5a, 0x78) : rgb(0x38, 0x40, 0x50));
        fill_vgradient(f, b, top, blend(top, 0, 60));
        draw_frame_rect(f, b, blend(top, 0, 120), bar);
        draw_text(f, {x + 12, text_y}, buttons[i], 0xf0f0f0, b);
        x += w + 4;
    }
}

void draw_terminal(Frame& f, const DemoLayout& l) {
    draw_window_chrome(f, l.terminal, "vdi@demo: ~/spiced-gpu - Terminal", false);
    f.fill(l.terminal.content, TerminalText::kBackground);
}

void draw_player(Frame& f, const DemoLayout& l) {
    draw_window_chrome(f, l.player, "sunrise.mkv - Player", false);
    const Rect& c = l.controls;
    fill_vgradient(f, c, rgb(0x30, 0x34, 0x3a), rgb(0x18, 0x1a, 0x1e));
    // Play triangle, then the progress track (filled per frame).
    const int32_t s = std::max(4, c.height() - 10);
    for (int32_t i = 0; i < s; ++i) {
        const int32_t width = std::min(i, s - 1 - i) + 1;
        fill_rect(f, Rect::MakeXYWH(c.left() + 10, c.top() + 5 + i, width, 1), 0xe0e0e0, c);
    }
    fill_rect(f, l.progress, rgb(0x50, 0x56, 0x60), c);
}

void draw_cad(Frame& f, const DemoLayout& l, size_t edges) {
    draw_window_chrome(f, l.cad, "bracket_assembly.step - CAD Viewer", false);
    const Rect& v = l.cad_view;
    fill_vgradient(f, v, rgb(0x26, 0x2c, 0x38), rgb(0x0c, 0x0e, 0x14));
    char info[64];
    std::snprintf(info, sizeof info, "Wireframe  %zu edges", edges);
    draw_text(f, {v.left() + 8, v.top() + 6}, info, rgb(0x90, 0xa0, 0xb4), v);
    const std::string_view mode = "Perspective";
    draw_text(f, {v.right() - 8 - text_width(mode), v.top() + 6}, mode, rgb(0x90, 0xa0, 0xb4), v);
}

}  // namespace

std::unique_ptr<Frame> draw_background(const DemoLayout& l, size_t cad_edges) {
    auto f = Frame::create(l.screen);
    draw_wallpaper(*f, l.desktop);
    const std::array<std::string_view, 4> labels = {"Home", "Trash", "spiced.log", "Docs"};
    const std::array<uint32_t, 4> colors = {0x4a90d9, 0x8a96a8, 0xd9a441, 0x5cb85c};
    const std::array<char, 4> letters = {'H', 'T', 'L', 'D'};
    for (size_t i = 0; i < labels.size(); ++i) {
        draw_icon(*f, {8, 24 + static_cast<int32_t>(i) * 96}, labels[i], colors[i], letters[i]);
    }
    for (const WindowGeometry* w : {&l.terminal, &l.player, &l.cad}) {
        draw_drop_shadow(*f, w->outer, 10);
    }
    draw_terminal(*f, l);
    draw_player(*f, l);
    draw_cad(*f, l, cad_edges);
    draw_taskbar(*f, l);
    return f;
}

void draw_files_window(Frame& frame, const DemoLayout& l, std::span<const std::string> lines) {
    draw_drop_shadow(frame, l.files.outer, 10);
    draw_window_chrome(frame, l.files, "Received files", false);
    const Rect& c = l.files.content;
    frame.fill(c, rgb(0xf4, 0xf6, 0xf8));
    int32_t y = c.top() + 6;
    for (const std::string& line : lines) {
        draw_text(frame, {c.left() + 8, y}, line, rgb(0x20, 0x24, 0x28), c);
        y += kGlyphHeight + 2;
    }
}

void draw_leds(Frame& frame, const Rect& area, uint32_t leds) {
    // Left to right: Caps (bit 2), Num (bit 1), Scroll (bit 0), as on most keyboards.
    constexpr struct {
        uint32_t bit;
        char label;
    } kLeds[] = {{4, 'C'}, {2, 'N'}, {1, 'S'}};
    const int32_t w = area.width() / 3;
    for (int i = 0; i < 3; ++i) {
        const Rect box = Rect::MakeXYWH(area.left() + i * w, area.top(), w - 2, area.height());
        const bool on = (leds & kLeds[i].bit) != 0;
        fill_rect(frame, box, on ? rgb(0x3c, 0xc8, 0x5a) : rgb(0x30, 0x36, 0x40), area);
        const char text[2] = {kLeds[i].label, '\0'};
        draw_text(frame,
                  {box.left() + (box.width() - kGlyphWidth) / 2,
                   box.top() + (box.height() - kGlyphHeight) / 2},
                  text, on ? 0xffffff : rgb(0x70, 0x78, 0x84), box);
    }
}

}  // namespace spiced
