#include "demo/demo_desktop.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "demo/keymap.h"
#include "demo/layout.h"
#include "pixels/ppm.h"

namespace spiced {
namespace {

constexpr Size kFullHd{1920, 1080};

std::unique_ptr<Frame> copy_of(const Frame& frame) {
    auto out = Frame::create(frame.size());
    out->copy_from(frame, frame.rect(), {0, 0});
    return out;
}

bool same_pixels(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) return false;
    for (int32_t y = 0; y < a.height(); ++y) {
        if (std::memcmp(a.row(y), b.row(y), static_cast<size_t>(a.width()) * 4) != 0) return false;
    }
    return true;
}

bool row_span_equal(const Frame& a, const Frame& b, int32_t y, const Rect& r) {
    return std::memcmp(a.row(y) + r.left(), b.row(y) + r.left(), size_t(r.width()) * 4) == 0;
}

int64_t count_diff(const Frame& a, const Frame& b, const Rect& area) {
    const Rect r = area.intersect(a.rect()).intersect(b.rect());
    int64_t n = 0;
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        if (row_span_equal(a, b, y, r)) continue;
        for (int32_t x = r.left(); x < r.right(); ++x) n += a.row(y)[x] != b.row(y)[x];
    }
    return n;
}

// Pixels of `area` that differ and lie outside every rect of `excluded`; `rows`, if given,
// receives the number of rows holding such pixels.
int64_t count_diff_outside(const Frame& a, const Frame& b, const Rect& area,
                           std::initializer_list<Rect> excluded, int64_t* rows = nullptr) {
    const Rect r = area.intersect(a.rect());
    int64_t n = 0, changed_rows = 0;
    for (int32_t y = r.top(); y < r.bottom(); ++y) {
        if (row_span_equal(a, b, y, r)) continue;
        int64_t in_row = 0;
        for (int32_t x = r.left(); x < r.right(); ++x) {
            if (a.row(y)[x] == b.row(y)[x]) continue;
            bool skip = false;
            for (const Rect& e : excluded) skip |= e.contains({x, y});
            in_row += !skip;
        }
        n += in_row;
        changed_rows += in_row > 0;
    }
    if (rows != nullptr) *rows = changed_rows;
    return n;
}

void type_keys(DemoDesktop& desktop, std::initializer_list<uint16_t> codes) {
    for (uint16_t code : codes) {
        desktop.key_event(code, true);
        desktop.key_event(code, false);
    }
}

void type_hello(DemoDesktop& desktop) {
    desktop.key_event(scancode::kLeftShift, true);
    type_keys(desktop, {0x23});  // H
    desktop.key_event(scancode::kLeftShift, false);
    type_keys(desktop, {0x12, 0x26, 0x26, 0x18});  // e l l o
}

TEST(KeymapTest, UsLayoutWithShiftAndCaps) {
    EXPECT_EQ(scancode_to_ascii(0x1e, false, false), 'a');
    EXPECT_EQ(scancode_to_ascii(0x1e, true, false), 'A');
    EXPECT_EQ(scancode_to_ascii(0x1e, false, true), 'A');
    EXPECT_EQ(scancode_to_ascii(0x1e, true, true), 'a');
    EXPECT_EQ(scancode_to_ascii(0x02, false, true), '1');
    EXPECT_EQ(scancode_to_ascii(0x02, true, false), '!');
    EXPECT_EQ(scancode_to_ascii(0x0d, true, false), '+');
    EXPECT_EQ(scancode_to_ascii(0x28, true, false), '"');
    EXPECT_EQ(scancode_to_ascii(0x2b, false, false), '\\');
    EXPECT_EQ(scancode_to_ascii(0x2b, true, false), '|');
    EXPECT_EQ(scancode_to_ascii(0x29, true, false), '~');
    EXPECT_EQ(scancode_to_ascii(0x32, false, false), 'm');
    EXPECT_EQ(scancode_to_ascii(0x35, true, false), '?');
    EXPECT_EQ(scancode_to_ascii(0x39, false, false), ' ');
    EXPECT_EQ(scancode_to_ascii(0x135, false, false), '/');
    for (uint16_t code : {0x00, 0x01, 0x0e, 0x0f, 0x1c, 0x1d, 0x2a, 0x36, 0x38, 0x3a, 0x3b, 0x47,
                          0x11c, 0x148, 0x1ff, 0xffff}) {
        EXPECT_EQ(scancode_to_ascii(code, false, false), 0) << code;
    }
    EXPECT_EQ(keypad_to_ascii(0x47), '7');
    EXPECT_EQ(keypad_to_ascii(0x52), '0');
    EXPECT_EQ(keypad_to_ascii(0x53), '.');
    EXPECT_EQ(keypad_to_ascii(0x4a), 0);
    EXPECT_EQ(keypad_to_ascii(0x1e), 0);
}

TEST(DemoDesktopTest, SameSeedAndInputGiveIdenticalFrames) {
    DemoDesktop a({kFullHd, 7}), b({kFullHd, 7});
    auto fa = Frame::create(kFullHd), fb = Frame::create(kFullHd);
    std::vector<MoveHint> ma, mb;
    for (int64_t i = 0; i < 40; ++i) {
        if (i == 10) {
            type_hello(a);
            type_hello(b);
        }
        if (i == 20) {
            for (DemoDesktop* d : {&a, &b}) {
                d->pointer_moved({500, 500}, 0);
                d->button_event(1, true, {510, 505});
                d->pointer_moved({540, 520}, 1);
                d->button_event(1, false, {540, 520});
            }
        }
        ma.clear();
        mb.clear();
        a.render(i, *fa, ma);
        b.render(i, *fb, mb);
        ASSERT_TRUE(same_pixels(*fa, *fb)) << "frame " << i;
        ASSERT_EQ(ma.size(), mb.size());
    }
}

TEST(DemoDesktopTest, DifferentSeedGivesADifferentPicture) {
    DemoDesktop a({kFullHd, 1}), b({kFullHd, 2});
    auto fa = Frame::create(kFullHd), fb = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    a.render(30, *fa, moves);
    b.render(30, *fb, moves);
    EXPECT_GT(count_diff(*fa, *fb, fa->rect()), 10000);
}

TEST(DemoDesktopTest, SequentialRenderEqualsDirectRender) {
    DemoDesktop a({kFullHd, 3}), b({kFullHd, 3});
    auto fa = Frame::create(kFullHd), fb = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    for (int64_t i = 0; i <= 160; ++i) a.render(i, *fa, moves);
    b.render(160, *fb, moves);
    EXPECT_TRUE(same_pixels(*fa, *fb));
}

TEST(DemoDesktopTest, RenderOverwritesWhateverTheFrameHeld) {
    DemoDesktop a({kFullHd, 1}), b({kFullHd, 1});
    auto fa = Frame::create(kFullHd), fb = Frame::create(kFullHd);
    fb->fill(fb->rect(), 0xff00ff);
    std::vector<MoveHint> moves;
    a.render(5, *fa, moves);
    b.render(5, *fb, moves);
    EXPECT_TRUE(same_pixels(*fa, *fb));
}

// Applies `moves` the way a client does: copy_bits one after another on its own picture.
void apply_in_place(Frame& frame, const std::vector<MoveHint>& moves) {
    for (const MoveHint& m : moves) {
        frame.copy_from(frame, Rect::MakeXYWH(m.src.x, m.src.y, m.dest.width(), m.dest.height()),
                        m.dest.origin());
    }
}

class MoveHintTest : public ::testing::TestWithParam<Size> {};

TEST_P(MoveHintTest, HintsAreTruthfulAndCommute) {
    const Size size = GetParam();
    DemoDesktop desktop({size, 11});
    const DemoLayout& layout = desktop.layout();
    auto prev = Frame::create(size), next = Frame::create(size);
    std::vector<MoveHint> moves;
    desktop.render(0, *prev, moves);
    EXPECT_TRUE(moves.empty()) << "the first frame has nothing to move from";
    Rect prev_editor = desktop.editor_rect();
    int editor_moves = 0, scroll_frames = 0;
    for (int64_t i = 1; i <= 310; ++i) {
        moves.clear();
        desktop.render(i, *next, moves);
        const Rect editor = desktop.editor_rect();
        ASSERT_TRUE(Rect::MakeSize(size).contains(editor));

        auto applied = copy_of(*prev);
        apply_in_place(*applied, moves);
        // Reverse order, always reading the untouched previous frame: must agree.
        auto reversed = copy_of(*prev);
        for (auto m = moves.rbegin(); m != moves.rend(); ++m) {
            ASSERT_TRUE(Rect::MakeSize(size).contains(m->dest));
            ASSERT_TRUE(Rect::MakeSize(size).contains(
                Rect::MakeXYWH(m->src.x, m->src.y, m->dest.width(), m->dest.height())));
            reversed->copy_from(
                *prev, Rect::MakeXYWH(m->src.x, m->src.y, m->dest.width(), m->dest.height()),
                m->dest.origin());
        }
        ASSERT_TRUE(same_pixels(*applied, *reversed)) << "hints do not commute at frame " << i;

        bool editor_moved = false, scrolled = false;
        for (const MoveHint& m : moves) {
            if (m.dest == editor && m.src == prev_editor.origin()) {
                editor_moved = true;
            } else {
                scrolled = true;
                EXPECT_TRUE(layout.terminal_text.contains(m.dest));
            }
        }
        editor_moves += editor_moved;
        scroll_frames += scrolled;
        EXPECT_EQ(editor_moved, editor.origin() != prev_editor.origin()) << "frame " << i;

        // The editor: everything moved along except, at most, the caret blinking on.
        EXPECT_LE(count_diff(*applied, *next, editor), 2 * 16) << "frame " << i;
        // The terminal: only the newly printed lines are new.
        const int64_t new_lines = i / 4 - (i - 1) / 4;
        int64_t rows_after_hints = 0, rows_without_hints = 0;
        const int64_t terminal_diff = count_diff_outside(*applied, *next, layout.terminal_text,
                                                         {editor, prev_editor}, &rows_after_hints);
        EXPECT_LE(terminal_diff, new_lines * 16 * layout.terminal_text.width()) << "frame " << i;
        EXPECT_LE(rows_after_hints, new_lines * 16) << "frame " << i;
        if (scrolled && layout.terminal_rows >= 10) {
            // Without the hint, text rows all over the terminal would have changed.
            count_diff_outside(*prev, *next, layout.terminal_text, {editor, prev_editor},
                               &rows_without_hints);
            EXPECT_GT(rows_without_hints, 3 * rows_after_hints) << "frame " << i;
        }
        prev.swap(next);
        prev_editor = editor;
    }
    // Two glides of 30 frames; the eased first and last steps (and, on small screens, more)
    // round to no movement.
    EXPECT_LE(editor_moves, 60);
    EXPECT_GE(editor_moves, size.width >= 1024 ? 50 : 20);
    EXPECT_GT(scroll_frames, 60);
}

INSTANTIATE_TEST_SUITE_P(Sizes, MoveHintTest,
                         ::testing::Values(Size{1920, 1080}, Size{1024, 768}, Size{320, 240}));

TEST(DemoDesktopTest, TypingChangesTheEditorOnly) {
    DemoDesktop desktop({kFullHd, 1});
    auto before = Frame::create(kFullHd), after = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.render(10, *before, moves);
    EXPECT_FALSE(desktop.take_input_changed());
    type_hello(desktop);
    EXPECT_TRUE(desktop.take_input_changed());
    EXPECT_FALSE(desktop.take_input_changed());
    moves.clear();
    desktop.render(10, *after, moves);  // a frozen desktop re-rendered after input
    EXPECT_TRUE(moves.empty());
    const Rect editor = desktop.editor_rect();
    EXPECT_GT(count_diff(*before, *after, editor), 100);
    EXPECT_EQ(count_diff_outside(*before, *after, after->rect(), {editor}), 0);

    // Backspacing the five letters restores the picture.
    type_keys(desktop, {0x0e, 0x0e, 0x0e, 0x0e, 0x0e});
    EXPECT_TRUE(desktop.take_input_changed());
    desktop.render(10, *after, moves);
    EXPECT_TRUE(same_pixels(*before, *after));
}

TEST(DemoDesktopTest, ShiftAndCapsLockTypeTheSameCapital) {
    DemoDesktop a({kFullHd, 1}), b({kFullHd, 1});
    a.key_event(scancode::kRightShift, true);
    type_keys(a, {0x1e});
    a.key_event(scancode::kRightShift, false);
    type_keys(b, {scancode::kCapsLock, 0x1e, scancode::kCapsLock});
    auto fa = Frame::create(kFullHd), fb = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    a.render(3, *fa, moves);
    b.render(3, *fb, moves);
    EXPECT_TRUE(same_pixels(*fa, *fb));
}

TEST(DemoDesktopTest, ShortcutsAndModifiersTypeNothing) {
    DemoDesktop desktop({kFullHd, 1});
    desktop.key_event(scancode::kLeftCtrl, true);
    type_keys(desktop, {0x2e});  // Ctrl+C
    desktop.key_event(scancode::kLeftCtrl, false);
    type_keys(desktop, {scancode::kLeftShift, 0x3b /* F1 */, 0x148 /* up arrow */});
    EXPECT_FALSE(desktop.take_input_changed());
}

TEST(DemoDesktopTest, EnterStartsANewLine) {
    DemoDesktop desktop({kFullHd, 1});
    auto before = Frame::create(kFullHd), after = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.render(0, *before, moves);
    type_keys(desktop, {scancode::kEnter});
    EXPECT_TRUE(desktop.take_input_changed());
    desktop.render(0, *after, moves);
    EXPECT_GT(count_diff(*before, *after, desktop.editor_rect()), 20);  // a line number appears
}

TEST(DemoDesktopTest, PointerLeavesMarksNearThePointer) {
    DemoDesktop desktop({kFullHd, 1});
    auto before = Frame::create(kFullHd), after = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.render(10, *before, moves);

    const Point p{700, 760};
    desktop.button_event(1, true, p);
    EXPECT_TRUE(desktop.take_input_changed());
    desktop.button_event(1, false, p);
    desktop.render(10, *after, moves);
    const Rect near = Rect::MakeLTRB(p.x - 9, p.y - 9, p.x + 10, p.y + 10);
    EXPECT_GT(count_diff(*before, *after, near), 150);
    EXPECT_EQ(count_diff_outside(*before, *after, after->rect(), {near}), 0);

    // A plain move leaves a small trail dot; marks persist into later frames.
    const Point q{1300, 200};
    desktop.pointer_moved(q, 0);
    EXPECT_TRUE(desktop.take_input_changed());
    desktop.render(11, *after, moves);
    EXPECT_EQ(after->pixel(q.x, q.y), 0xffe040u);
    EXPECT_EQ(after->pixel(p.x, p.y), 0xff3b30u);

    // Repeating the same press changes nothing; off-screen input changes nothing.
    desktop.button_event(1, true, p);
    desktop.pointer_moved({5000, -20}, 0);
    EXPECT_FALSE(desktop.take_input_changed());
}

TEST(DemoDesktopTest, DraggingPaintsAContinuousStroke) {
    DemoDesktop desktop({kFullHd, 1});
    auto frame = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.pointer_moved({100, 900}, 0);
    desktop.button_event(3, true, {100, 900});
    desktop.pointer_moved({300, 900}, 4);
    desktop.render(1, *frame, moves);
    for (int32_t x = 100; x <= 300; ++x) ASSERT_EQ(frame->pixel(x, 900), 0x2f80ffu) << x;
}

TEST(DemoDesktopTest, CapsLockTogglesTheLeds) {
    DemoDesktop desktop({kFullHd, 1});
    EXPECT_EQ(desktop.keyboard_leds(), 0u);
    desktop.key_event(scancode::kCapsLock, true);
    EXPECT_EQ(desktop.keyboard_leds(), 4u);
    desktop.key_event(scancode::kCapsLock, true);  // auto-repeat does not toggle again
    EXPECT_EQ(desktop.keyboard_leds(), 4u);
    desktop.key_event(scancode::kCapsLock, false);
    EXPECT_TRUE(desktop.take_input_changed());
    type_keys(desktop, {scancode::kNumLock, scancode::kScrollLock});
    EXPECT_EQ(desktop.keyboard_leds(), 7u);
    type_keys(desktop, {scancode::kCapsLock});
    EXPECT_EQ(desktop.keyboard_leds(), 3u);
    desktop.set_keyboard_leds(0);
    EXPECT_EQ(desktop.keyboard_leds(), 0u);
    EXPECT_TRUE(desktop.take_input_changed());
    desktop.set_keyboard_leds(0);
    EXPECT_FALSE(desktop.take_input_changed());
}

TEST(DemoDesktopTest, LedsAreShownOnTheTaskbar) {
    DemoDesktop desktop({kFullHd, 1});
    auto off = Frame::create(kFullHd), on = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.render(1, *off, moves);
    type_keys(desktop, {scancode::kCapsLock});
    desktop.render(1, *on, moves);
    EXPECT_GT(count_diff(*off, *on, desktop.layout().leds), 50);
    EXPECT_EQ(count_diff_outside(*off, *on, on->rect(), {desktop.layout().leds}), 0);
}

TEST(DemoDesktopTest, EveryFrameChangesTheVideoAndTheModel) {
    DemoDesktop desktop({kFullHd, 1});
    auto a = Frame::create(kFullHd), b = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    desktop.render(100, *a, moves);
    desktop.render(101, *b, moves);
    const DemoLayout& l = desktop.layout();
    EXPECT_EQ(l.video.size(), (Size{480, 270}));
    EXPECT_GT(count_diff(*a, *b, l.video), l.video.area() / 2);
    EXPECT_GT(count_diff(*a, *b, l.cad_view), 500);
    EXPECT_GT(count_diff(*a, *b, l.status_text), 10);
}

TEST(DemoDesktopTest, LongTypingStaysBoundedAndInsideTheWindow) {
    DemoDesktop desktop({{640, 480}, 1});
    for (int i = 0; i < 20000; ++i) {
        type_keys(desktop, {static_cast<uint16_t>(0x10 + i % 10)});
        if (i % 97 == 0) type_keys(desktop, {scancode::kEnter});
    }
    auto a = Frame::create({640, 480}), b = Frame::create({640, 480});
    std::vector<MoveHint> moves;
    desktop.render(0, *a, moves);
    type_keys(desktop, {0x1e});
    desktop.render(0, *b, moves);
    EXPECT_EQ(count_diff_outside(*a, *b, a->rect(), {desktop.editor_rect()}), 0);
}

TEST(DemoDesktopTest, OddAndSmallSizesStayInsideTheFrame) {
    for (Size size : {Size{320, 240}, Size{321, 241}, Size{640, 480}, Size{800, 600},
                      Size{1366, 768}, Size{2560, 1440}}) {
        DemoDesktop desktop({size, 5});
        ASSERT_EQ(desktop.size(), size);
        const DemoLayout& l = desktop.layout();
        const Rect screen = Rect::MakeSize(size);
        for (const Rect& r : {l.taskbar, l.terminal.outer, l.terminal_text, l.player.outer, l.video,
                              l.cad.outer, l.cad_view, l.editor_area}) {
            EXPECT_TRUE(screen.contains(r)) << size.width << "x" << size.height;
        }
        EXPECT_GT(l.terminal_rows, 0);
        EXPECT_FALSE(l.video.is_empty());
        auto frame = Frame::create(size);
        std::vector<MoveHint> moves;
        desktop.pointer_moved({size.width - 1, size.height - 1}, 1);
        desktop.button_event(2, true, {0, 0});
        for (int64_t i = 115; i < 155; ++i) {
            moves.clear();
            desktop.render(i, *frame, moves);
            ASSERT_TRUE(screen.contains(desktop.editor_rect()));
        }
    }
}

TEST(DemoDesktopTest, SizesBelowTheMinimumDoNotCrash) {
    // Unsupported (the contract is >= 320x240) but must not write outside the frame.
    for (Size size : {Size{0, 0}, Size{1, 1}, Size{100, 60}, Size{319, 239}, Size{4000, 50}}) {
        DemoDesktop desktop({size, 5});
        auto frame = Frame::create(size);
        std::vector<MoveHint> moves;
        desktop.pointer_moved({0, 0}, 0);
        desktop.button_event(1, true, {2, 2});
        type_hello(desktop);
        for (int64_t i = 118; i < 152; ++i) desktop.render(i, *frame, moves);
    }
}

TEST(DemoDesktopTest, CursorImageIsAnArrowWithAlpha) {
    const CursorImage cursor = DemoDesktop::cursor_image();
    ASSERT_EQ(cursor.width, 32);
    ASSERT_EQ(cursor.height, 32);
    ASSERT_EQ(cursor.argb.size(), 32u * 32u);
    EXPECT_EQ(cursor.hotspot, (Point{0, 0}));
    EXPECT_EQ(cursor.argb[0] >> 24, 0xffu) << "the tip is opaque";
    int opaque = 0, clear = 0, partial = 0;
    for (uint32_t p : cursor.argb) {
        const uint32_t alpha = p >> 24;
        opaque += alpha == 0xff;
        clear += alpha == 0;
        partial += alpha != 0 && alpha != 0xff;
    }
    EXPECT_GT(opaque, 80);
    EXPECT_GT(clear, 600);
    EXPECT_GT(partial, 10);
}

// Not a check: SPICED_DEMO_DUMP=/tmp/demo_frame.ppm writes frame 45 for people to look at.
TEST(DemoDesktopTest, DumpFrameWhenAsked) {
    const char* path = std::getenv("SPICED_DEMO_DUMP");
    if (path == nullptr) GTEST_SKIP() << "set SPICED_DEMO_DUMP to a .ppm path";
    DemoDesktop desktop({kFullHd, 1});
    auto frame = Frame::create(kFullHd);
    std::vector<MoveHint> moves;
    for (int64_t i = 0; i <= 45; ++i) {
        if (i == 20) {
            type_hello(desktop);
            desktop.pointer_moved({1500, 180}, 0);
            desktop.button_event(1, true, {1520, 190});
            desktop.pointer_moved({1600, 220}, 1);
            desktop.button_event(1, false, {1600, 220});
        }
        desktop.render(i, *frame, moves);
    }
    const auto written = write_ppm(*frame, path);
    ASSERT_TRUE(written.has_value()) << written.error();
}

}  // namespace
}  // namespace spiced
