// Session: one client's channels on one shard, tied together by the session id the main
// channel hands out (clients quote it as connection_id when linking the other channels).
//
// A client's channels may be accepted by different shards; each shard holds its own part of
// the session. The part holding the main channel is the owner: closing the main channel ends
// the session, and the owner's shard tells the other shards to close their parts.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/channel.h"

namespace spiced {

class Shard;

class Session {
public:
    Session(Shard& shard, uint32_t id, bool owner) : shard_(shard), id_(id), owner_(owner) {}
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    uint32_t id() const { return id_; }
    Shard& shard() { return shard_; }
    // This part holds the main channel.
    bool owner() const { return owner_; }

    // Takes the channel and starts it.
    ChannelClient& add_channel(std::unique_ptr<ChannelClient> channel);
    // From a channel whose connection closed: drops it (deferred) and, for the main
    // channel, ends the session everywhere.
    void channel_closed(ChannelClient& channel, std::string_view reason);
    // The session ended on its owning shard: closes this part's channels.
    void end(std::string_view reason);
    // The main channel's bandwidth test result (reported to every part by the shards).
    // The connect-time test's figure; `at_least` when the link was too fast to time (the
    // figure is then a lower bound).
    void set_bandwidth(double mbps, bool at_least, bool low);
    // Display channels adapt their codecs.
    void apply_low_bandwidth(bool low);
    bool low_bandwidth() const { return low_bandwidth_; }

    template <typename F>
    void for_each_channel(F&& f) {
        for (auto& channel : channels_) f(*channel);
    }

private:
    Shard& shard_;
    uint32_t id_;
    bool owner_;
    std::vector<std::unique_ptr<ChannelClient>> channels_;
    bool ending_ = false;
    bool low_bandwidth_ = false;
};

}  // namespace spiced
