// Everything the command line can set, validated; the Server takes it as given.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/ticket.h"
#include "encode/image_policy.h"
#include "gpu/geometry.h"

namespace spiced {

struct ServerConfig {
    std::string address = "127.0.0.1";
    uint16_t port = 5900;
    TicketPolicy ticket = TicketPolicy::disabled();
    ImagePolicyConfig images;       // --image-compression, --jpeg-wan-compression, ...
    bool client_mouse_mode = true;  // --mouse-mode client|server (client also needs the client)
    std::string name = "spiced-gpu demo";
    std::array<uint8_t, 16> uuid{};
    // Demo desktop.
    Size demo_size{1920, 1080};
    uint64_t demo_seed = 1;
    std::optional<int64_t> demo_freeze;
    std::string dump_frame;
    int fps = 30;
    // Per-client bulk-output budget: display updates wait (and merge) while more than this
    // many bytes are queued for the client's display socket.
    size_t display_budget_bytes = 4 << 20;
    // --web-root: an existing directory served over HTTP on the SPICE port (for spice-html5);
    // empty serves nothing (WebSocket clients still connect).
    std::string web_root;
};

}  // namespace spiced
