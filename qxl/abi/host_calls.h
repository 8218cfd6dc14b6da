// HostCalls: runs tasks on the host's own event-loop thread (QEMU's main loop, Xspice's
// dispatch loop), where the host expects its callbacks: input devices (QEMU's input layer
// needs its big lock, held on that thread), char devices, channel events. Our threads post;
// an eventfd registered through SpiceCoreInterface::watch_add wakes the host's loop.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

// clang-format off
#define SPICE_H_INSIDE 1
#include <spice-server/spice-core.h>
#undef SPICE_H_INSIDE
// clang-format on

#include "base/expected.h"
#include "io/unique_fd.h"

namespace spiced::abi {

class HostCalls {
public:
    // On the host's thread (spice_server_init).
    static Expected<std::unique_ptr<HostCalls>, std::string> create(const SpiceCoreInterface& core);
    // On the host's thread; nothing may post any more.
    ~HostCalls();
    HostCalls(const HostCalls&) = delete;
    HostCalls& operator=(const HostCalls&) = delete;

    // Any thread: `task` runs on the host's thread soon, in posting order.
    void post(std::function<void()> task);

private:
    HostCalls(const SpiceCoreInterface& core, UniqueFd event);
    static void on_event(int fd, int event, void* opaque);
    void run_posted();

    const SpiceCoreInterface& core_;
    UniqueFd event_;
    SpiceWatch* watch_ = nullptr;
    std::mutex mutex_;
    std::deque<std::function<void()>> tasks_;
};

}  // namespace spiced::abi
