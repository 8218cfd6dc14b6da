#include "io/reactor.h"

#include "base/log.h"

namespace spiced {

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
