// libFuzzer: every client-message parser (and the server-message parsers used by tests) on
// arbitrary bodies. The first byte picks the parser.
#include <cstddef>
#include <cstdint>

#include "core/messages.h"

using namespace spiced;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::span<const uint8_t> body(data + 1, size - 1);
    switch (data[0] % 24) {
        case 0:
            (void)parse<MsgcAckSync>(body);
            break;
        case 1:
            (void)parse<MsgcPong>(body);
            break;
        case 2:
            (void)parse<MsgcDisconnecting>(body);
            break;
        case 3:
            (void)parse<MsgcMainMouseModeRequest>(body);
            break;
        case 4:
            (void)parse<MsgcMainClientInfo>(body);
            break;
        case 5:
            (void)parse<MsgcMainAgentStart>(body);
            (void)parse<MsgcMainAgentToken>(body);
            break;
        case 6:
            (void)parse<MsgcDisplayInit>(body);
            break;
        case 7:
            (void)parse<MsgcDisplayPreferredCompression>(body);
            break;
        case 8: {
            auto key = parse<MsgcKeyDown>(body);
            if (key) (void)decode_key_code(key->code, false);
            break;
        }
        case 9:
            (void)decode_scancode_bytes(body);
            break;
        case 10:
            (void)parse<MsgcMouseMotion>(body);
            break;
        case 11:
            (void)parse<MsgcMousePosition>(body);
            break;
        case 12:
            (void)parse<MsgcMousePress>(body);
            break;
        case 13:
            (void)parse_channels_list(body);
            break;
        case 14:
            (void)parse_monitors_config(body);
            break;
        case 15:
            (void)parse_draw_copy(body);
            break;
        case 16:
            (void)parse_draw_fill(body);
            break;
        case 17:
            (void)parse_cursor_set(body);
            break;
        case 18:
            (void)parse_inval_list(body);
            break;
        case 19:
            (void)parse_main_name(body);
            break;
        case 20:
            (void)parse<MsgcDisplayStreamReport>(body);
            break;
        case 21:
            (void)parse_preferred_video_codecs(body);
            break;
        case 22:
            (void)parse_stream_create(body);
            break;
        case 23:
            (void)parse_stream_data(body, (size & 1) != 0);
            (void)parse_stream_clip(body);
            break;
    }
    return 0;
}
