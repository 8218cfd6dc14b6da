#include "qxl/abi/host_calls.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace spiced::abi {

Expected<std::unique_ptr<HostCalls>, std::string> HostCalls::create(
    const SpiceCoreInterface& core) {
    if (!core.watch_add || !core.watch_remove)
        return unexpected(std::string("the host's core interface has no watches"));
    UniqueFd event(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event.valid()) return unexpected(std::string("eventfd: ") + std::strerror(errno));
    auto calls = std::unique_ptr<HostCalls>(new HostCalls(core, std::move(event)));
    calls->watch_ = core.watch_add(calls->event_.get(), SPICE_WATCH_EVENT_READ,
                                   &HostCalls::on_event, calls.get());
    if (!calls->watch_) return unexpected(std::string("the host refused a watch"));
    return calls;
}

HostCalls::HostCalls(const SpiceCoreInterface& core, UniqueFd event)
    : core_(core), event_(std::move(event)) {}

HostCalls::~HostCalls() {
    if (watch_) core_.watch_remove(watch_);
}

void HostCalls::post(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
    }
    const uint64_t one = 1;
    // A full counter (never in practice) still leaves the fd readable, which is all we need.
    [[maybe_unused]] ssize_t written = write(event_.get(), &one, sizeof(one));
}

void HostCalls::on_event(int, int, void* opaque) {
    static_cast<HostCalls*>(opaque)->run_posted();
}

void HostCalls::run_posted() {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t got = read(event_.get(), &count, sizeof(count));
    std::deque<std::function<void()>> batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(tasks_);
    }
    for (auto& task : batch) task();
}

}  // namespace spiced::abi
