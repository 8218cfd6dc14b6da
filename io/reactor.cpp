#include "io/reactor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace spiced {

namespace {
// The reactor's own wake-up and signal fds use ids user watches (counting from 1) never reach.
constexpr Reactor::WatchId kWakeId = ~uint64_t{0};
constexpr Reactor::WatchId kSignalId = ~uint64_t{0} - 1;

bool epoll_add(int epoll, int fd, uint32_t events, uint64_t id) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) == 0;
}
}  // namespace

Expected<std::unique_ptr<Reactor>, std::string> Reactor::create() {
    UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.valid()) return unexpected(std::string("epoll_create1: ") + std::strerror(errno));
    UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake.valid()) return unexpected(std::string("eventfd: ") + std::strerror(errno));

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    // Block the termination signals in this thread (threads created later inherit the mask)
    // so they arrive only through the signalfd.
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    UniqueFd signals(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals.valid()) return unexpected(std::string("signalfd: ") + std::strerror(errno));
    std::signal(SIGPIPE, SIG_IGN);

    if (!epoll_add(epoll.get(), wake.get(), EPOLLIN, kWakeId) ||
        !epoll_add(epoll.get(), signals.get(), EPOLLIN, kSignalId)) {
        return unexpected(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    return std::unique_ptr<Reactor>(
        new Reactor(std::move(epoll), std::move(wake), std::move(signals)));
}

Reactor::Reactor(UniqueFd epoll, UniqueFd wake, UniqueFd signals)
    : epoll_(std::move(epoll)), wake_(std::move(wake)), signals_(std::move(signals)) {}

Reactor::~Reactor() = default;

Reactor::WatchId Reactor::watch(int fd, uint32_t interest, FdCallback callback) {
    WatchId id = next_id_++;
    if (!epoll_add(epoll_.get(), fd, interest, id)) {
        LOG_ERROR("reactor", "epoll_ctl(ADD, fd %d): %s", fd, std::strerror(errno));
        return 0;
    }
    watches_.emplace(id, std::make_shared<Watch>(Watch{fd, interest, std::move(callback), {}}));
    return id;
}

void Reactor::set_interest(WatchId id, uint32_t interest) {
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second->interest == interest) return;
    epoll_event ev{};
    ev.events = interest;
    ev.data.u64 = id;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second->fd, &ev);
    it->second->interest = interest;
}

void Reactor::unwatch(WatchId id) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
    watches_.erase(it);
}

Reactor::WatchId Reactor::every(std::chrono::nanoseconds period, std::function<void()> callback) {
    UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer.valid()) {
        LOG_ERROR("reactor", "timerfd_create: %s", std::strerror(errno));
        return 0;
    }
    itimerspec spec{};
    spec.it_interval.tv_sec = period.count() / 1'000'000'000;
    spec.it_interval.tv_nsec = period.count() % 1'000'000'000;
    spec.it_value = spec.it_interval;
    timerfd_settime(timer.get(), 0, &spec, nullptr);
    int fd = timer.get();
    WatchId id = watch(fd, kReadable, [fd, cb = std::move(callback)](uint32_t) {
        uint64_t expirations = 0;
        // Missed periods are collapsed into one call: timers drive "latest wins" work.
        if (::read(fd, &expirations, sizeof expirations) == sizeof expirations) cb();
    });
    if (id != 0) watches_[id]->owned = std::move(timer);
    return id;
}

void Reactor::run() {
    std::array<epoll_event, 128> events{};
    while (!stopping_) {
        run_deferred();
        int n = epoll_wait(epoll_.get(), events.data(), int(events.size()), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            LOG_ERROR("reactor", "epoll_wait: %s", std::strerror(errno));
            return;
        }
        for (int i = 0; i < n && !stopping_; ++i) {
            const uint64_t id = events[i].data.u64;
            if (id == kWakeId) {
                uint64_t value;
                while (::read(wake_.get(), &value, sizeof value) > 0) {
                }
                continue;
            }
            if (id == kSignalId) {
                signalfd_siginfo info{};
                while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
                    LOG_INFO("server", "received signal %u, shutting down", info.ssi_signo);
                    stopping_ = true;
                }
                continue;
            }
            // A callback earlier in this batch may have removed this watch.
            auto it = watches_.find(id);
            if (it == watches_.end()) continue;
            // Hold a reference: the callback may unwatch itself.
            std::shared_ptr<Watch> watch = it->second;
            watch->callback(events[i].events);
        }
        run_deferred();
    }
}

void Reactor::run_deferred() {
    while (!deferred_.empty()) {
        auto tasks = std::move(deferred_);
        deferred_.clear();
        for (auto& task : tasks) task();
    }
}

void Reactor::stop() {
    stopping_ = true;
    uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(wake_.get(), &one, sizeof one);
}

}  // namespace spiced
