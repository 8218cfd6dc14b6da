// SessionDirectory: which sessions exist, which of their channels are linked, who may drive
// the desktop, and what every shard needs to know about them at link time. A client's channels
// may be accepted by different shards (the kernel spreads connections over the shards'
// listeners); each shard keeps the channels it accepted, and this directory is where they find
// each other's session.
//
// Link-time only (a link, a channel's end, a session's end, the bandwidth result): never on
// the data path, so a mutex is the right tool here. The one exception, may_drive(), is read on
// every input message and is a lock-free atomic load.
#pragma once

#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spiced {

// --multi-client: what a second client gets.
enum class MultiClient : uint8_t {
    kOff,     // it replaces the connected one (spice-server's behaviour)
    kShared,  // every client drives the desktop
    kView,    // the first client drives; later ones watch
};

class SessionDirectory {
public:
    // kOtherHost: the session exists but its main channel came from another host (the link
    // is refused as if the session did not exist).
    enum class Lookup : uint8_t { kUnknown, kOtherHost, kChannelTaken, kOpen };
    struct Joined {
        size_t owner_shard;  // where the session's main channel lives
        bool low_bandwidth;
    };
    struct Opened {
        uint32_t id;
        // Sessions this one replaces (--multi-client off): gone from the directory already;
        // their owners must end them.
        struct Replaced {
            uint32_t id;
            size_t owner_shard;
        };
        std::vector<Replaced> replaced;
    };

    // `same_host` (--channel-binding host): a session's other channels must come from the
    // host (peer address) its main channel came from. The protocol has no owner beyond the
    // session id and the password; this keeps someone who has both from taking another
    // client's display, inputs or cursor slot from elsewhere.
    explicit SessionDirectory(MultiClient policy = MultiClient::kShared, bool same_host = false)
        : policy_(policy), same_host_(same_host) {}

    MultiClient policy() const { return policy_; }
    // A new session whose main channel is linked on `owner_shard` from `host`, with an
    // unpredictable id (never 0) from the kernel's CSPRNG: a session id is what other
    // channels link with.
    Opened open(size_t owner_shard, std::string_view host = {});
    // Whether channel `type`:`id` from `host` may still link to session `session`.
    Lookup lookup(uint32_t session, uint8_t type, uint8_t id, std::string_view host = {}) const;
    // Records the channel as linked; nothing when the session ended, has that channel already
    // (both can happen between lookup() and the end of the link) or belongs to another host.
    std::optional<Joined> join(uint32_t session, uint8_t type, uint8_t id,
                               std::string_view host = {});
    // The channel went away; the session may link it again.
    void leave(uint32_t session, uint8_t type, uint8_t id);
    void close(uint32_t session);
    void set_low_bandwidth(uint32_t session, bool low);
    // Where session `id`'s main channel lives, if the session exists.
    std::optional<size_t> owner_shard(uint32_t session) const;
    size_t size() const;
    // Whether the session's input and requests reach the desktop (--multi-client view: only
    // the oldest session's do). Any thread, lock-free.
    bool may_drive(uint32_t session) const {
        return policy_ != MultiClient::kView || driver_.load(std::memory_order_relaxed) == session;
    }

private:
    // Channel types 0..15 with ids 0..15: enough for every SPICE channel type and 16 heads.
    using ChannelSet = std::bitset<256>;
    static size_t bit(uint8_t type, uint8_t id) { return size_t(type & 15u) * 16 + (id & 15u); }
    struct Entry {
        size_t owner_shard;
        uint64_t opened;  // order of open(), for choosing the next driver
        ChannelSet channels;
        bool low_bandwidth;
        std::string host;  // of the main channel
    };
    void choose_driver();  // mutex held

    bool other_host(const Entry& entry, std::string_view host) const {
        return same_host_ && entry.host != host;
    }

    const MultiClient policy_;
    const bool same_host_;
    mutable std::mutex mutex_;
    std::unordered_map<uint32_t, Entry> sessions_;
    uint64_t opened_ = 0;
    std::atomic<uint32_t> driver_{0};
};

}  // namespace spiced
