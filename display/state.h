// What the desktop thread publishes to the shards: the state every channel reads (each
// display's layout, newest frame and cursor; mouse mode, LEDs, agent) and what changed since
// the previous update.
//
// Updates are values, and the frames inside are immutable (shared_ptr<const Frame>), so a
// shard reads them with no lock. Consecutive updates can be merged into one (when a shard falls
// behind its ring) without losing anything a client needs: display damage is "latest wins" and
// the rest is state.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "display/types.h"
#include "encode/video_encoder.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced {

struct CursorState {
    std::shared_ptr<const PointerShape> shape;  // null until the source sets one
    Point position{};
    bool visible = false;
};

// A video stream on a display (display/stream_detector.h found it): clients that decode video
// show `rect` from the stream's pictures instead of lossless images. A stream that moves or
// resizes keeps its id and gets a new rect.
struct StreamInfo {
    uint32_t id = 0;
    Rect rect;
    friend bool operator==(const StreamInfo&, const StreamInfo&) = default;
};

// One encoded picture of a stream for one codec: immutable and shared by every client that
// shows the stream in that codec.
struct StreamPicture {
    StreamInfo stream;  // the rect it was encoded for
    VideoCodec codec = VideoCodec::kMjpeg;
    uint32_t mm_time = 0;  // SPICE multimedia time at which clients show it
    std::shared_ptr<const VideoPacket> packet;
    // When the source submitted the frame: damage-to-wire latency is measured from here.
    std::chrono::steady_clock::time_point submitted{};
};

// One display channel's screen.
struct DisplayState {
    DisplayLayout layout;
    // Null while the display has no surface (layout.surface empty).
    std::shared_ptr<const Frame> frame;
    // Counts set_layout() calls: a client that saw another generation recreates its surface.
    uint64_t surface_generation = 0;
    CursorState cursor;
    // The streams running now, oldest first.
    std::vector<StreamInfo> streams;
};

struct DesktopState {
    std::vector<DisplayState> displays;  // index = display channel id
    // Client mouse mode is possible (the source takes absolute positions and the
    // configuration allows it) and whether it is the current mode.
    bool client_mouse_allowed = true;
    bool client_mouse_mode = true;
    uint32_t keyboard_leds = 0;
    bool agent_connected = false;
};

// What changed on one display since the previous update.
struct DisplayChange {
    // The surface was replaced (resize, head switched on or off): clients destroy and create
    // it, get its monitors config and its whole picture; moves and damage are moot.
    bool surface_replaced = false;
    // A client showing the previous update's frame applies `moves` (as COPY_BITS, in order)
    // and then repaints `damage` from the state's frame.
    bool frame_changed = false;
    std::vector<MoveHint> moves;
    Region damage;
    // Cursor channels: when the state's cursor is hidden and `cursor_hid`, hide; otherwise
    // show the shape again when `cursor_reshaped` (new shape, or it was hidden), or just move
    // it when `cursor_moved` (server mouse mode: the server owns the pointer).
    bool cursor_hid = false;
    bool cursor_reshaped = false;
    bool cursor_moved = false;
    // The state's streams changed (one started, ended, moved or resized): clients compare
    // what they show with the state's list.
    bool streams_changed = false;
    // Encoded pictures of the state's streams, oldest first. A client sends those of its codec
    // whose stream it shows with the same rect; past kMaxStreamPictures (a consumer that
    // lags) they are dropped and `pictures_lost` tells clients to wait for a key frame.
    std::vector<StreamPicture> pictures;
    bool pictures_lost = false;
    static constexpr size_t kMaxStreamPictures = 32;

    bool changes_anything() const {
        return surface_replaced || frame_changed || cursor_hid || cursor_reshaped || cursor_moved ||
               streams_changed || !pictures.empty() || pictures_lost;
    }

    // Folds `newer` (the change right after this one) into this one. This change's moves
    // stay; the newer moves become damage at their destinations, which a client repaints from
    // the newest frame anyway.
    void merge(DisplayChange&& newer) {
        if (newer.surface_replaced) {
            surface_replaced = true;
            frame_changed = false;
            moves.clear();
            damage.clear();
        } else if (newer.frame_changed && !surface_replaced && !frame_changed) {
            // Nothing to fold into: the newer frame's change is this change.
            frame_changed = true;
            moves = std::move(newer.moves);
            damage = std::move(newer.damage);
        } else if (newer.frame_changed && !surface_replaced) {
            for (const MoveHint& move : newer.moves) damage.add_rect(move.dest);
            damage.add_region(newer.damage);
            frame_changed = true;
        }
        cursor_hid |= newer.cursor_hid;
        cursor_reshaped |= newer.cursor_reshaped;
        cursor_moved |= newer.cursor_moved;
        streams_changed |= newer.streams_changed;
        pictures_lost |= newer.pictures_lost;
        for (StreamPicture& picture : newer.pictures) pictures.push_back(std::move(picture));
        if (pictures.size() > kMaxStreamPictures) {
            // Later pictures depend on the dropped ones: clients wait for the next key frame.
            pictures.clear();
            pictures_lost = true;
        }
    }
};

// A VDAgent message from the source's agent for client `to` (0: every client with the agent).
// Immutable and shared: one copy however many shards and sessions it goes to.
struct AgentMessage {
    ClientId to = 0;
    uint32_t type = 0;
    std::shared_ptr<const std::vector<uint8_t>> data;
};

struct DesktopUpdate {
    DesktopState state;
    std::vector<DisplayChange> displays;  // one per state.displays entry
    // Main channels: a client asked for a mouse mode (all hear the maybe unchanged mode).
    bool mouse_mode_announced = false;
    // Inputs channels: the lock-key LEDs changed.
    bool leds_changed = false;
    // Main channels: the guest agent connected or disconnected.
    bool agent_changed = false;
    // Main channels: the agent's messages, in order. They travel with the updates so a
    // client hears "agent connected" before what the agent says first.
    std::vector<AgentMessage> agent_messages;

    bool changes_anything() const {
        if (mouse_mode_announced || leds_changed || agent_changed || !agent_messages.empty())
            return true;
        for (const DisplayChange& change : displays) {
            if (change.changes_anything()) return true;
        }
        return false;
    }

    // Folds `newer` (the update published right after this one) into this one.
    void merge(DesktopUpdate&& newer) {
        if (displays.size() < newer.displays.size()) displays.resize(newer.displays.size());
        for (size_t i = 0; i < newer.displays.size(); ++i)
            displays[i].merge(std::move(newer.displays[i]));
        mouse_mode_announced |= newer.mouse_mode_announced;
        leds_changed |= newer.leds_changed;
        agent_changed |= newer.agent_changed;
        for (AgentMessage& message : newer.agent_messages)
            agent_messages.push_back(std::move(message));
        state = std::move(newer.state);
    }

    // Bytes of agent messages carried (for the bound on a lagging consumer's backlog).
    size_t agent_bytes() const {
        size_t bytes = 0;
        for (const AgentMessage& message : agent_messages) bytes += message.data->size();
        return bytes;
    }
};

}  // namespace spiced
