// The channel table: one row per SPICE channel type (main .. webdav), with everything the link
// stage and the shards need to know about a kind (its name is channel_type_name()): whether
// we serve it, the capabilities we announce, how many channel ids exist, and how
// a linked channel of that kind is made. Desktop updates reach channels through
// ChannelClient::on_update, so nothing else switches on the channel type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "core/link.h"

namespace spiced {

class ChannelClient;
class Connection;
class Session;

struct ChannelKind {
    uint8_t type;  // SPICE_CHANNEL_*
    // How a linked channel is made; null for a kind we do not serve (yet): links to it get
    // CHANNEL_NOT_AVAILABLE.
    std::unique_ptr<ChannelClient> (*make)(Session& session, std::unique_ptr<Connection> connection,
                                           const LinkRequest& link, bool mini_header);
    // The channel capabilities we announce for it.
    Capabilities (*caps)();
    // One channel per display channel of the desktop (display, cursor), or just id 0.
    bool per_display;
};

// Every SPICE channel type, in type order.
std::span<const ChannelKind> channel_kinds();
// The row for `type`, or null for a type SPICE does not define.
const ChannelKind* find_channel_kind(uint8_t type);
// The type named `name` ("main", ..., "webdav": QEMU's names, as --tls-channel spells them).
std::optional<uint8_t> channel_type_by_name(std::string_view name);

}  // namespace spiced
