#include "demo/terminal.h"

#include <array>
#include <cstdio>
#include <string_view>

#include "demo/draw.h"
#include "demo/font.h"
#include "demo/rng.h"

namespace spiced {
namespace {

constexpr std::array<const char*, 6> kModules = {"gpu", "encode", "io", "core", "demo", "base"};
constexpr std::array<const char*, 13> kFiles = {"frame",   "region",  "damage",  "quic",   "lz4",
                                                "ring",    "channel", "display", "inputs", "cursor",
                                                "desktop", "font",    "ppm"};
constexpr std::array<const char*, 6> kVars = {"rc", "stride", "tmp", "n", "bytes", "rect"};
constexpr std::array<const char*, 5> kChannels = {"main", "display", "inputs", "cursor",
                                                  "playback"};

constexpr uint32_t kPlainColor = 0xc8ccd0;
constexpr uint32_t kDimColor = 0x7a8088;

struct LogLine {
    char text[160];
    int prefix = 0;  // characters drawn in prefix_color
    uint32_t prefix_color = kPlainColor;
    uint32_t color = kPlainColor;
};

template <size_t N>
const char* choose(const std::array<const char*, N>& words, uint64_t h) {
    return words[pick(h, N)];
}

LogLine make_line(uint64_t seed, int64_t k) {
    const uint64_t h = hash3(seed, 0x7e4u, static_cast<uint64_t>(k));
    const uint64_t a = mix64(h), b = mix64(a), c = mix64(b);
    LogLine line;
    const int kind = static_cast<int>(pick(h, 16));
    // A build that restarts every 64 lines gives the percentages a natural climb.
    const int percent = static_cast<int>((((k % 64) + 64) % 64) * 100 / 63);
    int n = 0;
    if (kind < 6) {
        n = std::snprintf(line.text, sizeof line.text,
                          "[%3d%%] Building CXX object %s/CMakeFiles/spiced_%s.dir/%s.cpp.o",
                          percent, choose(kModules, a), choose(kModules, a), choose(kFiles, b));
        line.prefix = 6;
        line.prefix_color = 0x5fd75f;
    } else if (kind < 8) {
        n = std::snprintf(line.text, sizeof line.text,
                          "[%3d%%] Linking CXX static library libspiced_%s.a", percent,
                          choose(kModules, a));
        line.prefix = 6;
        line.prefix_color = 0x5fd75f;
        line.color = 0xe8e8e8;
    } else if (kind < 9) {
        n = std::snprintf(line.text, sizeof line.text,
                          "%s/%s.cpp:%d:%d: warning: unused variable '%s' [-Wunused-variable]",
                          choose(kModules, a), choose(kFiles, b),
                          static_cast<int>(pick(c, 900)) + 20,
                          static_cast<int>(pick(c >> 20, 60)) + 5, choose(kVars, c >> 40));
        line.color = 0xe5c07b;
    } else if (kind < 11) {
        n = std::snprintf(line.text, sizeof line.text,
                          "spiced: client 10.0.%d.%d:%d connected, channel %s id %d",
                          static_cast<int>(pick(a, 256)), static_cast<int>(pick(b, 254)) + 1,
                          40000 + static_cast<int>(pick(c, 20000)), choose(kChannels, c >> 32),
                          static_cast<int>(pick(a >> 32, 4)));
        line.color = 0x61afef;
    } else if (kind < 13) {
        n = std::snprintf(line.text, sizeof line.text,
                          "encode: frame %lld: %d rects, %d bytes, %d.%d ms",
                          static_cast<long long>(k * 4), static_cast<int>(pick(a, 40)) + 1,
                          static_cast<int>(pick(b, 90000)) + 300, static_cast<int>(pick(c, 6)),
                          static_cast<int>(pick(c >> 32, 10)));
        line.color = kDimColor;
    } else if (kind < 14) {
        n = std::snprintf(line.text, sizeof line.text, "vdi@demo:~/spiced-gpu$ make -j%d %s",
                          static_cast<int>(pick(a, 15)) + 2, choose(kModules, b));
        line.prefix = 21;
        line.prefix_color = 0x98c379;
        line.color = 0xffffff;
    } else if (kind < 15) {
        n = std::snprintf(line.text, sizeof line.text, "[ RUN      ] %sTest.%s%d ... ok (%d ms)",
                          choose(kFiles, a), choose(kVars, b), static_cast<int>(pick(b >> 32, 9)),
                          static_cast<int>(pick(c, 250)));
        line.prefix = 12;
        line.prefix_color = 0x5fd75f;
    } else {
        n = std::snprintf(line.text, sizeof line.text,
                          "kernel: [%6d.%06d] io_uring: %d sqes submitted, %d cqes reaped",
                          static_cast<int>(pick(a, 99999)), static_cast<int>(pick(b, 999999)),
                          static_cast<int>(pick(c, 64)) + 1, static_cast<int>(pick(c >> 32, 64)));
        line.color = kDimColor;
    }
    if (n < 0) line.text[0] = '\0';
    return line;
}

}  // namespace

TerminalText::TerminalText(const DemoLayout& layout, uint64_t seed)
    : dest_(layout.terminal_text),
      rows_(layout.terminal_rows),
      cols_(layout.terminal_cols),
      seed_(seed),
      surface_(Frame::create(layout.terminal_text.size())) {}

std::string TerminalText::line_text(int64_t k) const {
    return make_line(seed_, k).text;
}

void TerminalText::draw_line(int64_t k, int32_t row) {
    const LogLine line = make_line(seed_, k);
    const Rect band = Rect::MakeXYWH(0, row * kGlyphHeight, surface_->width(), kGlyphHeight);
    surface_->fill(band, kBackground);
    std::string_view text(line.text);
    text = text.substr(0, static_cast<size_t>(cols_));
    const size_t prefix = std::min(text.size(), static_cast<size_t>(line.prefix));
    draw_text(*surface_, band.origin(), text.substr(0, prefix), line.prefix_color, band);
    draw_text(*surface_, {band.left() + static_cast<int32_t>(prefix) * kGlyphWidth, band.top()},
              text.substr(prefix), line.color, band);
}

void TerminalText::render(int64_t index, Frame& frame) {
    if (rows_ <= 0 || surface_->size().is_empty()) return;
    const int64_t lines = lines_at(index);
    const int64_t advance = lines - shown_lines_;
    if (valid_ && advance > 0 && advance < rows_) {
        // Scroll the cached text up and draw only the new lines: the same pixels a full redraw
        // gives, because every line owns its whole band of rows.
        const int32_t dy = static_cast<int32_t>(advance) * kGlyphHeight;
        surface_->copy_from(*surface_, Rect::MakeLTRB(0, dy, surface_->width(), surface_->height()),
                            {0, 0});
        for (int64_t k = shown_lines_; k < lines; ++k) {
            draw_line(k, static_cast<int32_t>(rows_ - (lines - k)));
        }
    } else if (!valid_ || advance != 0) {
        for (int32_t r = 0; r < rows_; ++r) draw_line(lines - rows_ + r, r);
    }
    shown_lines_ = lines;
    valid_ = true;
    frame.copy_from(*surface_, surface_->rect(), dest_.origin());
}

}  // namespace spiced
