// The editor window: a text buffer shown with line numbers and a caret, cached as a picture of
// the whole window (chrome included) that is redrawn only when the text changes. The desktop
// moves that picture around and reports the moves as MoveHints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pixels/frame.h"

namespace spiced {

class EditorWindow {
public:
    EditorWindow(Size size, int32_t title_height);

    // Appends a typed character: '\n' for Enter, '\b' for Backspace, printable ASCII otherwise.
    // Returns whether the text changed.
    bool type(char c);
    const std::string& text() const { return text_; }
    // Replaces the whole text (a desktop of a new size takes over the old one's text).
    void set_text(std::string text);

    // The window picture for the current text (redrawn here if the text changed).
    const Frame& picture();
    // Where the caret goes, relative to the window's top-left.
    Rect caret() const { return caret_; }

private:
    void redraw();

    Size size_;
    int32_t title_height_;
    std::string text_;
    std::unique_ptr<Frame> picture_;
    Rect caret_;
    bool dirty_ = true;
};

}  // namespace spiced
