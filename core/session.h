// Session: one client's set of channels, tied together by the session id the main channel
// hands out (clients quote it as connection_id when linking the other channels).
// Closing the main channel ends the session.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/channel.h"

namespace spiced {

class Server;

class Session {
public:
    Session(Server& server, uint32_t id) : server_(server), id_(id) {}
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    uint32_t id() const { return id_; }
    Server& server() { return server_; }

    // Takes the channel and starts it.
    ChannelClient& add_channel(std::unique_ptr<ChannelClient> channel);
    // From a channel whose connection closed: drops it (deferred) and, for the main
    // channel, closes the rest of the session.
    void channel_closed(ChannelClient& channel, std::string_view reason);
    bool has_channel(uint8_t type, uint8_t id) const;
    // The main channel's bandwidth test result; display channels adapt their codecs.
    void set_bandwidth(double mbps, bool low);
    bool low_bandwidth() const { return low_bandwidth_; }

    template <typename F>
    void for_each_channel(F&& f) {
        for (auto& channel : channels_) f(*channel);
    }

private:
    Server& server_;
    uint32_t id_;
    std::vector<std::unique_ptr<ChannelClient>> channels_;
    bool ending_ = false;
    bool low_bandwidth_ = false;
};

}  // namespace spiced
