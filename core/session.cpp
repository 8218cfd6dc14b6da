#include "core/session.h"

#include <algorithm>

#include "base/log.h"
#include "core/channels.h"
#include "core/shard.h"

namespace spiced {

ChannelClient& Session::add_channel(std::unique_ptr<ChannelClient> channel) {
    channels_.push_back(std::move(channel));
    ChannelClient& added = *channels_.back();
    added.start();
    return added;
}

void Session::set_bandwidth(double mbps, bool at_least, bool low) {
    if (at_least) {
        LOG_INFO("session",
                 "session %u: link faster than %.0f Mbit/s (too fast for the connect-time test "
                 "to time)",
                 id_, mbps);
    } else {
        LOG_INFO("session", "session %u: link measured at %.1f Mbit/s%s", id_, mbps,
                 low ? " (low bandwidth: lossy/zlib codecs in the auto modes)" : "");
    }
    shard_.session_bandwidth(id_, low);
}

void Session::apply_low_bandwidth(bool low) {
    low_bandwidth_ = low;
    for (auto& channel : channels_) {
        if (auto* display = dynamic_cast<DisplayChannelClient*>(channel.get())) {
            display->set_low_bandwidth(low);
        }
    }
}

void Session::end(std::string_view reason) {
    if (ending_) return;
    ending_ = true;
    // Closing calls back into channel_closed(), which defers the removal.
    for (size_t i = 0; i < channels_.size(); ++i) channels_[i]->close(reason);
}

void Session::channel_closed(ChannelClient& channel, std::string_view reason) {
    const bool main = channel.channel_type() == SPICE_CHANNEL_MAIN;
    LOG_INFO("session",
             "%s: session %u: %s channel closed (%.*s) after %.1f s on shard %zu: sent %llu B, "
             "received %llu B, peak queue %zu B, last rtt %.2f ms",
             channel.peer().c_str(), id_, channel.name(), int(reason.size()), reason.data(),
             channel.seconds_connected(), shard_.index(),
             static_cast<unsigned long long>(channel.connection().bytes_sent()),
             static_cast<unsigned long long>(channel.connection().bytes_received()),
             channel.connection().peak_queued_bytes(), channel.last_rtt_ms());
    if (channel.event() && shard_.config().on_channel_event) {
        ChannelEvent event = *channel.event();
        event.kind = ChannelEvent::Kind::kClosed;
        shard_.config().on_channel_event(event);
    }
    // Destruction waits until the reactor is out of this channel's callbacks.
    ChannelClient* closed = &channel;
    const uint8_t type = channel.channel_type();
    const uint8_t channel_id = channel.channel_id();
    const bool leaving = !main && !ending_;
    shard_.reactor().defer([this, closed, type, channel_id, leaving] {
        auto it = std::find_if(channels_.begin(), channels_.end(),
                               [&](const auto& c) { return c.get() == closed; });
        if (it != channels_.end()) channels_.erase(it);
        // Last: this may destroy the session part.
        if (leaving || (!owner_ && channels_.empty()))
            shard_.channel_left(id_, type, channel_id, channels_.empty());
    });
    if (main && !ending_) {
        ending_ = true;
        for (auto& other : channels_) {
            if (other.get() != closed) other->close("session ended");
        }
        shard_.session_ended(id_);
    }
}

}  // namespace spiced
