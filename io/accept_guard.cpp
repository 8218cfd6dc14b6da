#include "io/accept_guard.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace spiced {

namespace {
UniqueFd open_spare() {
    return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}
}  // namespace

AcceptGuard::AcceptGuard() : spare_(open_spare()) {}

bool AcceptGuard::out_of_descriptors(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

std::chrono::milliseconds AcceptGuard::on_exhausted(int listener_fd, int error) {
    // The spare makes room for exactly one accept: the oldest waiting client is told "no" by a
    // close rather than left waiting for a server that cannot take it.
    if (spare_.valid()) {
        spare_.reset();
        const int shed = ::accept4(listener_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (shed >= 0) {
            ::close(shed);
            ++shed_;
        }
        spare_ = open_spare();
    }
    const std::chrono::milliseconds pause = pause_;
    pause_ = std::min(pause_ * 2, kLongestPause);
    uint64_t held_back = 0;
    if (log_.allow(held_back)) {
        LOG_WARN("io",
                 "accept failed: %s; closing waiting connections unserved and pausing accepts "
                 "(%llu such failures not logged in the last 10 s, %llu connections shed)",
                 std::strerror(error), static_cast<unsigned long long>(held_back),
                 static_cast<unsigned long long>(shed_));
    }
    return pause;
}

}  // namespace spiced
