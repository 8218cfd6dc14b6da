// Everything the command line can set, validated; the Server takes it as given.
#pragma once

#include <sys/socket.h>
#include <array>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/media_clock.h"
#include "core/session_directory.h"
#include "core/ticket.h"
#include "display/video_config.h"
#include "encode/glz_budget.h"
#include "encode/image_policy.h"
#include "gpu/compositor.h"
#include "io/reactor.h"
#include "io/tls.h"

namespace spiced {

// Which port a channel may link through (QEMU's tls-channel / plaintext-channel).
enum class ChannelSecurity : uint8_t { kAny, kSecureOnly, kPlainOnly };

struct ChannelEvent {
    enum class Kind : uint8_t { kLinked, kClosed };
    Kind kind = Kind::kLinked;
    uint64_t key = 0;
    uint32_t session = 0;
    uint8_t type = 0;
    uint8_t id = 0;
    bool tls = false;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_len = 0;
    socklen_t peer_len = 0;
};

struct ServerConfig {
    std::string address = "127.0.0.1";
    uint16_t port = 5900;
    // False when only --tls-port was given: no plaintext listener at all.
    bool plain_port_enabled = true;
    std::optional<uint16_t> tls_port;  // --tls-port
    std::string x509_dir;              // --x509-dir: ca-cert.pem, server-cert.pem, server-key.pem
    // A TLS context the host already loaded (the drop-in library's spice_server_set_tls): used
    // instead of x509_dir, also for TLS listeners the host hands over.
    std::shared_ptr<const TlsContext> tls_context;
    // --tls-channel / --plaintext-channel by SPICE channel type (every type, main .. webdav);
    // channels not listed follow `default_security` ("default" in those options).
    std::array<std::optional<ChannelSecurity>, 16> channel_security{};
    ChannelSecurity default_security = ChannelSecurity::kAny;
    TicketPolicy ticket = TicketPolicy::disabled();
    ImagePolicyConfig images;    // --image-compression, --jpeg-wan-compression, ...
    VideoConfig video;           // --streaming-video, --video-codecs, --stream-*
    gpu::GpuChoice gpu;          // --gpu: where the compositor runs
    int32_t gpu_tile_size = 16;  // --gpu-tile-size: damage granularity
    // --record-scene FILE: every display's composition steps are recorded there
    // (gpu/scene_recording.h); "" = off.
    std::string record_scene;
    // SPICE multimedia time for MAIN_INIT and every stamped medium (video pictures).
    std::shared_ptr<const MediaClock> media_clock = steady_media_clock();
    // --mouse-mode: client offers SPICE's client mouse mode (when the source takes absolute
    // positions) and starts in it; server offers server mode only.
    bool client_mouse_mode = true;
    // --multi-client: what a second client gets.
    MultiClient multi_client = MultiClient::kOff;
    std::string name = "spiced-gpu demo";
    std::array<uint8_t, 16> uuid{};
    // Per-client bulk-output budget: display updates wait (and merge) while more than this
    // many bytes are queued for the client's display socket.
    size_t display_budget_bytes = 4 << 20;
    // --web-root: an existing directory served over HTTP on the SPICE port (for spice-html5);
    // empty serves nothing (WebSocket clients still connect).
    std::string web_root;
    // --websocket-origin: browser origins (scheme://host[:port]) allowed to open a WebSocket;
    // "*" allows any. Empty: same-origin pages only (Origin matches Host), and clients that
    // send no Origin (not a browser).
    std::vector<std::string> websocket_origins;
    // --io-backend, --zero-copy-min.
    ReactorOptions io;
    // --client-memory-limit: hard cap on bytes queued for one connection (display updates
    // merge long before this; control messages are never dropped, so a client that stops
    // reading altogether is disconnected when it reaches the cap).
    size_t client_memory_limit_bytes = size_t{16} << 20;
    // --partial-message-timeout: a linked channel holding part of a client message gets no
    // more bytes for this long: closed. Zero: never.
    std::chrono::seconds partial_message_timeout{30};
    // --pong-timeout: the main channel's oldest unanswered ping is this old: the session is
    // closed (pings go every 10 s; clients answer at once). Zero: never.
    std::chrono::seconds pong_timeout{60};
    // --channel-binding host: a session's other channels must come from the host its main
    // channel came from (none: any host with the session id and the password, as spice-server).
    bool bind_channels_to_host = true;
    // --write-timeout: a linked channel with output queued whose socket takes no byte for
    // this long (the client stopped reading) is closed. Zero: never.
    std::chrono::seconds write_timeout{60};
    // --glz-memory-limit: memory all GLZ encoders (one per display client) may hold together;
    // a client's window is shrunk, or refused (LZ instead), when it does not fit. Zero: no GLZ.
    size_t glz_memory_limit_bytes = GlzMemoryBudget::kDefaultLimitBytes;
    // For hosts (the drop-in library's SpiceCoreInterface::channel_event): a channel linked or
    // closed, on its shard's thread. `key` names the channel from link to close.
    std::function<void(const ChannelEvent&)> on_channel_event;
    // For hosts: runs on a shard's thread after a client's session ended, with the number of
    // sessions still active (the drop-in library's spice_server_set_exit_on_disconnect).
    std::function<void(uint32_t session, size_t active)> on_session_ended;
    // --shards: io threads (each with its own ring and listeners); 0 picks one per CPU.
    size_t shards = 0;
    // --cpus / --numa-node: where the server's threads run and allocate.
    std::vector<int> cpus;
    std::optional<int> numa_node;
};

}  // namespace spiced
