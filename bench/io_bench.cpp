// The I/O backends side by side, in one run, on loopback: io_uring against epoll.
//
//  1. Throughput and latency for 1, 16, 64 and 256 clients. The server thread runs a Reactor
//     and keeps each client's queue topped up with 256-byte messages (saturation: messages/s);
//     then it queues one message per client every millisecond (paced: latency). Every message
//     carries the CLOCK_MONOTONIC time it was queued; a client thread reading all sockets with
//     epoll reports queue-to-client latency (queue, socket, loopback, wake-up) as p50/p99.
//  2. Bytes/s to one client for 1 MiB display-sized messages: io_uring plain sends, io_uring
//     zero-copy (kept on even where the kernel copies, as loopback does), and epoll.
//  3. Memory per idle connected client: RSS growth of the server process over 1000 accepted,
//     idle streams.
//
// Usage: io_bench [--seconds S] [--cpu-server N --cpu-client M]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "io/cpu_placement.h"
#include "io/reactor.h"
#include "io/tcp.h"

namespace spiced {
namespace {

constexpr size_t kMessageSize = 256;
constexpr size_t kLargeMessage = size_t{1} << 20;

uint64_t now_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return uint64_t(t.tv_sec) * 1'000'000'000u + uint64_t(t.tv_nsec);
}

long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0;
}

// One server-side client: a StreamIo fed by the bench.
struct Feed final : StreamIo::Events {
    std::unique_ptr<StreamIo> io;
    size_t message_size = kMessageSize;
    bool saturate = false;
    bool failed = false;
    Reactor* loop = nullptr;
    bool top_up_posted = false;

    void top_up() {
        // Keep a little queued (64 KiB, or four large messages): enough to never let the
        // socket idle, little enough to measure the backend rather than our queue.
        const size_t target = std::max<size_t>(64 * 1024, 4 * message_size);
        const size_t per_write = std::max<size_t>(1, 4096 / message_size);
        // A backend may take writes straight into the socket (queue stays empty, no on_sent
        // follows); write at most `target` per call and come back through the loop, so the
        // phase timer and the other clients get their turn.
        size_t written = 0;
        while (saturate && io->queued_bytes() < target && written < target) {
            std::vector<uint8_t> batch(message_size * per_write);
            for (size_t off = 0; off < batch.size(); off += message_size) {
                const uint64_t stamp = now_ns();
                std::memcpy(batch.data() + off, &stamp, sizeof stamp);
            }
            written += batch.size();
            io->write(std::move(batch));
        }
        if (saturate && written >= target && io->queued_bytes() < target && !top_up_posted) {
            top_up_posted = true;
            loop->post([this] {
                top_up_posted = false;
                top_up();
            });
        }
    }
    void send_one() {
        std::vector<uint8_t> message(message_size);
        const uint64_t stamp = now_ns();
        std::memcpy(message.data(), &stamp, sizeof stamp);
        io->write(std::move(message));
    }
    void on_received(std::span<const uint8_t>) override {}
    void on_sent(size_t) override { top_up(); }
    void on_failed(std::string_view) override { failed = true; }
};

// Reads every client socket; records throughput and latency of fixed-size stamped messages.
struct ClientSide {
    std::vector<int> fds;
    size_t message_size = kMessageSize;
    std::atomic<bool> stop{false};
    std::atomic<bool> recording{false};
    uint64_t messages = 0;
    uint64_t bytes = 0;
    std::vector<uint32_t> latencies_us;

    void run(int cpu) {
        if (cpu >= 0) {
            const int cpus[] = {cpu};
            [[maybe_unused]] auto pinned = pin_current_thread(cpus);
        }
        int epoll = epoll_create1(0);
        std::vector<std::vector<uint8_t>> partial(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.u64 = i;
            epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
        }
        std::vector<uint8_t> buffer(size_t{1} << 20);
        epoll_event events[64];
        while (!stop) {
            const int n = epoll_wait(epoll, events, 64, 50);
            for (int e = 0; e < n; ++e) {
                const size_t i = events[e].data.u64;
                const ssize_t got = ::recv(fds[i], buffer.data(), buffer.size(), MSG_DONTWAIT);
                if (got <= 0) continue;
                const uint64_t now = now_ns();
                auto& carry = partial[i];
                carry.insert(carry.end(), buffer.begin(), buffer.begin() + got);
                size_t off = 0;
                for (; off + message_size <= carry.size(); off += message_size) {
                    if (!recording) continue;
                    uint64_t stamp;
                    std::memcpy(&stamp, carry.data() + off, sizeof stamp);
                    ++messages;
                    if (stamp != 0 && latencies_us.size() < 4'000'000) {
                        latencies_us.push_back(
                            uint32_t(std::min<uint64_t>((now - stamp) / 1000, UINT32_MAX)));
                    }
                }
                if (recording) bytes += off;
                carry.erase(carry.begin(), carry.begin() + long(off));
            }
        }
        close(epoll);
    }
};

std::vector<UniqueFd> connect_clients(uint16_t port, int count) {
    std::vector<UniqueFd> sockets;
    for (int i = 0; i < count; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            std::perror("connect");
            std::exit(1);
        }
        sockets.push_back(std::move(fd));
    }
    return sockets;
}

struct Result {
    double messages_per_s = 0;
    double p50_us = 0;
    double p99_us = 0;
    double bytes_per_s = 0;
};

double percentile(std::vector<uint32_t>& values, double p) {
    if (values.empty()) return 0;
    const size_t k = std::min(values.size() - 1, size_t(p * double(values.size())));
    std::nth_element(values.begin(), values.begin() + long(k), values.end());
    return values[k];
}

struct Options {
    double seconds = 2.0;
    int cpu_server = -1;
    int cpu_client = -1;
};

// Connects `clients` sockets to a fresh reactor of `backend` and runs `mode` for `seconds`.
enum class Mode { kSaturate, kPaced, kLarge };

Result run(IoBackend backend, size_t zero_copy_min, bool keep_zero_copy, int clients, Mode mode,
           const Options& options, bool inline_first = true) {
    ReactorOptions reactor_options;
    reactor_options.backend = backend;
    reactor_options.inline_first_send = inline_first;
    reactor_options.zero_copy_min_bytes = zero_copy_min;
    reactor_options.zero_copy_even_if_copied = keep_zero_copy;
    auto reactor = Reactor::create(reactor_options);
    if (!reactor) {
        std::fprintf(stderr, "reactor: %s\n", reactor.error().c_str());
        std::exit(1);
    }
    auto listener = TcpListener::listen("127.0.0.1", 0);
    if (!listener) std::exit(1);
    std::vector<std::unique_ptr<Feed>> feeds;
    const size_t message_size = mode == Mode::kLarge ? kLargeMessage : kMessageSize;
    (*reactor)->accept_on(*listener, [&](TcpStream stream) {
        auto feed = std::make_unique<Feed>();
        feed->message_size = message_size;
        feed->loop = reactor->get();
        feed->io = (*reactor)->open_stream(std::move(stream), *feed);
        feeds.push_back(std::move(feed));
    });
    ClientSide client;
    client.message_size = message_size;
    std::vector<UniqueFd> sockets = connect_clients(listener->port(), clients);
    for (const UniqueFd& fd : sockets) client.fds.push_back(fd.get());

    if (options.cpu_server >= 0) {
        const int cpus[] = {options.cpu_server};
        [[maybe_unused]] auto pinned = pin_current_thread(cpus);
    }
    std::thread reader([&] { client.run(options.cpu_client); });
    Reactor& loop = **reactor;
    // Phase timers: wait for every client to be accepted, warm up, record, stop.
    const uint64_t start = now_ns();
    const uint64_t warmup_ns = 300'000'000;
    const uint64_t record_ns = uint64_t(options.seconds * 1e9);
    uint64_t recorded_from = 0;
    bool started = false;
    loop.every(std::chrono::milliseconds(1), [&] {
        if (feeds.size() < size_t(clients)) return;
        if (!started) {
            started = true;
            for (auto& feed : feeds) {
                feed->saturate = mode != Mode::kPaced;
                feed->top_up();
            }
        }
        if (mode == Mode::kPaced) {
            for (auto& feed : feeds) feed->send_one();
        }
        const uint64_t now = now_ns();
        if (recorded_from == 0 && now - start > warmup_ns) {
            recorded_from = now;
            client.recording = true;
        }
        if (recorded_from != 0 && now - recorded_from > record_ns) {
            client.recording = false;
            loop.stop();
        }
    });
    loop.run();
    const double elapsed = double(now_ns() - recorded_from) / 1e9;
    client.stop = true;
    reader.join();
    Result result;
    result.messages_per_s = double(client.messages) / elapsed;
    result.bytes_per_s = double(client.bytes) / elapsed;
    result.p50_us = percentile(client.latencies_us, 0.50);
    result.p99_us = percentile(client.latencies_us, 0.99);
    return result;
}

double idle_client_kib(IoBackend backend, int clients) {
    ReactorOptions reactor_options;
    reactor_options.backend = backend;
    auto reactor = Reactor::create(reactor_options);
    auto listener = TcpListener::listen("127.0.0.1", 0);
    if (!reactor || !listener) std::exit(1);
    std::vector<std::unique_ptr<Feed>> feeds;
    feeds.reserve(size_t(clients));
    (*reactor)->accept_on(*listener, [&](TcpStream stream) {
        auto feed = std::make_unique<Feed>();
        feed->io = (*reactor)->open_stream(std::move(stream), *feed);
        feeds.push_back(std::move(feed));
    });
    const long before = rss_kib();
    std::vector<UniqueFd> sockets = connect_clients(listener->port(), clients);
    Reactor& loop = **reactor;
    loop.every(std::chrono::milliseconds(5), [&] {
        if (feeds.size() >= size_t(clients)) loop.stop();
    });
    loop.run();
    // Includes the client-side sockets' user-space cost (none: plain fds) — the figure is the
    // server's per-connection state: StreamIo, callbacks, bookkeeping.
    return double(rss_kib() - before) / clients;
}

int main_impl(int argc, char** argv) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--seconds") options.seconds = std::stod(argv[i + 1]);
        if (flag == "--cpu-server") options.cpu_server = std::stoi(argv[i + 1]);
        if (flag == "--cpu-client") options.cpu_client = std::stoi(argv[i + 1]);
    }
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);

    std::printf("# io_bench: loopback, %.1f s per measurement; 256-byte messages\n",
                options.seconds);
    std::printf("%-8s %-10s %13s %10s %10s\n", "clients", "backend", "messages/s", "p50 us",
                "p99 us");
    // io_uring as shipped (idle connections try one inline send first), io_uring with every
    // send through the ring, and epoll; the ratio row is the shipped io_uring over epoll.
    const char* names[] = {"io_uring", "uring-ring", "epoll"};
    for (int clients : {1, 16, 64, 256}) {
        Result sat[3], paced[3];
        for (int b = 0; b < 3; ++b) {
            const IoBackend backend = b == 2 ? IoBackend::kEpoll : IoBackend::kIoUring;
            const bool inline_first = b == 0;
            sat[b] = run(backend, 0, false, clients, Mode::kSaturate, options, inline_first);
            paced[b] = run(backend, 0, false, clients, Mode::kPaced, options, inline_first);
            std::printf("%-8d %-10s %13.0f %10.0f %10.0f\n", clients, names[b],
                        sat[b].messages_per_s, paced[b].p50_us, paced[b].p99_us);
        }
        std::printf("%-8d %-10s %13.2f %10.2f %10.2f\n", clients, "ratio",
                    sat[0].messages_per_s / sat[2].messages_per_s,
                    paced[2].p50_us > 0 ? paced[0].p50_us / paced[2].p50_us : 0,
                    paced[2].p99_us > 0 ? paced[0].p99_us / paced[2].p99_us : 0);
    }
    std::printf("\n# one client, 1 MiB messages\n%-32s %12s\n", "sender", "MB/s");
    const Result plain = run(IoBackend::kIoUring, 0, false, 1, Mode::kLarge, options);
    const Result zero_copy = run(IoBackend::kIoUring, 64 * 1024, true, 1, Mode::kLarge, options);
    const Result epoll = run(IoBackend::kEpoll, 0, false, 1, Mode::kLarge, options);
    std::printf("%-32s %12.0f\n", "io_uring sendmsg", plain.bytes_per_s / 1e6);
    std::printf("%-32s %12.0f  (%.2fx plain)\n", "io_uring sendmsg zero-copy",
                zero_copy.bytes_per_s / 1e6, zero_copy.bytes_per_s / plain.bytes_per_s);
    std::printf("%-32s %12.0f  (io_uring/epoll %.2fx)\n", "epoll writev", epoll.bytes_per_s / 1e6,
                plain.bytes_per_s / epoll.bytes_per_s);
    std::printf("\n# memory per idle connected client (server RSS growth over 1000)\n");
    std::printf("io_uring %.1f KiB, epoll %.1f KiB\n", idle_client_kib(IoBackend::kIoUring, 1000),
                idle_client_kib(IoBackend::kEpoll, 1000));
    return 0;
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    return spiced::main_impl(argc, argv);
}
