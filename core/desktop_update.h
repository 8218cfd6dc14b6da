// What the desktop source publishes to the shards: the state every channel reads (newest frame,
// pointer, cursor, mouse mode, LEDs) and what changed since the previous update.
//
// Updates are values, and the frame inside is immutable (shared_ptr<const Frame>), so a shard
// reads them with no lock. Consecutive updates can be merged into one (when a shard falls behind
// its ring) without losing anything a client needs: display damage is "latest wins" and the
// rest is state.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "demo/demo_desktop.h"
#include "gpu/damage.h"
#include "gpu/frame.h"
#include "gpu/region.h"

namespace spiced {

struct DesktopState {
    std::shared_ptr<const Frame> frame;
    int64_t frame_index = 0;
    Point pointer{};
    DemoCursor cursor_shape = DemoCursor::kArrow;
    bool cursor_hidden = false;
    bool client_mouse_mode = true;
    uint32_t keyboard_leds = 0;
};

struct DesktopUpdate {
    DesktopState state;

    // Display: a client showing the previous update's frame applies `moves` (as COPY_BITS,
    // in order) and then repaints `damage` from state.frame.
    bool frame_changed = false;
    std::vector<MoveHint> moves;
    Region damage;

    // Cursor channels: when state.cursor_hidden and `cursor_hid`, hide; otherwise show the
    // shape again when `cursor_reshaped` (the shape changed or it was hidden), or just move it
    // when `cursor_moved` (server mouse mode: the server owns the pointer).
    bool cursor_hid = false;
    bool cursor_reshaped = false;
    bool cursor_moved = false;
    // Main channels: a client asked for a mouse mode; all of them hear the (maybe same) mode.
    bool mouse_mode_announced = false;
    // Inputs channels: the lock-key LEDs changed.
    bool leds_changed = false;

    bool changes_anything() const {
        return frame_changed || cursor_hid || cursor_reshaped || cursor_moved ||
               mouse_mode_announced || leds_changed;
    }

    // Folds `newer` (the update published right after this one) into this one. The moves of
    // this update stay; the newer update's moves become damage at their destinations, which
    // a client repaints from the newest frame anyway.
    void merge(DesktopUpdate&& newer) {
        if (newer.frame_changed) {
            for (const MoveHint& move : newer.moves) damage.add_rect(move.dest);
            damage.add_region(newer.damage);
            frame_changed = true;
        }
        cursor_hid |= newer.cursor_hid;
        cursor_reshaped |= newer.cursor_reshaped;
        cursor_moved |= newer.cursor_moved;
        mouse_mode_announced |= newer.mouse_mode_announced;
        leds_changed |= newer.leds_changed;
        state = std::move(newer.state);
    }
};

}  // namespace spiced
