#include "demo/keymap.h"

#include <string_view>

namespace spiced {
namespace {

using namespace std::string_view_literals;

// Set 1 make codes 0x00..0x39 on a US layout, unshifted and shifted; ' ' at index 0x39 is the
// space bar and '\0' marks keys that type nothing. The sv literals keep the embedded NULs.
constexpr std::string_view kPlain =
    "\0\0"
    "1234567890-=\0\0"
    "qwertyuiop[]\0\0"
    "asdfghjkl;'`\0\\"
    "zxcvbnm,./\0*\0 "sv;
constexpr std::string_view kShifted =
    "\0\0"
    "!@#$%^&*()_+\0\0"
    "QWERTYUIOP{}\0\0"
    "ASDFGHJKL:\"~\0|"
    "ZXCVBNM<>?\0*\0 "sv;
static_assert(kPlain.size() == 0x3a && kShifted.size() == 0x3a, "table covers 0x00..0x39");
static_assert(kPlain[0x1e] == 'a' && kPlain[0x2c] == 'z' && kPlain[0x2b] == '\\');

}  // namespace

char scancode_to_ascii(uint16_t scancode, bool shift, bool caps) {
    switch (scancode) {
        case 0x4a:  // keypad minus
            return '-';
        case 0x4e:  // keypad plus
            return '+';
        case 0x135:  // keypad slash (0xE0 0x35)
            return '/';
        default:
            break;
    }
    if (scancode >= kPlain.size()) return 0;
    const char plain = kPlain[scancode];
    if (plain >= 'a' && plain <= 'z') return (shift != caps) ? kShifted[scancode] : plain;
    return shift ? kShifted[scancode] : plain;
}

char keypad_to_ascii(uint16_t scancode) {
    // 0x47..0x53 is the keypad block 7 8 9 - 4 5 6 + 1 2 3 0 .
    constexpr std::string_view kKeypad = "789-456+1230.";
    if (scancode < 0x47 || scancode > 0x53) return 0;
    const char c = kKeypad[scancode - 0x47];
    return (c == '-' || c == '+') ? 0 : c;
}

}  // namespace spiced
