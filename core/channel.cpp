#include "core/channel.h"

#include <spice/enums.h>

#include <cstdarg>

#include "base/log.h"
#include "core/session.h"
#include "core/shard.h"

namespace spiced {

namespace {
constexpr size_t kMiniHeaderSize = 6;   // u16 type, u32 size
constexpr size_t kFullHeaderSize = 18;  // u64 serial, u16 type, u32 size, u32 sub_list
constexpr auto kPingInterval = std::chrono::seconds(10);
constexpr size_t kMaxUnansweredPings = 64;

uint64_t monotonic_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}
}  // namespace

ChannelClient::ChannelClient(Session& session, std::unique_ptr<Connection> connection,
                             const LinkRequest& link, bool mini_header)
    : session_(session),
      connection_(std::move(connection)),
      link_(link),
      mini_header_(mini_header) {
    connection_->set_handler(this);
}

ChannelClient::~ChannelClient() {
    connection_->set_handler(nullptr);
}

const char* ChannelClient::name() const {
    const char* known = channel_type_name(link_.channel_type);
    return known != nullptr ? known : "channel";
}

double ChannelClient::seconds_connected() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void ChannelClient::log(LogLevel level, std::string_view component, const char* format, ...) {
    va_list args;
    va_start(args, format);
    connection_->vlog(level, component, format, args);
    va_end(args);
}

void ChannelClient::start() {
    send(MsgSetAck{ack_generation_, kAckWindow});
    // The client counts messages from SET_ACK on; so do we.
    unacked_ = 0;
    send_ping();
    on_start();
}

void ChannelClient::tick(std::chrono::steady_clock::time_point now) {
    if (closing_) return;
    const ServerConfig& config = session_.shard().config();
    const auto partial_timeout = config.partial_message_timeout;
    if (partial_message_ && partial_timeout.count() > 0 && now - last_received_ > partial_timeout) {
        log(LogLevel::kWarning, "channel",
            "%s channel: no more of a started message for %lld s "
            "(--partial-message-timeout); closing",
            name(), static_cast<long long>(partial_timeout.count()));
        close("partial message timeout");
        return;
    }
    // Only the main channel must answer: its queue is small, where a display channel's ping
    // may wait behind megabytes of pictures on a slow link.
    const auto pong_timeout = config.pong_timeout;
    if (link_.channel_type == SPICE_CHANNEL_MAIN && pong_timeout.count() > 0 &&
        !unanswered_pings_.empty() && now - unanswered_pings_.front().second > pong_timeout) {
        log(LogLevel::kWarning, "channel",
            "%s channel: ping %u unanswered for %lld s (--pong-timeout); closing", name(),
            unanswered_pings_.front().first, static_cast<long long>(pong_timeout.count()));
        close("pong timeout");
        return;
    }
    const auto write_timeout = config.write_timeout;
    if (write_timeout.count() > 0 && connection_->queued_bytes() > 0 &&
        now - connection_->output_progress_at() > write_timeout) {
        log(LogLevel::kWarning, "channel",
            "%s channel: %zu bytes queued and none taken for %lld s "
            "(--write-timeout); closing",
            name(), connection_->queued_bytes(), static_cast<long long>(write_timeout.count()));
        close("write timeout");
        return;
    }
    if (now < next_ping_) return;
    send_ping();
}

uint32_t ChannelClient::send_ping(size_t padding) {
    const auto now = std::chrono::steady_clock::now();
    next_ping_ = now + kPingInterval;
    const MsgPing ping{++ping_id_, monotonic_ns()};
    // A client that never answers must not grow this: past the cap only the oldest entries
    // (the ones the pong timeout reads) are kept.
    if (unanswered_pings_.size() < kMaxUnansweredPings)
        unanswered_pings_.emplace_back(ping.id, now);
    send_with(
        MsgPing::kType,
        [&](ByteWriter& out, size_t) {
            marshal(ping, out);
            out.zeros(padding);  // the client echoes only id and timestamp
        },
        padding + 16);
    return ping.id;
}

void ChannelClient::send_with(uint16_t type, const std::function<void(ByteWriter&, size_t)>& write,
                              size_t size_hint) {
    if (closing_ || connection_->closed()) return;
    const size_t header = mini_header_ ? kMiniHeaderSize : kFullHeaderSize;
    ByteWriter out(header + size_hint);
    out.zeros(header);
    write(out, header);
    const uint32_t body = uint32_t(out.size() - header);
    auto& bytes = out.buffer();
    ByteWriter fixed(header);
    if (mini_header_) {
        fixed.u16(type);
        fixed.u32(body);
    } else {
        fixed.u64(++serial_);
        fixed.u16(type);
        fixed.u32(body);
        fixed.u32(0);
    }
    std::copy(fixed.buffer().begin(), fixed.buffer().end(), bytes.begin());
    ++unacked_;
    connection_->send(out.take());
}

size_t ChannelClient::on_data(std::span<const uint8_t> data) {
    const size_t header = mini_header_ ? kMiniHeaderSize : kFullHeaderSize;
    size_t used = 0;
    last_received_ = std::chrono::steady_clock::now();
    bool held = false;
    while (!closing_ && data.size() - used >= header) {
        if (!accepts_input()) {
            held = true;
            break;
        }
        ByteReader r(data.subspan(used));
        if (!mini_header_) r.u64();  // client serials carry nothing we need
        uint16_t type = r.u16();
        uint32_t size = r.u32();
        if (size > kMaxClientMessage) {
            log(LogLevel::kWarning, "channel",
                "%s channel: message type %u announces %u bytes (limit %u); "
                "closing",
                name(), type, size, kMaxClientMessage);
            close("oversized message");
            return used;
        }
        if (data.size() - used - header < size) break;  // wait for the rest
        auto body = data.subspan(used + header, size);
        used += header + size;
        bool handled = false;
        auto result = on_common_message(type, body, handled);
        if (!handled && result) result = on_message(type, body);
        if (!result) {
            log(LogLevel::kWarning, "channel",
                "%s channel: bad message type %u (%u bytes): %.*s; closing", name(), type, size,
                int(to_string(result.error()).size()), to_string(result.error()).data());
            close("protocol error");
            return used;
        }
    }
    // Messages we hold back are not the client's stall (--partial-message-timeout).
    partial_message_ = !held && used < data.size();
    return used;
}

Expected<void, ParseError> ChannelClient::on_common_message(uint16_t type,
                                                            std::span<const uint8_t> body,
                                                            bool& handled) {
    handled = true;
    switch (type) {
        case SPICE_MSGC_ACK_SYNC: {
            auto sync = parse<MsgcAckSync>(body);
            if (!sync) return unexpected(sync.error());
            return {};
        }
        case SPICE_MSGC_ACK: {
            const bool was_open = ack_window_open();
            unacked_ = unacked_ > kAckWindow ? unacked_ - kAckWindow : 0;
            if (!was_open && ack_window_open()) on_can_send();
            return {};
        }
        case SPICE_MSGC_PONG: {
            auto pong = parse<MsgcPong>(body);
            if (!pong) return unexpected(pong.error());
            uint64_t now = monotonic_ns();
            if (pong->timestamp <= now) {
                last_rtt_ms_ = double(now - pong->timestamp) / 1e6;
                log(LogLevel::kDebug, "channel", "%s channel: ping %u rtt %.3f ms", name(),
                    pong->id, last_rtt_ms_);
            }
            // An answer settles its ping and the ones before it (ids we never sent: nothing).
            if (pong->id <= ping_id_) {
                while (!unanswered_pings_.empty() && unanswered_pings_.front().first <= pong->id)
                    unanswered_pings_.pop_front();
            }
            on_pong(pong->id);
            return {};
        }
        case SPICE_MSGC_DISCONNECTING: {
            auto bye = parse<MsgcDisconnecting>(body);
            if (!bye) return unexpected(bye.error());
            return {};
        }
        case SPICE_MSGC_MIGRATE_FLUSH_MARK:
        case SPICE_MSGC_MIGRATE_DATA:
            return {};  // no migration support: nothing to flush
        default:
            handled = false;
            return {};
    }
}

void ChannelClient::close(std::string_view reason) {
    if (closing_) return;
    connection_->close(reason);
}

void ChannelClient::on_closed(std::string_view reason) {
    if (closing_) return;
    closing_ = true;
    on_closing();
    session_.channel_closed(*this, reason);
}

}  // namespace spiced
