// The io_uring backend: one ring per reactor thread. Sockets are driven by completions:
// multishot accept, multishot receive into a ring of provided buffers (no per-connection
// read buffer), one sendmsg in flight per connection gathering everything queued, and
// zero-copy sendmsg for large batches while the kernel reports it really avoided the copy.
// Timers are ring timeouts; everything prepared during a batch of callbacks is submitted
// with one io_uring_enter that also waits for the next completion.
//
// Every send carries MSG_NOSIGNAL: a send to a closed peer must not raise SIGPIPE, whose
// disposition belongs to the host we may be embedded in. The direct send()/sendmsg() calls (the
// inline first send, a closing connection's goodbye) depend on it; the kernels we run on
// (6.0+) add it to ring sends themselves, and the SQEs carry it anyway so nothing rests on that.
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <unordered_map>

#include "base/log.h"
#include "io/accept_guard.h"
#include "io/reactor.h"

// liburing 2.3 (Debian 12) predates these; the values are the kernel's ABI (Linux 6.2).
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace spiced {

namespace {

constexpr unsigned kRingEntries = 1024;
// Provided receive buffers, shared by every connection of the reactor: memory for reads is
// bounded by this, not by the number of clients. SPICE clients send little (input, acks,
// pongs, agent messages), and a buffer is handed back as soon as its completion is processed,
// so 2 MiB a shard is plenty; a burst that finds none free costs one re-armed receive
// (-ENOBUFS below), not data. 16 KiB holds a whole TLS record. (One process serves one
// desktop, so this is paid per desktop on a VDI host: 512 buffers were 16 MiB a desktop.)
constexpr unsigned kBufferCount = 128;  // a power of two (buffer-ring requirement)
constexpr size_t kBufferSize = size_t{16} * 1024;
constexpr uint16_t kBufferGroup = 0;
// Most iovecs one sendmsg gathers.
constexpr size_t kMaxIovecs = 64;
// How long a closing connection's last send may take before the socket is shut anyway.
constexpr std::chrono::seconds kFlushLinger{2};
// How long a closed connection may wait for a send or a zero-copy notification before its
// socket is reset: a peer that stopped reading would otherwise hold the descriptor and the
// queued buffers (outside every limit) for as long as it stays.
constexpr std::chrono::seconds kCloseWait{3};

enum class Op : uint8_t { kWake = 1, kTimer, kAccept, kRecv, kSend, kIgnored };

uint64_t tag(uint64_t id, Op op) {
    return (id << 8) | uint64_t(op);
}

__kernel_timespec to_timespec(std::chrono::nanoseconds at) {
    __kernel_timespec spec{};
    spec.tv_sec = at.count() / 1'000'000'000;
    spec.tv_nsec = at.count() % 1'000'000'000;
    return spec;
}

std::chrono::nanoseconds monotonic_now() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

std::string_view failure_reason(int error) {
    if (error == ECONNRESET || error == EPIPE || error == ENOTCONN) {
        return "peer closed the connection";
    }
    return "socket error";
}

class UringReactor;
class UringStream;

// What the kernel may still touch after a connection is gone: the socket, queued buffers,
// the in-flight message header. Owned by the reactor until every operation has completed.
struct StreamState {
    Reactor::Id id = 0;
    UniqueFd fd;
    UringStream* handle = nullptr;  // null once the connection let go
    StreamIo::Events* events = nullptr;
    std::deque<std::vector<uint8_t>> output;
    size_t output_offset = 0;
    size_t queued = 0;
    // Buffers sent zero-copy (or sent while such a send was pending) wait here for the
    // kernel's notification before they are freed.
    std::vector<std::vector<uint8_t>> held_for_zero_copy;
    unsigned zero_copy_notifications_pending = 0;
    bool zero_copy = true;
    bool recv_armed = false;
    bool send_in_flight = false;
    bool send_was_zero_copy = false;
    bool detached = false;
    bool shutdown_pending = false;  // detached with a flush while a send was in flight
    // The loop turn of this connection's last inline send: one per turn, the rest of a burst
    // gathers into one ring send.
    uint64_t inline_turn = 0;
    msghdr message{};
    std::array<iovec, kMaxIovecs> iov{};
};

class UringStream final : public StreamIo {
public:
    UringStream(UringReactor& reactor, std::shared_ptr<StreamState> state, std::string peer)
        : StreamIo(std::move(peer)), reactor_(reactor), state_(std::move(state)) {}
    ~UringStream() override;

    void write(std::vector<uint8_t> bytes) override;
    size_t queued_bytes() const override { return state_->queued; }
    size_t unacknowledged_bytes() const override {
        return state_->queued + unacknowledged_socket_bytes(state_->fd.get());
    }
    void shut(bool flush) override;

    void count_sent(size_t bytes) { bytes_sent_ += bytes; }
    void count_received(size_t bytes) { bytes_received_ += bytes; }

private:
    UringReactor& reactor_;
    std::shared_ptr<StreamState> state_;
};

class UringReactor final : public Reactor {
public:
    explicit UringReactor(const ReactorOptions& options)
        : zero_copy_min_(options.zero_copy_min_bytes),
          keep_zero_copy_(options.zero_copy_even_if_copied),
          inline_first_send_(options.inline_first_send) {}
    ~UringReactor() override {
        if (ring_ready_) {
            close_unreaped_accepts();
            io_uring_queue_exit(&ring_);
        }
        if (buffer_ring_ != nullptr) munmap(buffer_ring_, buffer_ring_bytes_);
    }

    Expected<bool, std::string> init() {
        io_uring_params params{};
        // One thread submits and reaps: let the kernel skip the cross-thread machinery.
        params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                       IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        int rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
        if (rc == -EINVAL) {  // an older kernel without the newer setup flags
            params = {};
            rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
        }
        if (rc < 0) return unexpected(std::string("io_uring_setup: ") + std::strerror(-rc));
        ring_ready_ = true;
        if (!(params.features & IORING_FEAT_NODROP)) {
            return unexpected(std::string("kernel lacks IORING_FEAT_NODROP (Linux 5.5+)"));
        }
        io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
        if (probe == nullptr) return unexpected(std::string("io_uring probe failed"));
        const bool basics = io_uring_opcode_supported(probe, IORING_OP_ACCEPT) &&
                            io_uring_opcode_supported(probe, IORING_OP_RECV) &&
                            io_uring_opcode_supported(probe, IORING_OP_SENDMSG) &&
                            io_uring_opcode_supported(probe, IORING_OP_TIMEOUT) &&
                            io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
                            io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
        const bool zero_copy = io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
        io_uring_free_probe(probe);
        if (!basics) return unexpected(std::string("kernel lacks the io_uring socket operations"));
        if (!zero_copy) zero_copy_min_ = 0;

        // The provided-buffer ring (Linux 5.19; multishot receive needs 6.0).
        buffer_ring_bytes_ = kBufferCount * sizeof(io_uring_buf);
        void* ring_memory = mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                                 MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (ring_memory == MAP_FAILED) {
            return unexpected(std::string("mmap buffer ring: ") + std::strerror(errno));
        }
        buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
        io_uring_buf_reg registration{};
        registration.ring_addr = reinterpret_cast<uint64_t>(ring_memory);
        registration.ring_entries = kBufferCount;
        registration.bgid = kBufferGroup;
        rc = io_uring_register_buf_ring(&ring_, &registration, 0);
        if (rc < 0) {
            return unexpected(std::string("provided buffer rings (Linux 5.19+): ") +
                              std::strerror(-rc));
        }
        io_uring_buf_ring_init(buffer_ring_);
        // Not zero-filled: pages stay untouched until the kernel first receives into them.
        buffers_ = std::make_unique_for_overwrite<uint8_t[]>(kBufferCount * kBufferSize);
        for (unsigned i = 0; i < kBufferCount; ++i) {
            io_uring_buf_ring_add(buffer_ring_, buffers_.get() + size_t(i) * kBufferSize,
                                  kBufferSize, uint16_t(i), io_uring_buf_ring_mask(kBufferCount),
                                  int(i));
        }
        io_uring_buf_ring_advance(buffer_ring_, int(kBufferCount));

        wake_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!wake_.valid()) return unexpected(std::string("eventfd: ") + std::strerror(errno));
        arm_poll(wake_.get(), Op::kWake);
        // Multishot receive is the one feature the probe cannot show: try it on a socket pair
        // now rather than finding out on the first client.
        if (auto checked = check_multishot_receive(); !checked) return unexpected(checked.error());
        return true;
    }

    std::string_view backend_name() const override { return "io_uring"; }

    Id accept_on(const TcpListener& listener, std::function<void(TcpStream)> on_stream) override {
        const Id id = next_id_++;
        acceptors_.emplace(
            id, std::make_shared<Acceptor>(Acceptor{listener.fd(), std::move(on_stream)}));
        arm_accept(id);
        return id;
    }

    std::unique_ptr<StreamIo> open_stream(TcpStream stream, StreamIo::Events& events) override {
        auto state = std::make_shared<StreamState>();
        state->id = next_id_++;
        std::string peer = stream.peer();
        state->fd = std::move(stream).release_fd();
        state->events = &events;
        // Zero-copy sends are TCP's: the kernel refuses them on unix sockets (a host's
        // socketpair) with EOPNOTSUPP.
        int protocol = 0;
        socklen_t length = sizeof protocol;
        const bool tcp =
            getsockopt(state->fd.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &length) == 0 &&
            protocol == IPPROTO_TCP;
        state->zero_copy = zero_copy_min_ > 0 && tcp;
        auto handle = std::make_unique<UringStream>(*this, state, std::move(peer));
        state->handle = handle.get();
        streams_.emplace(state->id, state);
        arm_recv(*state);
        return handle;
    }

    Id every(std::chrono::nanoseconds period, std::function<void()> callback) override {
        return add_timer(period, /*repeat=*/true, std::move(callback));
    }

    Id add_timer(std::chrono::nanoseconds period, bool repeat, std::function<void()> callback) {
        const Id id = next_id_++;
        auto timer = std::make_shared<Timer>();
        timer->repeat = repeat;
        timer->period = period;
        timer->next = monotonic_now() + period;
        timer->callback = std::move(callback);
        timers_.emplace(id, std::move(timer));
        arm_timer(id);
        return id;
    }

    void cancel(Id id) override {
        if (auto timer = timers_.find(id); timer != timers_.end()) {
            // The kernel may not have read the deadline yet (it is read at submission): keep
            // the timer's memory until its completion arrives.
            retired_timers_.emplace(id, std::move(timer->second));
            timers_.erase(timer);
            io_uring_prep_timeout_remove(sqe(), tag(id, Op::kTimer), 0);
            io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        } else if (acceptors_.erase(id) > 0) {
            io_uring_prep_cancel64(sqe(), tag(id, Op::kAccept), 0);
            io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        }
    }

    void run() override {
        std::array<io_uring_cqe*, 256> batch{};
        while (!stopping_) {
            run_deferred();
            const int rc = io_uring_submit_and_wait(&ring_, 1);
            ++turn_;
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
                LOG_ERROR("io", "io_uring_submit_and_wait: %s", std::strerror(-rc));
                return;
            }
            for (;;) {
                const unsigned n = io_uring_peek_batch_cqe(&ring_, batch.data(), batch.size());
                if (n == 0) break;
                // Copy out first: handlers prepare new entries, and the slots must be free.
                std::array<Completion, 256> done;
                for (unsigned i = 0; i < n; ++i) {
                    done[i] = {batch[i]->user_data, batch[i]->res, batch[i]->flags};
                }
                io_uring_cq_advance(&ring_, n);
                for (unsigned i = 0; i < n && !stopping_; ++i) dispatch(done[i]);
                if (n < batch.size()) break;
            }
            run_deferred();
        }
        stopping_ = false;  // this run is over; a later run() starts afresh
    }

    // -- Used by UringStream ---------------------------------------------------------------
    void write(StreamState& state, std::vector<uint8_t> bytes) {
        if (state.detached || bytes.empty()) return;
        if (inline_first_send_ && state.output.empty() && !state.send_in_flight &&
            state.inline_turn != turn_ &&
            (zero_copy_min_ == 0 || !state.zero_copy || bytes.size() < zero_copy_min_) &&
            state.zero_copy_notifications_pending == 0) {
            state.inline_turn = turn_;
            const ssize_t sent =
                ::send(state.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent > 0) {
                state.handle->count_sent(size_t(sent));
                if (size_t(sent) == bytes.size()) return;
                bytes.erase(bytes.begin(), bytes.begin() + sent);
            }
            // EAGAIN or a partial write: the ring takes the rest (and reports errors).
        }
        state.queued += bytes.size();
        state.output.push_back(std::move(bytes));
        pump_send(state);
    }

    void detach(StreamState& state, bool flush) {
        if (state.detached) return;
        state.detached = true;
        state.handle = nullptr;
        state.events = nullptr;
        if (flush && state.send_in_flight) {
            // The goodbye (a link error reply, a close frame) may sit behind the send in
            // flight: finish that send first, but never wait on the peer for long.
            state.shutdown_pending = true;
            std::weak_ptr<StreamState> weak = streams_.at(state.id);
            add_timer(kFlushLinger, /*repeat=*/false, [this, weak] {
                if (auto held = weak.lock(); held && held->shutdown_pending) shutdown_socket(*held);
            });
        } else {
            if (flush && !state.output.empty()) send_now(state);
            shutdown_socket(state);
        }
        if (state.recv_armed) {
            io_uring_prep_cancel64(sqe(), tag(state.id, Op::kRecv), 0);
            io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        }
        if (state.send_in_flight || state.zero_copy_notifications_pending > 0) {
            std::weak_ptr<StreamState> weak = streams_.at(state.id);
            add_timer(kCloseWait, /*repeat=*/false, [this, weak] {
                if (auto held = weak.lock()) abort_socket(*held);
            });
        }
        maybe_release(state);
    }

    // The peer still has not taken what a closed connection sent: reset the connection, which
    // drops the kernel's copy (the zero-copy notification then comes) and, once the send in
    // flight is cancelled, releases the socket.
    void abort_socket(StreamState& state) {
        if (!state.fd.valid()) return;
        LOG_DEBUG("io", "closed connection %llu: peer took nothing for %lld s; resetting it",
                  static_cast<unsigned long long>(state.id),
                  static_cast<long long>(kCloseWait.count()));
        const linger reset_on_close{1, 0};
        ::setsockopt(state.fd.get(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
        if (state.send_in_flight) {
            io_uring_prep_cancel64(sqe(), tag(state.id, Op::kSend), 0);
            io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        }
        state.shutdown_pending = false;
        state.fd.reset();  // the ring's reference to the socket goes with the cancelled send
    }

protected:
    void wake() override {
        uint64_t one = 1;
        [[maybe_unused]] auto ignored = ::write(wake_.get(), &one, sizeof one);
    }

private:
    struct Completion {
        uint64_t user_data;
        int32_t res;
        uint32_t flags;
    };
    struct Timer {
        bool repeat = true;
        std::chrono::nanoseconds period{};
        std::chrono::nanoseconds next{};
        __kernel_timespec deadline{};  // read by the kernel at submission
        std::function<void()> callback;
    };
    AcceptGuard accept_guard_;

    struct Acceptor {
        int fd;
        std::function<void(TcpStream)> on_stream;
    };

    io_uring_sqe* sqe() {
        io_uring_sqe* entry = io_uring_get_sqe(&ring_);
        if (entry == nullptr) {  // the submission queue is full: flush it and retry
            io_uring_submit(&ring_);
            entry = io_uring_get_sqe(&ring_);
        }
        last_sqe_ = entry;
        return entry;
    }

    void arm_poll(int fd, Op op) {
        io_uring_prep_poll_multishot(sqe(), fd, POLLIN);
        io_uring_sqe_set_data64(last_sqe_, tag(0, op));
    }

    void arm_timer(Id id) {
        auto it = timers_.find(id);
        if (it == timers_.end()) return;
        Timer& timer = *it->second;
        timer.deadline = to_timespec(timer.next);
        io_uring_prep_timeout(sqe(), &timer.deadline, 0, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(last_sqe_, tag(id, Op::kTimer));
    }

    void arm_accept(Id id) {
        auto it = acceptors_.find(id);
        if (it == acceptors_.end()) return;
        io_uring_prep_multishot_accept(sqe(), it->second->fd, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(last_sqe_, tag(id, Op::kAccept));
        ++accepts_armed_;
    }

    void arm_recv(StreamState& state) {
        io_uring_prep_recv_multishot(sqe(), state.fd.get(), nullptr, 0, 0);
        last_sqe_->flags |= IOSQE_BUFFER_SELECT;
        last_sqe_->buf_group = kBufferGroup;
        io_uring_sqe_set_data64(last_sqe_, tag(state.id, Op::kRecv));
        state.recv_armed = true;
    }

    // Gives a receive buffer back to the kernel.
    void recycle_buffer(uint16_t id) {
        io_uring_buf_ring_add(buffer_ring_, buffers_.get() + size_t(id) * kBufferSize, kBufferSize,
                              id, io_uring_buf_ring_mask(kBufferCount), 0);
        io_uring_buf_ring_advance(buffer_ring_, 1);
    }

    // Gathers what is queued into the stream's message header.
    size_t gather(StreamState& state) {
        size_t count = 0;
        size_t total = 0;
        for (auto it = state.output.begin(); it != state.output.end() && count < kMaxIovecs;
             ++it, ++count) {
            const size_t skip = count == 0 ? state.output_offset : 0;
            state.iov[count].iov_base = it->data() + skip;
            state.iov[count].iov_len = it->size() - skip;
            total += it->size() - skip;
        }
        state.message = {};
        state.message.msg_iov = state.iov.data();
        state.message.msg_iovlen = count;
        return total;
    }

    void pump_send(StreamState& state) {
        if (state.send_in_flight || state.output.empty() || state.detached) return;
        const size_t total = gather(state);
        const bool zero_copy = state.zero_copy && zero_copy_min_ > 0 && total >= zero_copy_min_;
        if (zero_copy) {
            io_uring_prep_sendmsg_zc(sqe(), state.fd.get(), &state.message, MSG_NOSIGNAL);
            last_sqe_->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
            ++state.zero_copy_notifications_pending;
            ++zero_copy_sends_;
        } else {
            io_uring_prep_sendmsg(sqe(), state.fd.get(), &state.message, MSG_NOSIGNAL);
        }
        io_uring_sqe_set_data64(last_sqe_, tag(state.id, Op::kSend));
        state.send_in_flight = true;
        state.send_was_zero_copy = zero_copy;
    }

    // A last non-blocking write for a closing connection's goodbye (never waits).
    void send_now(StreamState& state) {
        gather(state);
        [[maybe_unused]] ssize_t n =
            ::sendmsg(state.fd.get(), &state.message, MSG_NOSIGNAL | MSG_DONTWAIT);
    }

    // Drops `sent` bytes from the front of the queue.
    void consume_output(StreamState& state, size_t sent) {
        state.queued -= sent;
        while (sent > 0) {
            const size_t rest = state.output.front().size() - state.output_offset;
            if (sent < rest) {
                state.output_offset += sent;
                return;
            }
            sent -= rest;
            if (state.zero_copy_notifications_pending > 0) {
                state.held_for_zero_copy.push_back(std::move(state.output.front()));
            }
            state.output.pop_front();
            state.output_offset = 0;
        }
    }

    // Ends the multishot receive and any send stuck on a peer that stopped reading; bytes the
    // kernel already took still go out before the FIN.
    void shutdown_socket(StreamState& state) {
        state.shutdown_pending = false;
        ::shutdown(state.fd.get(), SHUT_RDWR);
    }

    void maybe_release(StreamState& state) {
        if (!state.detached || state.recv_armed || state.send_in_flight ||
            state.zero_copy_notifications_pending > 0) {
            return;
        }
        streams_.erase(state.id);  // closes the socket
    }

    void fail(StreamState& state, std::string_view reason) {
        StreamIo::Events* events = state.events;
        detach(state, /*flush=*/false);
        if (events != nullptr) events->on_failed(reason);
    }

    void dispatch(const Completion& done) {
        const Id id = done.user_data >> 8;
        switch (Op(done.user_data & 0xff)) {
            case Op::kWake: {
                uint64_t value;
                while (::read(wake_.get(), &value, sizeof value) > 0) {
                }
                if (!(done.flags & IORING_CQE_F_MORE)) arm_poll(wake_.get(), Op::kWake);
                run_posted();
                return;
            }
            case Op::kTimer:
                return on_timer(id, done.res);
            case Op::kAccept:
                return on_accept(id, done);
            case Op::kRecv:
                return on_recv(id, done);
            case Op::kSend:
                return on_send(id, done);
            case Op::kIgnored:
                return;
        }
    }

    void on_timer(Id id, int res) {
        auto it = timers_.find(id);
        if (it == timers_.end() || res == -ECANCELED) {
            retired_timers_.erase(id);
            return;
        }
        // Hold a reference: the callback may cancel its own timer.
        std::shared_ptr<Timer> timer = it->second;
        if (!timer->repeat) {
            timers_.erase(it);
            timer->callback();
            return;
        }
        const auto now = monotonic_now();
        timer->next += timer->period;
        if (timer->next <= now) timer->next = now + timer->period;  // collapse missed periods
        timer->callback();
        // Cancelled from inside its callback: this completion was its last.
        if (timers_.count(id) == 0) {
            retired_timers_.erase(id);
            return;
        }
        arm_timer(id);
    }

    void on_accept(Id id, const Completion& done) {
        const bool more = done.flags & IORING_CQE_F_MORE;
        if (!more) --accepts_armed_;
        auto it = acceptors_.find(id);
        if (it == acceptors_.end()) {
            if (done.res >= 0) ::close(done.res);  // raced with cancel()
            return;
        }
        std::shared_ptr<Acceptor> acceptor = it->second;
        const bool exhausted = done.res < 0 && AcceptGuard::out_of_descriptors(-done.res);
        std::chrono::milliseconds pause{0};
        if (done.res >= 0) {
            accept_guard_.on_accepted();
            acceptor->on_stream(TcpStream::accepted(UniqueFd(done.res)));
        } else if (exhausted) {
            pause = accept_guard_.on_exhausted(acceptor->fd, -done.res);
        } else if (done.res != -ECANCELED && done.res != -EAGAIN) {
            // -EAGAIN (== -EWOULDBLOCK) is no error: another ring (another shard's reactor on a
            // listener they share) or the host took the connection first.
            LOG_WARN("io", "accept failed: %s", std::strerror(-done.res));
        }
        if (!more && acceptors_.count(id) > 0) {
            if (exhausted) {
                // Out of descriptors: the backlog still holds what we could not take; come
                // back after the guard's pause instead of spinning on it.
                after(pause, [this, id] { arm_accept(id); });
            } else {
                arm_accept(id);
            }
        }
    }

    void on_recv(Id id, const Completion& done) {
        auto it = streams_.find(id);
        const bool has_buffer = done.flags & IORING_CQE_F_BUFFER;
        const auto buffer_id = uint16_t(done.flags >> IORING_CQE_BUFFER_SHIFT);
        if (it == streams_.end()) {
            if (has_buffer) recycle_buffer(buffer_id);
            return;
        }
        std::shared_ptr<StreamState> state = it->second;
        const bool more = done.flags & IORING_CQE_F_MORE;
        if (!more) state->recv_armed = false;
        if (done.res > 0 && has_buffer) {
            const auto* data = buffers_.get() + size_t(buffer_id) * kBufferSize;
            if (state->events != nullptr) {
                state->handle->count_received(size_t(done.res));
                state->events->on_received(std::span<const uint8_t>(data, size_t(done.res)));
            }
            recycle_buffer(buffer_id);
        } else if (has_buffer) {
            recycle_buffer(buffer_id);
        }
        if (state->detached) return maybe_release(*state);
        if (done.res == 0) return fail(*state, "peer closed the connection");
        if (done.res < 0 && done.res != -ENOBUFS) {
            return fail(*state, done.res == -ECONNRESET ? "peer closed the connection"
                                                        : "socket read error");
        }
        // -ENOBUFS: every buffer was in use; they are back now, so listen again.
        if (!state->recv_armed) arm_recv(*state);
    }

    void on_send(Id id, const Completion& done) {
        auto it = streams_.find(id);
        if (it == streams_.end()) return;
        std::shared_ptr<StreamState> state = it->second;
        if (done.flags & IORING_CQE_F_NOTIF) {
            // The kernel is done with a zero-copy send's buffers.
            if (done.res & int32_t(IORING_NOTIF_USAGE_ZC_COPIED)) {
                if (state->zero_copy) {
                    LOG_DEBUG("io",
                              "%s: zero-copy send was copied (loopback or no NIC "
                              "support); plain sends from now on",
                              state->handle ? state->handle->peer().c_str() : "?");
                }
                state->zero_copy = keep_zero_copy_;
                ++zero_copy_copied_;
            }
            if (--state->zero_copy_notifications_pending == 0) state->held_for_zero_copy.clear();
            return maybe_release(*state);
        }
        // A zero-copy send without a notification coming (it failed) releases its count.
        if (state->send_was_zero_copy && !(done.flags & IORING_CQE_F_MORE)) {
            if (--state->zero_copy_notifications_pending == 0) state->held_for_zero_copy.clear();
        }
        state->send_in_flight = false;
        if (state->detached) {
            if (state->shutdown_pending) {
                if (done.res > 0) consume_output(*state, size_t(done.res));
                if (done.res >= 0 && !state->output.empty()) send_now(*state);
                shutdown_socket(*state);
            }
            return maybe_release(*state);
        }
        if (done.res < 0) return fail(*state, failure_reason(-done.res));
        consume_output(*state, size_t(done.res));
        state->handle->count_sent(size_t(done.res));
        pump_send(*state);
        if (state->events != nullptr) state->events->on_sent(state->queued);
    }

    // Multishot receive arrived in Linux 6.0; older kernels reject it with EINVAL.
    Expected<bool, std::string> check_multishot_receive() {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return true;
        UniqueFd a(pair[0]);
        UniqueFd b(pair[1]);
        io_uring_prep_recv_multishot(sqe(), a.get(), nullptr, 0, 0);
        last_sqe_->flags |= IOSQE_BUFFER_SELECT;
        last_sqe_->buf_group = kBufferGroup;
        io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        const char probe = 'x';
        [[maybe_unused]] auto sent = ::send(b.get(), &probe, 1, MSG_NOSIGNAL);
        io_uring_submit(&ring_);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring_, &cqe) != 0) return unexpected(std::string("wait_cqe failed"));
        const int res = cqe->res;
        const uint32_t flags = cqe->flags;
        io_uring_cqe_seen(&ring_, cqe);
        if (flags & IORING_CQE_F_BUFFER) recycle_buffer(uint16_t(flags >> IORING_CQE_BUFFER_SHIFT));
        if (res < 0) {
            return unexpected(std::string("multishot receive (Linux 6.0+): ") +
                              std::strerror(-res));
        }
        ::shutdown(a.get(), SHUT_RDWR);  // ends the probe's receive; its completion is ignored
        return true;
    }

    // Multishot accept installs each connection's descriptor in our table as it posts the
    // completion: completions nobody reaps would leak those when the ring goes, and a host
    // that stops and starts us must get back every descriptor. Cancels the accepts and closes
    // what they still bring, waiting a bounded time for the kernel's last completion of each.
    void close_unreaped_accepts() {
        for (const auto& [id, acceptor] : acceptors_) {
            io_uring_prep_cancel64(sqe(), tag(id, Op::kAccept), 0);
            io_uring_sqe_set_data64(last_sqe_, tag(0, Op::kIgnored));
        }
        acceptors_.clear();
        if (accepts_armed_ == 0) return;
        io_uring_submit(&ring_);
        __kernel_timespec limit{};
        limit.tv_sec = 1;  // cancellation is immediate; this only bounds a misbehaving kernel
        while (accepts_armed_ > 0) {
            io_uring_cqe* cqe = nullptr;
            if (io_uring_wait_cqe_timeout(&ring_, &cqe, &limit) != 0) return;
            const Completion done{cqe->user_data, cqe->res, cqe->flags};
            io_uring_cqe_seen(&ring_, cqe);
            if (Op(done.user_data & 0xff) != Op::kAccept) continue;
            if (done.res >= 0) ::close(done.res);
            if (!(done.flags & IORING_CQE_F_MORE)) --accepts_armed_;
        }
    }

    io_uring ring_{};
    bool ring_ready_ = false;
    io_uring_sqe* last_sqe_ = nullptr;
    io_uring_buf_ring* buffer_ring_ = nullptr;
    size_t buffer_ring_bytes_ = 0;
    std::unique_ptr<uint8_t[]> buffers_;  // kBufferCount buffers of kBufferSize
    UniqueFd wake_;
    UniqueFd signals_;
    // Counts loop turns (one per wait for completions); starts at 1 so no connection has
    // had its inline send in the first turn yet.
    uint64_t turn_ = 1;
    size_t zero_copy_min_;
    bool keep_zero_copy_;
    bool inline_first_send_;
    uint64_t zero_copy_sends_ = 0;
    uint64_t zero_copy_copied_ = 0;
    Id next_id_ = 1;
    std::unordered_map<Id, std::shared_ptr<Timer>> timers_;
    std::unordered_map<Id, std::shared_ptr<Timer>> retired_timers_;  // cancelled, CQE pending
    std::unordered_map<Id, std::shared_ptr<Acceptor>> acceptors_;
    // Multishot accepts the kernel may still complete (armed, final completion not seen).
    unsigned accepts_armed_ = 0;
    std::unordered_map<Id, std::shared_ptr<StreamState>> streams_;
};

UringStream::~UringStream() {
    reactor_.detach(*state_, /*flush=*/false);
}

void UringStream::write(std::vector<uint8_t> bytes) {
    reactor_.write(*state_, std::move(bytes));
}

void UringStream::shut(bool flush) {
    reactor_.detach(*state_, flush);
}

}  // namespace

Expected<std::unique_ptr<Reactor>, std::string> create_uring_reactor(
    const ReactorOptions& options) {
    auto reactor = std::make_unique<UringReactor>(options);
    auto ready = reactor->init();
    if (!ready) return unexpected(ready.error());
    return std::unique_ptr<Reactor>(std::move(reactor));
}

}  // namespace spiced
