// DisplaySource: what every pixel source implements (the demo desktop today; QXL devices,
// virgl scanouts and a GPU compositor next), and DisplaySink: what the desktop thread offers a
// source to publish through.
//
// A source owns its screens: it decides their layout, renders or receives their pixels, owns
// the pointer and the keyboard state, and may carry a guest agent. Everything here runs on the
// desktop thread (display/desktop.h): the sink's methods and the source's are called there and
// nowhere else, so a source needs no locks. A source that gets work from other threads (a
// guest's doorbell) posts it to the sink's loop().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "display/types.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced {

class Reactor;

// One new picture of one display's surface.
struct FrameSubmission {
    // Immutable once submitted (readers on other threads hold it); its size is the display's
    // surface size.
    std::shared_ptr<const Frame> frame;
    // Where pixels may differ from the previous frame of this display, after `moves`. With
    // `exact` the region is the damage as it is (a QXL source knows what it drew) and is not
    // diffed; without it, only tiles inside it are compared (a scanout, the demo).
    Region changed;
    bool exact = false;
    std::vector<MoveHint> moves;
    // For test hooks (--dump-frame): the source stops animating after this frame, or input
    // changed this frame.
    bool still = false;
    bool input_changed = false;
};

class DisplaySink {
public:
    // `display`'s surface is (re)created with this layout; the next frame submitted for it
    // is complete (it is all damage). An empty surface switches the display off.
    virtual void set_layout(uint32_t display, DisplayLayout layout) = 0;
    virtual void submit_frame(uint32_t display, FrameSubmission submission) = 0;
    // Pointer as the source shows it on `display` (its surface coordinates).
    virtual void set_cursor_shape(uint32_t display, std::shared_ptr<const PointerShape> shape) = 0;
    virtual void move_cursor(uint32_t display, Point position) = 0;
    virtual void hide_cursor(uint32_t display) = 0;
    // Lock-key LEDs (bit0 scroll, bit1 num, bit2 caps).
    virtual void set_keyboard_leds(uint32_t leds) = 0;
    // has_agent() or absolute_pointer() changed: a guest agent appeared or went away, a
    // tablet was plugged in or out. Clients hear of it (agent connected, mouse modes).
    virtual void capabilities_changed() = 0;
    // A VDAgent message (`type`, data without the record header) for client `to` (0: every
    // client with the agent).
    virtual void send_agent_message(ClientId to, uint32_t type, std::vector<uint8_t> data) = 0;
    // The desktop thread's loop: timers and tasks posted from other threads.
    virtual Reactor& loop() = 0;

protected:
    ~DisplaySink() = default;
};

class DisplaySource {
public:
    virtual ~DisplaySource() = default;

    // Fixed for the source's life.
    virtual MonitorModel monitor_model() const = 0;
    // Display channels served (1 in kOneSurface; the most heads in kChannelPerHead).
    virtual uint32_t display_channels() const = 0;
    // Most heads a client may ask for.
    virtual uint32_t max_heads() const = 0;

    // Once, before anything else: publish every display's layout and first frame, and the
    // cursor, through `sink` (which outlives the source).
    virtual void start(DisplaySink& sink) = 0;
    // Someone watches (a client's display channel, a frame tap) or nobody does. Unwatched, a
    // source does no pixel work; watched again, it submits its current picture at once.
    virtual void set_watched(bool watched) = 0;

    // Whether the pointer can be put at absolute positions (a tablet, an agent, the demo):
    // SPICE's client mouse mode needs it. A change is announced through
    // sink.capabilities_changed().
    virtual bool absolute_pointer() const = 0;
    // Input. Scancodes are PC XT set 1 (extended keys 0x100 + code); buttons_mask bit0 left,
    // bit1 middle, bit2 right; button 1 left, 2 middle, 3 right, 4/5 wheel up/down.
    virtual void key_event(uint16_t scancode, bool down) = 0;
    virtual void sync_keyboard_leds(uint32_t leds) = 0;
    // Absolute position in monitor `monitor`'s own coordinates (clients send the head number
    // as their "display id" in both models, and positions relative to that head), from client
    // mouse mode.
    virtual void pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) = 0;
    // Relative motion, from server mouse mode.
    virtual void pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) = 0;
    virtual void button_event(int button, bool down) = 0;

    // A client asks for this monitor layout (already checked against max_heads()).
    virtual void request_monitors(ClientId from, std::span<const MonitorRequest> monitors) = 0;

    // The guest agent: present or not (a change is announced through
    // sink.capabilities_changed()),
    // and the VDAgent messages clients send it (clipboard, file transfer, capabilities; the
    // monitors config arrives as request_monitors()). `data` excludes the record header.
    // `taken` runs (on the desktop thread) once the message is out of the source's hands:
    // handled, delivered to the guest, or dropped. The client's agent tokens come back then,
    // so a guest that reads slowly slows the client down instead of filling our memory.
    virtual bool has_agent() const = 0;
    virtual void agent_message(ClientId from, uint32_t type, std::span<const uint8_t> data,
                               std::function<void()> taken) = 0;
    // Client `id` is gone: forget what the agent kept for it.
    virtual void client_gone(ClientId id) = 0;
};

}  // namespace spiced
