// Reactor: the event loop one thread runs. It owns the sockets' I/O (accepting, reading,
// writing), periodic timers and posted tasks. Everything registered with a Reactor is called
// on the thread that runs run(); only stop() and post() may be called from another thread.
//
// Two backends present the same interface: io_uring (completions: multishot accept and
// receive into provided buffers, batched submission, timers as ring timeouts, zero-copy sends
// for large messages) and epoll (readiness plus recv/sendmsg). create() picks io_uring unless
// asked for epoll or the kernel refuses it, and says so in one log line.
//
// Embeddable: a reactor changes no process-wide state (no signal dispositions, no signal
// mask: signals belong to the host, which stops a reactor with stop()), never raises SIGPIPE
// (every send carries
// MSG_NOSIGNAL), and can be created, run, stopped and destroyed any number of times in one
// process, handing back every descriptor it opened or accepted.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "io/stream_io.h"
#include "io/task_inbox.h"
#include "io/tcp.h"

namespace spiced {

enum class IoBackend : uint8_t { kIoUring, kEpoll };

// Backend tuning that does not change behaviour, only how bytes move.
struct ReactorOptions {
    IoBackend backend = IoBackend::kIoUring;
    // io_uring: messages (or batches of queued messages) at least this large go out with
    // zero-copy send; a connection whose zero-copy sends the kernel reports as copied (e.g.
    // loopback) goes back to plain sends. 0 disables zero-copy.
    size_t zero_copy_min_bytes = size_t{64} * 1024;
    // Benchmarks only: keep zero-copy on even where the kernel reports copying.
    bool zero_copy_even_if_copied = false;
    // io_uring: the first write of a loop turn to an idle connection (nothing queued, nothing
    // in flight) below the zero-copy size tries one non-blocking send right away, and only
    // what the socket does not take goes through the ring; later writes of the same turn
    // gather into one ring send. Saves the wait for the next submission on the latency path
    // (input echoes, cursor, small updates) without a system call per message in bursts;
    // io_bench measures it against ring-only and epoll.
    bool inline_first_send = true;
};

class Reactor {
public:
    using Id = uint64_t;

    // Creates the loop on the calling thread, which is the one that must run it.
    static Expected<std::unique_ptr<Reactor>, std::string> create(ReactorOptions options = {});
    virtual ~Reactor() = default;
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // "io_uring" or "epoll".
    virtual std::string_view backend_name() const = 0;

    // Hands each connection accepted on `listener` (which must outlive the watch) to
    // `on_stream` until cancel(). Reactors on other threads may accept on the same listener
    // at the same time; each connection goes to exactly one of them.
    virtual Id accept_on(const TcpListener& listener, std::function<void(TcpStream)> on_stream) = 0;
    // Starts I/O on a connected stream; `events` must outlive the returned object.
    virtual std::unique_ptr<StreamIo> open_stream(TcpStream stream, StreamIo::Events& events) = 0;
    // Calls `callback` every `period` until cancel(); the first call is one period from now.
    // Missed periods collapse into one call: timers drive "latest wins" work.
    virtual Id every(std::chrono::nanoseconds period, std::function<void()> callback) = 0;
    // Stops an accept_on() or every(); safe from inside its own callback.
    virtual void cancel(Id id) = 0;
    // Runs `task` once, `delay` from now (a timer that cancels itself).
    void after(std::chrono::nanoseconds delay, std::function<void()> task) {
        auto id = std::make_shared<Id>(0);
        *id = every(delay, [this, id, task = std::move(task)] {
            task();
            cancel(*id);
        });
    }

    // Runs `task` after the current batch of callbacks: for work that must not happen inside
    // a callback, such as destroying the object whose callback is running.
    void defer(std::function<void()> task) { deferred_.push_back(std::move(task)); }

    // Any thread: runs `task` on the reactor's thread soon (in posting order per thread). The
    // way other threads hand work to this one; nothing else about a reactor is thread-safe.
    void post(TaskInbox::Task task) {
        inbox_.push(std::move(task));
        wake();
    }

    // Runs until stop(); run() may be called again afterwards.
    virtual void run() = 0;
    void stop() {
        stopping_ = true;
        wake();
    }
    bool stopping() const { return stopping_; }

protected:
    Reactor() = default;
    // Makes a blocked run() look at stopping_ (async-signal-safe).
    virtual void wake() = 0;
    void run_deferred() {
        while (!deferred_.empty()) {
            auto tasks = std::move(deferred_);
            deferred_.clear();
            for (auto& task : tasks) task();
        }
    }

    // Backends call this whenever their wake-up fires. A batch at most, so tasks that post
    // more tasks cannot keep the loop from its sockets and timers; the rest wake it again.
    void run_posted() {
        for (int i = 0; i < kPostedBatch; ++i) {
            auto task = inbox_.pop();
            if (!task) return;
            (*task)();
        }
        wake();
    }
    static constexpr int kPostedBatch = 256;

    std::vector<std::function<void()>> deferred_;
    TaskInbox inbox_;
    std::atomic<bool> stopping_ = false;
};

Expected<std::unique_ptr<Reactor>, std::string> create_epoll_reactor(
    const ReactorOptions& options = {});
// Fails with the kernel's reason when io_uring (or a feature we need) is unavailable.
Expected<std::unique_ptr<Reactor>, std::string> create_uring_reactor(const ReactorOptions& options);

}  // namespace spiced
