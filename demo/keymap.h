// PC XT scan code set 1 helpers for the demo desktop (what SPICE's inputs channel delivers).
// Extended (0xE0-prefixed) keys are written as 0x100 + code, matching DemoDesktop::key_event.
#pragma once

#include <cstdint>

namespace spiced {

namespace scancode {
inline constexpr uint16_t kBackspace = 0x0e;
inline constexpr uint16_t kTab = 0x0f;
inline constexpr uint16_t kEnter = 0x1c;
inline constexpr uint16_t kLeftCtrl = 0x1d;
inline constexpr uint16_t kLeftShift = 0x2a;
inline constexpr uint16_t kRightShift = 0x36;
inline constexpr uint16_t kLeftAlt = 0x38;
inline constexpr uint16_t kC = 0x2e;  // with Ctrl: copy
inline constexpr uint16_t kV = 0x2f;  // with Ctrl: paste
inline constexpr uint16_t kCapsLock = 0x3a;
inline constexpr uint16_t kNumLock = 0x45;
inline constexpr uint16_t kScrollLock = 0x46;
inline constexpr uint16_t kKeypadEnter = 0x11c;
inline constexpr uint16_t kRightCtrl = 0x11d;
inline constexpr uint16_t kRightAlt = 0x138;
}  // namespace scancode

// The character a US keyboard types for `scancode`, or 0 when the key is not printable (Enter,
// Tab, modifiers, function keys, keypad digits: those depend on Num Lock, see below).
// Caps Lock affects letters only; Shift inverts it for letters.
char scancode_to_ascii(uint16_t scancode, bool shift, bool caps);

// Keypad digits and '.' as typed with Num Lock on, or 0 for any other key.
char keypad_to_ascii(uint16_t scancode);

}  // namespace spiced
