// SessionDirectory: which sessions exist, which of their channels are linked, and what every
// shard needs to know about them at link time. A client's channels may be accepted by
// different shards (the kernel spreads connections over the shards' listeners); each shard
// keeps the channels it accepted, and this directory is where they find each other's session.
//
// Link-time only (a link, a channel's end, a session's end, the bandwidth result): never on
// the data path, so a mutex is the right tool here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

namespace spiced {

class SessionDirectory {
public:
    enum class Lookup : uint8_t { kUnknown, kChannelTaken, kOpen };
    struct Joined {
        size_t owner_shard;  // where the session's main channel lives
        bool low_bandwidth;
    };

    SessionDirectory() : next_id_(std::random_device{}() | 1) {}

    // A new session whose main channel is linked on `owner_shard`; returns its id (never 0).
    uint32_t open(size_t owner_shard);
    // Whether `channel_type` may still link to session `id`.
    Lookup lookup(uint32_t id, uint8_t channel_type) const;
    // Records the channel as linked; nothing when the session ended or has that channel
    // already (both can happen between lookup() and the end of the link).
    std::optional<Joined> join(uint32_t id, uint8_t channel_type);
    // The channel went away; the session may link it again.
    void leave(uint32_t id, uint8_t channel_type);
    void close(uint32_t id);
    void set_low_bandwidth(uint32_t id, bool low);
    size_t size() const;

private:
    struct Entry {
        size_t owner_shard;
        uint32_t channels;  // bit per SPICE channel type
        bool low_bandwidth;
    };
    static uint32_t bit(uint8_t channel_type) { return 1u << (channel_type & 31u); }

    mutable std::mutex mutex_;
    std::unordered_map<uint32_t, Entry> sessions_;
    uint32_t next_id_;
};

}  // namespace spiced
