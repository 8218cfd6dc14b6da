// Main, inputs and cursor channels: small state machines around the server's shared state.
#include <chrono>

#include "base/log.h"
#include "core/channels.h"
#include "core/session.h"
#include "core/shard.h"
#include "demo/demo_desktop.h"

namespace spiced {

namespace {
uint32_t multimedia_time_ms() {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}
constexpr uint16_t kBothMouseModes = SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT;
}  // namespace

// ---- main ----------------------------------------------------------------------------------

void MainChannelClient::on_start() {
    Shard& shard = session().shard();
    send(MsgMainInit{
        .session_id = session().id(),
        .display_channels_hint = 1,
        .supported_mouse_modes = kBothMouseModes,
        .current_mouse_mode =
            uint32_t(shard.client_mouse_mode() ? SPICE_MOUSE_MODE_CLIENT : SPICE_MOUSE_MODE_SERVER),
        .agent_connected = 0,
        .agent_tokens = 0,
        .multi_media_time = multimedia_time_ms(),
        .ram_hint = 0,
    });
    if (client_caps().has(SPICE_MAIN_CAP_NAME_AND_UUID)) {
        send(MsgMainName{shard.config().name});
        send(MsgMainUuid{shard.config().uuid});
    }
    warmup_ping_ = send_ping();
    test_ping_ = send_ping(kNetTestBytes);
}

void MainChannelClient::on_pong(uint32_t id) {
    const auto now = std::chrono::steady_clock::now();
    if (id == warmup_ping_) {
        warmup_pong_ = now;
    } else if (id == test_ping_ && warmup_pong_.time_since_epoch().count() != 0) {
        const double seconds = std::chrono::duration<double>(now - warmup_pong_).count();
        // A gap below timer resolution means "faster than we can tell".
        const double mbps = seconds > 1e-6 ? double(kNetTestBytes) * 8 / seconds / 1e6 : 1e6;
        session().set_bandwidth(mbps, mbps < kLowBandwidthMbps);
    }
}

void MainChannelClient::send_mouse_mode(bool client_mode) {
    send(MsgMainMouseMode{kBothMouseModes, uint16_t(client_mode ? SPICE_MOUSE_MODE_CLIENT
                                                                : SPICE_MOUSE_MODE_SERVER)});
}

Expected<void, ParseError> MainChannelClient::on_message(uint16_t type,
                                                         std::span<const uint8_t> body) {
    switch (type) {
        case SPICE_MSGC_MAIN_ATTACH_CHANNELS:
            send(MsgMainChannelsList{{{SPICE_CHANNEL_DISPLAY, 0},
                                      {SPICE_CHANNEL_INPUTS, 0},
                                      {SPICE_CHANNEL_CURSOR, 0}}});
            return {};
        case SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST: {
            auto request = parse<MsgcMainMouseModeRequest>(body);
            if (!request) return unexpected(request.error());
            session().shard().input().request_mouse_mode(request->mode == SPICE_MOUSE_MODE_CLIENT);
            return {};
        }
        case SPICE_MSGC_MAIN_CLIENT_INFO: {
            auto info = parse<MsgcMainClientInfo>(body);
            if (!info) return unexpected(info.error());
            return {};
        }
        case SPICE_MSGC_MAIN_AGENT_START:
        case SPICE_MSGC_MAIN_AGENT_TOKEN: {
            auto tokens = parse<MsgcMainAgentStart>(body);
            if (!tokens) return unexpected(tokens.error());
            return {};
        }
        // No guest agent behind the demo desktop: agent data has nowhere to go; and no
        // migration support, so its notifications need no action.
        case SPICE_MSGC_MAIN_AGENT_DATA:
        case SPICE_MSGC_MAIN_MIGRATE_CONNECTED:
        case SPICE_MSGC_MAIN_MIGRATE_CONNECT_ERROR:
        case SPICE_MSGC_MAIN_MIGRATE_END:
        case SPICE_MSGC_MAIN_MIGRATE_CONNECTED_SEAMLESS:
        case SPICE_MSGC_MAIN_MIGRATE_DST_DO_SEAMLESS:
        case SPICE_MSGC_MAIN_QUALITY_INDICATOR:
            return {};
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

// ---- inputs --------------------------------------------------------------------------------

void InputsChannelClient::on_start() {
    send(MsgInputsInit{uint16_t(session().shard().keyboard_leds())});
}

void InputsChannelClient::send_leds(uint32_t leds) {
    send(MsgInputsKeyModifiers{uint16_t(leds)});
}

void InputsChannelClient::count_motion() {
    // The client stops sending motion when too many are unacknowledged; ack every bunch.
    if (++motions_ % SPICE_INPUT_MOTION_ACK_BUNCH == 0)
        send_empty(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK);
}

Expected<void, ParseError> InputsChannelClient::on_message(uint16_t type,
                                                           std::span<const uint8_t> body) {
    Shard& shard = session().shard();
    switch (type) {
        case SPICE_MSGC_INPUTS_KEY_DOWN:
        case SPICE_MSGC_INPUTS_KEY_UP: {
            auto message = parse<MsgcKeyDown>(body);  // KEY_UP has the same layout
            if (!message) return unexpected(message.error());
            auto key = decode_key_code(message->code, type == SPICE_MSGC_INPUTS_KEY_UP);
            if (!key) return unexpected(key.error());
            shard.input().key_event(key->scancode, key->down);
            return {};
        }
        case SPICE_MSGC_INPUTS_KEY_SCANCODE: {
            auto keys = decode_scancode_bytes(body);
            if (!keys) return unexpected(keys.error());
            for (const KeyCode& key : *keys) shard.input().key_event(key.scancode, key.down);
            return {};
        }
        case SPICE_MSGC_INPUTS_KEY_MODIFIERS: {
            auto message = parse<MsgcKeyModifiers>(body);
            if (!message) return unexpected(message.error());
            shard.input().sync_keyboard_leds(message->modifiers);
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_MOTION: {
            auto message = parse<MsgcMouseMotion>(body);
            if (!message) return unexpected(message.error());
            count_motion();
            if (!shard.client_mouse_mode()) {
                shard.input().pointer_moved_by(message->dx, message->dy, message->buttons_state);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_POSITION: {
            auto message = parse<MsgcMousePosition>(body);
            if (!message) return unexpected(message.error());
            count_motion();
            if (message->display_id != 0) return {};  // we serve one display
            if (shard.client_mouse_mode()) {
                shard.input().pointer_moved_to({int32_t(std::min<uint32_t>(message->x, INT32_MAX)),
                                                int32_t(std::min<uint32_t>(message->y, INT32_MAX))},
                                               message->buttons_state);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_PRESS:
        case SPICE_MSGC_INPUTS_MOUSE_RELEASE: {
            auto message = parse<MsgcMousePress>(body);  // same layout for release
            if (!message) return unexpected(message.error());
            shard.input().button_event(message->button, type == SPICE_MSGC_INPUTS_MOUSE_PRESS);
            return {};
        }
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

// ---- cursor --------------------------------------------------------------------------------

CursorShape CursorChannelClient::shape_message(DemoCursor shape, uint16_t& flags) {
    const uint32_t bit = 1u << unsigned(shape);
    // Cache ids are the shape number + 1 (0 is not used as an id).
    CursorShape message{
        .unique = uint64_t(shape) + 1, .width = 0, .height = 0, .hot_x = 0, .hot_y = 0, .argb = {}};
    const CursorImage image = DemoDesktop::cursor_image(shape);
    message.width = uint16_t(image.width);
    message.height = uint16_t(image.height);
    message.hot_x = uint16_t(image.hotspot.x);
    message.hot_y = uint16_t(image.hotspot.y);
    if (cached_ & bit) {
        flags = SPICE_CURSOR_FLAGS_FROM_CACHE;
    } else {
        flags = SPICE_CURSOR_FLAGS_CACHE_ME;
        message.argb = image.argb;
        cached_ |= bit;
    }
    return message;
}

void CursorChannelClient::on_start() {
    // Our model of the client's cursor cache starts empty; make the client's agree.
    send_empty(SPICE_MSG_CURSOR_INVAL_ALL);
    Shard& shard = session().shard();
    uint16_t flags = 0;
    CursorShape shape = shape_message(shard.cursor_shape(), flags);
    send(MsgCursorInit{shard.pointer(), !shard.cursor_hidden(), flags, std::move(shape)});
}

void CursorChannelClient::send_shape(DemoCursor shape, Point position) {
    uint16_t flags = 0;
    CursorShape message = shape_message(shape, flags);
    send(MsgCursorSet{position, true, flags, std::move(message)});
}

void CursorChannelClient::send_hide() {
    send_empty(SPICE_MSG_CURSOR_HIDE);
}

void CursorChannelClient::send_position(Point position) {
    send(MsgCursorMove{int16_t(position.x), int16_t(position.y)});
}

Expected<void, ParseError> CursorChannelClient::on_message(uint16_t, std::span<const uint8_t>) {
    return unexpected(ParseError::kUnknownType);  // the cursor channel has no client messages
}

}  // namespace spiced
