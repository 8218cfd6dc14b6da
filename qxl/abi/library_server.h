// The state behind libspice-server.so.1's API: RedsState is what spice.h calls SpiceServer,
// and the *State structs are what it leaves opaque in each interface instance (`sin->st`).
// The C entry points (qxl/abi/spice_api.cpp) only translate into calls on these.
//
// How the host's world maps onto ours:
// - The options set before spice_server_init become a ServerConfig, as the spiced-gpu command
//   line would (port, address, ticket, TLS, compression, name, uuid, channel security).
// - spice_server_init binds the ports (so the host hears of a port in use at once) and arms a
//   0 ms host timer; when it fires, the host's devices are all added (QEMU and Xspice add them
//   before they enter their loops), and the server is built around them and started.
// - Each QXL instance gets a QxlDevice (its own worker thread); all of them together are one
//   QxlDisplaySource. Keyboard, mouse and tablet calls go back through HostCalls, on the
//   host's own thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// clang-format off
#define SPICE_H_INSIDE 1
#include <spice-server/spice-server.h>
#include <spice-server/spice-qxl.h>
#include <spice-server/spice-input.h>
#include <spice-server/spice-char.h>
#include <spice-server/spice-audio.h>
#include <spice-server/spice-migration.h>
#undef SPICE_H_INSIDE
// clang-format on

#include "core/server.h"
#include "core/server_config.h"
#include "io/unique_fd.h"
#include "qxl/abi/host_calls.h"
#include "qxl/abi/remote_listen.h"
#include "qxl/guest_agent_link.h"
#include "qxl/qxl_display_source.h"

struct QXLState {
    RedsState* server = nullptr;
    std::unique_ptr<spiced::qxl::QxlDevice> device;
};
struct SpiceKbdState {
    RedsState* server = nullptr;
};
struct SpiceMouseState {
    RedsState* server = nullptr;
};
struct SpiceTabletState {
    RedsState* server = nullptr;
};
struct SpiceCharDeviceState {
    RedsState* server = nullptr;
};
// Audio is accepted and dropped until the audio issue: a buffer to write into is all QEMU
// needs to keep its audio running.
struct SpicePlaybackState {
    RedsState* server = nullptr;
    std::vector<uint32_t> frame = std::vector<uint32_t>(480);
    uint32_t rate = 48000;
};
struct SpiceRecordState {
    RedsState* server = nullptr;
    uint32_t rate = 48000;
};
struct SpiceMigrateState {
    RedsState* server = nullptr;
};

struct RedsState final : private spiced::qxl::GuestInput {
public:
    RedsState();
    ~RedsState() override;
    RedsState(const RedsState&) = delete;
    RedsState& operator=(const RedsState&) = delete;

    // -- Before init: options ----------------------------------------------------------------
    spiced::ServerConfig config;
    bool port_requested = false;       // spice_server_set_port with a port > 0
    int host_listen_fd = -1;           // spice_server_set_listen_socket_fd
    std::string unix_socket;           // spice_server_set_addr(..., UNIX_ONLY)
    std::optional<uint16_t> tls_port;  // spice_server_set_tls
    std::string tls_ca, tls_cert, tls_key, tls_key_password;
    // Ours puts H.264 first (spice-server's default is spice:mjpeg;gstreamer:h264): fewer
    // bytes for the same picture (docs/benchmarks.md, "Video streams").
    std::string video_codecs = "gstreamer:h264;spice:mjpeg";
    int streaming_video = SPICE_STREAM_VIDEO_FILTER;
    bool playback_compression = true;
    bool agent_mouse = true, agent_copypaste = true, agent_file_xfer = true;
    bool exit_on_disconnect = false;
    bool seamless_migration = false;
    SpiceImageCompression image_compression = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;

    // spice_server_init: binds, and starts the server from the host's loop.
    int init(SpiceCoreInterface* core);
    int add_interface(SpiceBaseInstance* sin);
    int remove_interface(SpiceBaseInstance* sin);
    int set_ticket(const char* password, int lifetime, bool fail_if_connected,
                   bool disconnect_if_connected);
    int add_client(int socket, bool tls);
    void set_vm_running(bool running);
    bool vm_running() const { return vm_running_; }
    bool is_server_mouse() const;
    int client_count() const { return server_ ? int(server_->session_count()) : 0; }
    void keyboard_leds(int leds);
    // spice_server_char_device_wakeup (host thread).
    void char_device_wakeup(SpiceCharDeviceInstance* device);
    // Logs `what` once per server ("not supported" paths).
    void log_once(const std::string& what);

private:
    void start_server();
    // The operator's own remote port(s) (qxl/abi/remote_listen.h), bound at init; false after
    // one error line.
    bool bind_remote();
    void attach_agent(SpiceCharDeviceInstance* device);
    void channel_event(const spiced::ChannelEvent& event);
    void detach_agent();
    // GuestInput (desktop thread).
    bool has_tablet() const override { return has_tablet_.load(); }
    void key(uint16_t scancode, bool down) override;
    void relative(int32_t dx, int32_t dy, int32_t dz, uint32_t buttons) override;
    void absolute(spiced::Point position, uint32_t buttons) override;
    void buttons(uint32_t buttons) override;
    void wheel(int32_t dz, uint32_t buttons) override;
    void set_tablet_size(spiced::Size size) override;
    bool request_monitors(uint32_t display,
                          std::span<const spiced::MonitorRequest> monitors) override;
    bool has_agent() const override { return has_agent_.load(); }
    void agent_message(uint32_t type, std::span<const uint8_t> data,
                       std::function<void()> taken) override;
    void agent_client_gone() override;
    // Host thread: the agent's device has data or room.
    void pump_agent();
    // Desktop thread -> host thread, unless there is no host loop (yet).
    void on_host(std::function<void()> task);
    void on_desktop(std::function<void(spiced::qxl::QxlDisplaySource&)> task);

    const SpiceCoreInterface* core_ = nullptr;
    std::unique_ptr<spiced::abi::HostCalls> host_;
    SpiceTimer* start_timer_ = nullptr;
    spiced::UniqueFd plain_listener_;
    spiced::UniqueFd tls_listener_;
    spiced::UniqueFd unix_listener_;
    spiced::abi::RemoteListen remote_;
    spiced::UniqueFd remote_listener_;
    spiced::UniqueFd remote_tls_listener_;
    std::shared_ptr<const spiced::TlsContext> tls_context_;

    std::vector<QXLInstance*> qxls_;
    // What the instances' `st` point to; ours, kept here so nothing is freed by hand.
    std::vector<std::unique_ptr<QXLState>> qxl_states_;
    SpiceKbdState keyboard_state_{this};
    SpiceMouseState mouse_state_{this};
    SpiceTabletState tablet_state_{this};
    std::vector<std::unique_ptr<SpiceCharDeviceState>> char_states_;
    std::vector<std::unique_ptr<SpicePlaybackState>> playback_states_;
    std::vector<std::unique_ptr<SpiceRecordState>> record_states_;
    std::shared_ptr<spiced::qxl::PublishRelay> relay_ =
        std::make_shared<spiced::qxl::PublishRelay>();
    SpiceKbdInstance* keyboard_ = nullptr;
    SpiceMouseInstance* mouse_ = nullptr;
    SpiceTabletInstance* tablet_ = nullptr;
    std::atomic<bool> has_tablet_{false};
    spiced::Size tablet_size_;
    std::vector<SpiceCharDeviceInstance*> char_devices_;
    // The vdagent port and the stream over it (host thread only).
    SpiceCharDeviceInstance* agent_device_ = nullptr;
    std::unique_ptr<spiced::qxl::GuestAgentLink> agent_link_;
    std::atomic<bool> has_agent_{false};
    bool agent_pump_posted_ = false;
    bool vm_running_ = true;  // as spice-server: running until the host says otherwise

    std::unique_ptr<spiced::Server> server_;
    spiced::qxl::QxlDisplaySource* source_ = nullptr;  // owned by server_'s desktop
    std::vector<std::string> logged_once_;
    // What the host's channel_event got, by our channel key (host thread).
    std::map<uint64_t, std::unique_ptr<SpiceChannelEventInfo>> channel_infos_;
};
