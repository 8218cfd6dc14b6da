#include "core/session_directory.h"

#include <spice/enums.h>

namespace spiced {

uint32_t SessionDirectory::open(size_t owner_shard) {
    std::lock_guard lock(mutex_);
    uint32_t id = next_id_++;
    while (id == 0 || sessions_.count(id) != 0) id = next_id_++;
    sessions_.emplace(id, Entry{owner_shard, bit(SPICE_CHANNEL_MAIN), false});
    return id;
}

SessionDirectory::Lookup SessionDirectory::lookup(uint32_t id, uint8_t channel_type) const {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(id);
    if (found == sessions_.end()) return Lookup::kUnknown;
    return (found->second.channels & bit(channel_type)) != 0 ? Lookup::kChannelTaken
                                                             : Lookup::kOpen;
}

std::optional<SessionDirectory::Joined> SessionDirectory::join(uint32_t id, uint8_t channel_type) {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(id);
    if (found == sessions_.end() || (found->second.channels & bit(channel_type)) != 0)
        return std::nullopt;
    found->second.channels |= bit(channel_type);
    return Joined{found->second.owner_shard, found->second.low_bandwidth};
}

void SessionDirectory::leave(uint32_t id, uint8_t channel_type) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(id); found != sessions_.end())
        found->second.channels &= ~bit(channel_type);
}

void SessionDirectory::close(uint32_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
}

void SessionDirectory::set_low_bandwidth(uint32_t id, bool low) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(id); found != sessions_.end())
        found->second.low_bandwidth = low;
}

size_t SessionDirectory::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

}  // namespace spiced
