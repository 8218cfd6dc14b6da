#include "demo/layout.h"

#include <algorithm>

#include "demo/font.h"

namespace spiced {
namespace {

// x, y, w, h in thousandths of the desktop: the 1920x1080 design, expressed proportionally.
Rect scaled(const Rect& desktop, int32_t x, int32_t y, int32_t w, int32_t h) {
    const int64_t dw = desktop.width(), dh = desktop.height();
    const auto sx = [&](int32_t v) { return static_cast<int32_t>(dw * v / 1000); };
    const auto sy = [&](int32_t v) { return static_cast<int32_t>(dh * v / 1000); };
    return Rect::MakeXYWH(desktop.left() + sx(x), desktop.top() + sy(y), sx(w), sy(h));
}

}  // namespace

DemoLayout make_layout(Size screen) {
    DemoLayout l;
    l.screen = screen;
    const bool compact = screen.width < 800 || screen.height < 600;
    // Chrome must fit a 16-px glyph: 24/32 px normally, 18/20 px on tiny screens.
    l.title_height = compact ? 18 : 24;
    const int32_t taskbar_h = std::min(compact ? 20 : 32, std::max(screen.height, 0));
    l.taskbar = Rect::MakeLTRB(0, screen.height - taskbar_h, screen.width, screen.height);
    l.desktop = Rect::MakeLTRB(0, 0, screen.width, screen.height - taskbar_h);

    // Taskbar: start button and four window buttons on the left, LEDs and the status line on
    // the right half.
    const int32_t tb_text_y = l.taskbar.top() + (taskbar_h - kGlyphHeight) / 2;
    l.leds =
        Rect::MakeXYWH(l.taskbar.right() - 3 * 22 - 6, l.taskbar.top() + 3, 3 * 22, taskbar_h - 6)
            .intersect(l.taskbar);
    const int32_t status_left = compact ? 4 : std::max(l.taskbar.width() / 2, 4);
    l.status_text =
        Rect::MakeLTRB(status_left, tb_text_y, l.leds.left() - 8, tb_text_y + kGlyphHeight)
            .intersect(l.taskbar);

    const Rect& d = l.desktop;
    // Terminal, top left.
    l.terminal = window_geometry(scaled(d, 70, 50, 420, 440), l.title_height);
    {
        const Rect c = l.terminal.content;
        const int32_t pad = compact ? 2 : 6;
        l.terminal_rows = std::max(0, (c.height() - 2 * pad) / kGlyphHeight);
        l.terminal_cols = std::max(0, (c.width() - 2 * pad) / kGlyphWidth);
        l.terminal_text =
            Rect::MakeXYWH(c.left() + pad, c.top() + pad, l.terminal_cols * kGlyphWidth,
                           l.terminal_rows * kGlyphHeight)
                .intersect(c);
    }

    // Video player, top right: a 16:9 picture a quarter of the screen wide (480x270 at 1080p),
    // kept even so the picture splits cleanly into 2x2 chroma blocks for codecs.
    {
        const int32_t vw = std::max(2, (screen.width / 4) & ~1);
        const int32_t vh = std::max(2, (vw * 9 / 16) & ~1);
        const int32_t controls_h = compact ? 14 : 28;
        const Rect anchor = scaled(d, 520, 50, 0, 0);
        const Rect outer = Rect::MakeXYWH(anchor.left(), anchor.top(), vw + 2,
                                          l.title_height + vh + controls_h + 2);
        l.player = window_geometry(outer, l.title_height);
        l.video = Rect::MakeXYWH(l.player.content.left(), l.player.content.top(), vw, vh)
                      .intersect(l.player.content);
        l.controls = Rect::MakeLTRB(l.player.content.left(), l.video.bottom(),
                                    l.player.content.right(), l.player.content.bottom());
        const Rect& c = l.controls;
        const int32_t button = std::max(4, c.height() - 10);
        const int32_t time_w = text_width("00:00 / 00:00");
        const int32_t mid = c.top() + c.height() / 2;
        l.progress =
            Rect::MakeLTRB(c.left() + 22 + button, mid - 3, c.right() - time_w - 16, mid + 3)
                .intersect(c);
        l.time_text = {c.right() - time_w - 8, mid - kGlyphHeight / 2};
    }

    // CAD viewer, below the player down to the bottom right.
    {
        const Rect anchor = scaled(d, 520, 0, 450, 960);
        const int32_t top = l.player.outer.bottom() + std::max(8, d.height() / 30);
        l.cad = window_geometry(
            Rect::MakeLTRB(anchor.left(), top, anchor.right(), anchor.bottom()).intersect(d),
            l.title_height);
        l.cad_view = l.cad.content;
    }

    // Received files, below the terminal (drawn only once a file arrived).
    l.files = window_geometry(scaled(d, 70, 540, 420, 200), l.title_height);

    // Editor: 720x400 at 1080p; it may wander anywhere on the desktop with a small margin.
    {
        const Rect e = scaled(d, 0, 0, 375, 382);
        l.editor_size = {std::max(e.width(), 64), std::max(e.height(), l.title_height + 20)};
        l.editor_size.width = std::min(l.editor_size.width, d.width());
        l.editor_size.height = std::min(l.editor_size.height, d.height());
        const int32_t margin = std::min({d.width() / 50, d.height() / 50, 16});
        l.editor_area = Rect::MakeLTRB(d.left() + margin, d.top() + margin, d.right() - margin,
                                       d.bottom() - margin);
        if (l.editor_area.width() < l.editor_size.width ||
            l.editor_area.height() < l.editor_size.height) {
            l.editor_area = d;
        }
    }
    return l;
}

}  // namespace spiced
