// The host side of libspice-server's SpiceCoreInterface, for tests that drive the library as
// QEMU does: the host owns the event loop (timers and fd watches, its own poll) and the library
// registers its timers and watches with it; and a QXL interface to start a test device from. Used
// by the drop-in embedding unit test and by the GL scanout host of the integration tests.
#pragma once

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <spice.h>

// The core interface's opaque types are the host's to define (spice.h only declares them).
struct SpiceTimer {
    SpiceTimerFunc func;
    void* opaque;
    bool armed = false;
    std::chrono::steady_clock::time_point due{};
};
struct SpiceWatch {
    int fd;
    int mask;
    SpiceWatchFunc func;
    void* opaque;
};

namespace spiced::testing_support {

struct HostLoop {
    using Clock = std::chrono::steady_clock;

    std::vector<std::unique_ptr<SpiceTimer>> timers;
    std::vector<std::unique_ptr<SpiceWatch>> watches;
    // The library must add timers and watches on the host's thread only; calls from any other
    // thread are counted here.
    std::thread::id thread = std::this_thread::get_id();
    std::atomic<int> foreign_calls{0};

    // One turn: poll the watches (and `extra_fd` if >= 0) up to `max_wait`, run the ready
    // watches, then the due timers. Returns whether `extra_fd` is readable.
    bool run_once(std::chrono::milliseconds max_wait, int extra_fd = -1) {
        auto now = Clock::now();
        auto wait = max_wait;
        for (auto& timer : timers) {
            if (timer->armed)
                wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::max(timer->due - now, Clock::duration::zero())));
        }
        std::vector<pollfd> fds;
        std::vector<SpiceWatch*> polled;
        for (auto& watch : watches) {
            short events = 0;
            if (watch->mask & SPICE_WATCH_EVENT_READ) events |= POLLIN;
            if (watch->mask & SPICE_WATCH_EVENT_WRITE) events |= POLLOUT;
            fds.push_back(pollfd{watch->fd, events, 0});
            polled.push_back(watch.get());
        }
        if (extra_fd >= 0) fds.push_back(pollfd{extra_fd, POLLIN, 0});
        poll(fds.data(), fds.size(), int(wait.count()));
        for (size_t i = 0; i < polled.size(); ++i) {
            if (!fds[i].revents) continue;
            // A callback may remove watches: call only those still registered.
            const bool still = std::any_of(watches.begin(), watches.end(),
                                           [&](const auto& w) { return w.get() == polled[i]; });
            if (!still) continue;
            int events = 0;
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) events |= SPICE_WATCH_EVENT_READ;
            if (fds[i].revents & POLLOUT) events |= SPICE_WATCH_EVENT_WRITE;
            polled[i]->func(polled[i]->fd, events, polled[i]->opaque);
        }
        now = Clock::now();
        for (size_t i = 0; i < timers.size(); ++i) {
            SpiceTimer* timer = timers[i].get();
            if (timer->armed && timer->due <= now) {
                timer->armed = false;
                timer->func(timer->opaque);
            }
        }
        return extra_fd >= 0 && fds.back().revents != 0;
    }
};

// The core interface's callbacks carry no user pointer, so they reach the host's loop through
// this one pointer: point it at the loop before spice_server_init and clear it after
// spice_server_destroy. One loop per process at a time.
inline HostLoop* g_host_loop = nullptr;

// Counts a timer_add or watch_add made on a thread other than the loop's.
inline void count_foreign_call() {
    if (std::this_thread::get_id() != g_host_loop->thread) ++g_host_loop->foreign_calls;
}

// A core interface whose timers and watches live in *g_host_loop.
inline SpiceCoreInterface make_core(const char* description) {
    using Clock = HostLoop::Clock;
    SpiceCoreInterface core{};
    core.base.type = SPICE_INTERFACE_CORE;
    core.base.description = description;
    core.base.major_version = SPICE_INTERFACE_CORE_MAJOR;
    core.base.minor_version = SPICE_INTERFACE_CORE_MINOR;
    core.timer_add = [](SpiceTimerFunc func, void* opaque) {
        count_foreign_call();
        g_host_loop->timers.push_back(std::make_unique<SpiceTimer>(SpiceTimer{func, opaque}));
        return g_host_loop->timers.back().get();
    };
    core.timer_start = [](SpiceTimer* timer, uint32_t ms) {
        timer->armed = true;
        timer->due = Clock::now() + std::chrono::milliseconds(ms);
    };
    core.timer_cancel = [](SpiceTimer* timer) { timer->armed = false; };
    core.timer_remove = [](SpiceTimer* timer) {
        std::erase_if(g_host_loop->timers, [timer](const auto& t) { return t.get() == timer; });
    };
    core.watch_add = [](int fd, int mask, SpiceWatchFunc func, void* opaque) {
        count_foreign_call();
        g_host_loop->watches.push_back(
            std::make_unique<SpiceWatch>(SpiceWatch{fd, mask, func, opaque}));
        return g_host_loop->watches.back().get();
    };
    core.watch_update_mask = [](SpiceWatch* watch, int mask) { watch->mask = mask; };
    core.watch_remove = [](SpiceWatch* watch) {
        std::erase_if(g_host_loop->watches, [watch](const auto& w) { return w.get() == watch; });
    };
    core.channel_event = [](int, SpiceChannelEventInfo*) {};
    return core;
}

// One memslot group of one slot (8 generation bits, 8 id bits), one surface.
inline void idle_init_info(QXLInstance*, QXLDevInitInfo* info) {
    info->num_memslots_groups = 1;
    info->num_memslots = 1;
    info->memslot_gen_bits = 8;
    info->memslot_id_bits = 8;
    info->n_surfaces = 1;
}

// A QXL interface for a device with nothing to say: no commands, no cursor, one memslot group
// of one slot, every notification ignored. A test sets the callbacks its device needs.
inline QXLInterface idle_qxl_interface(const char* description) {
    QXLInterface qif{};
    qif.base.type = SPICE_INTERFACE_QXL;
    qif.base.description = description;
    qif.base.major_version = SPICE_INTERFACE_QXL_MAJOR;
    qif.base.minor_version = SPICE_INTERFACE_QXL_MINOR;
    qif.attached_worker = [](QXLInstance*) {};
    qif.set_compression_level = [](QXLInstance*, int) {};
    qif.get_init_info = idle_init_info;
    qif.get_command = [](QXLInstance*, QXLCommandExt*) -> int { return 0; };
    qif.req_cmd_notification = [](QXLInstance*) -> int { return 1; };
    qif.release_resource = [](QXLInstance*, QXLReleaseInfoExt) {};
    qif.get_cursor_command = [](QXLInstance*, QXLCommandExt*) -> int { return 0; };
    qif.req_cursor_notification = [](QXLInstance*) -> int { return 1; };
    qif.notify_update = [](QXLInstance*, uint32_t) {};
    qif.flush_resources = [](QXLInstance*) -> int { return 0; };
    qif.async_complete = [](QXLInstance*, uint64_t) {};
    qif.update_area_complete = [](QXLInstance*, uint32_t, QXLRect*, uint32_t) {};
    qif.set_client_capabilities = [](QXLInstance*, uint8_t, uint8_t*) {};
    qif.client_monitors_config = [](QXLInstance*, VDAgentMonitorsConfig*) -> int { return 0; };
    return qif;
}

}  // namespace spiced::testing_support
