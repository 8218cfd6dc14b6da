#include "core/session.h"

#include <algorithm>

#include "base/log.h"
#include "core/channels.h"
#include "core/server.h"

namespace spiced {

ChannelClient& Session::add_channel(std::unique_ptr<ChannelClient> channel) {
    channels_.push_back(std::move(channel));
    ChannelClient& added = *channels_.back();
    added.start();
    return added;
}

void Session::set_bandwidth(double mbps, bool low) {
    LOG_INFO("session", "session %u: link measured at %.1f Mbit/s%s", id_, mbps,
             low ? " (low bandwidth: lossy/zlib codecs in the auto modes)" : "");
    low_bandwidth_ = low;
    for (auto& channel : channels_) {
        if (auto* display = dynamic_cast<DisplayChannelClient*>(channel.get())) {
            display->set_low_bandwidth(low);
        }
    }
}

bool Session::has_channel(uint8_t type, uint8_t id) const {
    return std::any_of(channels_.begin(), channels_.end(), [&](const auto& channel) {
        return channel->channel_type() == type && channel->channel_id() == id;
    });
}

void Session::channel_closed(ChannelClient& channel, std::string_view reason) {
    const bool main = channel.channel_type() == SPICE_CHANNEL_MAIN;
    LOG_INFO("session",
             "%s: session %u: %s channel closed (%.*s) after %.1f s: sent %llu B, received "
             "%llu B, peak queue %zu B, last rtt %.2f ms",
             channel.peer().c_str(), id_, channel.name(), int(reason.size()), reason.data(),
             channel.seconds_connected(),
             static_cast<unsigned long long>(channel.connection().bytes_sent()),
             static_cast<unsigned long long>(channel.connection().bytes_received()),
             channel.connection().peak_queued_bytes(), channel.last_rtt_ms());
    // Destruction waits until the reactor is out of this channel's callbacks.
    ChannelClient* closed = &channel;
    server_.reactor().defer([this, closed] {
        auto it = std::find_if(channels_.begin(), channels_.end(),
                               [&](const auto& c) { return c.get() == closed; });
        if (it != channels_.end()) channels_.erase(it);
    });
    if (main && !ending_) {
        ending_ = true;
        for (auto& other : channels_) {
            if (other.get() != closed) other->close("session ended");
        }
        server_.session_ended(id_);
    }
}

}  // namespace spiced
