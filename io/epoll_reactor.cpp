// The epoll backend: readiness notification, then recv()/sendmsg() until the kernel says
// EAGAIN. Level-triggered, so a connection that stops early (its read budget spent) is
// simply offered again on the next wait. Writes go through TcpStream, whose sendmsg carries
// MSG_NOSIGNAL: a closed peer is an error value, never a SIGPIPE.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "io/accept_guard.h"
#include "io/reactor.h"

namespace spiced {

namespace {

constexpr uint32_t kReadable = EPOLLIN;
constexpr uint32_t kWritable = EPOLLOUT;
// Bytes read per wake-up and connection at most, so one busy client can't starve the others.
constexpr size_t kReadChunk = size_t{64} * 1024;
constexpr int kReadRoundsPerWake = 16;

class EpollReactor;

class EpollStream final : public StreamIo {
public:
    EpollStream(EpollReactor& reactor, TcpStream stream, Events& events);
    ~EpollStream() override;

    void write(std::vector<uint8_t> bytes) override;
    size_t queued_bytes() const override { return queued_bytes_; }
    size_t unacknowledged_bytes() const override {
        return queued_bytes_ + unacknowledged_socket_bytes(stream_.fd());
    }
    void shut(bool flush) override;

    void on_ready(uint32_t ready);

private:
    void read_available();
    enum class Written : uint8_t { kWaiting, kFailed, kShut };
    // Writes until EAGAIN (kWaiting, or kShut when an on_sent handler shut the stream);
    // kFailed: the socket failed, which the caller reports (or not, when shutting). on_sent is
    // only reported for writes the reactor drove (`notify`), never from inside write().
    Written write_queued(bool notify);
    void update_interest();
    void fail(std::string_view reason);

    EpollReactor& reactor_;
    TcpStream stream_;
    Events& events_;
    Reactor::Id watch_ = 0;
    uint32_t interest_ = 0;
    std::deque<std::vector<uint8_t>> output_;
    size_t output_offset_ = 0;  // bytes of output_.front() already written
    size_t queued_bytes_ = 0;
    bool done_ = false;
};

class EpollReactor final : public Reactor {
public:
    using FdCallback = std::function<void(uint32_t ready)>;

    EpollReactor(UniqueFd epoll, UniqueFd wake)
        : epoll_(std::move(epoll)), wake_(std::move(wake)) {}

    std::string_view backend_name() const override { return "epoll"; }

    Id accept_on(const TcpListener& listener, std::function<void(TcpStream)> on_stream) override {
        // The listener is non-blocking: accept everything pending, then wait again. Several
        // reactors (shards) may watch one listener: EPOLLEXCLUSIVE wakes one of them per
        // connection rather than all, and one that finds the backlog already empty
        // (kWouldBlock) has simply nothing to do.
        auto self = std::make_shared<Id>(0);
        *self = watch(listener.fd(), kReadable | EPOLLEXCLUSIVE,
                      [this, self, &listener, on_stream = std::move(on_stream)](uint32_t) {
                          for (int i = 0; i < 256 && !stopping_; ++i) {
                              auto stream = const_cast<TcpListener&>(listener).accept();
                              if (stream) {
                                  accept_guard_.on_accepted();
                                  on_stream(std::move(*stream));
                                  continue;
                              }
                              const int error = errno;
                              if (stream.error() == IoError::kWouldBlock) return;
                              if (AcceptGuard::out_of_descriptors(error)) {
                                  pause_accepts(*self,
                                                accept_guard_.on_exhausted(listener.fd(), error));
                              } else {
                                  LOG_WARN("io", "accept failed: %s", std::strerror(error));
                              }
                              return;
                          }
                      });
        return *self;
    }

    // A listener stays readable while its backlog is full and we have no descriptor for it:
    // take it out of the epoll set for a while (EPOLLEXCLUSIVE cannot be modified, only
    // removed and added again).
    void pause_accepts(Id id, std::chrono::milliseconds pause) {
        auto it = watches_.find(id);
        if (it == watches_.end()) return;
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
        // Not a timerfd: there is no descriptor to spare right now. run() wakes for it.
        paused_accepts_.push_back({std::chrono::steady_clock::now() + pause, id});
    }

    // Adds paused listeners back whose pause is over; returns the epoll_wait timeout (ms) until
    // the next one, or -1.
    int resume_accepts() {
        if (paused_accepts_.empty()) return -1;
        const auto now = std::chrono::steady_clock::now();
        auto next = std::chrono::steady_clock::time_point::max();
        for (size_t i = 0; i < paused_accepts_.size();) {
            const PausedAccept paused = paused_accepts_[i];
            if (paused.until > now) {
                next = std::min(next, paused.until);
                ++i;
                continue;
            }
            paused_accepts_.erase(paused_accepts_.begin() + long(i));
            auto it = watches_.find(paused.id);
            if (it != watches_.end() &&
                !epoll_add(it->second->fd, kReadable | EPOLLEXCLUSIVE, paused.id))
                LOG_ERROR("io", "epoll_ctl(ADD, listener %d): %s", it->second->fd,
                          std::strerror(errno));
        }
        if (next == std::chrono::steady_clock::time_point::max()) return -1;
        return int(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    }

    std::unique_ptr<StreamIo> open_stream(TcpStream stream, StreamIo::Events& events) override {
        return std::make_unique<EpollStream>(*this, std::move(stream), events);
    }

    Id every(std::chrono::nanoseconds period, std::function<void()> callback) override {
        UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
        if (!timer.valid()) {
            LOG_ERROR("io", "timerfd_create: %s", std::strerror(errno));
            return 0;
        }
        itimerspec spec{};
        spec.it_interval.tv_sec = period.count() / 1'000'000'000;
        spec.it_interval.tv_nsec = period.count() % 1'000'000'000;
        spec.it_value = spec.it_interval;
        timerfd_settime(timer.get(), 0, &spec, nullptr);
        const int fd = timer.get();
        const Id id = watch(fd, kReadable, [fd, cb = std::move(callback)](uint32_t) {
            uint64_t expirations = 0;
            if (::read(fd, &expirations, sizeof expirations) == sizeof expirations) cb();
        });
        if (id != 0) watches_[id]->owned = std::move(timer);
        return id;
    }

    void cancel(Id id) override {
        auto it = watches_.find(id);
        if (it == watches_.end()) return;
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
        watches_.erase(it);
    }

    Id watch(int fd, uint32_t interest, FdCallback callback) {
        const Id id = next_id_++;
        if (!epoll_add(fd, interest, id)) {
            LOG_ERROR("io", "epoll_ctl(ADD, fd %d): %s", fd, std::strerror(errno));
            return 0;
        }
        watches_.emplace(id, std::make_shared<Watch>(Watch{fd, std::move(callback), {}}));
        return id;
    }

    void set_interest(Id id, uint32_t interest) {
        auto it = watches_.find(id);
        if (it == watches_.end()) return;
        epoll_event event{};
        event.events = interest;
        event.data.u64 = id;
        epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second->fd, &event);
    }

    bool add_fixed(int fd, Id id) { return epoll_add(fd, kReadable, id); }

    void run() override {
        std::array<epoll_event, 128> events{};
        while (!stopping_) {
            run_deferred();
            const int n =
                epoll_wait(epoll_.get(), events.data(), int(events.size()), resume_accepts());
            if (n < 0) {
                if (errno == EINTR) continue;
                LOG_ERROR("io", "epoll_wait: %s", std::strerror(errno));
                return;
            }
            for (int i = 0; i < n && !stopping_; ++i) dispatch(events[i]);
            run_deferred();
        }
        stopping_ = false;  // this run is over; a later run() starts afresh
    }

    static constexpr Id kWakeId = ~Id{0};

protected:
    void wake() override {
        uint64_t one = 1;
        [[maybe_unused]] auto ignored = ::write(wake_.get(), &one, sizeof one);
    }

private:
    AcceptGuard accept_guard_;
    struct PausedAccept {
        std::chrono::steady_clock::time_point until;
        Id id;
    };
    std::vector<PausedAccept> paused_accepts_;

    struct Watch {
        int fd;
        FdCallback callback;
        UniqueFd owned;  // timerfds belong to their watch
    };

    bool epoll_add(int fd, uint32_t events, Id id) {
        epoll_event event{};
        event.events = events;
        event.data.u64 = id;
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) == 0) return true;
        // Kernels before 4.5 refuse EPOLLEXCLUSIVE: then every sharer wakes, which is only
        // slower.
        if (errno != EINVAL || !(events & EPOLLEXCLUSIVE)) return false;
        event.events = events & ~uint32_t{EPOLLEXCLUSIVE};
        return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) == 0;
    }

    void dispatch(const epoll_event& event) {
        const Id id = event.data.u64;
        if (id == kWakeId) {
            uint64_t value;
            while (::read(wake_.get(), &value, sizeof value) > 0) {
            }
            run_posted();
            return;
        }
        // A callback earlier in this batch may have removed this watch.
        auto it = watches_.find(id);
        if (it == watches_.end()) return;
        // Hold a reference: the callback may cancel itself.
        std::shared_ptr<Watch> watch = it->second;
        watch->callback(event.events);
    }

    UniqueFd epoll_;
    UniqueFd wake_;
    std::unordered_map<Id, std::shared_ptr<Watch>> watches_;
    Id next_id_ = 1;
};

EpollStream::EpollStream(EpollReactor& reactor, TcpStream stream, Events& events)
    : StreamIo(stream.peer()), reactor_(reactor), stream_(std::move(stream)), events_(events) {
    interest_ = kReadable;
    watch_ = reactor_.watch(stream_.fd(), interest_, [this](uint32_t ready) { on_ready(ready); });
}

EpollStream::~EpollStream() {
    if (watch_ != 0) reactor_.cancel(watch_);
}

void EpollStream::write(std::vector<uint8_t> bytes) {
    if (done_ || bytes.empty()) return;
    const bool was_idle = output_.empty();
    queued_bytes_ += bytes.size();
    output_.push_back(std::move(bytes));
    // Try right away: most messages fit in the socket buffer and never wait for EPOLLOUT.
    if (!was_idle) return;
    if (write_queued(/*notify=*/false) == Written::kFailed) return fail("socket write error");
    update_interest();
}

void EpollStream::shut(bool flush) {
    if (done_) return;
    // A failure here is not reported: the owner is closing, and no events follow shut().
    if (flush) write_queued(/*notify=*/false);
    done_ = true;
    // The peer sees the end now, not when the owner gets round to destroying us.
    ::shutdown(stream_.fd(), SHUT_RDWR);
    if (watch_ != 0) {
        reactor_.cancel(watch_);
        watch_ = 0;
    }
    output_.clear();
    queued_bytes_ = 0;
}

void EpollStream::on_ready(uint32_t ready) {
    if (done_) return;
    if (ready & kWritable) {
        const Written written = write_queued(/*notify=*/true);
        if (written == Written::kFailed) return fail("socket write error");
        if (written == Written::kShut) return;
    }
    if (ready & (kReadable | EPOLLERR | EPOLLHUP)) read_available();
    if (!done_) update_interest();
}

void EpollStream::read_available() {
    std::array<uint8_t, kReadChunk> chunk;
    for (int round = 0; round < kReadRoundsPerWake && !done_; ++round) {
        auto got = stream_.read_some(chunk);
        if (!got) {
            if (got.error() == IoError::kWouldBlock) return;
            fail(got.error() == IoError::kClosed ? "peer closed the connection"
                                                 : "socket read error");
            return;
        }
        bytes_received_ += *got;
        events_.on_received(std::span<const uint8_t>(chunk.data(), *got));
        if (*got < chunk.size()) return;
    }
}

EpollStream::Written EpollStream::write_queued(bool notify) {
    bool progressed = false;
    while (!output_.empty() && !done_) {
        std::array<std::span<const uint8_t>, 32> pieces;
        size_t count = 0;
        for (auto it = output_.begin(); it != output_.end() && count < pieces.size(); ++it) {
            std::span<const uint8_t> whole(*it);
            pieces[count] = count == 0 ? whole.subspan(output_offset_) : whole;
            ++count;
        }
        auto wrote = stream_.write_gather(std::span(pieces.data(), count));
        if (!wrote) {
            if (wrote.error() == IoError::kWouldBlock) break;
            return Written::kFailed;
        }
        size_t left = *wrote;
        bytes_sent_ += left;
        queued_bytes_ -= left;
        progressed = progressed || left > 0;
        while (left > 0) {
            const size_t rest = output_.front().size() - output_offset_;
            if (left < rest) {
                output_offset_ += left;
                left = 0;
            } else {
                left -= rest;
                output_.pop_front();
                output_offset_ = 0;
            }
        }
    }
    if (done_) return Written::kShut;
    if (progressed && notify) events_.on_sent(queued_bytes_);
    return done_ ? Written::kShut : Written::kWaiting;
}

void EpollStream::update_interest() {
    if (done_ || watch_ == 0) return;
    const uint32_t interest = output_.empty() ? kReadable : (kReadable | kWritable);
    if (interest == interest_) return;
    interest_ = interest;
    reactor_.set_interest(watch_, interest);
}

void EpollStream::fail(std::string_view reason) {
    shut(/*flush=*/false);
    events_.on_failed(reason);
}

}  // namespace

Expected<std::unique_ptr<Reactor>, std::string> create_epoll_reactor(
    const ReactorOptions& /*options: none concern epoll*/) {
    UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.valid()) return unexpected(std::string("epoll_create1: ") + std::strerror(errno));
    UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake.valid()) return unexpected(std::string("eventfd: ") + std::strerror(errno));
    const int wake_fd = wake.get();
    auto reactor = std::make_unique<EpollReactor>(std::move(epoll), std::move(wake));
    if (!reactor->add_fixed(wake_fd, EpollReactor::kWakeId)) {
        return unexpected(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    return std::unique_ptr<Reactor>(std::move(reactor));
}

}  // namespace spiced
