#include "core/session_directory.h"

#include <spice/enums.h>
#include <sys/random.h>

#include <cerrno>
#include <limits>

namespace spiced {

namespace {
uint32_t random_id() {
    uint32_t id = 0;
    // getrandom() of 4 bytes never blocks once the pool is initialised and is not cut short;
    // an interrupted call is simply repeated.
    while (getrandom(&id, sizeof id, 0) != ssize_t(sizeof id)) {
    }
    return id;
}
}  // namespace

SessionDirectory::Opened SessionDirectory::open(size_t owner_shard, std::string_view host) {
    std::lock_guard lock(mutex_);
    Opened opened;
    if (policy_ == MultiClient::kOff) {
        for (const auto& [id, entry] : sessions_)
            opened.replaced.push_back({id, entry.owner_shard});
        sessions_.clear();
    }
    uint32_t id = random_id();
    while (id == 0 || sessions_.count(id) != 0) id = random_id();
    Entry entry{owner_shard, ++opened_, {}, false, std::string(host)};
    entry.channels.set(bit(SPICE_CHANNEL_MAIN, 0));
    sessions_.emplace(id, entry);
    opened.id = id;
    choose_driver();
    return opened;
}

SessionDirectory::Lookup SessionDirectory::lookup(uint32_t session, uint8_t type, uint8_t id,
                                                  std::string_view host) const {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(session);
    if (found == sessions_.end()) return Lookup::kUnknown;
    if (other_host(found->second, host)) return Lookup::kOtherHost;
    return found->second.channels.test(bit(type, id)) ? Lookup::kChannelTaken : Lookup::kOpen;
}

std::optional<SessionDirectory::Joined> SessionDirectory::join(uint32_t session, uint8_t type,
                                                               uint8_t id, std::string_view host) {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(session);
    if (found == sessions_.end() || found->second.channels.test(bit(type, id)) ||
        other_host(found->second, host))
        return std::nullopt;
    found->second.channels.set(bit(type, id));
    return Joined{found->second.owner_shard, found->second.low_bandwidth};
}

void SessionDirectory::leave(uint32_t session, uint8_t type, uint8_t id) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(session); found != sessions_.end())
        found->second.channels.reset(bit(type, id));
}

void SessionDirectory::close(uint32_t session) {
    std::lock_guard lock(mutex_);
    if (sessions_.erase(session) != 0) choose_driver();
}

void SessionDirectory::choose_driver() {
    uint32_t driver = 0;
    uint64_t oldest = std::numeric_limits<uint64_t>::max();
    for (const auto& [id, entry] : sessions_) {
        if (entry.opened < oldest) {
            oldest = entry.opened;
            driver = id;
        }
    }
    driver_.store(driver, std::memory_order_relaxed);
}

void SessionDirectory::set_low_bandwidth(uint32_t session, bool low) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(session); found != sessions_.end())
        found->second.low_bandwidth = low;
}

std::optional<size_t> SessionDirectory::owner_shard(uint32_t session) const {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(session);
    if (found == sessions_.end()) return std::nullopt;
    return found->second.owner_shard;
}

size_t SessionDirectory::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

}  // namespace spiced
