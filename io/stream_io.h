// StreamIo: the socket half of a connection. It reads everything the peer sends and writes
// queued byte buffers in order; the layers above (TLS, WebSocket, SPICE) see only bytes.
//
// Each Reactor backend has its own: readiness plus recv/sendmsg for epoll, completions with
// provided buffers and (zero-copy) sends for io_uring. Events arrive on the reactor's thread;
// on_sent never comes from inside write() (so an on_sent handler may write() again), but
// on_failed may, when the socket is already broken.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spiced {

class StreamIo {
public:
    class Events {
    public:
        virtual ~Events() = default;
        // Bytes from the peer; the span is valid for this call only.
        virtual void on_received(std::span<const uint8_t> bytes) = 0;
        // Some queued bytes went out; `queued` is what is still waiting.
        virtual void on_sent(size_t queued) = 0;
        // The peer closed or the socket failed; no more events follow.
        virtual void on_failed(std::string_view reason) = 0;
    };

    virtual ~StreamIo() = default;

    const std::string& peer() const { return peer_; }
    // Queues bytes exactly as they go on the wire and starts writing them.
    virtual void write(std::vector<uint8_t> bytes) = 0;
    // Bytes queued and not yet taken by the kernel (what this client costs us in memory).
    virtual size_t queued_bytes() const = 0;
    // queued_bytes() plus what the kernel holds that the peer has not acknowledged: all the
    // written bytes that have not reached the other end yet.
    virtual size_t unacknowledged_bytes() const = 0;
    uint64_t bytes_sent() const { return bytes_sent_; }
    uint64_t bytes_received() const { return bytes_received_; }
    // Ends all I/O; no events follow. With `flush`, what is queued gets one non-blocking
    // attempt to go out first (a goodbye or a TLS alert), never a wait.
    virtual void shut(bool flush) = 0;

protected:
    explicit StreamIo(std::string peer) : peer_(std::move(peer)) {}
    std::string peer_;
    uint64_t bytes_sent_ = 0;
    uint64_t bytes_received_ = 0;
};

}  // namespace spiced
