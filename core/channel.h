// ChannelClient: one linked SPICE channel of one client. It frames messages (mini or full
// header, as negotiated), enforces the client-message limits, runs the SET_ACK window and
// pings, and hands each channel-specific message to the subclass.
//
// Threading: its shard's thread only. Owned by the client's Session part on that shard.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/bytes.h"
#include "base/expected.h"
#include "core/link.h"
#include "core/messages.h"
#include "core/server_config.h"
#include "io/connection.h"

namespace spiced {

class Session;
struct DesktopUpdate;

class ChannelClient : public Connection::Handler {
public:
    // A client message larger than this is hostile for every channel we serve (the biggest
    // legitimate ones, agent data chunks, are a few KiB).
    static constexpr uint32_t kMaxClientMessage = 256 * 1024;
    // SET_ACK window: the client acks every kAckWindow messages; we stop sending bulk data
    // when two windows are unacknowledged (spice-server uses the same 2x rule).
    static constexpr uint32_t kAckWindow = 20;

    ChannelClient(Session& session, std::unique_ptr<Connection> connection, const LinkRequest& link,
                  bool mini_header);
    ~ChannelClient() override;

    uint8_t channel_type() const { return link_.channel_type; }
    const char* name() const;  // "main", "display", ...
    double seconds_connected() const;
    uint8_t channel_id() const { return link_.channel_id; }
    // For the host's channel events: the event that announced this channel (its key and
    // addresses); reused, as kClosed, when it closes.
    void set_event(const ChannelEvent& event) { event_ = event; }
    const std::optional<ChannelEvent>& event() const { return event_; }
    const Capabilities& client_caps() const { return link_.channel_caps; }
    const std::string& peer() const { return connection_->peer(); }
    Connection& connection() { return *connection_; }
    Session& session() { return session_; }

    // Called once after the link succeeded and the channel took over the connection.
    void start();
    // A desktop update reached this channel's shard; each kind takes what concerns it.
    virtual void on_update(const DesktopUpdate& /*update*/) {}
    // Periodic housekeeping (pings); `now` from steady_clock.
    void tick(std::chrono::steady_clock::time_point now);
    void close(std::string_view reason);
    // Closed or closing (removal from the session waits for the reactor): sends nothing more.
    bool closing() const { return closing_ || connection_->closed(); }

    // Sends a fixed-layout message, or any message whose body `write` produces.
    template <FixedMessage M>
    void send(const M& message) {
        send_with(M::kType, [&](ByteWriter& out, size_t) { marshal(message, out); });
    }
    template <typename M>
    requires(!FixedMessage<M>) void send(const M& message) {
        send_with(M::kType, [&](ByteWriter& out, size_t) { marshal(message, out); });
    }
    void send_empty(uint16_t type) {
        send_with(type, [](ByteWriter&, size_t) {});
    }
    // `write` appends the body; its second argument is the index in the writer where the
    // message body starts (SPICE pointers are offsets from there).
    void send_with(uint16_t type, const std::function<void(ByteWriter&, size_t)>& write,
                   size_t size_hint = 64);

    // True while the client has acknowledged enough messages for bulk data to flow.
    bool ack_window_open() const { return unacked_ < 2 * kAckWindow; }
    // One line about this client ("PEER: message") within its connection's share of the log
    // (Connection::log).
    void log(LogLevel level, std::string_view component, const char* format, ...)
        __attribute__((format(printf, 4, 5)));

    // Round-trip time of the latest ping, or -1 before the first pong.
    double last_rtt_ms() const { return last_rtt_ms_; }

protected:
    virtual void on_start() = 0;
    // Channel-specific message; an error closes the connection with one log line.
    virtual Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) = 0;
    // Room opened up for more output (socket drained or acks arrived).
    virtual void on_can_send() {}
    // False holds further messages in the connection's input buffer (offered again through
    // Connection::redeliver_input): backpressure to a client whose input is still queued.
    virtual bool accepts_input() { return true; }
    virtual void on_closing() {}
    virtual void on_pong(uint32_t /*id*/) {}
    // Sends a PING carrying `padding` extra bytes; returns its id.
    uint32_t send_ping(size_t padding = 0);

private:
    size_t on_data(std::span<const uint8_t> data) override;
    void on_drained() override { on_can_send(); }
    void on_closed(std::string_view reason) override;
    Expected<void, ParseError> on_common_message(uint16_t type, std::span<const uint8_t> body,
                                                 bool& handled);

    Session& session_;
    std::unique_ptr<Connection> connection_;
    LinkRequest link_;
    std::optional<ChannelEvent> event_;
    bool mini_header_;
    uint64_t serial_ = 0;
    uint32_t unacked_ = 0;
    uint32_t ack_generation_ = 1;
    uint32_t ping_id_ = 0;
    // Pings not answered yet, oldest first (id, when sent): the pong timeout reads the front.
    std::deque<std::pair<uint32_t, std::chrono::steady_clock::time_point>> unanswered_pings_;
    // Part of a message is waiting for its rest; when bytes last arrived.
    bool partial_message_ = false;
    std::chrono::steady_clock::time_point last_received_{};
    double last_rtt_ms_ = -1;
    std::chrono::steady_clock::time_point next_ping_{};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    bool closing_ = false;
};

}  // namespace spiced
