// QxlDisplaySource: the host's QXL devices (qxl/qxl_device.h) as one source of the display
// model. Each device is one display channel; a single device is SPICE's "one surface, N
// monitors" model (its driver's monitors config gives the heads), several are one channel
// each. Input goes back to the host through GuestInput, on the host's own thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "display/source.h"
#include "qxl/qxl_device.h"

namespace spiced::qxl {

// The host's input devices (SpiceKbdInterface, SpiceMouseInterface, SpiceTabletInterface) and
// its agent. Called on the desktop thread; implementations forward to the host's thread.
class GuestInput {
public:
    virtual ~GuestInput() = default;
    virtual bool has_tablet() const = 0;
    // PC XT set 1 (extended keys 0x100 + code).
    virtual void key(uint16_t scancode, bool down) = 0;
    // SPICE button masks (bit0 left, bit1 middle, bit2 right).
    virtual void relative(int32_t dx, int32_t dy, int32_t dz, uint32_t buttons) = 0;
    virtual void absolute(Point position, uint32_t buttons) = 0;
    virtual void buttons(uint32_t buttons) = 0;
    virtual void wheel(int32_t dz, uint32_t buttons) = 0;
    // The tablet's coordinate space is the primary surface.
    virtual void set_tablet_size(Size size) = 0;
    // A client's monitors layout for the guest (its QXL driver, else its agent).
    virtual bool request_monitors(uint32_t display, std::span<const MonitorRequest> monitors) = 0;
    // The guest agent's char device (spicevmc "vdagent"): whether one is open, and a message
    // for it; `taken` runs on the desktop thread once the device took the message's last byte.
    virtual bool has_agent() const = 0;
    virtual void agent_message(uint32_t type, std::span<const uint8_t> data,
                               std::function<void()> taken) = 0;
    // A client left: the agent hears VD_AGENT_CLIENT_DISCONNECTED (it drops the client's
    // clipboard grabs and transfers).
    virtual void agent_client_gone() = 0;
};

// Lets devices wake the desktop thread before and after the source exists: the host creates
// the devices (spice_server_add_interface) before the server and its desktop are built.
class PublishRelay {
public:
    // Any thread: device `index` has something in its mailbox.
    void notify(size_t index);
    // The source attaches and detaches itself (desktop thread).
    void attach(Reactor* loop, std::function<void(size_t)> drain);
    void detach();

private:
    std::mutex mutex_;
    Reactor* loop_ = nullptr;
    std::function<void(size_t)> drain_;
    std::vector<std::unique_ptr<std::atomic<bool>>> posted_;
};

class QxlDisplaySource final : public DisplaySource {
public:
    QxlDisplaySource(std::vector<QxlDevice*> devices, std::shared_ptr<PublishRelay> relay,
                     GuestInput& input);
    ~QxlDisplaySource() override;

    MonitorModel monitor_model() const override;
    uint32_t display_channels() const override;
    uint32_t max_heads() const override;
    void start(DisplaySink& sink) override;
    void set_watched(bool) override {}
    bool absolute_pointer() const override { return input_.has_tablet(); }
    void key_event(uint16_t scancode, bool down) override { input_.key(scancode, down); }
    void sync_keyboard_leds(uint32_t) override {}
    void pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) override;
    void pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) override;
    void button_event(int button, bool down) override;
    void request_monitors(ClientId from, std::span<const MonitorRequest> monitors) override;
    bool has_agent() const override { return input_.has_agent(); }
    void agent_message(ClientId, uint32_t type, std::span<const uint8_t> data,
                       std::function<void()> taken) override {
        input_.agent_message(type, data, std::move(taken));
    }
    void client_gone(ClientId) override { input_.agent_client_gone(); }

    // Desktop thread: the host said the LEDs changed / a tablet came or went.
    void keyboard_leds(uint32_t leds);
    void input_changed();
    // The guest's agent said something: every client with the agent hears it.
    void agent_from_guest(uint32_t type, std::vector<uint8_t> data);

private:
    void drain(size_t index);

    std::vector<QxlDevice*> devices_;
    std::shared_ptr<PublishRelay> relay_;
    GuestInput& input_;
    DisplaySink* sink_ = nullptr;
    std::vector<DisplayLayout> layouts_;
    uint32_t buttons_ = 0;
};

}  // namespace spiced::qxl
