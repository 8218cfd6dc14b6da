// Connection: a non-blocking stream registered with a Reactor, with an input buffer handed to
// a replaceable Handler and an output queue of whole messages written with scatter-gather.
//
// Transports on one port: a connection starts by looking at its first bytes. "GET " means
// HTTP: a WebSocket upgrade (RFC 6455) turns the connection into a framed one, where input is
// unwrapped from frames before the Handler sees it and every send() goes out as one binary
// frame; any other GET is answered from the web root (or 404) and closed without the Handler
// ever seeing data. Anything else is a plain stream and takes the same path as before.
//
// TLS (ConnectionOptions::tls, the tls-port's connections) sits below all of that: bytes from
// the socket go through the TlsSession first (handshake, then decryption) and only decrypted
// bytes reach the detection above; every outgoing message (WebSocket frames included) is
// encrypted as it is queued. A failed handshake is logged as one "[tls] PEER: ..." line and
// closes this connection only.
//
// The socket itself belongs to the reactor's backend (StreamIo); this class is the byte-level
// protocol layering above it.
//
// Threading: everything happens on the reactor's thread. A Connection never destroys itself;
// after close() its owner is told through Handler::on_closed and must drop it (deferred).
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/log_limiter.h"
#include "io/reactor.h"
#include "io/stream_io.h"
#include "io/tcp.h"
#include "io/tls.h"
#include "io/websocket.h"

namespace spiced {

struct ConnectionOptions {
    // Directory whose regular files plain HTTP GETs may fetch (e.g. spice-html5's files);
    // empty: every plain GET gets 404. WebSocket upgrades work either way.
    std::string web_root;
    // Set on the TLS port's connections: the peer must speak TLS first.
    std::shared_ptr<const TlsContext> tls;
    // Browser origins allowed to upgrade (see websocket_origin_allowed()).
    std::vector<std::string> websocket_origins;
    // Most bytes queued for this peer; a peer that stops reading is closed when a message
    // would go past it (0: no limit). Display updates merge well before it.
    size_t output_limit = 0;
};

class Connection final : private StreamIo::Events {
public:
    class Handler {
    public:
        virtual ~Handler() = default;
        // New input; returns how many bytes it consumed (the rest is offered again later,
        // or to the next handler if this one called set_handler()).
        virtual size_t on_data(std::span<const uint8_t> data) = 0;
        // The output queue drained below the low-water mark: a chance to produce more.
        virtual void on_drained() {}
        // The connection closed (by the peer, an error, or close()); called once.
        virtual void on_closed(std::string_view reason) = 0;
    };

    // Largest amount of unread input we buffer before a handler must consume.
    static constexpr size_t kMaxBufferedInput = 1 << 20;

    Connection(Reactor& reactor, TcpStream stream, Handler* handler,
               ConnectionOptions options = {});
    ~Connection() override;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const std::string& peer() const { return io_->peer(); }
    void set_handler(Handler* handler) { handler_ = handler; }

    // Queues a whole message; written in order, as soon as the socket takes it.
    void send(std::vector<uint8_t> bytes);
    size_t queued_bytes() const { return io_->queued_bytes() + staged_.size(); }
    // Sent or queued bytes that have not reached the peer's kernel yet (queued_bytes() plus
    // the socket's unacknowledged bytes).
    size_t unacknowledged_bytes() const { return io_->unacknowledged_bytes() + staged_.size(); }
    // When output last made progress (or began to wait); meaningful while queued_bytes() > 0:
    // a peer that stops reading leaves it in the past.
    std::chrono::steady_clock::time_point output_progress_at() const { return output_progress_at_; }
    // The most bytes that were ever queued at once: what this client cost us at worst.
    size_t peak_queued_bytes() const { return peak_queued_bytes_; }
    uint64_t bytes_sent() const { return io_->bytes_sent(); }
    uint64_t bytes_received() const { return io_->bytes_received(); }
    // Drained callback threshold: on_drained fires when queued bytes fall to this or below.
    void set_low_water(size_t bytes) { low_water_ = bytes; }

    // Offers already-buffered input to the handler again (after it was not ready for it).
    void redeliver_input();

    // Stops all I/O and reports `reason` to the handler (once). Pending output is dropped
    // unless `flush_first`, which first tries one non-blocking write of what is queued.
    void close(std::string_view reason, bool flush_first = false);
    bool closed() const { return closed_; }
    // True when the connection logged why it ended itself (an HTTP request answered or
    // refused, a WebSocket protocol error), so its owner need not log that again.
    bool close_logged() const { return close_logged_; }
    bool is_websocket() const { return mode_ == Mode::kWebSocket; }
    bool is_tls() const { return options_.tls != nullptr; }

    // One line about this connection, "PEER: message", within its share of the log: a burst of
    // kLogBurst lines, then one a second. A peer that keeps earning lines cannot flood the log
    // through any of them; what is held back is counted in the next line and when it closes.
    static constexpr uint32_t kLogBurst = 20;
    void log(LogLevel level, std::string_view component, const char* format, ...)
        __attribute__((format(printf, 4, 5)));
    void vlog(LogLevel level, std::string_view component, const char* format, va_list args)
        __attribute__((format(printf, 4, 0)));
    // Lines must also fit `limiter` (nullptr: no longer), a budget shared with other
    // connections: the per-connection one does not stop a flood of short connections, each
    // worth a line. Set and cleared on the thread that runs this connection.
    void share_log_limit(LogLimiter* limiter) { shared_log_limiter_ = limiter; }

private:
    enum class Mode : uint8_t {
        kDetect,     // fewer than 4 bytes seen, all a prefix of "GET "
        kPlain,      // a raw byte stream (SPICE)
        kHttp,       // reading an HTTP request head
        kWebSocket,  // framed; input_ holds unwrapped payload
        kDraining,   // an HTTP answer is queued; close once written, ignore input
    };

    // StreamIo::Events
    void on_received(std::span<const uint8_t> bytes) override;
    void on_sent(size_t queued) override;
    void on_failed(std::string_view reason) override;

    // Input while not kPlain; false when nothing is ready for the handler yet.
    bool take_framed_input(std::span<const uint8_t> fresh);
    void handle_http_head();
    void serve_static(const HttpRequest& request);
    void answer_http_and_close(std::string head, std::span<const uint8_t> body, std::string reason);
    void take_websocket_input(std::span<const uint8_t> fresh);
    // Queues application bytes (encrypted first on a TLS connection).
    void enqueue(std::vector<uint8_t> bytes);
    // Queues bytes exactly as they go on the wire.
    void enqueue_raw(std::vector<uint8_t> bytes);
    // Hands the staged small messages to the socket queue.
    void flush_staged();
    // TLS: the socket's bytes in, decrypted bytes out (in `plain`); false when closed.
    bool take_tls_input(std::span<const uint8_t> fresh, std::vector<uint8_t>& plain);
    void dispatch_input();

    std::unique_ptr<StreamIo> io_;
    Handler* handler_;
    ConnectionOptions options_;
    Mode mode_ = Mode::kDetect;
    std::unique_ptr<WebSocketDecoder> websocket_;  // only for kWebSocket
    std::unique_ptr<TlsSession> tls_;              // only with options_.tls
    std::string tls_setup_error_;                  // TlsSession::create failed (rare)
    std::string drain_reason_;                     // close reason once kDraining output is out
    std::vector<uint8_t> input_;
    // Small messages queued behind a peer that is not keeping up, copied into one shared
    // chunk: each would otherwise be a heap buffer of its own (~128 bytes of heap for a
    // 6-byte reply), which let a client that sends many small requests and never reads hold
    // 230 MB while 16 MiB were counted. Goes to the socket queue when it is full, before any
    // larger message, and when the socket queue empties.
    std::vector<uint8_t> staged_;
    std::chrono::steady_clock::time_point output_progress_at_{};
    size_t low_water_ = 0;
    size_t peak_queued_bytes_ = 0;
    LogLimiter log_limiter_{std::chrono::seconds(1), kLogBurst};
    LogLimiter* shared_log_limiter_ = nullptr;  // see share_log_limit()
    bool closed_ = false;
    bool close_logged_ = false;
    bool dispatching_ = false;
};

}  // namespace spiced
