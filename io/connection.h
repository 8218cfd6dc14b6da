// Connection: a non-blocking stream registered with a Reactor, with an input buffer handed to
// a replaceable Handler and an output queue of whole messages written with scatter-gather.
//
// Threading: everything happens on the reactor's thread. A Connection never destroys itself;
// after close() its owner is told through Handler::on_closed and must drop it (deferred).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/reactor.h"
#include "io/tcp.h"

namespace spiced {

class Connection {
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

    Connection(Reactor& reactor, TcpStream stream, Handler* handler);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const std::string& peer() const { return stream_.peer(); }
    void set_handler(Handler* handler) { handler_ = handler; }

    // Queues a whole message; written in order, as soon as the socket takes it.
    void send(std::vector<uint8_t> bytes);
    size_t queued_bytes() const { return queued_bytes_; }
    uint64_t bytes_sent() const { return bytes_sent_; }
    uint64_t bytes_received() const { return bytes_received_; }
    // Drained callback threshold: on_drained fires when queued bytes fall to this or below.
    void set_low_water(size_t bytes) { low_water_ = bytes; }

    // Offers already-buffered input to the handler again (after it was not ready for it).
    void redeliver_input();

    // Stops all I/O and reports `reason` to the handler (once). Pending output is dropped
    // unless `flush_first`, which first tries one non-blocking write of what is queued.
    void close(std::string_view reason, bool flush_first = false);
    bool closed() const { return closed_; }

private:
    void on_ready(uint32_t ready);
    void read_available();
    void dispatch_input();
    void write_queued();
    void update_interest();

    Reactor& reactor_;
    TcpStream stream_;
    Handler* handler_;
    Reactor::WatchId watch_ = 0;
    std::vector<uint8_t> input_;
    std::deque<std::vector<uint8_t>> output_;
    size_t output_offset_ = 0;  // bytes of output_.front() already written
    size_t queued_bytes_ = 0;
    size_t low_water_ = 0;
    uint64_t bytes_sent_ = 0;
    uint64_t bytes_received_ = 0;
    bool closed_ = false;
    bool dispatching_ = false;
};

}  // namespace spiced
