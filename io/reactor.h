// Reactor: a single-threaded epoll event loop with fd watches, periodic timers and
// signal-driven shutdown. Everything registered with a Reactor is called on the thread
// that runs run(); only stop() may be called from another thread (or a signal handler).
//
// This is the epoll backend; the io_uring shards (a later issue) present the same shape.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.h"
#include "io/unique_fd.h"

namespace spiced {

class Reactor {
public:
    // Readiness bits passed to fd callbacks (the epoll bits themselves).
    static constexpr uint32_t kReadable = 0x001;       // EPOLLIN
    static constexpr uint32_t kWritable = 0x004;       // EPOLLOUT
    static constexpr uint32_t kError = 0x008 | 0x010;  // EPOLLERR | EPOLLHUP

    using FdCallback = std::function<void(uint32_t ready)>;
    using WatchId = uint64_t;

    // Creates the loop; SIGINT and SIGTERM make run() return.
    static Expected<std::unique_ptr<Reactor>, std::string> create();
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Watches `fd` (not owned) for `interest` (kReadable/kWritable). The callback may add or
    // remove any watch, including its own.
    WatchId watch(int fd, uint32_t interest, FdCallback callback);
    void set_interest(WatchId id, uint32_t interest);
    void unwatch(WatchId id);

    // Calls `callback` every `period` until cancelled with unwatch(); the first call is one
    // period from now.
    WatchId every(std::chrono::nanoseconds period, std::function<void()> callback);

    // Runs `task` after the current batch of callbacks: for work that must not happen inside
    // a callback, such as destroying the object whose callback is running.
    void defer(std::function<void()> task) { deferred_.push_back(std::move(task)); }

    // Runs until stop() or a termination signal.
    void run();
    void stop();
    bool stopping() const { return stopping_; }

private:
    struct Watch {
        int fd;
        uint32_t interest;
        FdCallback callback;
        UniqueFd owned;  // timerfds belong to their watch
    };
    Reactor(UniqueFd epoll, UniqueFd wake, UniqueFd signals);
    void run_deferred();

    UniqueFd epoll_;
    UniqueFd wake_;
    UniqueFd signals_;
    std::unordered_map<WatchId, std::shared_ptr<Watch>> watches_;
    std::vector<std::function<void()>> deferred_;
    WatchId next_id_ = 1;
    std::atomic<bool> stopping_ = false;
};

}  // namespace spiced
