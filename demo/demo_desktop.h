// DemoDesktop: the server's default pixel source, a deterministic animated desktop that
// exercises what real desktops do -- typed text, a window gliding around, a scrolling terminal,
// a video, a rotating CAD wireframe and pointer ink -- and says which parts merely moved.
//
// Not thread-safe: one thread owns a DemoDesktop and makes every call on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "display/types.h"
#include "pixels/frame.h"
#include "pixels/geometry.h"

namespace spiced {

struct DemoLayout;

struct DemoConfig {
    Size size{1920, 1080};  // at least 320x240
    uint64_t seed = 1;
};

enum class DemoCursor : uint8_t { kArrow, kText };

// Keyboard shortcuts the demo leaves to whoever hosts it (the clipboard lives there).
enum class DemoShortcut : uint8_t { kNone, kCopy, kPaste };

class DemoDesktop {
public:
    explicit DemoDesktop(const DemoConfig& config);
    ~DemoDesktop();
    DemoDesktop(DemoDesktop&&) noexcept;
    DemoDesktop& operator=(DemoDesktop&&) noexcept;

    Size size() const;

    // Renders animation frame `index` into `frame` (which has size(); it is written completely,
    // its previous contents and damage() are ignored) and appends to `moves` the scroll / window
    // move hints relative to the previously rendered frame (none for the first render). Pointer
    // ink does not move with the windows, so a moved area can still differ where ink lies.
    // Deterministic: the same seed and the same sequence of (render index, input events) give
    // byte-identical frames. Indices normally increase by 1 or repeat (a frozen desktop re-rendered
    // after input); any other jump is rendered correctly too.
    void render(int64_t index, Frame& frame, std::vector<MoveHint>& moves);

    // Input, in frame coordinates. `scancode` is a PC XT set 1 make code; extended
    // (0xE0-prefixed) keys are 0x100 + code. Ctrl+C and Ctrl+V come back as shortcuts.
    DemoShortcut key_event(uint16_t scancode, bool down);
    // Types `text` into the editor as if typed (a paste); other characters than printable
    // ASCII and newlines are dropped. Returns how many characters went in.
    size_t type_text(std::string_view text);
    // The editor's last line of text (what Ctrl+C copies).
    std::string editor_last_line() const;
    // The editor's whole text, to carry it over to a desktop of another size.
    const std::string& editor_text() const;
    void set_editor_text(std::string text);
    // Adds a line to the "Received files" panel (the newest last; the panel keeps the last
    // few).
    void add_received_file(std::string_view line);
    // buttons_mask: bit0 left, bit1 middle, bit2 right.
    void pointer_moved(Point position, uint32_t buttons_mask);
    // button: 1 left, 2 middle, 3 right, 4 wheel up, 5 wheel down.
    void button_event(int button, bool down, Point position);
    // True when input since the last call changed what render() draws.
    bool take_input_changed();
    // The same without clearing it.
    bool input_pending() const;

    // LED state the keyboard should show (bit0 scroll, bit1 num, bit2 caps), toggled by the lock
    // keys; set_keyboard_leds adopts the client's state (SPICE KEY_MODIFIERS).
    uint32_t keyboard_leds() const;
    void set_keyboard_leds(uint32_t leds);

    // 32x32 pointer images with a soft shadow: the arrow (hotspot at its tip, (0, 0)) and a
    // text I-beam (hotspot mid-stem).
    static CursorImage cursor_image(DemoCursor shape = DemoCursor::kArrow);
    // The pointer shape a desktop would show at `position`: the I-beam over the editor.
    DemoCursor cursor_at(Point position) const;

    // For tests and diagnostics: where things are, and the editor window's rect in the most
    // recently rendered frame (empty before the first render).
    const DemoLayout& layout() const;
    Rect editor_rect() const;

private:
    struct Scene;
    std::unique_ptr<Scene> scene_;
};

}  // namespace spiced
