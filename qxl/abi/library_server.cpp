#include "qxl/abi/library_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <spice/enums.h>
#include <spice/vd_agent.h>

#include "base/log.h"
#include "io/tcp.h"

using spiced::LogLevel;

namespace {

// SPICE button masks (left, middle, right) as the host's input devices number them (left,
// right, middle), which is what spice-server hands its mouse and tablet interfaces.
uint32_t local_buttons(uint32_t spice) {
    return (spice & SPICE_MOUSE_BUTTON_MASK_LEFT) |
           ((spice & SPICE_MOUSE_BUTTON_MASK_MIDDLE) << 1) |
           ((spice & SPICE_MOUSE_BUTTON_MASK_RIGHT) >> 1);
}

spiced::Expected<spiced::UniqueFd, std::string> bind_port(const std::string& address,
                                                          uint16_t port) {
    auto listener = spiced::TcpListener::listen(address, port);
    if (!listener) return spiced::unexpected(listener.error());
    spiced::UniqueFd fd(fcntl(listener->fd(), F_DUPFD_CLOEXEC, 0));
    if (!fd.valid()) return spiced::unexpected(std::string("dup: ") + std::strerror(errno));
    return fd;
}

spiced::Expected<spiced::UniqueFd, std::string> bind_unix(const std::string& path) {
    sockaddr_un address{};
    if (path.empty() || path.size() >= sizeof(address.sun_path))
        return spiced::unexpected(std::string("the path is empty or too long"));
    spiced::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return spiced::unexpected(std::string("socket: ") + std::strerror(errno));
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    // A socket file left by an earlier run would make bind fail; spice-server replaces it too.
    unlink(path.c_str());
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd.get(), SOMAXCONN) != 0)
        return spiced::unexpected(std::string(std::strerror(errno)));
    return fd;
}

}  // namespace

RedsState::RedsState() {
    // The library's defaults are spice-server's, not the spiced-gpu command line's.
    config.address = "0.0.0.0";
    config.plain_port_enabled = false;
    config.name = "spiced-gpu";
    // spice-server starts with ticketing on and no password: nobody gets in until the host
    // sets a password or calls spice_server_set_noauth (QEMU's disable-ticketing=on). QEMU
    // with neither relies on that (a password may come later from the monitor), and a remote
    // port (SPICED_REMOTE_PORT) must not be open to anyone meanwhile.
    config.ticket = spiced::TicketPolicy::password("", std::nullopt);
}

RedsState::~RedsState() {
    if (server_) server_->stop();
    server_.reset();  // the source (and its pointers to the devices) goes with it
    // Channels the stop closed: their events were posted to a loop that will not run them, and
    // the host still holds the infos.
    for (auto& [key, info] : channel_infos_) {
        if (core_ && core_->channel_event)
            core_->channel_event(SPICE_CHANNEL_EVENT_DISCONNECTED, info.get());
    }
    channel_infos_.clear();
    for (QXLInstance* qxl : qxls_) qxl->st = nullptr;
    qxl_states_.clear();  // joins the workers
    if (start_timer_ && core_ && core_->timer_remove) core_->timer_remove(start_timer_);
    host_.reset();
}

void RedsState::log_once(const std::string& what) {
    if (std::find(logged_once_.begin(), logged_once_.end(), what) != logged_once_.end()) return;
    logged_once_.push_back(what);
    LOG_WARN("server", "%s", what.c_str());
}

int RedsState::init(SpiceCoreInterface* core) {
    if (core_) {
        LOG_ERROR("server", "spice_server_init called twice");
        return -1;
    }
    if (!core || !core->timer_add || !core->timer_start) {
        LOG_ERROR("server", "spice_server_init: the host's core interface lacks timers");
        return -1;
    }
    core_ = core;
    if (config.address.empty()) config.address = "0.0.0.0";
    if (port_requested) {
        auto fd = bind_port(config.address, config.port);
        if (!fd) {
            LOG_ERROR("server", "port %u: %s", config.port, fd.error().c_str());
            return -1;
        }
        plain_listener_ = std::move(*fd);
    }
    if (!unix_socket.empty()) {
        auto fd = bind_unix(unix_socket);
        if (!fd) {
            LOG_ERROR("server", "unix socket %s: %s", unix_socket.c_str(), fd.error().c_str());
            return -1;
        }
        unix_listener_ = std::move(*fd);
    }
    if (tls_port) {
        auto context = spiced::TlsContext::load_files(tls_ca, tls_cert, tls_key, tls_key_password);
        if (!context) {
            LOG_ERROR("server", "TLS: %s", context.error().c_str());
            return -1;
        }
        tls_context_ = std::move(*context);
        auto fd = bind_port(config.address, *tls_port);
        if (!fd) {
            LOG_ERROR("server", "TLS port %u: %s", *tls_port, fd.error().c_str());
            return -1;
        }
        tls_listener_ = std::move(*fd);
    }
    if (!bind_remote()) return -1;
    auto host = spiced::abi::HostCalls::create(*core);
    if (!host) {
        LOG_ERROR("server", "spice_server_init: %s", host.error().c_str());
        return -1;
    }
    host_ = std::move(*host);
    // The host adds its devices before it runs its loop; the server starts from the loop, with
    // all of them.
    start_timer_ = core->timer_add(
        [](void* opaque) { static_cast<RedsState*>(opaque)->start_server(); }, this);
    if (!start_timer_) {
        LOG_ERROR("server", "spice_server_init: the host refused a timer");
        return -1;
    }
    // 1 ms, not 0: X servers (Xspice's loop) treat a 0 ms timer as "not armed".
    core->timer_start(start_timer_, 1);
    return 0;
}

bool RedsState::bind_remote() {
    auto loaded = spiced::abi::load_remote_listen([](const char* name) { return getenv(name); });
    if (!loaded) {
        // spice_server_init fails: QEMU stops with "failed to initialize spice server" rather
        // than run a VM whose display the operator cannot reach.
        LOG_ERROR("server", "library settings: %s", loaded.error().c_str());
        return false;
    }
    remote_ = std::move(*loaded);
    if (!remote_.gpu.empty()) config.gpu.device = remote_.gpu;
    if (!remote_.vulkan_loader.empty()) config.gpu.vulkan_loader = remote_.vulkan_loader;
    if (!remote_.record_scene.empty()) config.record_scene = remote_.record_scene;
    if (remote_.client_memory_limit_bytes) {
        config.client_memory_limit_bytes = size_t(*remote_.client_memory_limit_bytes);
        // As spiced-gpu's option: display updates wait at the budget well before the cap.
        config.display_budget_bytes =
            std::min(config.display_budget_bytes, config.client_memory_limit_bytes / 2);
    }
    if (remote_.glz_memory_limit_bytes)
        config.glz_memory_limit_bytes = size_t(*remote_.glz_memory_limit_bytes);
    if (remote_.partial_message_timeout_seconds)
        config.partial_message_timeout =
            std::chrono::seconds(*remote_.partial_message_timeout_seconds);
    if (remote_.pong_timeout_seconds)
        config.pong_timeout = std::chrono::seconds(*remote_.pong_timeout_seconds);
    if (remote_.write_timeout_seconds)
        config.write_timeout = std::chrono::seconds(*remote_.write_timeout_seconds);
    if (!remote_.any()) return true;
    const std::string address = remote_.address.empty() ? "0.0.0.0" : remote_.address;
    if (remote_.port) {
        auto fd = bind_port(address, *remote_.port);
        if (!fd) {
            LOG_ERROR("server", "remote port %s:%u (%s): %s", address.c_str(), *remote_.port,
                      remote_.port_origin.c_str(), fd.error().c_str());
            return false;
        }
        remote_listener_ = std::move(*fd);
    }
    if (remote_.tls_port) {
        // QEMU passes no certificates with gl=on (it refuses tls-port there), so the remote
        // TLS port has its own directory; when the host did set TLS, its files serve both
        // ports (one TLS context per server).
        if (!tls_context_) {
            if (remote_.x509_dir.empty()) {
                LOG_ERROR("server",
                          "remote TLS port %u (%s) needs remote-x509-dir / "
                          "SPICED_REMOTE_X509_DIR (the host set no TLS certificates)",
                          *remote_.tls_port, remote_.tls_port_origin.c_str());
                return false;
            }
            const std::string& dir = remote_.x509_dir;
            auto context = spiced::TlsContext::load_files(
                dir + "/ca-cert.pem", dir + "/server-cert.pem", dir + "/server-key.pem", "");
            if (!context) {
                LOG_ERROR("server", "remote TLS port: %s: %s", dir.c_str(),
                          context.error().c_str());
                return false;
            }
            tls_context_ = std::move(*context);
        } else if (!remote_.x509_dir.empty()) {
            log_once(
                "remote-x509-dir is ignored: the host's TLS certificates serve the remote "
                "TLS port too");
        }
        auto fd = bind_port(address, *remote_.tls_port);
        if (!fd) {
            LOG_ERROR("server", "remote TLS port %s:%u (%s): %s", address.c_str(),
                      *remote_.tls_port, remote_.tls_port_origin.c_str(), fd.error().c_str());
            return false;
        }
        remote_tls_listener_ = std::move(*fd);
    }
    return true;
}

void RedsState::start_server() {
    if (server_) return;
    std::vector<spiced::qxl::QxlDevice*> devices;
    for (QXLInstance* qxl : qxls_) devices.push_back(qxl->st->device.get());
    spiced::qxl::GuestInput& input = *this;
    auto source = std::make_unique<spiced::qxl::QxlDisplaySource>(devices, relay_, input);
    source_ = source.get();
    spiced::ServerConfig run = config;
    run.plain_port_enabled = false;  // bound at init, handed over below
    if (core_->channel_event) {
        run.on_channel_event = [this](const spiced::ChannelEvent& event) {
            on_host([this, event] { channel_event(event); });
        };
    }
    if (exit_on_disconnect) {
        // spice-server ends the process when its client leaves; the host's thread does it
        // here, so the host's own exit handlers run as they would there.
        run.on_session_ended = [this](uint32_t, size_t) {
            on_host([this] {
                LOG_INFO("server", "the client disconnected: exiting (exit on disconnect)");
                // Our threads end first, so nothing of ours runs while the process unwinds.
                if (server_) server_->stop();
                for (auto& state : qxl_states_) state->device->set_running(false);
                std::exit(0);
            });
        };
    }
    run.tls_port.reset();
    run.tls_context = tls_context_;
    auto server = spiced::Server::create(std::move(run), std::move(source));
    if (!server) {
        source_ = nullptr;
        LOG_ERROR("server", "cannot start: %s", server.error().c_str());
        return;
    }
    server_ = std::move(*server);
    // GL scanouts are read on the compositor's device where it imports them.
    for (auto& state : qxl_states_) state->device->use_gpu(server_->gpu_backend());
    auto hand_over = [this](spiced::UniqueFd& fd, bool tls) {
        if (!fd.valid()) return;
        if (auto added = server_->add_listener(std::move(fd), tls); !added)
            LOG_ERROR("server", "listener: %s", added.error().c_str());
    };
    hand_over(plain_listener_, false);
    hand_over(unix_listener_, false);
    hand_over(tls_listener_, true);
    // The remote ports are listeners of the same server: the host's ticket (and its later
    // changes through spice_server_set_ticket) applies to them as to its own socket.
    if (remote_listener_.valid() || remote_tls_listener_.valid()) {
        const std::string address = remote_.address.empty() ? "0.0.0.0" : remote_.address;
        std::string ports;
        if (remote_.port) ports += "port " + std::to_string(*remote_.port);
        if (remote_.tls_port)
            ports += (ports.empty() ? "" : ", ") + std::string("TLS port ") +
                     std::to_string(*remote_.tls_port);
        const std::string beside = unix_socket.empty()
                                       ? std::string("besides the host's own listener")
                                       : "besides the host's unix socket " + unix_socket;
        LOG_INFO("server", "remote clients: %s on %s (%s), %s", ports.c_str(), address.c_str(),
                 config.ticket.ticketing_enabled() ? "password as the host set it"
                                                   : "NO password: the host disabled ticketing",
                 beside.c_str());
    }
    hand_over(remote_listener_, false);
    hand_over(remote_tls_listener_, true);
    if (host_listen_fd >= 0) {
        spiced::UniqueFd fd(fcntl(host_listen_fd, F_DUPFD_CLOEXEC, 0));
        hand_over(fd, false);
    }
    if (auto started = server_->start(); !started) {
        LOG_ERROR("server", "cannot start: %s", started.error().c_str());
        server_.reset();
        source_ = nullptr;
        return;
    }
    LOG_INFO("server", "spiced-gpu serving %zu display device%s as libspice-server (%s)",
             devices.size(), devices.size() == 1 ? "" : "s",
             std::string(server_->backend_name()).c_str());
}

int RedsState::add_interface(SpiceBaseInstance* sin) {
    if (!sin || !sin->sif || !sin->sif->type) return -1;
    const std::string_view type = sin->sif->type;
    const uint32_t major = sin->sif->major_version;
    const uint32_t minor = sin->sif->minor_version;
    if (type == SPICE_INTERFACE_QXL) {
        if (major != SPICE_INTERFACE_QXL_MAJOR || minor > SPICE_INTERFACE_QXL_MINOR) {
            LOG_ERROR("server", "QXL interface %u.%u is not supported", major, minor);
            return -1;
        }
        auto* qxl = SPICE_CONTAINEROF(sin, QXLInstance, base);
        if (server_) {
            log_once(
                "a display device added after the server started is not served (restart "
                "the VM to show it)");
            return -1;
        }
        auto state = std::make_unique<QXLState>();
        state->server = this;
        const size_t index = qxls_.size();
        state->device = std::make_unique<spiced::qxl::QxlDevice>(
            qxl, [relay = relay_, index] { relay->notify(index); });
        state->device->set_running(vm_running_);
        qxl->st = state.get();
        spiced::qxl::QxlDevice& device = *state->device;
        qxl_states_.push_back(std::move(state));
        qxls_.push_back(qxl);
        device.attach();
        return 0;
    }
    if (type == SPICE_INTERFACE_KEYBOARD) {
        if (keyboard_) {
            LOG_WARN("server", "a second keyboard interface is ignored");
            return -1;
        }
        keyboard_ = SPICE_CONTAINEROF(sin, SpiceKbdInstance, base);
        keyboard_->st = &keyboard_state_;
        return 0;
    }
    if (type == SPICE_INTERFACE_MOUSE) {
        if (mouse_) {
            LOG_WARN("server", "a second mouse interface is ignored");
            return -1;
        }
        mouse_ = SPICE_CONTAINEROF(sin, SpiceMouseInstance, base);
        mouse_->st = &mouse_state_;
        return 0;
    }
    if (type == SPICE_INTERFACE_TABLET) {
        if (tablet_) {
            LOG_WARN("server", "a second tablet interface is ignored");
            return -1;
        }
        tablet_ = SPICE_CONTAINEROF(sin, SpiceTabletInstance, base);
        tablet_->st = &tablet_state_;
        has_tablet_ = true;
        if (!tablet_size_.is_empty()) {
            auto* sif = reinterpret_cast<const SpiceTabletInterface*>(sin->sif);
            sif->set_logical_size(tablet_, tablet_size_.width, tablet_size_.height);
        }
        on_desktop([](spiced::qxl::QxlDisplaySource& source) { source.input_changed(); });
        return 0;
    }
    if (type == SPICE_INTERFACE_CHAR_DEVICE) {
        auto* device = SPICE_CONTAINEROF(sin, SpiceCharDeviceInstance, base);
        const std::string_view subtype = device->subtype ? device->subtype : "";
        if (subtype == "vdagent" && agent_device_) {
            LOG_WARN("server", "a second vdagent port is refused");
            return -1;
        }
        char_devices_.push_back(device);
        auto state = std::make_unique<SpiceCharDeviceState>();
        state->server = this;
        device->st = state.get();
        char_states_.push_back(std::move(state));
        if (subtype == "vdagent") {
            attach_agent(device);
        } else {
            log_once("char device '" + std::string(subtype) + "' is accepted but not served yet");
        }
        return 0;
    }
    if (type == SPICE_INTERFACE_PLAYBACK) {
        auto* playback = SPICE_CONTAINEROF(sin, SpicePlaybackInstance, base);
        auto state = std::make_unique<SpicePlaybackState>();
        state->server = this;
        playback->st = state.get();
        playback_states_.push_back(std::move(state));
        log_once("audio playback is accepted and dropped (no playback channel yet)");
        return 0;
    }
    if (type == SPICE_INTERFACE_RECORD) {
        auto* record = SPICE_CONTAINEROF(sin, SpiceRecordInstance, base);
        auto state = std::make_unique<SpiceRecordState>();
        state->server = this;
        record->st = state.get();
        record_states_.push_back(std::move(state));
        return 0;
    }
    if (type == SPICE_INTERFACE_MIGRATION) {
        // QEMU always registers it; the migrate calls say they fail when they are made.
        return 0;
    }
    LOG_WARN("server", "unknown interface '%.*s' refused", int(type.size()), type.data());
    return -1;
}

int RedsState::remove_interface(SpiceBaseInstance* sin) {
    if (!sin || !sin->sif || !sin->sif->type) return -1;
    const std::string_view type = sin->sif->type;
    if (type == SPICE_INTERFACE_TABLET) {
        if (tablet_ == SPICE_CONTAINEROF(sin, SpiceTabletInstance, base)) {
            tablet_ = nullptr;
            has_tablet_ = false;
            on_desktop([](spiced::qxl::QxlDisplaySource& source) { source.input_changed(); });
        }
        return 0;
    }
    if (type == SPICE_INTERFACE_KEYBOARD) {
        if (keyboard_ == SPICE_CONTAINEROF(sin, SpiceKbdInstance, base)) keyboard_ = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_MOUSE) {
        if (mouse_ == SPICE_CONTAINEROF(sin, SpiceMouseInstance, base)) mouse_ = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_CHAR_DEVICE) {
        auto* device = SPICE_CONTAINEROF(sin, SpiceCharDeviceInstance, base);
        if (device == agent_device_) detach_agent();
        std::erase(char_devices_, device);
        std::erase_if(char_states_, [&](const auto& st) { return st.get() == device->st; });
        device->st = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_PLAYBACK) {
        auto* playback = SPICE_CONTAINEROF(sin, SpicePlaybackInstance, base);
        std::erase_if(playback_states_, [&](const auto& st) { return st.get() == playback->st; });
        playback->st = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_RECORD) {
        auto* record = SPICE_CONTAINEROF(sin, SpiceRecordInstance, base);
        std::erase_if(record_states_, [&](const auto& st) { return st.get() == record->st; });
        record->st = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_QXL) {
        log_once("removing a display device is not supported while the server runs");
        return -1;
    }
    return 0;
}

int RedsState::set_ticket(const char* password, int lifetime, bool fail_if_connected,
                          bool disconnect_if_connected) {
    if (fail_if_connected && server_ && server_->session_count() > 0) return -1;
    std::optional<spiced::TicketPolicy::Clock::time_point> expiry;
    if (lifetime > 0) expiry = spiced::TicketPolicy::Clock::now() + std::chrono::seconds(lifetime);
    // spice-server: a lifetime of 0 means no expiry, and this call always turns ticketing on;
    // a NULL or empty password then lets nobody in (QEMU's expire_password before any
    // set_password passes NULL). Only spice_server_set_noauth turns ticketing off.
    const spiced::TicketPolicy policy =
        spiced::TicketPolicy::password(password ? password : "", expiry);
    config.ticket = policy;
    if (server_) server_->set_ticket(policy, disconnect_if_connected);
    return 0;
}

int RedsState::add_client(int socket, bool tls) {
    if (!server_) {
        LOG_WARN("server", "spice_server_add_client before the server runs: refused");
        return -1;
    }
    if (tls && !tls_context_) {
        LOG_WARN("server", "spice_server_add_ssl_client without spice_server_set_tls: refused");
        return -1;
    }
    auto added = server_->add_client(spiced::UniqueFd(socket), tls);
    if (!added) {
        LOG_WARN("server", "spice_server_add_client: %s", added.error().c_str());
        return -1;
    }
    return 0;
}

void RedsState::set_vm_running(bool running) {
    vm_running_ = running;
    for (QXLInstance* qxl : qxls_) qxl->st->device->set_running(running);
}

bool RedsState::is_server_mouse() const {
    return !(config.client_mouse_mode && has_tablet_.load());
}

void RedsState::keyboard_leds(int leds) {
    on_desktop(
        [leds](spiced::qxl::QxlDisplaySource& source) { source.keyboard_leds(uint32_t(leds)); });
}

// -- Channel events (host thread) ------------------------------------------------------------

void RedsState::channel_event(const spiced::ChannelEvent& event) {
    if (event.kind == spiced::ChannelEvent::Kind::kLinked) {
        // The host may keep the pointer from INITIALIZED to DISCONNECTED (QEMU lists the
        // channels for `info spice` that way): one info per channel, freed after it closed.
        auto info = std::make_unique<SpiceChannelEventInfo>();
        info->connection_id = int(event.session);
        info->type = event.type;
        info->id = event.id;
        info->flags =
            SPICE_CHANNEL_EVENT_FLAG_ADDR_EXT | (event.tls ? SPICE_CHANNEL_EVENT_FLAG_TLS : 0);
        std::memcpy(&info->laddr_ext, &event.local, sizeof(info->laddr_ext));
        std::memcpy(&info->paddr_ext, &event.peer, sizeof(info->paddr_ext));
        info->llen_ext = event.local_len;
        info->plen_ext = event.peer_len;
        SpiceChannelEventInfo* raw = info.get();
        channel_infos_[event.key] = std::move(info);
        core_->channel_event(SPICE_CHANNEL_EVENT_CONNECTED, raw);
        core_->channel_event(SPICE_CHANNEL_EVENT_INITIALIZED, raw);
        return;
    }
    auto found = channel_infos_.find(event.key);
    if (found == channel_infos_.end()) return;
    core_->channel_event(SPICE_CHANNEL_EVENT_DISCONNECTED, found->second.get());
    channel_infos_.erase(found);
}

// -- The guest agent's port (host thread) ----------------------------------------------------

void RedsState::attach_agent(SpiceCharDeviceInstance* device) {
    agent_device_ = device;
    auto* sif = reinterpret_cast<const SpiceCharDeviceInterface*>(device->base.sif);
    spiced::qxl::GuestAgentLink::Io io;
    io.write = [device, sif](std::span<const uint8_t> bytes) {
        return sif->write(device, bytes.data(), int(std::min<size_t>(bytes.size(), INT32_MAX)));
    };
    io.read = [device, sif](std::span<uint8_t> bytes) {
        return sif->read(device, bytes.data(), int(std::min<size_t>(bytes.size(), INT32_MAX)));
    };
    agent_link_ = std::make_unique<spiced::qxl::GuestAgentLink>(
        std::move(io), [this](uint32_t type, std::vector<uint8_t> data) {
            on_desktop(
                [type, data = std::move(data)](spiced::qxl::QxlDisplaySource& source) mutable {
                    source.agent_from_guest(type, std::move(data));
                });
        });
    // The host end is open: QEMU tells the guest's port now.
    if (sif->state) sif->state(device, 1);
    has_agent_ = true;
    LOG_INFO("agent", "guest agent port open");
    on_desktop([](spiced::qxl::QxlDisplaySource& source) { source.input_changed(); });
    pump_agent();
}

void RedsState::detach_agent() {
    agent_link_.reset();  // gives every waiting client its tokens back
    agent_device_ = nullptr;
    has_agent_ = false;
    LOG_INFO("agent", "guest agent port closed");
    on_desktop([](spiced::qxl::QxlDisplaySource& source) { source.input_changed(); });
}

void RedsState::pump_agent() {
    agent_pump_posted_ = false;
    if (!agent_link_) return;
    if (agent_link_->pump() && !agent_pump_posted_) {
        // More was waiting than one turn reads: the rest after the host's other work.
        agent_pump_posted_ = true;
        on_host([this] { pump_agent(); });
    }
}

void RedsState::char_device_wakeup(SpiceCharDeviceInstance* device) {
    if (device == agent_device_) pump_agent();
}

void RedsState::agent_message(uint32_t type, std::span<const uint8_t> data,
                              std::function<void()> taken) {
    // Back on the desktop thread when the device took it (or the agent went away).
    auto taken_on_desktop = [this, taken = std::move(taken)]() mutable {
        if (server_) {
            server_->desktop().with_source(
                [taken = std::move(taken)](spiced::DisplaySource&) { taken(); });
        }
    };
    on_host([this, type, bytes = std::vector<uint8_t>(data.begin(), data.end()),
             taken = std::move(taken_on_desktop)]() mutable {
        if (!agent_link_ || agent_link_->broken()) {
            taken();
            return;
        }
        agent_link_->send(VDP_CLIENT_PORT, type, bytes, std::move(taken));
    });
}

void RedsState::agent_client_gone() {
    on_host([this] {
        if (agent_link_ && !agent_link_->broken())
            agent_link_->send(VDP_SERVER_PORT, VD_AGENT_CLIENT_DISCONNECTED, {}, nullptr);
    });
}

void RedsState::on_host(std::function<void()> task) {
    if (host_) host_->post(std::move(task));
}

void RedsState::on_desktop(std::function<void(spiced::qxl::QxlDisplaySource&)> task) {
    if (!server_ || !source_) return;
    spiced::qxl::QxlDisplaySource* source = source_;
    server_->desktop().with_source(
        [source, task = std::move(task)](spiced::DisplaySource&) { task(*source); });
}

// -- GuestInput: desktop thread, forwarded to the host's thread ------------------------------

void RedsState::key(uint16_t scancode, bool down) {
    on_host([this, scancode, down] {
        if (!keyboard_) return;
        auto* sif = reinterpret_cast<const SpiceKbdInterface*>(keyboard_->base.sif);
        const uint8_t release = down ? 0 : 0x80;
        if (scancode >= 0x100) sif->push_scan_freg(keyboard_, 0xe0);
        sif->push_scan_freg(keyboard_, uint8_t((scancode & 0x7f) | release));
    });
}

void RedsState::relative(int32_t dx, int32_t dy, int32_t dz, uint32_t buttons) {
    on_host([this, dx, dy, dz, buttons] {
        if (!mouse_) return;
        auto* sif = reinterpret_cast<const SpiceMouseInterface*>(mouse_->base.sif);
        sif->motion(mouse_, dx, dy, dz, local_buttons(buttons));
    });
}

void RedsState::absolute(spiced::Point position, uint32_t buttons) {
    on_host([this, position, buttons] {
        if (!tablet_) return;
        auto* sif = reinterpret_cast<const SpiceTabletInterface*>(tablet_->base.sif);
        sif->position(tablet_, position.x, position.y, local_buttons(buttons));
    });
}

void RedsState::buttons(uint32_t buttons) {
    on_host([this, buttons] {
        if (tablet_ && !is_server_mouse()) {
            auto* sif = reinterpret_cast<const SpiceTabletInterface*>(tablet_->base.sif);
            sif->buttons(tablet_, local_buttons(buttons));
        } else if (mouse_) {
            auto* sif = reinterpret_cast<const SpiceMouseInterface*>(mouse_->base.sif);
            sif->buttons(mouse_, local_buttons(buttons));
        }
    });
}

void RedsState::wheel(int32_t dz, uint32_t buttons) {
    on_host([this, dz, buttons] {
        if (tablet_ && !is_server_mouse()) {
            auto* sif = reinterpret_cast<const SpiceTabletInterface*>(tablet_->base.sif);
            sif->wheel(tablet_, dz, local_buttons(buttons));
        } else if (mouse_) {
            auto* sif = reinterpret_cast<const SpiceMouseInterface*>(mouse_->base.sif);
            sif->motion(mouse_, 0, 0, dz, local_buttons(buttons));
        }
    });
}

void RedsState::set_tablet_size(spiced::Size size) {
    on_host([this, size] {
        tablet_size_ = size;
        if (!tablet_) return;
        auto* sif = reinterpret_cast<const SpiceTabletInterface*>(tablet_->base.sif);
        sif->set_logical_size(tablet_, size.width, size.height);
    });
}

bool RedsState::request_monitors(uint32_t display,
                                 std::span<const spiced::MonitorRequest> monitors) {
    if (display >= qxls_.size()) return false;
    QXLInstance* qxl = qxls_[display];
    auto* sif = reinterpret_cast<const QXLInterface*>(qxl->base.sif);
    // Interfaces before 3.3 have no client_monitors_config: the agent alone gets the layout.
    const bool device_may_take = sif->base.minor_version >= 3 && sif->client_monitors_config;
    // VDAgentMonitorsConfig with its flexible array of monitors, built in an aligned buffer;
    // monitor i is head i, and heads no request names are off.
    uint32_t count = 0;
    for (const spiced::MonitorRequest& request : monitors)
        count = std::max(count, std::min<uint32_t>(request.index, spiced::kMaxHeads - 1) + 1);
    std::vector<uint64_t> storage(
        (sizeof(VDAgentMonitorsConfig) + count * sizeof(VDAgentMonConfig) + 7) / 8);
    auto* wire = reinterpret_cast<VDAgentMonitorsConfig*>(storage.data());
    wire->num_of_monitors = count;
    wire->flags = 0;
    for (const spiced::MonitorRequest& request : monitors) {
        if (request.index >= count) continue;
        VDAgentMonConfig& monitor = wire->monitors[request.index];
        monitor.width = request.enabled ? uint32_t(request.rect.width()) : 0;
        monitor.height = request.enabled ? uint32_t(request.rect.height()) : 0;
        monitor.depth = 32;
        monitor.x = request.rect.left();
        monitor.y = request.rect.top();
    }
    const size_t bytes = sizeof(VDAgentMonitorsConfig) + count * sizeof(VDAgentMonConfig);
    on_host([this, qxl, sif, bytes, device_may_take, storage = std::move(storage)]() mutable {
        auto* layout = reinterpret_cast<VDAgentMonitorsConfig*>(storage.data());
        // As spice-server: the QXL driver takes the layout when it can, else the agent.
        if (device_may_take && sif->client_monitors_config(qxl, layout)) return;
        if (agent_link_ && !agent_link_->broken()) {
            agent_link_->send(
                VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG,
                std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(storage.data()), bytes),
                nullptr);
        }
    });
    return true;
}
