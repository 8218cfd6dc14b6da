#include "demo/demo_desktop.h"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numbers>

#include "demo/background.h"
#include "demo/cad.h"
#include "demo/draw.h"
#include "demo/editor.h"
#include "demo/font.h"
#include "demo/ink.h"
#include "demo/keymap.h"
#include "demo/layout.h"
#include "demo/rng.h"
#include "demo/terminal.h"
#include "demo/video.h"

namespace spiced {
namespace {

constexpr int64_t kFramesPerSecond = 30;
// The editor rests for 4 s, then glides to its next spot over 1 s.
constexpr int64_t kMovePeriod = 5 * kFramesPerSecond;
constexpr int64_t kGlideFrames = kFramesPerSecond;
// The player's clip loops every 20 s (VideoClip's colour cycle).
constexpr int64_t kClipFrames = 20 * kFramesPerSecond;
constexpr int64_t kCaretBlinkFrames = 15;

constexpr uint32_t kLedScroll = 1, kLedNum = 2, kLedCaps = 4;

int64_t floor_div(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && (a < 0));
}

// Pieces of `a` outside `hole` (up to four), appended to `out`.
void subtract(const Rect& a, const Rect& hole, std::vector<Rect>& out) {
    const Rect h = a.intersect(hole);
    if (h.is_empty()) {
        if (!a.is_empty()) out.push_back(a);
        return;
    }
    const Rect pieces[] = {Rect::MakeLTRB(a.left(), a.top(), a.right(), h.top()),
                           Rect::MakeLTRB(a.left(), h.bottom(), a.right(), a.bottom()),
                           Rect::MakeLTRB(a.left(), h.top(), h.left(), h.bottom()),
                           Rect::MakeLTRB(h.right(), h.top(), a.right(), h.bottom())};
    for (const Rect& p : pieces) {
        if (!p.is_empty()) out.push_back(p);
    }
}

InkLayer::Color button_color(uint32_t mask) {
    if (mask & 1) return InkLayer::kLeft;
    if (mask & 2) return InkLayer::kMiddle;
    return InkLayer::kRight;
}

}  // namespace

struct DemoDesktop::Scene {
    explicit Scene(const DemoConfig& c)
        : config(c),
          layout(make_layout(c.size)),
          terminal(layout, c.seed),
          video(layout.video.size(), c.seed),
          editor(layout.editor_size, layout.title_height),
          ink(c.size) {
        base = draw_background(layout, cad.edge_count());
    }

    Point waypoint(int64_t k) const;
    Point editor_origin(int64_t index) const;
    static bool gliding(int64_t index) {
        return index - floor_div(index, kMovePeriod) * kMovePeriod >= kMovePeriod - kGlideFrames;
    }
    void draw_dynamic_chrome(int64_t index, Frame& frame) const;
    void add_moves(const Rect& editor_now, int64_t lines_now, std::vector<MoveHint>& moves) const;

    DemoConfig config;
    DemoLayout layout;
    std::unique_ptr<Frame> base;
    TerminalText terminal;
    VideoClip video;
    CadModel cad;
    EditorWindow editor;
    InkLayer ink;

    // Received files, oldest first; the background is redrawn with them when one arrives.
    std::deque<std::string> received;
    // Input state.
    std::bitset<512> keys_down;
    uint32_t leds = 0;
    uint32_t buttons = 0;
    Point pointer;
    bool has_pointer = false;
    bool input_changed = false;

    // What the previous render() showed, for move hints.
    bool rendered = false;
    Rect last_editor;
    int64_t last_lines = 0;
};

Point DemoDesktop::Scene::waypoint(int64_t k) const {
    // Consecutive waypoints are samples of a seeded Lissajous path a quarter radian apart, so
    // each glide covers at most ~1/8 of the free space: a few pixels per frame at 30 fps.
    const Rect& area = layout.editor_area;
    const double range_x = std::max(0, area.width() - layout.editor_size.width);
    const double range_y = std::max(0, area.height() - layout.editor_size.height);
    // The walk starts near the bottom-left (sin = -1 for x, +1 for y), where the editor hides
    // no other window, with a seeded jitter of up to half a radian.
    const double jitter_x = static_cast<double>(pick(hash3(config.seed, 0xed17, 1), 1000)) / 2000;
    const double jitter_y = static_cast<double>(pick(hash3(config.seed, 0xed17, 2), 1000)) / 2000;
    const double phase_x = -std::numbers::pi / 2 + jitter_x;
    const double phase_y = std::numbers::pi / 2 - jitter_y;
    const double kd = static_cast<double>(k % 1000000);
    const double x = range_x * (0.5 + 0.5 * std::sin(phase_x + kd * 0.25));
    const double y = range_y * (0.5 + 0.5 * std::sin(phase_y + kd * 0.37));
    return {area.left() + static_cast<int32_t>(x), area.top() + static_cast<int32_t>(y)};
}

Point DemoDesktop::Scene::editor_origin(int64_t index) const {
    const int64_t cycle = floor_div(index, kMovePeriod);
    const int64_t phase = index - cycle * kMovePeriod;
    const Point a = waypoint(cycle);
    if (phase < kMovePeriod - kGlideFrames) return a;
    const Point b = waypoint(cycle + 1);
    // Integer smoothstep 3t^2 - 2t^3 over the glide, exact at both ends.
    const int64_t t = phase - (kMovePeriod - kGlideFrames) + 1, n = kGlideFrames;
    const int64_t num = t * t * (3 * n - 2 * t), den = n * n * n;
    return {a.x + static_cast<int32_t>((b.x - a.x) * num / den),
            a.y + static_cast<int32_t>((b.y - a.y) * num / den)};
}

void DemoDesktop::Scene::draw_dynamic_chrome(int64_t index, Frame& frame) const {
    // Player progress and time.
    const int64_t clip_frame = ((index % kClipFrames) + kClipFrames) % kClipFrames;
    const Rect& p = layout.progress;
    const int32_t filled = static_cast<int32_t>(p.width() * clip_frame / (kClipFrames - 1));
    fill_rect(frame, Rect::MakeXYWH(p.left(), p.top(), filled, p.height()), 0x3d9df3, p);
    char text[96];
    const int seconds = static_cast<int>(clip_frame / kFramesPerSecond);
    std::snprintf(text, sizeof text, "00:%02d / 00:%02d", seconds,
                  static_cast<int>(kClipFrames / kFramesPerSecond));
    draw_text(frame, layout.time_text, text, 0xd0d4d8, layout.controls);

    // CAD readout.
    const Rect& v = layout.cad_view;
    // CadModel turns once every 480 frames.
    const int degrees = static_cast<int>((index % 480 + 480) % 480 * 3 / 4);
    std::snprintf(text, sizeof text, "yaw %3d deg", degrees);
    draw_text(frame, {v.left() + 8, v.bottom() - kGlyphHeight - 6}, text, 0x90a0b4, v);

    // Status line: frame index and running time.
    const int64_t seconds_total = index / kFramesPerSecond;
    const int64_t hundredths = index % kFramesPerSecond * 100 / kFramesPerSecond;
    std::snprintf(text, sizeof text, "frame %lld  %02lld:%02lld.%02lld  %dx%d  seed %llu",
                  static_cast<long long>(index), static_cast<long long>(seconds_total / 60 % 100),
                  static_cast<long long>(seconds_total % 60), static_cast<long long>(hundredths),
                  layout.screen.width, layout.screen.height,
                  static_cast<unsigned long long>(config.seed));
    draw_text(frame, layout.status_text.origin(), text, 0xe8ecf0, layout.status_text);
    draw_leds(frame, layout.leds, leds);
}

void DemoDesktop::Scene::add_moves(const Rect& editor_now, int64_t lines_now,
                                   std::vector<MoveHint>& moves) const {
    if (!rendered) return;
    const int64_t advance = lines_now - last_lines;
    if (advance > 0 && advance < layout.terminal_rows) {
        const Rect& text = layout.terminal_text;
        const int32_t dy = static_cast<int32_t>(advance) * kGlyphHeight;
        // Keep only pixels that show terminal text in both frames, and keep this hint's dest
        // off the editor's src (and its src off the editor's dest) so hints commute.
        const Rect holes[] = {editor_now, last_editor, last_editor.translated(0, -dy),
                              editor_now.translated(0, -dy)};
        std::vector<Rect> pieces{
            Rect::MakeLTRB(text.left(), text.top(), text.right(), text.bottom() - dy)};
        for (const Rect& hole : holes) {
            std::vector<Rect> next;
            for (const Rect& piece : pieces) subtract(piece, hole, next);
            pieces.swap(next);
        }
        for (const Rect& piece : pieces) moves.push_back({piece, {piece.left(), piece.top() + dy}});
    }
    if (editor_now.origin() != last_editor.origin()) {
        moves.push_back({editor_now, last_editor.origin()});
    }
}

DemoDesktop::DemoDesktop(const DemoConfig& config) : scene_(std::make_unique<Scene>(config)) {}
DemoDesktop::~DemoDesktop() = default;
DemoDesktop::DemoDesktop(DemoDesktop&&) noexcept = default;
DemoDesktop& DemoDesktop::operator=(DemoDesktop&&) noexcept = default;

Size DemoDesktop::size() const {
    return scene_->config.size;
}
const DemoLayout& DemoDesktop::layout() const {
    return scene_->layout;
}
DemoCursor DemoDesktop::cursor_at(Point position) const {
    return editor_rect().contains(position) ? DemoCursor::kText : DemoCursor::kArrow;
}

Rect DemoDesktop::editor_rect() const {
    return scene_->rendered ? scene_->last_editor : Rect();
}

void DemoDesktop::render(int64_t index, Frame& frame, std::vector<MoveHint>& moves) {
    Scene& s = *scene_;
    const DemoLayout& l = s.layout;
    // Back to front: static picture, the three live windows, the editor on top, then the
    // taskbar readouts and the pointer ink over everything.
    frame.copy_from(*s.base, s.base->rect(), {0, 0});
    s.terminal.render(index, frame);
    s.video.render(index, frame, l.video.origin());
    s.cad.render(index, frame, l.cad_view);
    s.draw_dynamic_chrome(index, frame);

    const Frame& editor = s.editor.picture();
    const Point at = s.editor_origin(index);
    const Rect editor_now = Rect::MakeXYWH(at.x, at.y, editor.width(), editor.height());
    frame.copy_from(editor, editor.rect(), at);
    // The caret holds still while the window glides, so the move hint stays exact.
    if (Scene::gliding(index) || floor_div(index, kCaretBlinkFrames) % 2 == 0) {
        fill_rect(frame, s.editor.caret().translated(at.x, at.y), 0x1a5fd0, editor_now);
    }
    s.ink.composite(frame);

    const int64_t lines = TerminalText::lines_at(index);
    s.add_moves(editor_now, lines, moves);
    s.rendered = true;
    s.last_editor = editor_now;
    s.last_lines = lines;
}

DemoShortcut DemoDesktop::key_event(uint16_t scancode, bool down) {
    Scene& s = *scene_;
    if (scancode >= s.keys_down.size()) return DemoShortcut::kNone;
    const bool was_down = s.keys_down[scancode];
    s.keys_down[scancode] = down;
    if (!down) return DemoShortcut::kNone;
    const auto toggle = [&](uint32_t led) {
        if (was_down) return DemoShortcut::kNone;  // a held lock key's repeat does not toggle
        s.leds ^= led;
        s.input_changed = true;  // the LEDs are drawn on the taskbar
        return DemoShortcut::kNone;
    };
    switch (scancode) {
        case scancode::kCapsLock:
            return toggle(kLedCaps);
        case scancode::kNumLock:
            return toggle(kLedNum);
        case scancode::kScrollLock:
            return toggle(kLedScroll);
        default:
            break;
    }
    const auto held = [&](uint16_t a, uint16_t b) { return s.keys_down[a] || s.keys_down[b]; };
    // Shortcuts are not text.
    if (held(scancode::kLeftCtrl, scancode::kRightCtrl)) {
        if (was_down) return DemoShortcut::kNone;  // one copy or paste per press
        if (scancode == scancode::kC) return DemoShortcut::kCopy;
        if (scancode == scancode::kV) return DemoShortcut::kPaste;
        return DemoShortcut::kNone;
    }
    if (held(scancode::kLeftAlt, scancode::kRightAlt)) return DemoShortcut::kNone;
    const bool shift = held(scancode::kLeftShift, scancode::kRightShift);
    bool changed = false;
    if (scancode == scancode::kEnter || scancode == scancode::kKeypadEnter) {
        changed = s.editor.type('\n');
    } else if (scancode == scancode::kBackspace) {
        changed = s.editor.type('\b');
    } else if (scancode == scancode::kTab) {
        for (int i = 0; i < 4; ++i) changed |= s.editor.type(' ');
    } else {
        char c = scancode_to_ascii(scancode, shift, (s.leds & kLedCaps) != 0);
        if (c == 0 && (s.leds & kLedNum)) c = keypad_to_ascii(scancode);
        if (c != 0) changed = s.editor.type(c);
    }
    s.input_changed |= changed;
    return DemoShortcut::kNone;
}

size_t DemoDesktop::type_text(std::string_view text) {
    Scene& s = *scene_;
    size_t typed = 0;
    for (char c : text) {
        if (c == '\r') continue;  // CRLF line ends from Windows clients
        if (c == '\t') c = ' ';
        if (c != '\n' && (c < 32 || c > 126)) continue;
        typed += s.editor.type(c) ? 1 : 0;
    }
    s.input_changed |= typed > 0;
    return typed;
}

std::string DemoDesktop::editor_last_line() const {
    const std::string& text = scene_->editor.text();
    const size_t start = text.rfind('\n');
    return text.substr(start == std::string::npos ? 0 : start + 1);
}

const std::string& DemoDesktop::editor_text() const {
    return scene_->editor.text();
}

void DemoDesktop::set_editor_text(std::string text) {
    scene_->editor.set_text(std::move(text));
    scene_->input_changed = true;
}

void DemoDesktop::add_received_file(std::string_view line) {
    Scene& s = *scene_;
    constexpr size_t kShownFiles = 8;
    s.received.emplace_back(line);
    while (s.received.size() > kShownFiles) s.received.pop_front();
    s.base = draw_background(s.layout, s.cad.edge_count());
    const std::vector<std::string> lines(s.received.begin(), s.received.end());
    draw_files_window(*s.base, s.layout, lines);
    s.input_changed = true;
}

void DemoDesktop::pointer_moved(Point position, uint32_t buttons_mask) {
    Scene& s = *scene_;
    bool changed;
    if (s.has_pointer && (buttons_mask & 7)) {
        changed = s.ink.stroke(s.pointer, position, 3, button_color(buttons_mask));
    } else {
        changed = s.ink.stamp(position, 1, InkLayer::kTrail);
    }
    s.pointer = position;
    s.has_pointer = true;
    s.buttons = buttons_mask;
    s.input_changed |= changed;
}

void DemoDesktop::button_event(int button, bool down, Point position) {
    Scene& s = *scene_;
    s.pointer = position;
    s.has_pointer = true;
    if (button >= 1 && button <= 3) {
        const uint32_t bit = 1u << (button - 1);
        s.buttons = down ? (s.buttons | bit) : (s.buttons & ~bit);
        if (!down) return;
        bool changed = s.ink.stamp(position, 8, InkLayer::kEdge, 6);
        changed |= s.ink.stamp(position, 6, button_color(bit));
        s.input_changed |= changed;
    } else if ((button == 4 || button == 5) && down) {
        s.input_changed |=
            s.ink.stamp(position, 4, button == 4 ? InkLayer::kWheelUp : InkLayer::kWheelDown);
    }
}

bool DemoDesktop::take_input_changed() {
    const bool changed = scene_->input_changed;
    scene_->input_changed = false;
    return changed;
}

bool DemoDesktop::input_pending() const {
    return scene_->input_changed;
}

uint32_t DemoDesktop::keyboard_leds() const {
    return scene_->leds;
}

void DemoDesktop::set_keyboard_leds(uint32_t leds) {
    leds &= kLedScroll | kLedNum | kLedCaps;
    if (leds == scene_->leds) return;
    scene_->leds = leds;
    scene_->input_changed = true;
}

}  // namespace spiced
