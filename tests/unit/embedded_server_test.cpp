// The server core embedded the way QEMU embeds it: the host owns the process (its signal mask,
// its signal dispositions, SIGPIPE, a poll() loop on its own thread), opens or accepts sockets
// itself and hands them over, and creates, starts and stops the core more than once. The
// clients are raw SPICE clients written here with poll() and OpenSSL and driven by the host's
// loop; every wait has a deadline, so a server that hangs fails the test instead of hanging it.
#include "core/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spice/enums.h>
#include <spice/protocol.h>
#include <spice/vd_agent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/log.h"
#include "base/media_clock.h"
#include "core/ticket.h"
#include "demo/demo_source.h"
#include "display/source.h"
#include "io/reactor.h"
#include "tests/support/spice_link_client.h"
#include "tests/unit/default_sigpipe.h"

namespace spiced {
namespace {

using namespace std::chrono_literals;

// Generous for a loaded CI machine; a healthy run takes milliseconds per step.
constexpr auto kStepTimeout = std::chrono::milliseconds(5000);

pid_t current_tid() {
    return static_cast<pid_t>(syscall(SYS_gettid));
}

uint16_t load_u16_le(const uint8_t* p) {
    return uint16_t(p[0] | p[1] << 8);
}

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// ---- What the process looks like from outside ------------------------------------------------

// Open descriptors and what they point at, for a diff that names what leaked.
std::map<int, std::string> open_fds() {
    std::map<int, std::string> fds;
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) {
        ADD_FAILURE() << errno_text("opendir(/proc/self/fd)");
        return fds;
    }
    while (const dirent* entry = readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::atoi(entry->d_name);
        if (fd == dirfd(dir)) continue;
        char target[512] = {};
        const std::string link = std::string("/proc/self/fd/") + entry->d_name;
        const ssize_t length = readlink(link.c_str(), target, sizeof target - 1);
        fds[fd] = length > 0 ? std::string(target, size_t(length)) : "?";
    }
    closedir(dir);
    return fds;
}

std::string describe_fds(const std::map<int, std::string>& fds) {
    std::string out;
    for (const auto& [fd, target] : fds) out += std::to_string(fd) + " -> " + target + "\n";
    return out;
}

struct ThreadStatus {
    pid_t tid = 0;
    std::string name;
    uint64_t blocked = 0;  // SigBlk: bit N-1 is signal N
    uint64_t pending = 0;  // SigPnd: signals directed at this thread and not yet delivered
};

uint64_t bit(int signal) {
    return uint64_t{1} << (signal - 1);
}

std::vector<ThreadStatus> process_threads() {
    std::vector<ThreadStatus> threads;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", error)) {
        ThreadStatus thread;
        thread.tid = pid_t(std::atoi(entry.path().filename().c_str()));
        std::ifstream status(entry.path() / "status");
        std::string line;
        while (std::getline(status, line)) {
            const auto field = [&](const char* name) { return line.rfind(name, 0) == 0; };
            const auto hex = [&] {
                return std::stoull(line.substr(line.find(':') + 1), nullptr, 16);
            };
            if (field("Name:")) {
                thread.name = line.substr(line.find_first_not_of(" \t", 5));
            } else if (field("SigBlk:")) {
                thread.blocked = hex();
            } else if (field("SigPnd:")) {
                thread.pending = hex();
            }
        }
        // A thread that ended between the listing and the read has no status any more.
        if (!thread.name.empty()) threads.push_back(thread);
    }
    return threads;
}

std::string describe_threads(const std::vector<ThreadStatus>& threads) {
    std::ostringstream out;
    for (const ThreadStatus& thread : threads) {
        out << thread.tid << " " << thread.name << " blocked=" << std::hex << thread.blocked
            << " pending=" << thread.pending << std::dec << "\n";
    }
    return out.str();
}

// Waits (briefly: io_uring's kernel workers leave a moment after their ring) until the process
// has only the threads it had before.
testing::AssertionResult only_threads_left(const std::vector<pid_t>& before) {
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    for (;;) {
        auto threads = process_threads();
        const bool extra = std::any_of(threads.begin(), threads.end(), [&](const auto& thread) {
            return std::find(before.begin(), before.end(), thread.tid) == before.end();
        });
        if (!extra) return testing::AssertionSuccess();
        if (std::chrono::steady_clock::now() > deadline) {
            return testing::AssertionFailure() << "threads still running after stop():\n"
                                               << describe_threads(threads);
        }
        std::this_thread::sleep_for(10ms);
    }
}

std::vector<pid_t> thread_ids() {
    std::vector<pid_t> ids;
    for (const ThreadStatus& thread : process_threads()) ids.push_back(thread.tid);
    return ids;
}

// Every signal disposition and the calling thread's mask, comparable as text so a difference
// names the signal.
std::string signal_state() {
    std::ostringstream out;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    out << "blocked:";
    for (int signal = 1; signal < SIGRTMAX; ++signal) {
        if (sigismember(&mask, signal) == 1) out << " " << signal;
    }
    out << "\n";
    for (int signal = 1; signal < SIGRTMAX; ++signal) {
        struct sigaction action {};
        if (sigaction(signal, nullptr, &action) != 0) continue;  // glibc's reserved ones
        if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) {
            // Flags mean nothing here, and glibc adds SA_RESTORER to whatever it installs,
            // so putting SIG_DFL back differs from the untouched SIG_DFL in that bit alone.
            out << "signal " << signal << ": "
                << (action.sa_handler == SIG_DFL ? "default" : "ignored") << "\n";
        } else {
            out << "signal " << signal << ": handler "
                << reinterpret_cast<const void*>(action.sa_handler) << " flags " << std::hex
                << action.sa_flags << std::dec << "\n";
        }
    }
    return out.str();
}

// ---- The host's own sockets and loop ----------------------------------------------------------

bool set_nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// `buffer` > 0: a small receive buffer, so that what the server sends backs up in its own
// queue instead of in ours.
UniqueFd connect_tcp(uint16_t port, int buffer = 0) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (buffer > 0) setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback connects complete at once (the listen backlog takes them).
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ADD_FAILURE() << errno_text("connect to 127.0.0.1") << " port " << port;
        return {};
    }
    return fd;
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    return address;
}

UniqueFd connect_unix(const std::string& path) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = unix_address(path);
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ADD_FAILURE() << errno_text("connect") << " to " << path;
        return {};
    }
    return fd;
}

// A listening socket made the way a host makes one (QEMU's -spice port=, a systemd socket).
UniqueFd host_tcp_listener(uint16_t* port) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd.get(), 16) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ADD_FAILURE() << errno_text("host TCP listener");
        return {};
    }
    *port = ntohs(address.sin_port);
    return fd;
}

UniqueFd host_unix_listener(const std::string& path) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = unix_address(path);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd.get(), 16) != 0) {
        ADD_FAILURE() << errno_text("host unix listener") << " at " << path;
        return {};
    }
    return fd;
}

// A temporary directory for unix sockets, removed with what is in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "spiced-embed-XXXXXX");
        if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << errno_text("mkdtemp");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const char* name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// One channel's connection, linked by hand: link header + message out; reply in; auth
// mechanism + encrypted empty ticket out; link result in; then the channel's messages (the
// main channel's are parsed and kept, SPICE_MSG_MAIN_INIT's session id read; any other
// channel's only counted). `channel_caps` is the link's first word of channel capabilities.
// Non-blocking: the host's loop calls on_ready() when poll() says the socket is ready.
class RawLink {
public:
    struct Message {
        uint16_t type = 0;
        std::vector<uint8_t> body;
    };

    RawLink(UniqueFd socket, uint8_t channel_type, uint32_t connection_id = 0,
            uint32_t channel_caps = 0)
        : socket_(std::move(socket)),
          channel_type_(channel_type),
          link_(channel_type, connection_id, channel_caps, /*password=*/"") {
        if (!socket_.valid() || !set_nonblocking(socket_.get())) {
            fail("no socket to link over");
            return;
        }
        link_.start(out_);
    }

    int fd() const { return socket_.get(); }
    short events() const { return short(POLLIN | (sent_ < out_.size() ? POLLOUT : 0)); }
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }
    bool linked() const { return !failed() && link_.state() == Link::State::kLinked; }
    std::optional<uint32_t> session_id() const { return session_id_; }
    size_t bytes_after_link() const { return bytes_after_link_; }
    // The main channel's first message of `type` not taken yet (the ones before it of other
    // types stay), or nothing.
    std::optional<Message> take(uint16_t type) {
        const auto found =
            std::find_if(messages_.begin(), messages_.end(),
                         [&](const Message& message) { return message.type == type; });
        if (found == messages_.end()) return std::nullopt;
        Message message = std::move(*found);
        messages_.erase(found);
        return message;
    }
    bool has(uint16_t type) const {
        return std::any_of(messages_.begin(), messages_.end(),
                           [&](const Message& message) { return message.type == type; });
    }
    // After the link: queues one message with the header the link agreed on and sends what
    // the socket takes now (the host's loop sends the rest).
    void send_message(uint16_t type, std::span<const uint8_t> body) {
        if (!linked()) return fail("a message to send before the link completed");
        if (link_.mini_header()) {
            out_.u16(type);
            out_.u32(uint32_t(body.size()));
        } else {
            out_.u64(++serial_);
            out_.u16(type);
            out_.u32(uint32_t(body.size()));
            out_.u32(0);  // no sub-messages
        }
        out_.bytes(body);
        flush();
    }
    const char* phase_name() const { return failed() ? "failed" : link_.state_name(); }

    void on_ready() {
        if (failed()) return;
        flush();
        uint8_t chunk[64 * 1024];
        while (!failed()) {
            const ssize_t got = recv(socket_.get(), chunk, sizeof chunk, 0);
            if (got > 0) {
                in_.insert(in_.end(), chunk, chunk + got);
                parse();
                continue;
            }
            if (got < 0 && errno == EINTR) continue;
            if (got == 0) {
                fail(std::string("the server closed the connection in the ") + phase_name());
            } else if (errno != EAGAIN) {
                fail(errno_text("recv"));
            }
            break;
        }
    }

    // Goes away the rudest way TCP allows: RST (SO_LINGER 0), whatever is still queued.
    void reset() {
        const linger abort{1, 0};
        setsockopt(socket_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        socket_.reset();
    }

private:
    using Link = test_support::SpiceLinkClient;

    void fail(std::string why) { failure_ = std::move(why); }

    void flush() {
        while (sent_ < out_.size()) {
            // MSG_NOSIGNAL: the test's own sends must not be what raises SIGPIPE.
            const ssize_t wrote = send(socket_.get(), out_.buffer().data() + sent_,
                                       out_.size() - sent_, MSG_NOSIGNAL);
            if (wrote < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) fail(errno_text("send"));
                return;
            }
            sent_ += size_t(wrote);
        }
    }

    void consume(size_t count) { in_.erase(in_.begin(), in_.begin() + long(count)); }

    void parse() {
        if (!linked()) {
            if (link_.take(in_, out_) == Link::State::kFailed) return fail(link_.failure());
            flush();
            if (!linked()) return;
        }
        for (;;) {
            if (channel_type_ != SPICE_CHANNEL_MAIN) {
                bytes_after_link_ += in_.size();
                in_.clear();
                return;
            }
            // Mini: u16 type, u32 size. Full: u64 serial, u16 type, u32 size, u32 sub.
            const size_t header = link_.mini_header() ? 6 : 18;
            const size_t type_at = link_.mini_header() ? 0 : 8;
            if (in_.size() < header) return;
            const uint16_t type = load_u16_le(in_.data() + type_at);
            const uint32_t size = load_u32_le(in_.data() + type_at + 2);
            if (in_.size() < header + size) return;
            if (type == SPICE_MSG_MAIN_INIT) {
                if (size < 4) return fail("MAIN_INIT too short");
                session_id_ = load_u32_le(in_.data() + header);
            }
            bytes_after_link_ += header + size;
            messages_.push_back({type, std::vector<uint8_t>(in_.begin() + long(header),
                                                            in_.begin() + long(header + size))});
            consume(header + size);
        }
    }

    UniqueFd socket_;
    uint8_t channel_type_;
    Link link_;
    ByteWriter out_;
    size_t sent_ = 0;
    std::vector<uint8_t> in_;
    uint64_t serial_ = 0;
    std::optional<uint32_t> session_id_;
    std::vector<Message> messages_;
    size_t bytes_after_link_ = 0;
    std::string failure_;
};

// The host's SIGUSR1, the way an event-loop host handles signals: the handler notes which
// thread ran it and wakes the loop through a pipe (the self-pipe trick).
std::atomic<int> g_usr1_wake_fd{-1};
std::atomic<pid_t> g_usr1_tid{0};
std::atomic<int> g_usr1_count{0};

void on_usr1(int) {
    const int saved_errno = errno;
    g_usr1_tid.store(current_tid());
    g_usr1_count.fetch_add(1);
    if (const int fd = g_usr1_wake_fd.load(); fd >= 0) {
        const char byte = 1;
        [[maybe_unused]] const ssize_t ignored = write(fd, &byte, 1);
    }
    errno = saved_errno;
}

class HostSignal {
public:
    HostSignal() {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) ADD_FAILURE() << errno_text("pipe2");
        wake_read_.reset(fds[0]);
        wake_write_.reset(fds[1]);
        g_usr1_wake_fd.store(fds[1]);
        g_usr1_tid.store(0);
        g_usr1_count.store(0);
        struct sigaction action {};
        action.sa_handler = on_usr1;
        sigemptyset(&action.sa_mask);
        sigaction(SIGUSR1, &action, &previous_);
    }
    ~HostSignal() {
        sigaction(SIGUSR1, &previous_, nullptr);
        g_usr1_wake_fd.store(-1);
    }
    HostSignal(const HostSignal&) = delete;
    HostSignal& operator=(const HostSignal&) = delete;
    int wake_fd() const { return wake_read_.get(); }

private:
    UniqueFd wake_read_;
    UniqueFd wake_write_;
    struct sigaction previous_ {};
};

// The host's own event loop (QEMU's main loop in miniature): poll() on the calling thread over
// its signal wake-up pipe and the raw clients' sockets, while the server runs on its threads.
class HostLoop {
public:
    explicit HostLoop(int wake_fd = -1) : wake_fd_(wake_fd) {}
    int wakeups() const { return wakeups_; }

    testing::AssertionResult run_until(std::vector<RawLink*> links,
                                       const std::function<bool()>& done,
                                       std::chrono::milliseconds timeout = kStepTimeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (done()) return testing::AssertionSuccess();
            for (const RawLink* link : links) {
                if (link->failed()) return testing::AssertionFailure() << link->failure();
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                auto failure = testing::AssertionFailure() << "timed out; the links are in:";
                for (const RawLink* link : links) failure << " [" << link->phase_name() << "]";
                return failure;
            }
            std::vector<pollfd> fds;
            if (wake_fd_ >= 0) fds.push_back({wake_fd_, POLLIN, 0});
            for (const RawLink* link : links) fds.push_back({link->fd(), link->events(), 0});
            const int ready =
                poll(fds.data(), fds.size(), int(std::min<int64_t>(left.count(), 100)));
            if (ready < 0) {
                if (errno == EINTR) continue;  // the host's own signal handler ran
                return testing::AssertionFailure() << errno_text("poll");
            }
            size_t next = 0;
            if (wake_fd_ >= 0) {
                if (fds[next++].revents & POLLIN) {
                    char drain[16];
                    while (read(wake_fd_, drain, sizeof drain) > 0) ++wakeups_;
                }
            }
            for (RawLink* link : links) {
                if (fds[next++].revents != 0) link->on_ready();
            }
        }
    }

    testing::AssertionResult link_main(RawLink& link) {
        return run_until({&link}, [&] { return link.session_id().has_value(); });
    }

private:
    int wake_fd_;
    int wakeups_ = 0;
};

// ---- The server ------------------------------------------------------------------------------

std::string backend_name(const testing::TestParamInfo<IoBackend>& param) {
    return param.param == IoBackend::kIoUring ? "IoUring" : "Epoll";
}

class EmbeddedServer : public testing::TestWithParam<IoBackend> {
protected:
    // Where the kernel refuses io_uring the server falls back to epoll: the io_uring cases
    // then have not run, and say so (CTest reports the skip).
    void SetUp() override {
        if (GetParam() != IoBackend::kIoUring) return;
        ReactorOptions options;
        options.backend = IoBackend::kIoUring;
        auto probe = Reactor::create(options);
        if (probe && (*probe)->backend_name() != "io_uring")
            GTEST_SKIP() << "io_uring unavailable here: the server would run on "
                         << (*probe)->backend_name();
    }

    ServerConfig config() const {
        ServerConfig config;
        config.address = "127.0.0.1";
        config.port = 0;  // any free port
        config.ticket = TicketPolicy::disabled();
        config.shards = 2;
        config.io.backend = GetParam();
        return config;
    }

    static std::unique_ptr<Server> create(ServerConfig config) {
        DemoSourceConfig demo;
        demo.head_size = {320, 240};  // the demo's smallest: cheap to render and to encode
        auto server = Server::create(std::move(config), std::make_unique<DemoSource>(demo));
        if (!server) {
            ADD_FAILURE() << "Server::create: " << server.error();
            return nullptr;
        }
        return std::move(*server);
    }

    static std::unique_ptr<Server> create_and_start(ServerConfig config) {
        auto server = create(std::move(config));
        if (!server) return nullptr;
        if (auto started = server->start(); !started) {
            ADD_FAILURE() << "start: " << started.error();
            return nullptr;
        }
        return server;
    }
};

// ---- The tests -------------------------------------------------------------------------------

TEST_P(EmbeddedServer, StartsAndStopsTwiceWhileTheHostRunsItsOwnLoop) {
    const std::string signals_before = signal_state();
    struct sigaction sigpipe_before {};
    sigaction(SIGPIPE, nullptr, &sigpipe_before);
    {
        const HostSignal usr1;
        const std::string with_handler = signal_state();
        // A first thread makes runtimes start their helper threads now, so the baseline has
        // them (ThreadSanitizer starts one, with every signal blocked, at the first
        // pthread_create).
        std::thread([] {}).join();
        const std::vector<pid_t> threads_before = thread_ids();
        const auto fds_before = open_fds();
        HostLoop host(usr1.wake_fd());

        for (int round = 0; round < 2; ++round) {
            SCOPED_TRACE("round " + std::to_string(round + 1));
            auto server = create_and_start(config());
            ASSERT_TRUE(server);
            ASSERT_NE(server->port(), 0);

            // The server's threads (and any they started) block the host's signals, so a
            // signal sent to the process can only land on a host thread.
            for (const ThreadStatus& thread : process_threads()) {
                if (thread.tid == current_tid()) continue;
                for (int signal : {SIGUSR1, SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGALRM}) {
                    EXPECT_TRUE(thread.blocked & bit(signal))
                        << "thread " << thread.tid << " (" << thread.name << ") takes signal "
                        << signal << "\n"
                        << describe_threads(process_threads());
                }
            }

            const int wakeups_before = host.wakeups();
            const int handled_before = g_usr1_count.load();
            RawLink main(connect_tcp(server->port()), SPICE_CHANNEL_MAIN);
            bool signalled = false;
            ASSERT_TRUE(host.run_until({&main}, [&] {
                if (!signalled) {
                    // Mid-session, from inside the host's loop.
                    signalled = true;
                    kill(getpid(), SIGUSR1);
                }
                return main.session_id().has_value() && host.wakeups() > wakeups_before;
            }));
            EXPECT_NE(*main.session_id(), 0u);
            EXPECT_EQ(g_usr1_count.load(), handled_before + 1);
            EXPECT_EQ(g_usr1_tid.load(), current_tid());

            // With the client still connected: stop() says goodbye to it.
            server->stop();
            server->stop();  // idempotent
            server.reset();
            EXPECT_TRUE(only_threads_left(threads_before));
        }

        EXPECT_EQ(signal_state(), with_handler);
        const auto fds_after = open_fds();
        EXPECT_EQ(fds_after, fds_before) << "before:\n"
                                         << describe_fds(fds_before) << "after:\n"
                                         << describe_fds(fds_after);
    }
    EXPECT_EQ(signal_state(), signals_before);
    struct sigaction sigpipe_after {};
    sigaction(SIGPIPE, nullptr, &sigpipe_after);
    EXPECT_EQ(sigpipe_after.sa_handler, sigpipe_before.sa_handler);
    EXPECT_EQ(sigpipe_after.sa_flags, sigpipe_before.sa_flags);
}

TEST_P(EmbeddedServer, AcceptsOnAListenerTheHostHandsIt) {
    const TempDir dir;
    const std::string unix_path = dir.file("spice.sock");
    uint16_t tcp_port = 0;
    UniqueFd tcp = host_tcp_listener(&tcp_port);
    UniqueFd unix_listener = host_unix_listener(unix_path);
    ASSERT_TRUE(tcp.valid() && unix_listener.valid());

    ServerConfig only_host_sockets = config();
    only_host_sockets.plain_port_enabled = false;
    auto server = create(std::move(only_host_sockets));
    ASSERT_TRUE(server);
    EXPECT_EQ(server->port(), 0);

    // What is not a listening stream socket is refused with a reason.
    int pipe_ends[2];
    ASSERT_EQ(pipe2(pipe_ends, O_CLOEXEC), 0);
    UniqueFd pipe_write(pipe_ends[1]);
    auto refused = server->add_listener(UniqueFd(pipe_ends[0]), false);
    ASSERT_FALSE(refused);
    EXPECT_FALSE(refused.error().empty());
    refused = server->add_listener(UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), false);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("listen"), std::string::npos) << refused.error();
    uint16_t unused_port = 0;
    refused = server->add_listener(host_tcp_listener(&unused_port), true);
    ASSERT_FALSE(refused) << "a TLS listener without a TLS identity";
    EXPECT_FALSE(refused.error().empty());

    auto added = server->add_listener(std::move(tcp), false);
    ASSERT_TRUE(added) << added.error();
    added = server->add_listener(std::move(unix_listener), false);
    ASSERT_TRUE(added) << added.error();
    auto started = server->start();
    ASSERT_TRUE(started) << started.error();
    refused = server->add_listener(host_tcp_listener(&unused_port), false);
    EXPECT_FALSE(refused) << "a listener after start()";

    HostLoop host;
    // Several clients through each: every shard accepts on the one shared socket, and
    // whichever takes a connection serves it.
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE("client " + std::to_string(i));
        RawLink over_tcp(connect_tcp(tcp_port), SPICE_CHANNEL_MAIN);
        ASSERT_TRUE(host.link_main(over_tcp)) << "over the host's TCP listener";
        EXPECT_NE(*over_tcp.session_id(), 0u);
        RawLink over_unix(connect_unix(unix_path), SPICE_CHANNEL_MAIN);
        ASSERT_TRUE(host.link_main(over_unix)) << "over the host's unix listener";
        EXPECT_NE(*over_unix.session_id(), 0u);
    }
    server->stop();
}

TEST_P(EmbeddedServer, ServesAClientTheHostAccepted) {
    auto server = create(config());
    ASSERT_TRUE(server);
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    EXPECT_FALSE(server->add_client(std::move(theirs), false)) << "a client before start()";

    auto started = server->start();
    ASSERT_TRUE(started) << started.error();
    HostLoop host;

    // One end of a socketpair, as QEMU's add_client hands over.
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ours.reset(pair[0]);
    auto added = server->add_client(UniqueFd(pair[1]), false);
    ASSERT_TRUE(added) << added.error();
    RawLink over_pair(std::move(ours), SPICE_CHANNEL_MAIN);
    ASSERT_TRUE(host.link_main(over_pair)) << "over a socketpair";
    EXPECT_NE(*over_pair.session_id(), 0u);

    // A TCP connection the host accepted on a listener of its own.
    uint16_t port = 0;
    UniqueFd listener = host_tcp_listener(&port);
    UniqueFd client = connect_tcp(port);
    UniqueFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted.valid()) << errno_text("accept4");
    added = server->add_client(std::move(accepted), false);
    ASSERT_TRUE(added) << added.error();
    RawLink over_tcp(std::move(client), SPICE_CHANNEL_MAIN);
    ASSERT_TRUE(host.link_main(over_tcp)) << "over a TCP connection the host accepted";
    EXPECT_NE(*over_tcp.session_id(), 0u);

    // What is not a connected stream socket is refused with a reason, not served or crashed on.
    int pipe_ends[2];
    ASSERT_EQ(pipe2(pipe_ends, O_CLOEXEC), 0);
    UniqueFd pipe_write(pipe_ends[1]);
    std::vector<std::pair<const char*, UniqueFd>> bad;
    bad.emplace_back("a pipe", UniqueFd(pipe_ends[0]));
    bad.emplace_back("a listening socket", host_tcp_listener(&port));
    bad.emplace_back("an unconnected TCP socket",
                     UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    bad.emplace_back("a UDP socket", UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
    bad.emplace_back("no descriptor", UniqueFd());
    for (auto& [what, fd] : bad) {
        auto refused = server->add_client(std::move(fd), false);
        ASSERT_FALSE(refused) << what;
        EXPECT_FALSE(refused.error().empty()) << what;
    }
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ours.reset(pair[0]);
    EXPECT_FALSE(server->add_client(UniqueFd(pair[1]), true)) << "TLS without a TLS identity";

    // The server still serves after all that.
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ours.reset(pair[0]);
    ASSERT_TRUE(server->add_client(UniqueFd(pair[1]), false));
    RawLink again(std::move(ours), SPICE_CHANNEL_MAIN);
    ASSERT_TRUE(host.link_main(again));

    server->stop();
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ours.reset(pair[0]);
    EXPECT_FALSE(server->add_client(UniqueFd(pair[1]), false)) << "a client after stop()";
}

// Small socket buffers on the client side: the main channel's ping and the first picture back
// up in the server's queue, so it is still sending when the client goes.
constexpr int kTinyBuffer = 4096;

using testing_support::DefaultSigpipe;

// The server's threads block SIGPIPE (every asynchronous signal), so a send without
// MSG_NOSIGNAL would not kill the process from there: the SIGPIPE, directed at the sending
// thread, would sit in that thread's pending set instead. Both are checked.
TEST_P(EmbeddedServer, WritesToAGoneClientDoNotRaiseSigpipe) {
    const DefaultSigpipe sigpipe_kills;
    auto server = create_and_start(config());
    ASSERT_TRUE(server);
    HostLoop host;

    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round + 1));
        {
            // TCP: both channels reset mid-stream.
            RawLink main(connect_tcp(server->port(), kTinyBuffer), SPICE_CHANNEL_MAIN);
            ASSERT_TRUE(host.link_main(main));
            RawLink display(connect_tcp(server->port(), kTinyBuffer), SPICE_CHANNEL_DISPLAY,
                            *main.session_id());
            ASSERT_TRUE(host.run_until({&display}, [&] { return display.bytes_after_link() > 0; }))
                << "the display channel's first picture";
            display.reset();
            main.reset();
        }
        {
            // A socketpair the host handed over: on AF_UNIX every send after the peer's close
            // is EPIPE, the error that comes with SIGPIPE.
            auto handed = [&](int* ours) {
                int pair[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return false;
                setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &kTinyBuffer, sizeof kTinyBuffer);
                *ours = pair[0];
                return bool(server->add_client(UniqueFd(pair[1]), false));
            };
            int fd = -1;
            ASSERT_TRUE(handed(&fd));
            RawLink main(UniqueFd(fd), SPICE_CHANNEL_MAIN);
            ASSERT_TRUE(host.link_main(main));
            ASSERT_TRUE(handed(&fd));
            RawLink display(UniqueFd(fd), SPICE_CHANNEL_DISPLAY, *main.session_id());
            ASSERT_TRUE(host.run_until({&display}, [&] { return display.bytes_after_link() > 0; }))
                << "the display channel's first picture";
        }
        // The server runs into the dead sockets on its own time (display updates keep coming
        // at the demo's frame rate).
        std::this_thread::sleep_for(100ms);
        for (const ThreadStatus& thread : process_threads()) {
            EXPECT_FALSE(thread.pending & bit(SIGPIPE))
                << "thread " << thread.tid << " (" << thread.name << ") has a SIGPIPE pending";
        }
    }

    RawLink next(connect_tcp(server->port()), SPICE_CHANNEL_MAIN);
    ASSERT_TRUE(host.link_main(next)) << "a client after the ones that went";
    EXPECT_NE(*next.session_id(), 0u);
    server->stop();
}

// ---- The guest agent ---------------------------------------------------------------------------

// A source the test drives: one 320x240 display in black, an absolute pointer, and a guest
// agent that is there or not as the test says. Its state belongs to the desktop thread (the
// test changes it through on_desktop()), except what clients sent the agent, which the test
// reads under the lock.
class AgentSource final : public DisplaySource {
public:
    struct Received {
        ClientId from = 0;
        uint32_t type = 0;
        std::vector<uint8_t> data;
    };

    // Any thread, after the server started: runs `task` on the desktop thread.
    void on_desktop(std::function<void(AgentSource&, DisplaySink&)> task) {
        sink_->loop().post([this, task = std::move(task)] { task(*this, *sink_); });
    }
    // Desktop thread: the flag alone (the caller announces it).
    void set_agent_now(bool present) { agent_ = present; }
    // The agent appears or goes away, and the source says so.
    void set_agent(bool present) {
        on_desktop([present](AgentSource& self, DisplaySink& sink) {
            self.agent_ = present;
            sink.capabilities_changed();
        });
    }
    std::vector<Received> received() const {
        std::lock_guard lock(mutex_);
        return received_;
    }

    MonitorModel monitor_model() const override { return MonitorModel::kOneSurface; }
    uint32_t display_channels() const override { return 1; }
    uint32_t max_heads() const override { return 1; }
    void start(DisplaySink& sink) override {
        sink_ = &sink;
        const Size size{320, 240};
        sink.set_layout(0, {size, {{0, Rect::MakeSize(size)}}});
        std::shared_ptr<Frame> black = Frame::create(size);
        black->fill(black->rect(), 0);
        FrameSubmission first;
        first.frame = std::move(black);
        first.changed = Region(Rect::MakeSize(size));
        sink.submit_frame(0, std::move(first));
    }
    void set_watched(bool) override {}
    bool absolute_pointer() const override { return true; }
    void key_event(uint16_t, bool) override {}
    void sync_keyboard_leds(uint32_t) override {}
    void pointer_position(uint32_t, Point, uint32_t) override {}
    void pointer_motion(int32_t, int32_t, uint32_t) override {}
    void button_event(int, bool) override {}
    void request_monitors(ClientId, std::span<const MonitorRequest>) override {}
    bool has_agent() const override { return agent_; }
    void agent_message(ClientId from, uint32_t type, std::span<const uint8_t> data,
                       std::function<void()> taken) override {
        {
            std::lock_guard lock(mutex_);
            received_.push_back({from, type, std::vector<uint8_t>(data.begin(), data.end())});
        }
        taken();
    }
    void client_gone(ClientId) override {}

private:
    DisplaySink* sink_ = nullptr;
    bool agent_ = false;
    mutable std::mutex mutex_;
    std::vector<Received> received_;
};

// One whole VDAgent record as one AGENT_DATA payload: the VDAgentMessage header, then `data`.
std::vector<uint8_t> agent_record(uint32_t type, std::span<const uint8_t> data) {
    static_assert(sizeof(VDAgentMessage) == 20, "the record header is 20 bytes on the wire");
    ByteWriter record;
    record.u32(VD_AGENT_PROTOCOL);
    record.u32(type);
    record.u64(0);  // opaque
    record.u32(uint32_t(data.size()));
    record.bytes(data);
    return record.take();
}

std::vector<uint8_t> u32_body(uint32_t value) {
    ByteWriter body;
    body.u32(value);
    return body.take();
}

// SPICE_MSG_MAIN_INIT's body: eight u32s (session_id, display_channels_hint,
// supported_mouse_modes, current_mouse_mode, agent_connected, agent_tokens, multi_media_time,
// ram_hint).
constexpr size_t kMainInitBytes = 8 * 4;
constexpr size_t kInitAgentConnectedAt = 4 * 4;
constexpr size_t kInitAgentTokensAt = 5 * 4;
constexpr size_t kInitMediaTimeAt = 6 * 4;
// The AGENT_DATA messages a client may send before it gets tokens back: spice-server's
// REDS_AGENT_WINDOW_SIZE, which clients are used to.
constexpr uint32_t kAgentTokens = 10;

TEST_P(EmbeddedServer, AgentConnectsAndDisconnectsWithTheSource) {
    ServerConfig shared = config();
    shared.multi_client = MultiClient::kShared;  // the second client joins the first
    auto owned = std::make_unique<AgentSource>();
    AgentSource& source = *owned;
    auto created = Server::create(std::move(shared), std::move(owned));
    ASSERT_TRUE(created) << created.error();
    std::unique_ptr<Server> server = std::move(*created);
    auto started = server->start();
    ASSERT_TRUE(started) << started.error();
    HostLoop host;

    std::vector<RawLink*> clients;
    // Serves every client until `link` has a message of `type`, and takes it.
    const auto receive = [&](RawLink& link, uint16_t type) -> std::optional<RawLink::Message> {
        std::optional<RawLink::Message> got;
        const testing::AssertionResult served =
            host.run_until(clients, [&] { return (got = link.take(type)).has_value(); });
        if (!served)
            ADD_FAILURE() << "waiting for message type " << type << ": " << served.message();
        return got;
    };
    // Serves every client for `time`: fails if the server closes one.
    const auto stay_open = [&](std::chrono::milliseconds time) {
        const auto until = std::chrono::steady_clock::now() + time;
        return host.run_until(clients, [&] { return std::chrono::steady_clock::now() >= until; });
    };
    const auto start_agent = [](RawLink& link) {
        link.send_message(SPICE_MSGC_MAIN_AGENT_START,
                          u32_body(std::numeric_limits<uint32_t>::max()));  // as spice-gtk
    };
    const std::vector<uint8_t> release = agent_record(VD_AGENT_CLIPBOARD_RELEASE, {});

    // 1. No agent yet, and MAIN_INIT says so.
    RawLink tokens_client(connect_tcp(server->port()), SPICE_CHANNEL_MAIN, 0,
                          1u << SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
    clients.push_back(&tokens_client);
    ASSERT_TRUE(host.link_main(tokens_client));
    {
        const auto init = tokens_client.take(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        ASSERT_EQ(init->body.size(), kMainInitBytes);
        EXPECT_EQ(load_u32_le(init->body.data() + kInitAgentConnectedAt), 0u);
        EXPECT_EQ(load_u32_le(init->body.data() + kInitAgentTokensAt), kAgentTokens);
    }

    // 2. The agent appears: a client with AGENT_CONNECTED_TOKENS hears it with its tokens.
    source.set_agent(true);
    {
        const auto connected = receive(tokens_client, SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS);
        ASSERT_TRUE(connected);
        ASSERT_EQ(connected->body.size(), 4u);
        EXPECT_EQ(load_u32_le(connected->body.data()), kAgentTokens);
        EXPECT_FALSE(tokens_client.has(SPICE_MSG_MAIN_AGENT_CONNECTED)) << "announced twice";
    }

    // 3. Client -> agent: a whole record reaches the source, and its token comes back.
    start_agent(tokens_client);
    tokens_client.send_message(SPICE_MSGC_MAIN_AGENT_DATA, release);
    ASSERT_TRUE(host.run_until(clients, [&] { return !source.received().empty(); }))
        << "the record never reached the source";
    {
        const auto received = source.received();
        ASSERT_EQ(received.size(), 1u);
        EXPECT_EQ(received[0].from, *tokens_client.session_id());
        EXPECT_EQ(received[0].type, uint32_t{VD_AGENT_CLIPBOARD_RELEASE});
        EXPECT_TRUE(received[0].data.empty());
        const auto token = receive(tokens_client, SPICE_MSG_MAIN_AGENT_TOKEN);
        ASSERT_TRUE(token);
        EXPECT_EQ(token->body, u32_body(1));
    }

    // 4. Agent -> client: one AGENT_DATA with the record header and the data.
    ByteWriter reply;
    reply.u32(VD_AGENT_MONITORS_CONFIG);  // VDAgentReply: what is answered, and how
    reply.u32(VD_AGENT_SUCCESS);
    const std::vector<uint8_t> reply_data = reply.take();
    source.on_desktop([reply_data](AgentSource&, DisplaySink& sink) {
        sink.send_agent_message(0, VD_AGENT_REPLY, reply_data);
    });
    {
        const auto data = receive(tokens_client, SPICE_MSG_MAIN_AGENT_DATA);
        ASSERT_TRUE(data);
        EXPECT_EQ(data->body, agent_record(VD_AGENT_REPLY, reply_data));
    }

    // 5. The agent goes away: the client hears it, what it still sends the agent is dropped
    // with a log line, the source's messages no longer reach it, and the session goes on.
    source.set_agent(false);
    {
        const auto gone = receive(tokens_client, SPICE_MSG_MAIN_AGENT_DISCONNECTED);
        ASSERT_TRUE(gone);
        EXPECT_EQ(gone->body, u32_body(0)) << "error_code";
    }
    testing::internal::CaptureStderr();
    start_agent(tokens_client);
    tokens_client.send_message(SPICE_MSGC_MAIN_AGENT_DATA, release);
    source.on_desktop([reply_data](AgentSource&, DisplaySink& sink) {
        sink.send_agent_message(0, VD_AGENT_REPLY, reply_data);
    });
    EXPECT_TRUE(stay_open(300ms)) << "agent data for an absent agent";
    const std::string log = testing::internal::GetCapturedStderr();
    if (log_threshold() <= LogLevel::kWarning) {
        EXPECT_NE(log.find("agent data without a connected, started agent"), std::string::npos)
            << "stderr:\n"
            << log;
    }
    EXPECT_EQ(source.received().size(), 1u) << "data for an absent agent reached the source";
    EXPECT_FALSE(tokens_client.has(SPICE_MSG_MAIN_AGENT_DATA)) << "data from an absent agent";
    EXPECT_FALSE(tokens_client.has(SPICE_MSG_MAIN_AGENT_TOKEN)) << "a token for dropped data";

    // 6. A second client without AGENT_CONNECTED_TOKENS: the plain announcement when the agent
    // comes back, while the first hears it with tokens again. Both then reach the agent.
    RawLink plain_client(connect_tcp(server->port()), SPICE_CHANNEL_MAIN);
    clients.push_back(&plain_client);
    ASSERT_TRUE(host.run_until(clients, [&] { return plain_client.session_id().has_value(); }));
    ASSERT_NE(*plain_client.session_id(), *tokens_client.session_id()) << "a session of its own";
    {
        const auto init = plain_client.take(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        ASSERT_EQ(init->body.size(), kMainInitBytes);
        EXPECT_EQ(load_u32_le(init->body.data() + kInitAgentConnectedAt), 0u);
    }
    source.set_agent(true);
    {
        const auto with_tokens = receive(tokens_client, SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS);
        ASSERT_TRUE(with_tokens);
        EXPECT_EQ(with_tokens->body, u32_body(kAgentTokens));
        const auto plain = receive(plain_client, SPICE_MSG_MAIN_AGENT_CONNECTED);
        ASSERT_TRUE(plain);
        EXPECT_TRUE(plain->body.empty());
        EXPECT_FALSE(plain_client.has(SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS));
        EXPECT_FALSE(tokens_client.has(SPICE_MSG_MAIN_AGENT_CONNECTED));
    }
    for (RawLink* client : clients) {
        start_agent(*client);
        client->send_message(SPICE_MSGC_MAIN_AGENT_DATA, release);
    }
    ASSERT_TRUE(host.run_until(clients, [&] { return source.received().size() >= 3; }))
        << "records after the agent came back";
    {
        const auto received = source.received();
        ASSERT_EQ(received.size(), 3u);
        std::vector<ClientId> from{received[1].from, received[2].from};
        std::sort(from.begin(), from.end());
        std::vector<ClientId> sessions{*tokens_client.session_id(), *plain_client.session_id()};
        std::sort(sessions.begin(), sessions.end());
        EXPECT_EQ(from, sessions);
    }
    server->stop();
}

// A real agent speaks first (its capabilities) the moment it connects. Its messages travel
// from the desktop straight to the session's shard while "the agent connected" travels through
// the update ring, so the message often arrives first: it must wait for the client's
// AGENT_START, not be dropped.
TEST_P(EmbeddedServer, TheAgentsFirstMessageIsNotLost) {
    auto owned = std::make_unique<AgentSource>();
    AgentSource& source = *owned;
    auto created = Server::create(config(), std::move(owned));
    ASSERT_TRUE(created) << created.error();
    std::unique_ptr<Server> server = std::move(*created);
    ASSERT_TRUE(server->start());
    HostLoop host;
    RawLink client(connect_tcp(server->port()), SPICE_CHANNEL_MAIN, 0,
                   1u << SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
    std::vector<RawLink*> clients{&client};
    ASSERT_TRUE(host.link_main(client));
    const std::vector<uint8_t> reply(8, 0x5a);
    const std::vector<uint8_t> expected = agent_record(VD_AGENT_REPLY, reply);
    for (int round = 0; round < 20; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        source.on_desktop([&reply](AgentSource& self, DisplaySink& sink) {
            self.set_agent_now(true);
            sink.capabilities_changed();
            sink.send_agent_message(0, VD_AGENT_REPLY, reply);
        });
        ASSERT_TRUE(host.run_until(clients, [&] {
            return client.take(SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS).has_value();
        }));
        client.send_message(SPICE_MSGC_MAIN_AGENT_START,
                            u32_body(std::numeric_limits<uint32_t>::max()));
        std::optional<RawLink::Message> data;
        ASSERT_TRUE(host.run_until(
            clients, [&] { return (data = client.take(SPICE_MSG_MAIN_AGENT_DATA)).has_value(); }));
        EXPECT_EQ(data->body, expected);
        source.set_agent(false);
        ASSERT_TRUE(host.run_until(
            clients, [&] { return client.take(SPICE_MSG_MAIN_AGENT_DISCONNECTED).has_value(); }));
    }
    server->stop();
}

TEST_P(EmbeddedServer, MainInitCarriesTheConfiguredMediaClock) {
    ServerConfig with_clock = config();
    auto clock = std::make_shared<ManualMediaClock>(0xfffff000u);  // close to the wrap
    with_clock.media_clock = clock;
    auto server = create_and_start(std::move(with_clock));
    ASSERT_TRUE(server);
    HostLoop host;
    for (const uint32_t now : {0xfffff000u, 0x00000123u}) {
        clock->set(now);
        RawLink client(connect_tcp(server->port()), SPICE_CHANNEL_MAIN);
        ASSERT_TRUE(host.link_main(client));
        const auto init = client.take(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        ASSERT_EQ(init->body.size(), kMainInitBytes);
        EXPECT_EQ(load_u32_le(init->body.data() + kInitMediaTimeAt), now);
    }
    server->stop();

    ServerConfig without_clock = config();
    without_clock.media_clock = nullptr;
    auto refused =
        Server::create(std::move(without_clock), std::make_unique<DemoSource>(DemoSourceConfig{}));
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("media clock"), std::string::npos) << refused.error();
}

INSTANTIATE_TEST_SUITE_P(Backends, EmbeddedServer,
                         testing::Values(IoBackend::kIoUring, IoBackend::kEpoll), backend_name);

}  // namespace
}  // namespace spiced
