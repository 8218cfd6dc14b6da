#include "core/shard.h"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <sys/socket.h>

#include <algorithm>

#include "base/log.h"
#include "core/channel_kinds.h"
#include "core/channels.h"
#include "core/server.h"

namespace spiced {

namespace {
// A link must complete within this time; slow or stalled peers are dropped.
constexpr auto kLinkTimeout = std::chrono::seconds(10);
// How often links waiting for a ticket key look again (only while some wait).
constexpr auto kKeyRetryPeriod = std::chrono::milliseconds(5);

}  // namespace

// A connection between accept and the end of the link stage.
class PendingLink final : public Connection::Handler {
public:
    PendingLink(Shard& server, Reactor& reactor, TcpStream stream, LinkHandshake::Decide decide,
                LinkHandshake::TakeKey take_key, const TicketPolicy& policy,
                std::shared_ptr<const TlsContext> tls)
        : server_(server),
          connection_(std::make_unique<Connection>(
              reactor, std::move(stream), this,
              ConnectionOptions{server.config().web_root, std::move(tls),
                                server.config().websocket_origins,
                                server.config().client_memory_limit_bytes})),
          handshake_(std::move(decide), std::move(take_key), policy),
          started_(std::chrono::steady_clock::now()) {
        connection_->share_log_limit(&server.link_log_limiter());
    }

    // The peer's address without the port: ticket keys are shared out, and sessions bound,
    // per host. Every unix-socket peer (a named path, an unnamed client, a host's socketpair)
    // is the one host "local".
    std::string peer_host() const {
        const std::string& peer = connection_->peer();
        if (peer.rfind("unix", 0) == 0 || peer == "socketpair") return "local";
        const size_t colon = peer.rfind(':');
        return colon == std::string::npos ? peer : peer.substr(0, colon);
    }
    // Whether Shard::keys_held_ counts a key of this link (until drop_link).
    bool key_counted = false;
    std::string host;

    LinkHandshake& handshake() { return handshake_; }
    // The session this link was admitted to (the directory already counts the channel).
    void admitted(uint32_t session_id, SessionDirectory::Joined joined) {
        session_id_ = session_id;
        joined_ = joined;
    }
    uint32_t session_id() const { return session_id_; }
    const SessionDirectory::Joined& joined() const { return joined_; }
    std::unique_ptr<Connection> take_connection() {
        connection_->share_log_limit(nullptr);  // its lines are its session's from now on
        return std::move(connection_);
    }
    bool expired(std::chrono::steady_clock::time_point now) const {
        return now - started_ > kLinkTimeout;
    }
    void time_out() {
        if (!connection_) return;
        connection_->log(LogLevel::kWarning, "link",
                         "link not completed within %lld s (stalled at the %s); closing",
                         static_cast<long long>(kLinkTimeout.count()), handshake_.step_name());
        finished_ = true;
        connection_->close("link timeout");
    }
    bool finished() const { return finished_; }

    // The handshake waits for a ticket key: try again, and go on with any buffered input.
    void retry_key() {
        ByteWriter reply;
        handshake_.retry_key(reply);
        if (reply.size() == 0) return;
        connection_->send(reply.take());
        connection_->redeliver_input();
    }

private:
    size_t on_data(std::span<const uint8_t> data) override {
        received_ += data.size();
        ByteWriter reply;
        size_t used = handshake_.feed(data, reply);
        if (reply.size() > 0) connection_->send(reply.take());
        switch (handshake_.state()) {
            case LinkHandshake::State::kReading:
                if (handshake_.awaiting_key()) server_.wait_for_key(this);
                break;
            case LinkHandshake::State::kFailed:
                connection_->log(LogLevel::kWarning, "link", "%s", handshake_.failure().c_str());
                finished_ = true;
                connection_->close("link failed", /*flush_first=*/true);
                break;
            case LinkHandshake::State::kLinked:
                finished_ = true;
                received_ -= data.size() - used;
                server_.link_finished(*this);  // takes the connection
                break;
        }
        return used;
    }
    void on_closed(std::string_view reason) override {
        // An HTTP answer or a WebSocket error was logged by the connection itself.
        if (!finished_ && connection_->close_logged()) finished_ = true;
        if (!finished_) {
            finished_ = true;
            if (received_ == 0) {
                connection_->log(LogLevel::kWarning, "link",
                                 "connection closed before any link data (%.*s)",
                                 int(reason.size()), reason.data());
            } else {
                connection_->log(LogLevel::kWarning, "link",
                                 "truncated link: peer closed during the %s after %zu of %zu bytes",
                                 handshake_.step_name(), handshake_.bytes_buffered(),
                                 handshake_.bytes_expected());
            }
        }
        server_.reactor().defer([server = &server_, self = this] { server->drop_link(self); });
    }

    Shard& server_;
    std::unique_ptr<Connection> connection_;
    LinkHandshake handshake_;
    uint32_t session_id_ = 0;
    SessionDirectory::Joined joined_{};
    std::chrono::steady_clock::time_point started_;
    size_t received_ = 0;
    bool finished_ = false;
};

Shard::Shard(size_t index, Server& server, Reactor& reactor,
             std::span<const TcpListener* const> listeners,
             std::span<const TcpListener* const> tls_listeners)
    : index_(index),
      server_(server),
      reactor_(reactor),
      desktop_(server.desktop()),
      directory_(server.sessions()),
      feed_(server.desktop().feed(index)),
      state_(server.desktop().initial_state()),
      ticket_(server.config().ticket) {
    for (const TcpListener* listener : listeners) {
        accept_watches_.push_back(reactor_.accept_on(
            *listener, [this](TcpStream stream) { on_accept(std::move(stream), false); }));
    }
    for (const TcpListener* listener : tls_listeners) {
        accept_watches_.push_back(reactor_.accept_on(
            *listener, [this](TcpStream stream) { on_accept(std::move(stream), true); }));
    }
    housekeeping_timer_ = reactor_.every(std::chrono::seconds(1), [this] { on_housekeeping(); });
    // Called on the desktop's thread: the drain itself runs here, on ours.
    server.desktop().set_wake(
        index_, [reactor = &reactor_, this] { reactor->post([this] { drain_desktop(); }); });
}

Shard::~Shard() {
    for (Reactor::Id watch : accept_watches_) reactor_.cancel(watch);
    reactor_.cancel(housekeeping_timer_);
    if (key_retry_timer_ != 0) reactor_.cancel(key_retry_timer_);
    // Channels and links hold Connections registered with the reactor; drop them first.
    sessions_.clear();
    pending_.clear();
}

const ServerConfig& Shard::config() const {
    return server_.config();
}

const std::shared_ptr<GlzMemoryBudget>& Shard::glz_budget() const {
    return server_.glz_budget();
}

void Shard::shutdown() {
    for_each_channel([](ChannelClient& channel) {
        if (auto* display = dynamic_cast<DisplayChannelClient*>(&channel)) display->send_goodbye();
    });
    for_each_channel([](ChannelClient& channel) {
        channel.connection().close("server shutting down", /*flush_first=*/true);
    });
}

void Shard::on_accept(TcpStream stream, bool tls) {
    LOG_DEBUG("server", "%s: connected%s", stream.peer().c_str(), tls ? " (TLS port)" : "");
    const int fd = stream.fd();
    auto link = std::make_unique<PendingLink>(*this, reactor_, std::move(stream), nullptr, nullptr,
                                              ticket_, tls ? server_.tls() : nullptr);
    PendingLink* key = link.get();
    key->host = key->peer_host();
    key->handshake().set_decide(
        [this, tls, key](const LinkRequest& request) { return decide(request, tls, key->host); });
    key->handshake().set_take_key([this, key] { return take_key(*key); });
    key->handshake().set_admit([this, key] { return admit(*key); });
    if (config().on_channel_event) {
        // The host wants addresses with its channel events: read them while the socket is
        // still ours to ask.
        ChannelEvent event;
        event.tls = tls;
        event.local_len = sizeof(event.local);
        event.peer_len = sizeof(event.peer);
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&event.local), &event.local_len) != 0)
            event.local_len = 0;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&event.peer), &event.peer_len) != 0)
            event.peer_len = 0;
        link_events_[key] = event;
    }
    pending_.emplace(key, std::move(link));
}

LinkDecision Shard::decide(const LinkRequest& request, bool tls, const std::string& host) const {
    LinkDecision decision;
    decision.common_caps =
        Capabilities::of({SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION, SPICE_COMMON_CAP_AUTH_SPICE,
                          SPICE_COMMON_CAP_MINI_HEADER});
    auto refuse = [&](uint32_t error, std::string reason) {
        decision.error = error;
        decision.reason = std::move(reason);
        return decision;
    };
    const ChannelKind* kind = find_channel_kind(request.channel_type);
    if (kind == nullptr) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      "unknown channel type " + std::to_string(request.channel_type));
    }
    decision.channel_caps = kind->caps();
    const std::string type_name = channel_type_name(request.channel_type);
    const uint32_t ids = kind->per_display ? desktop_.display_channels() : 1;
    if (kind->make == nullptr || request.channel_id >= ids) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE, "channel " + type_name + ":" +
                                                                std::to_string(request.channel_id) +
                                                                " is not available");
    }
    // QEMU's tls-channel / plaintext-channel: spice-gtk answers NEED_SECURED by reconnecting
    // to the TLS port (and NEED_UNSECURED by going back to the plain one).
    const ChannelSecurity security =
        config().channel_security[request.channel_type].value_or(config().default_security);
    if (!tls && security == ChannelSecurity::kSecureOnly) {
        return refuse(
            SPICE_LINK_ERR_NEED_SECURED,
            type_name + " channel is TLS-only (--tls-channel); refused on the plain port");
    }
    if (tls && security == ChannelSecurity::kPlainOnly) {
        return refuse(SPICE_LINK_ERR_NEED_UNSECURED,
                      type_name +
                          " channel is plaintext-only (--plaintext-channel); refused on the TLS "
                          "port");
    }
    if (request.channel_type == SPICE_CHANNEL_MAIN) return decision;
    const auto lookup =
        directory_.lookup(request.connection_id, request.channel_type, request.channel_id, host);
    if (lookup == SessionDirectory::Lookup::kOtherHost) {
        // The client hears what it would for an unknown session: nothing tells a prober that
        // the id was right.
        return refuse(SPICE_LINK_ERR_BAD_CONNECTION_ID,
                      type_name + " channel names session " +
                          std::to_string(request.connection_id) +
                          ", whose main channel came from another host (--channel-binding host)");
    }
    if (lookup == SessionDirectory::Lookup::kUnknown) {
        return refuse(
            SPICE_LINK_ERR_BAD_CONNECTION_ID,
            type_name + " channel names unknown session " + std::to_string(request.connection_id));
    }
    if (lookup == SessionDirectory::Lookup::kChannelTaken) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      type_name + ":" + std::to_string(request.channel_id) +
                          " channel already linked in session " +
                          std::to_string(request.connection_id));
    }
    return decision;
}

LinkDecision Shard::admit(PendingLink& link) {
    const LinkRequest& request = link.handshake().request();
    LinkDecision decision;
    if (request.channel_type == SPICE_CHANNEL_MAIN) {
        SessionDirectory::Opened opened = directory_.open(index_, link.host);
        link.admitted(opened.id, {index_, false});
        // --multi-client off: the newcomer wins, as with spice-server; the sessions it
        // replaces end on their own shards.
        for (const auto& replaced : opened.replaced) {
            server_.post_to_shard(replaced.owner_shard,
                                  [id = replaced.id](Shard& shard) { shard.replace_session(id); });
        }
        return decision;
    }
    // Claimed before the client sees "OK": the session may have ended during the ticket
    // exchange, or another link of the same channel may have won the race.
    auto joined =
        directory_.join(request.connection_id, request.channel_type, request.channel_id, link.host);
    if (!joined) {
        decision.error = SPICE_LINK_ERR_BAD_CONNECTION_ID;
        decision.reason = "session " + std::to_string(request.connection_id) +
                          " ended (or got its " + channel_type_name(request.channel_type) +
                          " channel) before this link completed";
        return decision;
    }
    link.admitted(request.connection_id, *joined);
    return decision;
}

void Shard::link_finished(PendingLink& link) {
    const LinkRequest& request = link.handshake().request();
    const bool mini = link.handshake().mini_header();
    std::unique_ptr<Connection> connection = link.take_connection();
    const std::string peer = connection->peer();
    reactor_.defer([this, self = &link] { drop_link(self); });

    const uint32_t id = link.session_id();
    if (connection->closed()) {
        // The peer went away while the OK was being sent: give back what admit() claimed,
        // or the session (or its channel slot) would outlive every connection.
        if (request.channel_type == SPICE_CHANNEL_MAIN) {
            directory_.close(id);
        } else {
            directory_.leave(id, request.channel_type, request.channel_id);
        }
        LOG_WARN("link", "%s: %s channel of session %u closed as its link completed", peer.c_str(),
                 channel_type_name(request.channel_type), id);
        reactor_.defer([held = std::shared_ptr<Connection>(std::move(connection))] {});
        return;
    }

    Session* session = nullptr;
    if (request.channel_type == SPICE_CHANNEL_MAIN) {
        auto created = std::make_unique<Session>(*this, id, /*owner=*/true);
        session = created.get();
        sessions_.emplace(id, std::move(created));
        LOG_INFO("session", "%s: session %u started on shard %zu (%zu active)", peer.c_str(), id,
                 index_, directory_.size());
    } else {
        const SessionDirectory::Joined& joined = link.joined();
        auto& part = sessions_[id];
        if (!part) {
            part = std::make_unique<Session>(*this, id, /*owner=*/false);
            part->apply_low_bandwidth(joined.low_bandwidth);
        }
        session = part.get();
        if (joined.owner_shard != index_) {
            LOG_DEBUG("session", "%s: session %u: %s channel on shard %zu, main on shard %zu",
                      peer.c_str(), id, channel_type_name(request.channel_type), index_,
                      joined.owner_shard);
        }
    }

    // decide() admitted only kinds we serve.
    const ChannelKind& kind = *find_channel_kind(request.channel_type);
    LOG_DEBUG("session", "%s: session %u: %s:%u channel linked", peer.c_str(), session->id(),
              channel_type_name(request.channel_type), unsigned(request.channel_id));
    std::unique_ptr<ChannelClient> channel =
        kind.make(*session, std::move(connection), request, mini);
    if (auto found = link_events_.find(&link); found != link_events_.end()) {
        ChannelEvent event = found->second;
        event.kind = ChannelEvent::Kind::kLinked;
        event.key = (uint64_t{index_} << 48) | ++channel_events_;
        event.session = session->id();
        event.type = request.channel_type;
        event.id = request.channel_id;
        channel->set_event(event);
        config().on_channel_event(event);
    }
    session->add_channel(std::move(channel));
}

void Shard::drop_link(PendingLink* link) {
    link_events_.erase(link);
    std::erase(awaiting_key_, link);
    if (link->key_counted) {
        auto held = keys_held_.find(link->host);
        if (held != keys_held_.end() && --held->second == 0) keys_held_.erase(held);
    }
    // A link that got a key and went without sending a ticket (a flood's links do) gives it
    // back for the next one.
    if (auto key = link->handshake().release_unused_key();
        key && recycled_keys_.size() < kMaxRecycledKeys) {
        recycled_keys_.push_back(std::move(*key));
    }
    pending_.erase(link);
}

std::optional<TicketKey> Shard::take_key(PendingLink& link) {
    const auto held = keys_held_.find(link.host);
    const bool over_quota = held != keys_held_.end() && held->second >= kKeysPerHost;
    // A host past its share waits behind everyone else's links (retry_key_waiters serves
    // those first), so a flood from one address cannot make a correct client wait for keys.
    if (over_quota && !serving_over_quota_ && !awaiting_key_.empty()) return std::nullopt;
    std::optional<TicketKey> key;
    if (!recycled_keys_.empty()) {
        key = std::move(recycled_keys_.back());
        recycled_keys_.pop_back();
    } else {
        key = keys_.try_take();
    }
    if (!key) {
        keys_dry_ = true;
        return key;
    }
    ++keys_held_[link.host];
    link.key_counted = true;
    return key;
}

void Shard::wait_for_key(PendingLink* link) {
    if (std::find(awaiting_key_.begin(), awaiting_key_.end(), link) == awaiting_key_.end()) {
        awaiting_key_.push_back(link);
    }
    if (key_retry_timer_ == 0) {
        key_retry_timer_ = reactor_.every(kKeyRetryPeriod, [this] { retry_key_waiters(); });
    }
}

void Shard::retry_key_waiters() {
    // First come, first served among hosts within their share; then the others, in order.
    keys_dry_ = false;
    for (const bool over_quota : {false, true}) {
        serving_over_quota_ = over_quota;
        for (PendingLink* link :
             std::vector<PendingLink*>(awaiting_key_.begin(), awaiting_key_.end())) {
            if (keys_dry_) break;
            const auto held = keys_held_.find(link->host);
            const bool link_over = held != keys_held_.end() && held->second >= kKeysPerHost;
            if (link_over != over_quota || !link->handshake().awaiting_key()) continue;
            link->retry_key();  // may close the link (deferred drop): the copy keeps us safe
        }
        if (keys_dry_) break;
    }
    serving_over_quota_ = false;
    std::erase_if(awaiting_key_,
                  [](PendingLink* link) { return !link->handshake().awaiting_key(); });
    if (awaiting_key_.empty() && key_retry_timer_ != 0) {
        reactor_.cancel(key_retry_timer_);
        key_retry_timer_ = 0;
    }
}

void Shard::session_ended(uint32_t id) {
    directory_.close(id);
    desktop_.client_gone(id);
    const size_t self = index_;
    server_.post_to_shards([id, self](Shard& shard) {
        if (shard.index() != self) shard.end_session_part(id);
    });
    reactor_.defer([this, id] {
        sessions_.erase(id);
        const size_t active = directory_.size();
        LOG_INFO("session", "session %u ended (%zu active)", id, active);
        if (config().on_session_ended) config().on_session_ended(id, active);
    });
}

void Shard::end_session_part(uint32_t id) {
    auto found = sessions_.find(id);
    if (found != sessions_.end()) found->second->end("session ended");
}

void Shard::channel_left(uint32_t id, uint8_t channel_type, uint8_t channel_id, bool part_empty) {
    directory_.leave(id, channel_type, channel_id);
    if (!part_empty) return;
    auto found = sessions_.find(id);
    if (found != sessions_.end() && !found->second->owner()) sessions_.erase(found);
}

void Shard::session_bandwidth(uint32_t id, bool low) {
    directory_.set_low_bandwidth(id, low);
    apply_bandwidth(id, low);
    const size_t self = index_;
    server_.post_to_shards([id, low, self](Shard& shard) {
        if (shard.index() != self) shard.apply_bandwidth(id, low);
    });
}

void Shard::apply_bandwidth(uint32_t id, bool low) {
    auto found = sessions_.find(id);
    if (found != sessions_.end()) found->second->apply_low_bandwidth(low);
}

void Shard::drain_desktop() {
    feed_.rearm();
    while (auto update = feed_.take()) apply(*update);
}

void Shard::apply(const DesktopUpdate& update) {
    state_ = update.state;
    for_each_channel([&](ChannelClient& channel) {
        if (channel.closing()) return;  // closed, not yet removed: nothing more to send
        channel.on_update(update);
    });
}

void Shard::disconnect_all(const char* why) {
    for_each_channel([why](ChannelClient& channel) {
        if (channel.channel_type() == SPICE_CHANNEL_MAIN && !channel.closing()) channel.close(why);
    });
}

void Shard::replace_session(uint32_t id) {
    auto found = sessions_.find(id);
    if (found == sessions_.end() || !found->second->owner()) return;
    LOG_INFO("session",
             "session %u disconnected: a new client connected (--multi-client off; 'shared' or "
             "'view' keep both)",
             id);
    // Closing the main channel ends the session everywhere, as when the client leaves.
    found->second->for_each_channel([](ChannelClient& channel) {
        if (channel.channel_type() == SPICE_CHANNEL_MAIN) channel.close("replaced by a new client");
    });
}

void Shard::agent_consumed(uint32_t id, size_t bytes) {
    auto found = sessions_.find(id);
    if (found == sessions_.end() || !found->second->owner()) return;
    found->second->for_each_channel([&](ChannelClient& channel) {
        if (auto* main = dynamic_cast<MainChannelClient*>(&channel)) main->agent_consumed(bytes);
    });
}

void Shard::inputs_consumed(uint32_t id, uint32_t events) {
    auto found = sessions_.find(id);
    if (found == sessions_.end()) return;
    found->second->for_each_channel([&](ChannelClient& channel) {
        if (auto* inputs = dynamic_cast<InputsChannelClient*>(&channel)) {
            inputs->input_consumed(events);
        }
    });
}

void Shard::on_housekeeping() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [key, link] : pending_) {
        if (!link->finished() && link->expired(now)) link->time_out();
    }
    for_each_channel([&](ChannelClient& channel) { channel.tick(now); });
    // After a flood the count of what was held back must not wait for the next bad peer.
    if (uint64_t held_back = 0; link_log_.held_back() > 0 && link_log_.allow(held_back, now)) {
        LOG_WARN("link",
                 "%llu lines about connections before their link were held back (log limit)",
                 static_cast<unsigned long long>(held_back));
    }
    if (++housekeeping_ticks_ % kMemoryReportTicks == 0 && !sessions_.empty()) report_memory();
}

void Shard::report_memory() {
    size_t channels = 0, queued = 0, largest = 0, peak = 0;
    for_each_channel([&](ChannelClient& channel) {
        const Connection& connection = channel.connection();
        ++channels;
        queued += connection.queued_bytes();
        largest = std::max(largest, connection.queued_bytes());
        peak = std::max(peak, connection.peak_queued_bytes());
    });
    LOG_INFO("server",
             "shard %zu: %zu sessions, %zu channels: %zu B queued (largest %zu B, peak %zu B; "
             "limit %zu B per connection)",
             index_, sessions_.size(), channels, queued, largest, peak,
             config().client_memory_limit_bytes);
}

}  // namespace spiced
