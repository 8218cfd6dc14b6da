#include "io/reactor.h"

#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "base/log.h"

namespace spiced {

Expected<UniqueFd, std::string> open_termination_signalfd() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    UniqueFd signals(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals.valid()) return unexpected(std::string("signalfd: ") + std::strerror(errno));
    // SIGPIPE is left alone: its disposition belongs to the process's owner (a host embedding
    // us), and no write of ours can raise it (MSG_NOSIGNAL on every send).
    return signals;
}

Expected<std::unique_ptr<Reactor>, std::string> Reactor::create(ReactorOptions options) {
    if (options.backend == IoBackend::kEpoll) {
        LOG_INFO("io", "using the epoll backend (--io-backend epoll)");
        return create_epoll_reactor(options);
    }
    auto uring = create_uring_reactor(options);
    if (uring) return uring;
    LOG_WARN("io", "io_uring unavailable (%s); using the epoll backend", uring.error().c_str());
    return create_epoll_reactor(options);
}

}  // namespace spiced
