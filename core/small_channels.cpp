// Inputs and cursor channels: small state machines around the desktop's shared state.
#include <algorithm>
#include <utility>

#include "base/log.h"
#include "core/channels.h"
#include "core/session.h"
#include "core/shard.h"
#include "display/desktop.h"

namespace spiced {

// ---- inputs --------------------------------------------------------------------------------

void InputsChannelClient::on_start() {
    send(MsgInputsInit{uint16_t(session().shard().state().keyboard_leds)});
}

void InputsChannelClient::on_update(const DesktopUpdate& update) {
    if (update.leds_changed) send(MsgInputsKeyModifiers{uint16_t(update.state.keyboard_leds)});
}

void InputsChannelClient::count_motion() {
    // The client stops sending motion when too many are unacknowledged; ack every bunch.
    if (++motions_ % SPICE_INPUT_MOTION_ACK_BUNCH == 0)
        send_empty(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK);
}

void InputsChannelClient::posted_input(uint32_t events) {
    in_flight_ += events;
    unmarked_ += events;
    if (unmarked_ < kInputMarkEvery) return;
    Shard& shard = session().shard();
    Reactor* reactor = &shard.reactor();
    Shard* home = &shard;
    const uint32_t id = session().id();
    const uint32_t marked = std::exchange(unmarked_, 0);
    shard.desktop().after_input([reactor, home, id, marked] {
        reactor->post([home, id, marked] { home->inputs_consumed(id, marked); });
    });
}

bool InputsChannelClient::accepts_input() {
    if (in_flight_ < kMaxInputInFlight) return true;
    if (!held_logged_) {
        held_logged_ = true;
        log(LogLevel::kInfo, "input",
            "session %u: %u input events queued on the desktop; reading this "
            "client's input again once it catches up (logged once)",
            session().id(), in_flight_);
    }
    input_held_ = true;
    return false;
}

void InputsChannelClient::input_consumed(uint32_t events) {
    in_flight_ -= std::min(events, in_flight_);
    if (input_held_ && in_flight_ <= kMaxInputInFlight / 2) {
        input_held_ = false;
        connection().redeliver_input();
    }
}

bool InputsChannelClient::may_drive() {
    if (session().shard().sessions().may_drive(session().id())) return true;
    if (!viewer_logged_) {
        viewer_logged_ = true;
        log(LogLevel::kInfo, "input",
            "session %u watches (--multi-client view): its input is ignored", session().id());
    }
    return false;
}

Expected<void, ParseError> InputsChannelClient::on_message(uint16_t type,
                                                           std::span<const uint8_t> body) {
    Shard& shard = session().shard();
    Desktop& desktop = shard.desktop();
    // Every message is parsed (a malformed one closes the channel whoever sends it); only a
    // session that drives has its input reach the desktop.
    switch (type) {
        case SPICE_MSGC_INPUTS_KEY_DOWN:
        case SPICE_MSGC_INPUTS_KEY_UP: {
            auto message = parse<MsgcKeyDown>(body);  // KEY_UP has the same layout
            if (!message) return unexpected(message.error());
            auto key = decode_key_code(message->code, type == SPICE_MSGC_INPUTS_KEY_UP);
            if (!key) return unexpected(key.error());
            if (may_drive()) {
                desktop.key_event(key->scancode, key->down);
                posted_input(1);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_KEY_SCANCODE: {
            auto keys = decode_scancode_bytes(body);
            if (!keys) return unexpected(keys.error());
            if (!may_drive() || keys->empty()) return {};
            std::vector<Desktop::KeyEvent> events;
            events.reserve(keys->size());
            for (const KeyCode& key : *keys) events.push_back({key.scancode, key.down});
            desktop.key_events(std::move(events));
            posted_input(uint32_t(keys->size()));
            return {};
        }
        case SPICE_MSGC_INPUTS_KEY_MODIFIERS: {
            auto message = parse<MsgcKeyModifiers>(body);
            if (!message) return unexpected(message.error());
            if (may_drive()) {
                desktop.sync_keyboard_leds(message->modifiers);
                posted_input(1);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_MOTION: {
            auto message = parse<MsgcMouseMotion>(body);
            if (!message) return unexpected(message.error());
            count_motion();
            if (!shard.state().client_mouse_mode && may_drive()) {
                desktop.pointer_motion(message->dx, message->dy, message->buttons_state);
                posted_input(1);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_POSITION: {
            auto message = parse<MsgcMousePosition>(body);
            if (!message) return unexpected(message.error());
            count_motion();
            // The display id is the monitor the position is on, relative to that monitor.
            if (shard.state().client_mouse_mode && may_drive()) {
                desktop.pointer_position(message->display_id,
                                         {int32_t(std::min<uint32_t>(message->x, INT32_MAX)),
                                          int32_t(std::min<uint32_t>(message->y, INT32_MAX))},
                                         message->buttons_state);
                posted_input(1);
            }
            return {};
        }
        case SPICE_MSGC_INPUTS_MOUSE_PRESS:
        case SPICE_MSGC_INPUTS_MOUSE_RELEASE: {
            auto message = parse<MsgcMousePress>(body);  // same layout for release
            if (!message) return unexpected(message.error());
            if (may_drive()) {
                desktop.button_event(message->button, type == SPICE_MSGC_INPUTS_MOUSE_PRESS);
                posted_input(1);
            }
            return {};
        }
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

// ---- cursor --------------------------------------------------------------------------------

namespace {
// Shapes a client's cursor cache holds for us before we start over with INVAL_ALL; sources
// use a handful.
constexpr size_t kCursorCacheEntries = 64;
}  // namespace

const CursorState& CursorChannelClient::cursor() {
    // The link stage admits only ids the desktop has.
    return session().shard().state().displays.at(channel_id()).cursor;
}

CursorShape CursorChannelClient::shape_message(const PointerShape& shape, uint16_t& flags) {
    CursorShape message{.unique = shape.id,
                        .width = uint16_t(shape.image.width),
                        .height = uint16_t(shape.image.height),
                        .hot_x = uint16_t(shape.image.hotspot.x),
                        .hot_y = uint16_t(shape.image.hotspot.y),
                        .argb = {}};
    if (std::find(cached_.begin(), cached_.end(), shape.id) != cached_.end()) {
        flags = SPICE_CURSOR_FLAGS_FROM_CACHE;
        return message;
    }
    if (cached_.size() >= kCursorCacheEntries) {
        send_empty(SPICE_MSG_CURSOR_INVAL_ALL);
        cached_.clear();
    }
    flags = SPICE_CURSOR_FLAGS_CACHE_ME;
    message.argb = shape.image.argb;
    cached_.push_back(shape.id);
    return message;
}

void CursorChannelClient::on_start() {
    // Our model of the client's cursor cache starts empty; make the client's agree.
    send_empty(SPICE_MSG_CURSOR_INVAL_ALL);
    const CursorState& state = cursor();
    if (!state.shape) {
        send(MsgCursorInit{state.position, false, SPICE_CURSOR_FLAGS_NONE, {}});
        return;
    }
    uint16_t flags = 0;
    CursorShape shape = shape_message(*state.shape, flags);
    send(MsgCursorInit{state.position, state.visible, flags, std::move(shape)});
}

void CursorChannelClient::on_update(const DesktopUpdate& update) {
    if (channel_id() >= update.displays.size()) return;
    const DisplayChange& change = update.displays[channel_id()];
    const CursorState& state = update.state.displays[channel_id()].cursor;
    if (!state.visible) {
        if (change.cursor_hid) send_empty(SPICE_MSG_CURSOR_HIDE);
    } else if (change.cursor_reshaped && state.shape) {
        uint16_t flags = 0;
        CursorShape shape = shape_message(*state.shape, flags);
        send(MsgCursorSet{state.position, true, flags, std::move(shape)});
    } else if (change.cursor_moved) {
        send(MsgCursorMove{int16_t(std::clamp(state.position.x, -32768, 32767)),
                           int16_t(std::clamp(state.position.y, -32768, 32767))});
    }
}

Expected<void, ParseError> CursorChannelClient::on_message(uint16_t, std::span<const uint8_t>) {
    return unexpected(ParseError::kUnknownType);  // the cursor channel has no client messages
}

}  // namespace spiced
