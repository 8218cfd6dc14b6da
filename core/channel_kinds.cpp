#include "core/channel_kinds.h"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <array>

#include "core/channels.h"
#include "core/messages.h"

namespace spiced {

namespace {
template <typename Client>
std::unique_ptr<ChannelClient> make(Session& session, std::unique_ptr<Connection> connection,
                                    const LinkRequest& link, bool mini_header) {
    return std::make_unique<Client>(session, std::move(connection), link, mini_header);
}

Capabilities no_caps() {
    return {};
}
Capabilities main_caps() {
    return Capabilities::of({SPICE_MAIN_CAP_NAME_AND_UUID, SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS});
}
Capabilities display_caps() {
    // PREF_VIDEO_CODEC_TYPE: spice-gtk sends its codec preferences only to servers with it.
    return Capabilities::of({SPICE_DISPLAY_CAP_MONITORS_CONFIG, SPICE_DISPLAY_CAP_LZ4_COMPRESSION,
                             SPICE_DISPLAY_CAP_PREF_COMPRESSION, SPICE_DISPLAY_CAP_STREAM_REPORT,
                             SPICE_DISPLAY_CAP_PREF_VIDEO_CODEC_TYPE});
}
Capabilities inputs_caps() {
    return Capabilities::of({SPICE_INPUTS_CAP_KEY_SCANCODE});
}

constexpr std::array<ChannelKind, 11> kKinds = {{
    {SPICE_CHANNEL_MAIN, make<MainChannelClient>, main_caps, false},
    {SPICE_CHANNEL_DISPLAY, make<DisplayChannelClient>, display_caps, true},
    {SPICE_CHANNEL_INPUTS, make<InputsChannelClient>, inputs_caps, false},
    {SPICE_CHANNEL_CURSOR, make<CursorChannelClient>, no_caps, true},
    // Audio, smartcard, USB redirection, ports and webdav have no source behind them yet; they
    // are in the table so their TLS policy can be set and their links refused cleanly.
    {SPICE_CHANNEL_PLAYBACK, nullptr, no_caps, false},
    {SPICE_CHANNEL_RECORD, nullptr, no_caps, false},
    {SPICE_CHANNEL_TUNNEL, nullptr, no_caps, false},
    {SPICE_CHANNEL_SMARTCARD, nullptr, no_caps, false},
    {SPICE_CHANNEL_USBREDIR, nullptr, no_caps, false},
    {SPICE_CHANNEL_PORT, nullptr, no_caps, false},
    {SPICE_CHANNEL_WEBDAV, nullptr, no_caps, false},
}};
static_assert(kKinds.front().type == 1 && kKinds.back().type == kKinds.size(),
              "rows in type order, one per type from SPICE_CHANNEL_MAIN");
}  // namespace

std::span<const ChannelKind> channel_kinds() {
    return kKinds;
}

const ChannelKind* find_channel_kind(uint8_t type) {
    if (type < 1 || type > kKinds.size()) return nullptr;
    return &kKinds[type - 1];
}

std::optional<uint8_t> channel_type_by_name(std::string_view name) {
    for (const ChannelKind& kind : kKinds) {
        if (name == channel_type_name(kind.type)) return kind.type;
    }
    return std::nullopt;
}

}  // namespace spiced
