// AcceptGuard: what a reactor does when accept() fails for want of descriptors (EMFILE,
// ENFILE, ENOBUFS, ENOMEM). The pending connection then stays in the backlog and the listener
// stays readable, so a loop that simply tries again spins at 100 % of a core and logs a line
// per try (seen: 1.6 million lines in 6 s). The guard
//   - keeps one spare descriptor: on exhaustion it frees it, accepts the oldest pending
//     connection and closes it at once (that client sees its connection closed instead of
//     hanging in the backlog), and takes the spare back;
//   - says how long to stop accepting: 10 ms, doubling while it keeps happening, at most 1 s,
//     back to 10 ms after the next successful accept;
//   - logs at most one line per 10 s, with how many failures it held back.
// One guard per reactor (thread); not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/log_limiter.h"
#include "io/unique_fd.h"

namespace spiced {

class AcceptGuard {
public:
    static constexpr std::chrono::milliseconds kFirstPause{10};
    static constexpr std::chrono::milliseconds kLongestPause{1000};

    AcceptGuard();
    // Whether an accept error `error` (errno) means "no descriptor or memory right now".
    static bool out_of_descriptors(int error);
    // After such a failure on `listener_fd`: sheds one pending connection, logs (limited), and
    // returns how long to pause accepting on this listener.
    std::chrono::milliseconds on_exhausted(int listener_fd, int error);
    void on_accepted() { pause_ = kFirstPause; }
    // Connections closed unserved so far (for tests and the log line).
    uint64_t shed() const { return shed_; }

private:
    UniqueFd spare_;
    std::chrono::milliseconds pause_ = kFirstPause;
    LogLimiter log_{std::chrono::seconds(10)};
    uint64_t shed_ = 0;
};

}  // namespace spiced
