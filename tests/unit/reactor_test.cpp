// Both Reactor backends against real loopback sockets: the same behaviour is required of each
// (accept, receive, ordered writes of many and large buffers, zero-copy sends, failure
// reports, a flushed goodbye, timers and cancel), including what embedding in a host needs:
// no SIGPIPE, sockets the host hands over (unix ones too), several reactors on one listener,
// and create/run/destroy cycles that give back every descriptor.
#include "io/reactor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "base/service_thread.h"
#include "io/connection.h"
#include "tests/unit/default_sigpipe.h"
#include "tests/unit/stderr_capture.h"

namespace spiced {
namespace {

struct Recorder final : StreamIo::Events {
    std::vector<uint8_t> received;
    size_t sent_events = 0;
    std::string failure;
    void on_received(std::span<const uint8_t> bytes) override {
        received.insert(received.end(), bytes.begin(), bytes.end());
    }
    void on_sent(size_t) override { ++sent_events; }
    void on_failed(std::string_view reason) override { failure = reason; }
};

UniqueFd connect_to(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    timeval limit{5, 0};  // a broken backend fails the test instead of hanging it
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    return fd;
}

// Reads exactly `size` bytes (blocking) from `fd`.
std::vector<uint8_t> read_exactly(int fd, size_t size) {
    std::vector<uint8_t> data(size);
    size_t have = 0;
    while (have < size) {
        const ssize_t got = ::recv(fd, data.data() + have, size - have, 0);
        if (got <= 0) break;
        have += size_t(got);
    }
    data.resize(have);
    return data;
}

std::vector<uint8_t> bytes_of(std::string_view text) {
    return std::vector<uint8_t>(text.begin(), text.end());
}

// Runs `reactor` until `done` or `limit` passes.
template <typename Done>
bool run_loop_until(Reactor& reactor, Done done,
                    std::chrono::milliseconds limit = std::chrono::seconds(3)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    const Reactor::Id poll = reactor.every(std::chrono::milliseconds(1), [&] {
        if (done() || std::chrono::steady_clock::now() > deadline) reactor.stop();
    });
    reactor.run();
    reactor.cancel(poll);
    return done();
}

size_t open_descriptors() {
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/fd")) {
        ++count;
    }
    return count;
}

bool has_flag(int fd, int get, int flag) {
    return (fcntl(fd, get) & flag) != 0;
}

class ReactorTest : public ::testing::TestWithParam<IoBackend> {
protected:
    void SetUp() override {
        ReactorOptions options;
        options.backend = GetParam();
        options.zero_copy_min_bytes = 64 * 1024;
        options.zero_copy_even_if_copied = true;  // exercise zero-copy sends on loopback too
        auto created = Reactor::create(options);
        ASSERT_TRUE(created.has_value()) << created.error();
        reactor_ = std::move(*created);
        // The reactor falls back to epoll where the kernel refuses io_uring; the io_uring
        // cases then have not run, and say so (CTest reports the skip).
        if (reactor_->backend_name() != backend())
            GTEST_SKIP() << backend() << " unavailable here: the reactor runs on "
                         << reactor_->backend_name();
        auto listener = TcpListener::listen("127.0.0.1", 0);
        ASSERT_TRUE(listener.has_value()) << listener.error();
        listener_.emplace(std::move(*listener));
        reactor_->accept_on(*listener_, [this](TcpStream stream) {
            if (on_accept_) return on_accept_(std::move(stream));
            server_ = reactor_->open_stream(std::move(stream), recorder_);
        });
    }

    // Runs the loop until `done` or `limit` passes.
    template <typename Done>
    bool run_until(Done done, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
        return run_loop_until(*reactor_, done, limit);
    }

    std::string backend() const { return GetParam() == IoBackend::kIoUring ? "io_uring" : "epoll"; }

    std::unique_ptr<Reactor> reactor_;
    std::optional<TcpListener> listener_;
    Recorder recorder_;
    std::unique_ptr<StreamIo> server_;
    std::function<void(TcpStream)> on_accept_;  // instead of the one server_ stream
};

TEST_P(ReactorTest, ReceivesAndSendsInOrder) {
    UniqueFd client = connect_to(listener_->port());
    const std::string hello = "REDQ hello";
    ASSERT_EQ(::send(client.get(), hello.data(), hello.size(), 0), ssize_t(hello.size()));
    ASSERT_TRUE(run_until([&] { return recorder_.received.size() >= hello.size(); }));
    EXPECT_EQ(std::string(recorder_.received.begin(), recorder_.received.end()), hello);
    EXPECT_EQ(server_->bytes_received(), hello.size());

    // Many small buffers and a few large ones (zero-copy sized), interleaved.
    std::vector<uint8_t> expected;
    for (int i = 0; i < 300; ++i) {
        const size_t size = i % 50 == 0 ? size_t{300} * 1024 : size_t(1 + i % 97);
        std::vector<uint8_t> chunk(size);
        for (size_t k = 0; k < size; ++k) chunk[k] = uint8_t(i * 31 + k);
        expected.insert(expected.end(), chunk.begin(), chunk.end());
        server_->write(std::move(chunk));
    }
    std::vector<uint8_t> got;
    std::thread reader([&] { got = read_exactly(client.get(), expected.size()); });
    run_until([&] { return server_->queued_bytes() == 0; });
    reader.join();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
    EXPECT_EQ(server_->bytes_sent(), expected.size());
}

// Many connections with data waiting at once: 12 MB in one burst against io_uring's shared
// 2 MiB of receive buffers. Every byte must arrive, in order, on every connection, however the
// kernel paces the receives (on the kernels here it hands out buffers as the reactor returns
// them; a kernel that ends a receive with -ENOBUFS gets it re-armed).
TEST_P(ReactorTest, EveryConnectionGetsItsBytesWhenDataOutnumbersReceiveBuffers) {
    constexpr size_t kClients = 300;
    constexpr size_t kBytesEach = 40 * 1024;  // a few buffers each: far more than the ring
    std::vector<std::unique_ptr<Recorder>> recorders;
    std::vector<std::unique_ptr<StreamIo>> streams;
    on_accept_ = [&](TcpStream stream) {
        recorders.push_back(std::make_unique<Recorder>());
        streams.push_back(reactor_->open_stream(std::move(stream), *recorders.back()));
    };
    std::vector<UniqueFd> clients;
    while (clients.size() < kClients) {
        for (size_t k = 0; k < 50; ++k) clients.push_back(connect_to(listener_->port()));
        ASSERT_TRUE(run_until([&] { return streams.size() == clients.size(); }));
    }
    // Everything is sent while the loop is not running, so it all lands in one burst.
    auto payload = [](size_t client) {
        std::vector<uint8_t> bytes(kBytesEach);
        for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = uint8_t(client * 7 + k / 3);
        return bytes;
    };
    for (size_t i = 0; i < kClients; ++i) {
        const auto bytes = payload(i);
        ASSERT_EQ(::send(clients[i].get(), bytes.data(), bytes.size(), 0), ssize_t(bytes.size()));
    }
    auto all_arrived = [&] {
        for (const auto& r : recorders)
            if (r->received.size() < kBytesEach) return false;
        return true;
    };
    ASSERT_TRUE(run_until(all_arrived, std::chrono::seconds(10)));
    // Streams are accepted in no particular order: match each to its client by the first byte.
    std::vector<bool> seen(kClients);
    for (const auto& r : recorders) {
        EXPECT_TRUE(r->failure.empty()) << r->failure;
        const uint8_t first = r->received[0];
        size_t client = kClients;
        for (size_t i = 0; i < kClients; ++i) {
            if (!seen[i] && uint8_t(i * 7) == first && r->received == payload(i)) {
                client = i;
                break;
            }
        }
        ASSERT_LT(client, kClients) << "a stream received bytes no client sent in that order";
        seen[client] = true;
    }
}

TEST_P(ReactorTest, ReportsPeerClose) {
    UniqueFd client = connect_to(listener_->port());
    ASSERT_TRUE(run_until([&] { return server_ != nullptr; }));
    client.reset();
    ASSERT_TRUE(run_until([&] { return !recorder_.failure.empty(); }));
    EXPECT_EQ(recorder_.failure, "peer closed the connection");
}

TEST_P(ReactorTest, FlushedGoodbyeArrivesBeforeClose) {
    UniqueFd client = connect_to(listener_->port());
    ASSERT_TRUE(run_until([&] { return server_ != nullptr; }));
    const std::string goodbye = "goodbye";
    server_->write(std::vector<uint8_t>(goodbye.begin(), goodbye.end()));
    server_->shut(/*flush=*/true);
    run_until([] { return false; }, std::chrono::milliseconds(200));  // let the backend finish
    std::vector<uint8_t> rest = read_exactly(client.get(), 64);
    EXPECT_EQ(std::string(rest.begin(), rest.end()), goodbye);
    EXPECT_TRUE(recorder_.failure.empty());  // no events after shut()
}

TEST_P(ReactorTest, TimersRepeatAndCancel) {
    int ticks = 0;
    Reactor::Id timer = 0;
    timer = reactor_->every(std::chrono::milliseconds(2), [&] {
        if (++ticks == 3) reactor_->cancel(timer);  // cancel from inside its own callback
    });
    run_until([&] { return ticks >= 3; });
    run_until([] { return false; }, std::chrono::milliseconds(50));
    EXPECT_EQ(ticks, 3);
}

TEST_P(ReactorTest, PostedTasksRunOnTheLoopInOrderFromEveryThread) {
    constexpr int kThreads = 4;
    constexpr int kEach = 2000;
    std::vector<int> last(kThreads, -1);
    bool in_order = true;
    int ran = 0;
    const std::thread::id loop_thread = std::this_thread::get_id();
    bool on_loop = true;
    std::vector<std::thread> posters;
    for (int t = 0; t < kThreads; ++t) {
        posters.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                reactor_->post([&, t, i] {
                    on_loop = on_loop && std::this_thread::get_id() == loop_thread;
                    in_order = in_order && last[size_t(t)] == i - 1;
                    last[size_t(t)] = i;
                    ++ran;
                });
            }
        });
    }
    const bool all = run_until([&] { return ran == kThreads * kEach; }, std::chrono::seconds(10));
    for (auto& poster : posters) poster.join();
    EXPECT_TRUE(all) << ran;
    EXPECT_TRUE(in_order);
    EXPECT_TRUE(on_loop);
}

TEST_P(ReactorTest, TasksThatPostTasksDoNotStarveTimers) {
    // A task that always posts itself again (like a sender that keeps finding room).
    std::function<void()> again;
    uint64_t spins = 0;
    again = [&] {
        ++spins;
        reactor_->post(again);
    };
    reactor_->post(again);
    int ticks = 0;
    reactor_->every(std::chrono::milliseconds(1), [&] { ++ticks; });
    EXPECT_TRUE(run_until([&] { return ticks >= 3; }, std::chrono::seconds(5)));
    EXPECT_GT(spins, 0u);
}

TEST_P(ReactorTest, StopFromAnotherThreadEndsRun) {
    std::thread stopper([&] { reactor_->post([&] { reactor_->stop(); }); });
    reactor_->run();  // returns only through the posted stop
    stopper.join();
}

using testing_support::DefaultSigpipe;

enum class Breakage { kOurSendSideShut, kPeerReset, kSocketpairPeerClosed };

// Every send path (io_uring: the inline send, ring SENDMSG and SENDMSG_ZC; epoll: sendmsg) hits
// a socket that can only answer EPIPE or ECONNRESET. With SIGPIPE's default action a single
// send without MSG_NOSIGNAL kills the test binary (removing it from the inline send or from
// TcpStream's sendmsg does; Linux 5.10+ adds it to ring sends by itself); the stream must
// report a failure instead.
TEST_P(ReactorTest, WritesToABrokenConnectionFailWithoutSigpipe) {
    const DefaultSigpipe sigpipe_kills;
    for (Breakage breakage :
         {Breakage::kOurSendSideShut, Breakage::kPeerReset, Breakage::kSocketpairPeerClosed}) {
        // Small: the inline send, then the ring's SENDMSG; large: zero-copy size (on TCP).
        for (size_t size : {size_t{100}, size_t{256} * 1024}) {
            SCOPED_TRACE("breakage " + std::to_string(int(breakage)) + ", " + std::to_string(size) +
                         " bytes per write");
            Recorder recorder;
            std::unique_ptr<StreamIo> stream;
            UniqueFd peer;
            if (breakage == Breakage::kSocketpairPeerClosed) {
                int pair[2];
                ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
                peer = UniqueFd(pair[1]);
                auto adopted = TcpStream::adopt(UniqueFd(pair[0]));
                ASSERT_TRUE(adopted.has_value()) << adopted.error();
                stream = reactor_->open_stream(std::move(*adopted), recorder);
                peer.reset();  // every send now fails with EPIPE
            } else {
                int server_fd = -1;
                on_accept_ = [&](TcpStream accepted) {
                    server_fd = accepted.fd();
                    stream = reactor_->open_stream(std::move(accepted), recorder);
                };
                peer = connect_to(listener_->port());
                ASSERT_TRUE(run_until([&] { return stream != nullptr; }));
                if (breakage == Breakage::kOurSendSideShut) {
                    ASSERT_EQ(::shutdown(server_fd, SHUT_WR), 0);  // every send: EPIPE
                } else {
                    const linger reset{1, 0};
                    setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
                    peer.reset();  // an RST: ECONNRESET, then EPIPE for every later send
                }
            }
            // Before the loop has seen anything, and again after the failure.
            for (int round = 0; round < 8; ++round) {
                stream->write(std::vector<uint8_t>(size, uint8_t(round)));
                stream->write(std::vector<uint8_t>(size, uint8_t(round + 1)));
                run_until([&] { return !recorder.failure.empty(); }, std::chrono::milliseconds(20));
            }
            EXPECT_FALSE(recorder.failure.empty());
            stream.reset();
            on_accept_ = nullptr;
        }
    }
}

// Writes back everything it receives.
struct Echo final : StreamIo::Events {
    StreamIo* io = nullptr;
    std::string failure;
    void on_received(std::span<const uint8_t> bytes) override {
        io->write(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    }
    void on_sent(size_t) override {}
    void on_failed(std::string_view reason) override { failure = reason; }
};

// A host hands over one end of a socketpair (spice_server_add_client): bytes go through both
// ways, larger than the socket's buffer, and the host closing its end is reported.
TEST_P(ReactorTest, AdoptedSocketpairEchoesAndReportsClose) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);  // blocking, as a host may leave it
    UniqueFd host(pair[1]);
    auto adopted = TcpStream::adopt(UniqueFd(pair[0]));
    ASSERT_TRUE(adopted.has_value()) << adopted.error();
    EXPECT_EQ(adopted->peer(), "socketpair");
    EXPECT_TRUE(has_flag(adopted->fd(), F_GETFL, O_NONBLOCK));
    EXPECT_TRUE(has_flag(adopted->fd(), F_GETFD, FD_CLOEXEC));
    Echo echo;
    std::unique_ptr<StreamIo> stream = reactor_->open_stream(std::move(*adopted), echo);
    echo.io = stream.get();
    EXPECT_EQ(stream->peer(), "socketpair");
    timeval limit{5, 0};  // a broken backend fails the test instead of hanging it
    setsockopt(host.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(host.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);

    // 1 MiB: many times a unix socket's buffer, so both directions stall and resume.
    std::vector<uint8_t> sent(size_t{1} << 20);
    for (size_t k = 0; k < sent.size(); ++k) sent[k] = uint8_t(k * 13 + k / 4096);
    std::vector<uint8_t> back;
    std::atomic<int> host_done = 0;
    std::thread reader([&] {
        back = read_exactly(host.get(), sent.size());
        ++host_done;
    });
    std::thread writer([&] {
        for (size_t offset = 0; offset < sent.size();) {
            const ssize_t n =
                ::send(host.get(), sent.data() + offset,
                       std::min<size_t>(64 * 1024, sent.size() - offset), MSG_NOSIGNAL);
            if (n <= 0) break;
            offset += size_t(n);
        }
        ++host_done;
    });
    run_until([&] { return host_done == 2 || !echo.failure.empty(); }, std::chrono::seconds(10));
    writer.join();
    reader.join();
    EXPECT_TRUE(echo.failure.empty()) << echo.failure;
    EXPECT_EQ(back.size(), sent.size());
    EXPECT_TRUE(back == sent);

    // A write of zero-copy size: a unix socket cannot send zero-copy, so it must go plainly.
    std::vector<uint8_t> large(size_t{300} * 1024, 0x5a);
    std::vector<uint8_t> got;
    std::thread large_reader([&] { got = read_exactly(host.get(), large.size()); });
    stream->write(large);
    run_until([&] { return stream->queued_bytes() == 0 || !echo.failure.empty(); });
    large_reader.join();
    EXPECT_TRUE(echo.failure.empty()) << echo.failure;
    EXPECT_TRUE(got == large);

    host.reset();
    ASSERT_TRUE(run_until([&] { return !echo.failure.empty(); }));
    EXPECT_EQ(echo.failure, "peer closed the connection");
}

// A listening unix socket from the host: accepted clients work like TCP ones.
TEST_P(ReactorTest, AdoptedUnixListenerAccepts) {
    // Abstract namespace: no file to clean up. Blocking and inheritable, as a host may leave it.
    UniqueFd raw(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string name = "spiced-reactor-test-" + std::to_string(getpid()) + "-" + backend();
    std::memcpy(address.sun_path + 1, name.data(), name.size());
    const auto length = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(raw.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(::listen(raw.get(), 16), 0);
    auto listener = TcpListener::adopt(std::move(raw));
    ASSERT_TRUE(listener.has_value()) << listener.error();
    EXPECT_EQ(listener->port(), 0);
    EXPECT_TRUE(has_flag(listener->fd(), F_GETFL, O_NONBLOCK));
    EXPECT_TRUE(has_flag(listener->fd(), F_GETFD, FD_CLOEXEC));

    Recorder recorder;
    std::unique_ptr<StreamIo> stream;
    std::string peer;
    const Reactor::Id watch = reactor_->accept_on(*listener, [&](TcpStream accepted) {
        peer = accepted.peer();
        stream = reactor_->open_stream(std::move(accepted), recorder);
    });
    UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    timeval limit{5, 0};
    setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ASSERT_EQ(::send(client.get(), "hello", 5, 0), 5);
    ASSERT_TRUE(run_until([&] { return recorder.received.size() >= 5; }));
    EXPECT_EQ(peer, "unix");
    EXPECT_EQ(std::string(recorder.received.begin(), recorder.received.end()), "hello");
    stream->write(bytes_of("world"));
    run_until([&] { return stream->queued_bytes() == 0; });
    const auto reply = read_exactly(client.get(), 5);
    EXPECT_EQ(std::string(reply.begin(), reply.end()), "world");
    stream.reset();
    reactor_->cancel(watch);  // before the listener goes
}

// Every shard may accept on one listener the host handed over: two reactors on their own
// threads share it, and each of 50 connections is accepted exactly once, with no accept
// error logged (a reactor that loses the race for a connection has nothing to report).
TEST_P(ReactorTest, TwoReactorsShareOneAdoptedListener) {
    UniqueFd raw(::socket(AF_INET, SOCK_STREAM, 0));  // as a host makes it: blocking
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(raw.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(raw.get(), 128), 0);
    auto shared = TcpListener::adopt(std::move(raw));
    ASSERT_TRUE(shared.has_value()) << shared.error();
    ASSERT_NE(shared->port(), 0);

    struct Side {
        std::unique_ptr<Reactor> reactor;  // created, run and destroyed on `thread`
        std::string error;
        std::vector<std::string> peers;
        std::promise<void> ready;
        std::future<void> started;
        std::thread thread;
    };
    std::array<Side, 2> sides;
    std::atomic<size_t> accepted = 0;
    testing::internal::CaptureStderr();
    for (Side& side : sides) {
        side.started = side.ready.get_future();
        side.thread = start_service_thread("test-acceptor", [&, self = &side] {
            ReactorOptions options;
            options.backend = GetParam();
            auto created = Reactor::create(options);
            if (!created) {
                self->error = created.error();
                self->ready.set_value();
                return;
            }
            self->reactor = std::move(*created);
            self->reactor->accept_on(*shared, [&](TcpStream stream) {
                self->peers.push_back(stream.peer());
                ++accepted;
            });
            self->ready.set_value();
            // Destroyed by the main thread after the join: stop() may still be waking it.
            self->reactor->run();
        });
    }
    for (Side& side : sides) side.started.wait();
    bool started = true;
    for (Side& side : sides) {
        EXPECT_TRUE(side.error.empty()) << side.error;
        started = started && side.reactor != nullptr;
    }
    std::vector<std::string> clients;
    std::vector<UniqueFd> connections;
    for (int i = 0; started && i < 50; ++i) {
        connections.push_back(connect_to(shared->port()));
        sockaddr_in local{};
        socklen_t local_length = sizeof local;
        getsockname(connections.back().get(), reinterpret_cast<sockaddr*>(&local), &local_length);
        clients.push_back("127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (accepted < clients.size() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // room for a duplicate
    for (Side& side : sides) {
        if (side.reactor) side.reactor->stop();
    }
    for (Side& side : sides) {
        side.thread.join();
        side.reactor.reset();
    }
    const std::string log = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(started);

    std::vector<std::string> peers = sides[0].peers;
    peers.insert(peers.end(), sides[1].peers.begin(), sides[1].peers.end());
    std::sort(peers.begin(), peers.end());
    std::sort(clients.begin(), clients.end());
    EXPECT_EQ(peers, clients);
    EXPECT_EQ(log.find("accept failed"), std::string::npos) << log;
    EXPECT_EQ(shared->accept().error(), IoError::kWouldBlock);  // nothing left behind
}

// A host may start and stop the server many times: each cycle creates a reactor, accepts,
// exchanges bytes, runs twice, leaves a connection the loop never saw, and destroys it all.
TEST_P(ReactorTest, AConnectionLogsABurstThenCountsWhatItHeldBackAndSaysSoAtClose) {
    struct Closed final : Connection::Handler {
        size_t on_data(std::span<const uint8_t> data) override { return data.size(); }
        void on_closed(std::string_view) override {}
    } handler;
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    const UniqueFd ours(fds[1]);
    StderrCapture log;
    {
        Connection connection(*reactor_, TcpStream(UniqueFd(fds[0]), "peer-under-test"), &handler);
        for (int i = 0; i < 500; ++i)
            connection.log(LogLevel::kWarning, "test", "trouble number %d", i);
        connection.close("test over");
    }
    const std::string text = log.read_until("were held back (log limit)\n");
    size_t lines = 0;
    for (size_t at = text.find("peer-under-test: trouble"); at != std::string::npos;
         at = text.find("peer-under-test: trouble", at + 1)) {
        ++lines;
    }
    // The burst, and one more a second on a machine slow enough to take that long.
    EXPECT_GE(lines, size_t{Connection::kLogBurst}) << text;
    EXPECT_LT(lines, size_t{Connection::kLogBurst} + 10) << text;
    const std::string summary = "peer-under-test: closed (test over); ";
    const size_t at = text.find(summary);
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_EQ(std::stoul(text.substr(at + summary.size())) + lines, 500u) << text;
}

TEST_P(ReactorTest, StartsAndStopsRepeatedlyWithoutLeakingDescriptors) {
    const size_t before = open_descriptors();
    for (int cycle = 0; cycle < 3; ++cycle) {
        SCOPED_TRACE("cycle " + std::to_string(cycle));
        ReactorOptions options;
        options.backend = GetParam();
        auto created = Reactor::create(options);
        ASSERT_TRUE(created.has_value()) << created.error();
        std::unique_ptr<Reactor> reactor = std::move(*created);
        auto listener = TcpListener::listen("127.0.0.1", 0);
        ASSERT_TRUE(listener.has_value()) << listener.error();
        Recorder recorder;
        std::unique_ptr<StreamIo> stream;
        reactor->accept_on(*listener, [&](TcpStream accepted) {
            stream = reactor->open_stream(std::move(accepted), recorder);
        });
        UniqueFd client = connect_to(listener->port());
        ASSERT_EQ(::send(client.get(), "ping", 4, 0), 4);
        ASSERT_TRUE(run_loop_until(*reactor, [&] { return recorder.received.size() >= 4; }));
        stream->write(bytes_of("pong"));
        reactor->post([&] { reactor->stop(); });
        reactor->run();
        const auto reply = read_exactly(client.get(), 4);
        EXPECT_EQ(std::string(reply.begin(), reply.end()), "pong");
        // The kernel may accept this one for the ring, but nobody reaps it.
        UniqueFd unseen = connect_to(listener->port());
        stream.reset();
        reactor.reset();
    }
    EXPECT_EQ(open_descriptors(), before);
}

TEST(AdoptTest, RefusesWhatIsNotAConnectedStreamOrAListener) {
    EXPECT_FALSE(TcpStream::adopt(UniqueFd()).has_value());
    EXPECT_FALSE(TcpListener::adopt(UniqueFd()).has_value());
    int pipe_ends[2];
    ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC), 0);
    auto not_socket = TcpStream::adopt(UniqueFd(pipe_ends[0]));
    ASSERT_FALSE(not_socket.has_value());
    EXPECT_NE(not_socket.error().find("not a socket"), std::string::npos) << not_socket.error();
    EXPECT_FALSE(TcpListener::adopt(UniqueFd(pipe_ends[1])).has_value());

    auto datagram = TcpListener::adopt(UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
    ASSERT_FALSE(datagram.has_value());
    EXPECT_NE(datagram.error().find("not a stream socket"), std::string::npos) << datagram.error();
    auto unconnected = TcpStream::adopt(UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    ASSERT_FALSE(unconnected.has_value());
    EXPECT_NE(unconnected.error().find("getpeername"), std::string::npos) << unconnected.error();
    auto unlistening =
        TcpListener::adopt(UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    ASSERT_FALSE(unlistening.has_value());
    EXPECT_NE(unlistening.error().find("not listening"), std::string::npos) << unlistening.error();

    auto listener = TcpListener::listen("127.0.0.1", 0);
    ASSERT_TRUE(listener.has_value()) << listener.error();
    EXPECT_FALSE(TcpStream::adopt(UniqueFd(::dup(listener->fd()))).has_value());
    EXPECT_FALSE(TcpListener::adopt(connect_to(listener->port())).has_value());
}

TEST(AdoptTest, HostTcpSocketsBecomeNonBlockingAndKeepTheirNames) {
    UniqueFd raw(::socket(AF_INET6, SOCK_STREAM, 0));  // blocking and inheritable
    ASSERT_TRUE(raw.valid());
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    if (::bind(raw.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        GTEST_SKIP() << "no IPv6 loopback here";
    }
    ASSERT_EQ(::listen(raw.get(), 16), 0);
    socklen_t length = sizeof address;
    getsockname(raw.get(), reinterpret_cast<sockaddr*>(&address), &length);
    auto listener = TcpListener::adopt(std::move(raw));
    ASSERT_TRUE(listener.has_value()) << listener.error();
    EXPECT_EQ(listener->port(), ntohs(address.sin6_port));
    EXPECT_TRUE(has_flag(listener->fd(), F_GETFL, O_NONBLOCK));
    EXPECT_TRUE(has_flag(listener->fd(), F_GETFD, FD_CLOEXEC));
    EXPECT_EQ(listener->accept().error(), IoError::kWouldBlock);  // non-blocking indeed

    UniqueFd client(::socket(AF_INET6, SOCK_STREAM, 0));
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    auto stream = TcpStream::adopt(std::move(client));
    ASSERT_TRUE(stream.has_value()) << stream.error();
    EXPECT_EQ(stream->peer(), "[::1]:" + std::to_string(listener->port()));
    EXPECT_TRUE(has_flag(stream->fd(), F_GETFL, O_NONBLOCK));
    EXPECT_TRUE(has_flag(stream->fd(), F_GETFD, FD_CLOEXEC));
    int nodelay = 0;
    socklen_t size = sizeof nodelay;
    getsockopt(stream->fd(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &size);
    EXPECT_EQ(nodelay, 1);
    std::array<uint8_t, 8> scratch{};
    EXPECT_EQ(stream->read_some(scratch).error(), IoError::kWouldBlock);
    auto accepted = listener->accept();
    ASSERT_TRUE(accepted.has_value());
    EXPECT_EQ(accepted->peer().rfind("[::1]:", 0), 0u) << accepted->peer();
}

std::string backend_name(const ::testing::TestParamInfo<IoBackend>& param) {
    return param.param == IoBackend::kIoUring ? "io_uring" : "epoll";
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest,
                         ::testing::Values(IoBackend::kIoUring, IoBackend::kEpoll), backend_name);

}  // namespace
}  // namespace spiced
