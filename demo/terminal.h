// The terminal window's scrolling text: line k of the log is a pure function of (seed, k), and
// at frame `index` the window shows the terminal_rows lines ending at line index / kFramesPerLine.
// Between frames the text moves up by whole lines, which the desktop reports as a MoveHint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "demo/layout.h"
#include "pixels/frame.h"

namespace spiced {

class TerminalText {
public:
    // A new line every 4 frames: 7.5 lines/s at 30 fps, a busy but readable build log.
    static constexpr int64_t kFramesPerLine = 4;
    static constexpr uint32_t kBackground = 0x101418;

    TerminalText(const DemoLayout& layout, uint64_t seed);

    // Number of log lines printed by frame `index` (the last visible line is this minus one).
    static int64_t lines_at(int64_t index) { return floor_div(index, kFramesPerLine); }

    // Brings the cached text surface to frame `index` (scrolling it when that is cheaper than a
    // full redraw) and copies it into `frame` at the layout's terminal_text rect.
    void render(int64_t index, Frame& frame);

    // The text of log line `k`, without colour; exposed for tests.
    std::string line_text(int64_t k) const;

private:
    static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }
    void draw_line(int64_t k, int32_t row);

    Rect dest_;
    int32_t rows_;
    int32_t cols_;
    uint64_t seed_;
    std::unique_ptr<Frame> surface_;
    int64_t shown_lines_ = 0;  // lines_at() of what surface_ holds
    bool valid_ = false;
};

}  // namespace spiced
