// libFuzzer: client messages into a linked channel of a real server. One spiced::Server runs
// in the process (the demo desktop, a password ticket, 127.0.0.1, an ephemeral port); every
// input connects over TCP, links the main channel the way a client does (link message, RSA
// ticket, MAIN_INIT for the session id), links the channel under test to that session if it
// is not main, and sends the input as that channel's messages. Then it half-closes, reads
// until the server hangs up, and waits until the session is gone.
//
// Input:
//   byte 0       which channel: index (mod the count) into the channel kinds the server
//                serves, in type order: 0 main, 1 display, 2 inputs, 3 cursor
//   bytes 1..4   u32 LE: the channel capability word the client announces for it
//   then records until the input ends:
//     u16 LE type, u16 LE length, body (the length is clamped to the bytes left)
//   Each record goes out as one message with the mini header (u16 type, u32 size). Types
//   0xfffd..0xffff instead send a common message the fuzzer cannot forge (their body is
//   ignored): 0xffff ACK, 0xfffe PONG to the newest ping received on the channel, 0xfffd
//   ACK_SYNC with the SET_ACK generation. Bytes too few for a record header go out as they
//   are: a partial message.
// Seeds: tests/fuzz/corpus/linked_channel_fuzz, made by linked_channel_seeds.py.
//
// A harness failure (the server stops linking channels, or a session outlives its
// connections) aborts with one line: that is a server bug too, with the input that caused it.
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <spice/enums.h>
#include <spice/protocol.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "core/channel_kinds.h"
#include "core/messages.h"
#include "core/server.h"
#include "core/ticket.h"
#include "demo/demo_source.h"
#include "io/unique_fd.h"
#include "tests/support/spice_link_client.h"

namespace spiced {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view kPassword = "linked-fuzz";
// Generous: a link waits for the server's RSA key pool, and the machine may be loaded.
constexpr auto kLinkTimeout = 10s;
// How long the server has to take the input and to hang up after our half-close.
constexpr auto kDrainTimeout = 2s;
constexpr auto kSessionEndTimeout = 5s;

constexpr uint16_t kSendAck = 0xffff;
constexpr uint16_t kSendPong = 0xfffe;
constexpr uint16_t kSendAckSync = 0xfffd;

constexpr size_t kMiniHeaderSize = 6;

[[noreturn]] void harness_failure(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "linked_channel_fuzz: %.*s: %.*s\n", int(what.size()), what.data(),
                 int(detail.size()), detail.data());
    std::abort();
}

// ---- The server ----------------------------------------------------------------------------

std::unique_ptr<Server> start_server() {
    ServerConfig config;
    config.address = "127.0.0.1";
    config.port = 0;
    config.ticket = TicketPolicy::password(std::string(kPassword), std::nullopt);
    // One shard: an input that crashes replays on the same path; the CPU compositor: no
    // Vulkan probing under the sanitizers.
    config.shards = 1;
    config.gpu.device = "none";
    DemoSourceConfig demo;
    demo.head_size = {320, 240};  // the demo's smallest: cheap to render and encode
    auto server = Server::create(std::move(config), std::make_unique<DemoSource>(demo));
    if (!server) harness_failure("Server::create", server.error());
    if (auto started = (*server)->start(); !started) harness_failure("start", started.error());
    return std::move(*server);
}

// libFuzzer runs every input in one process and a server start (threads, the desktop's first
// frame, the key pool) costs far more than an input, so one server serves them all: made on
// first use, stopped by the static's destructor when libFuzzer exits.
Server& running_server() {
    static const std::unique_ptr<Server> server = start_server();
    return *server;
}

// ---- The client ----------------------------------------------------------------------------

UniqueFd connect_to(uint16_t port) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) harness_failure("socket", std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Blocking: a loopback connect completes at once (the listen backlog takes it).
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        harness_failure("connect", std::strerror(errno));
    return fd;
}

// One channel connection from link to hang-up. What the server sends is parsed only as far
// as the harness needs it (the session id, the SET_ACK generation, the newest ping) and
// skipped otherwise, so a display channel's pictures cost no memory here.
class Wire {
public:
    Wire(uint16_t port, uint8_t channel_type, uint32_t connection_id, uint32_t channel_caps)
        : socket_(connect_to(port)),
          scratch_(64 * 1024),
          link_(channel_type, connection_id, channel_caps, std::string(kPassword)) {
        link_.start(out_);
    }

    // For poll(): none once the server hung up (it would report the hang-up forever).
    int fd() const { return hung_up_ ? -1 : socket_.get(); }
    bool linked() const { return link_.state() == Link::State::kLinked; }
    // Refused, or gone before the link completed.
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }
    bool hung_up() const { return hung_up_; }
    // Everything queued went out, or nothing more can.
    bool all_sent() const { return sent_ == out_.size() || write_closed_ || hung_up_; }
    std::optional<uint32_t> session_id() const { return session_id_; }
    bool ping_seen() const { return ping_id_.has_value(); }

    short events() const {
        if (hung_up_) return 0;
        return short(POLLIN | (sent_ < out_.size() && !write_closed_ ? POLLOUT : 0));
    }

    void queue_message(uint16_t type, std::span<const uint8_t> body) {
        out_.u16(type);
        out_.u32(uint32_t(body.size()));
        out_.bytes(body);
    }
    void queue_raw(std::span<const uint8_t> bytes) { out_.bytes(bytes); }
    // A valid common message built from what the server said so far.
    void queue_common(uint16_t which) {
        ByteWriter body;
        if (which == kSendAck) {
            queue_message(SPICE_MSGC_ACK, {});
        } else if (which == kSendPong) {
            body.u32(ping_id_.value_or(0));
            body.u64(ping_time_);
            queue_message(SPICE_MSGC_PONG, body.buffer());
        } else {
            body.u32(ack_generation_);
            queue_message(SPICE_MSGC_ACK_SYNC, body.buffer());
        }
    }

    // No more from us: the server reads EOF once it has taken everything queued before.
    void close_write() {
        if (write_closed_ || hung_up_) return;
        write_closed_ = true;
        shutdown(socket_.get(), SHUT_WR);
    }

    void on_ready() {
        flush();
        while (!hung_up_) {
            const ssize_t got = recv(socket_.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
            if (got > 0) {
                take(std::span(scratch_.data(), size_t(got)));
                continue;
            }
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            hang_up("the server closed the connection");
        }
    }

private:
    using Link = test_support::SpiceLinkClient;

    void hang_up(std::string_view why) {
        hung_up_ = true;
        if (!linked() && failure_.empty()) failure_ = std::string(why) + " during the link";
    }

    void flush() {
        while (sent_ < out_.size() && !write_closed_ && !hung_up_) {
            // MSG_NOSIGNAL: a server that hung up must not kill the fuzzer with SIGPIPE.
            const ssize_t wrote = send(socket_.get(), out_.buffer().data() + sent_,
                                       out_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (wrote >= 0) {
                sent_ += size_t(wrote);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            } else if (errno != EINTR) {
                // The server closed on a message it refused: what it sent before still counts.
                write_closed_ = true;
            }
        }
    }

    void take(std::span<const uint8_t> data) {
        if (linked() && in_.empty()) {
            const size_t skipped = std::min(skip_, data.size());
            skip_ -= skipped;
            data = data.subspan(skipped);
        }
        in_.insert(in_.end(), data.begin(), data.end());
        parse();
    }

    void fail(std::string why) {
        failure_ = std::move(why);
        hung_up_ = true;
    }

    void consume(size_t count) { in_.erase(in_.begin(), in_.begin() + ptrdiff_t(count)); }

    void parse() {
        if (!linked()) {
            if (link_.take(in_, out_) == Link::State::kFailed) return fail(link_.failure());
            // The records are framed with the mini header, so it must be agreed on.
            if (linked() && !link_.mini_header()) return fail("the server offers no mini header");
            flush();
        }
        while (linked() && !failed() && parse_message()) {
        }
    }

    // One server message from in_; false when it is not all here yet.
    bool parse_message() {
        if (in_.size() < kMiniHeaderSize) return false;
        ByteReader header(in_);
        const uint16_t type = header.u16();
        const uint32_t size = header.u32();
        // Only the start of a body is read; the rest is skipped as it arrives.
        size_t wanted = 0;
        if (type == SPICE_MSG_SET_ACK || type == SPICE_MSG_MAIN_INIT) wanted = 4;
        if (type == SPICE_MSG_PING) wanted = 12;
        wanted = std::min<size_t>(wanted, size);
        if (in_.size() < kMiniHeaderSize + wanted) return false;
        ByteReader body(std::span(in_).subspan(kMiniHeaderSize, wanted));
        if (type == SPICE_MSG_SET_ACK && wanted == 4) ack_generation_ = body.u32();
        if (type == SPICE_MSG_MAIN_INIT && wanted == 4) session_id_ = body.u32();
        if (type == SPICE_MSG_PING && wanted == 12) {
            ping_id_ = body.u32();
            ping_time_ = body.u64();
        }
        const size_t here = std::min(in_.size() - kMiniHeaderSize, size_t{size});
        consume(kMiniHeaderSize + here);
        skip_ = size - here;
        if (skip_ > 0) {
            // Whatever else is buffered belongs to this body: in_ is empty now.
            return false;
        }
        return true;
    }

    UniqueFd socket_;
    std::vector<uint8_t> scratch_;
    Link link_;
    ByteWriter out_;
    size_t sent_ = 0;
    bool write_closed_ = false;
    bool hung_up_ = false;
    std::vector<uint8_t> in_;
    size_t skip_ = 0;  // bytes of the current message's body still to come
    std::optional<uint32_t> session_id_;
    uint32_t ack_generation_ = 0;
    std::optional<uint32_t> ping_id_;
    uint64_t ping_time_ = 0;
    std::string failure_;
};

// Sends and reads on every wire until done() or the deadline (a deadline already past: one
// look at what is there without waiting); false when done() is still false then.
bool pump(std::span<Wire* const> wires, Clock::time_point deadline, std::predicate auto done) {
    std::vector<pollfd> fds;
    for (;;) {
        if (done()) return true;
        const auto left = std::max<int64_t>(
            0,
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        fds.clear();
        for (const Wire* wire : wires) fds.push_back({wire->fd(), wire->events(), 0});
        const int ready = poll(fds.data(), fds.size(), int(left));
        if (ready < 0 && errno != EINTR) harness_failure("poll", std::strerror(errno));
        for (size_t i = 0; i < wires.size(); ++i) {
            if (fds[i].revents != 0) wires[i]->on_ready();
        }
        if (left == 0) return done();
    }
}

// The input's records as messages on `wire` (layout at the top of the file).
void send_records(Wire& wire, std::span<Wire* const> wires, std::span<const uint8_t> records) {
    while (records.size() >= 4) {
        ByteReader header(records.first(4));
        const uint16_t type = header.u16();
        const size_t length = std::min<size_t>(header.u16(), records.size() - 4);
        const auto body = records.subspan(4, length);
        records = records.subspan(4 + length);
        if (type >= kSendAckSync) {
            // Answer what the server has said by now: send what is queued and read what
            // arrived, without waiting for more.
            pump(wires, Clock::now() + kDrainTimeout, [&] { return wire.all_sent(); });
            pump(wires, Clock::now(), [] { return false; });
            wire.queue_common(type);
        } else {
            wire.queue_message(type, body);
        }
    }
    wire.queue_raw(records);
}

void await_sessions_gone(const Server& server) {
    const auto deadline = Clock::now() + kSessionEndTimeout;
    while (server.session_count() > 0) {
        if (Clock::now() > deadline) {
            harness_failure("a session outlived its connections",
                            std::to_string(server.session_count()) + " left");
        }
        std::this_thread::sleep_for(1ms);
    }
}

// The channel kinds the server serves, in type order.
std::vector<const ChannelKind*> served_kinds() {
    std::vector<const ChannelKind*> kinds;
    for (const ChannelKind& kind : channel_kinds()) {
        if (kind.make != nullptr) kinds.push_back(&kind);
    }
    return kinds;
}

void run_input(Server& server, std::span<const uint8_t> input) {
    static const std::vector<const ChannelKind*> kinds = served_kinds();
    const uint8_t type = kinds[(input.empty() ? 0 : input[0]) % kinds.size()]->type;
    uint32_t caps = 0;
    for (size_t i = 1; i < 5 && i < input.size(); ++i) caps |= uint32_t{input[i]} << (8 * (i - 1));
    const auto records = input.subspan(std::min<size_t>(5, input.size()));

    const auto link_deadline = Clock::now() + kLinkTimeout;
    const bool fuzz_main = type == SPICE_CHANNEL_MAIN;
    // With another channel under test, the main channel announces what spice-gtk's does.
    const uint32_t main_caps = fuzz_main ? caps
                                         : (1u << SPICE_MAIN_CAP_NAME_AND_UUID) |
                                               (1u << SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
    Wire main(server.port(), SPICE_CHANNEL_MAIN, 0, main_caps);
    std::vector<Wire*> wires{&main};
    pump(wires, link_deadline,
         [&] { return main.failed() || (main.session_id() && main.ping_seen()); });
    if (!main.session_id() || !main.ping_seen())
        harness_failure("the main channel did not link", main.failure());

    std::optional<Wire> other;
    if (!fuzz_main) {
        other.emplace(server.port(), type, *main.session_id(), caps);
        wires.push_back(&*other);
        pump(wires, link_deadline, [&] { return other->failed() || other->ping_seen(); });
        if (!other->ping_seen()) {
            harness_failure(std::string("the ") + channel_type_name(type) + " channel did not link",
                            other->failure());
        }
    }
    Wire& fuzzed = other ? *other : main;
    send_records(fuzzed, wires, records);

    // The server may stop reading (input held back, or it closed): the deadline ends the wait.
    auto deadline = Clock::now() + kDrainTimeout;
    pump(wires, deadline, [&] { return fuzzed.all_sent(); });
    fuzzed.close_write();
    pump(wires, deadline, [&] { return fuzzed.hung_up(); });
    if (other) {
        // Main last, as a client leaves: its end ends the session.
        main.close_write();
        pump(wires, Clock::now() + kDrainTimeout, [&] { return main.hung_up(); });
    }
}

}  // namespace
}  // namespace spiced

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Every refused message is a log line: quiet unless the caller asked for more.
    setenv("SPICED_LOG_LEVEL", "error", 0);
    // OpenSSL registers its exit-time cleanup when first initialised, and exit handlers run
    // in reverse order: initialised here, before the server exists, it cleans up after the
    // server's static destructor joined the key worker. (Left to the worker's first key, it
    // could register after that static and tear OpenSSL down under a running keygen.) Options
    // 0 would return early without initialising anything.
    OPENSSL_init_crypto(OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    spiced::Server& server = spiced::running_server();
    spiced::run_input(server, std::span(data, size));
    // The sockets are closed: the next input starts with no session left from this one.
    spiced::await_sessions_gone(server);
    return 0;
}
