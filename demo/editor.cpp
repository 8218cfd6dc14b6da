#include "demo/editor.h"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "demo/draw.h"
#include "demo/font.h"

namespace spiced {
namespace {

constexpr std::string_view kInitialText =
    "# notes.txt -- spiced-gpu demo desktop\n"
    "\n"
    "This window is a tiny editor. Type on the client's keyboard and\n"
    "the text appears below: Enter starts a new line, Backspace deletes,\n"
    "Shift and Caps Lock work (US layout).\n"
    "\n"
    "Every five seconds the window glides somewhere else; the server\n"
    "sends each step as a copy_bits instead of new pixels.\n"
    "\n"
    "> ";

// The buffer is trimmed from the front beyond this, so memory stays bounded however long
// someone types; far more than any window can show.
constexpr size_t kMaxText = 16384;
constexpr int32_t kGutterChars = 4;
constexpr uint32_t kPaper = 0xfbfaf6;
constexpr uint32_t kInk = 0x202428;
constexpr uint32_t kCommentInk = 0x6a7f3a;
constexpr uint32_t kGutter = 0xe8e6e0;
constexpr uint32_t kGutterInk = 0x9098a0;

}  // namespace

EditorWindow::EditorWindow(Size size, int32_t title_height)
    : size_(size),
      title_height_(title_height),
      text_(kInitialText),
      picture_(Frame::create(size)) {}

void EditorWindow::set_text(std::string text) {
    if (text.size() > kMaxText) text.erase(0, text.size() - kMaxText);
    text_ = std::move(text);
    dirty_ = true;
}

bool EditorWindow::type(char c) {
    if (c == '\b') {
        if (text_.empty()) return false;
        text_.pop_back();
    } else if (c == '\n' || (c >= 32 && c <= 126)) {
        text_.push_back(c);
        if (text_.size() > kMaxText) {
            const size_t cut = text_.find('\n', text_.size() - kMaxText);
            text_.erase(0, cut == std::string::npos ? text_.size() - kMaxText : cut + 1);
        }
    } else {
        return false;
    }
    dirty_ = true;
    return true;
}

const Frame& EditorWindow::picture() {
    if (dirty_) redraw();
    dirty_ = false;
    return *picture_;
}

void EditorWindow::redraw() {
    Frame& f = *picture_;
    const WindowGeometry win = window_geometry(f.rect(), title_height_);
    draw_window_chrome(f, win, "notes.txt - Editor", /*active=*/true);
    const Rect& c = win.content;
    f.fill(c, kPaper);
    caret_ = Rect();
    if (c.is_empty()) return;

    const int32_t gutter_w = kGutterChars * kGlyphWidth + 6;
    const Rect gutter = Rect::MakeLTRB(c.left(), c.top(), c.left() + gutter_w, c.bottom());
    f.fill(gutter.intersect(c), kGutter);
    const int32_t text_left = c.left() + gutter_w + 6;
    const int32_t cols = std::max(1, (c.right() - 4 - text_left) / kGlyphWidth);
    const int32_t rows = std::max(1, (c.height() - 4) / kGlyphHeight);

    // Soft-wrap the logical lines at the window width; remember which logical line each
    // display line starts so the gutter can number it.
    struct DisplayLine {
        std::string_view text;
        int32_t number;  // 0 for a wrapped continuation
    };
    std::vector<DisplayLine> lines;
    std::string_view rest(text_);
    int32_t number = 1;
    for (;;) {
        const size_t nl = rest.find('\n');
        std::string_view logical = rest.substr(0, nl);
        bool first = true;
        do {
            const size_t take = std::min(logical.size(), static_cast<size_t>(cols));
            lines.push_back({logical.substr(0, take), first ? number : 0});
            logical.remove_prefix(take);
            first = false;
        } while (!logical.empty());
        ++number;
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    // A full last line puts the caret at the start of the next one.
    if (lines.back().text.size() == static_cast<size_t>(cols)) lines.push_back({{}, 0});

    const size_t first = lines.size() > static_cast<size_t>(rows) ? lines.size() - rows : 0;
    for (size_t i = first; i < lines.size(); ++i) {
        const int32_t y = c.top() + 2 + static_cast<int32_t>(i - first) * kGlyphHeight;
        if (lines[i].number > 0) {
            char label[16];
            std::snprintf(label, sizeof label, "%4d", lines[i].number % 10000);
            draw_text(f, {c.left() + 3, y}, label, kGutterInk, gutter);
        }
        const bool comment = !lines[i].text.empty() && lines[i].text[0] == '#';
        draw_text(f, {text_left, y}, lines[i].text, comment ? kCommentInk : kInk, c);
    }
    const int32_t last_y =
        c.top() + 2 + static_cast<int32_t>(lines.size() - 1 - first) * kGlyphHeight;
    const int32_t caret_x =
        text_left + static_cast<int32_t>(lines.back().text.size()) * kGlyphWidth;
    caret_ = Rect::MakeXYWH(caret_x, last_y, 2, kGlyphHeight).intersect(c);
}

}  // namespace spiced
