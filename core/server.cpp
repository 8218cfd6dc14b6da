#include "core/server.h"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "base/log.h"
#include "core/channels.h"
#include "demo/keymap.h"

namespace spiced {

namespace {
// A link must complete within this time; slow or stalled peers are dropped.
constexpr auto kLinkTimeout = std::chrono::seconds(10);
// How often links waiting for a ticket key look again (only while some wait).
constexpr auto kKeyRetryPeriod = std::chrono::milliseconds(5);

Capabilities channel_caps_for(uint8_t type) {
    switch (type) {
        case SPICE_CHANNEL_MAIN:
            return Capabilities::of({SPICE_MAIN_CAP_NAME_AND_UUID});
        case SPICE_CHANNEL_DISPLAY:
            return Capabilities::of({SPICE_DISPLAY_CAP_MONITORS_CONFIG,
                                     SPICE_DISPLAY_CAP_LZ4_COMPRESSION,
                                     SPICE_DISPLAY_CAP_PREF_COMPRESSION});
        case SPICE_CHANNEL_INPUTS:
            return Capabilities::of({SPICE_INPUTS_CAP_KEY_SCANCODE});
        default:
            return Capabilities();
    }
}
}  // namespace

// A connection between accept and the end of the link stage.
class PendingLink final : public Connection::Handler {
public:
    PendingLink(Server& server, Reactor& reactor, TcpStream stream, LinkHandshake::Decide decide,
                LinkHandshake::TakeKey take_key, const TicketPolicy& policy,
                std::shared_ptr<const TlsContext> tls)
        : server_(server),
          connection_(std::make_unique<Connection>(
              reactor, std::move(stream), this,
              ConnectionOptions{server.config().web_root, std::move(tls),
                                server.config().websocket_origins,
                                server.config().client_memory_limit_bytes})),
          handshake_(std::move(decide), std::move(take_key), policy),
          started_(std::chrono::steady_clock::now()) {}

    LinkHandshake& handshake() { return handshake_; }
    std::unique_ptr<Connection> take_connection() { return std::move(connection_); }
    bool expired(std::chrono::steady_clock::time_point now) const {
        return now - started_ > kLinkTimeout;
    }
    void time_out() {
        if (!connection_) return;
        LOG_WARN("link", "%s: link not completed within %lld s (stalled at the %s); closing",
                 connection_->peer().c_str(), static_cast<long long>(kLinkTimeout.count()),
                 handshake_.step_name());
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
                LOG_WARN("link", "%s: %s", connection_->peer().c_str(),
                         handshake_.failure().c_str());
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
                LOG_WARN("link", "%s: connection closed before any link data (%.*s)",
                         connection_->peer().c_str(), int(reason.size()), reason.data());
            } else {
                LOG_WARN("link",
                         "%s: truncated link: peer closed during the %s after %zu of %zu "
                         "bytes",
                         connection_->peer().c_str(), handshake_.step_name(),
                         handshake_.bytes_buffered(), handshake_.bytes_expected());
            }
        }
        server_.reactor().defer([server = &server_, self = this] { server->drop_link(self); });
    }

    Server& server_;
    std::unique_ptr<Connection> connection_;
    LinkHandshake handshake_;
    std::chrono::steady_clock::time_point started_;
    size_t received_ = 0;
    bool finished_ = false;
};

Expected<std::unique_ptr<Server>, std::string> Server::create(ServerConfig config,
                                                              Reactor& reactor) {
    std::shared_ptr<const TlsContext> tls;
    std::optional<TcpListener> tls_listener;
    if (config.tls_port) {
        // Certificate problems are start-up errors, before any port is open.
        auto context = TlsContext::load_x509_dir(config.x509_dir);
        if (!context) return unexpected("TLS: " + context.error());
        tls = std::move(*context);
    }
    std::optional<TcpListener> plain;
    if (config.plain_port_enabled) {
        auto listener = TcpListener::listen(config.address, config.port);
        if (!listener)
            return unexpected("port " + std::to_string(config.port) + ": " + listener.error());
        plain = std::move(*listener);
    }
    if (config.tls_port) {
        auto listener = TcpListener::listen(config.address, *config.tls_port);
        if (!listener)
            return unexpected("TLS port " + std::to_string(*config.tls_port) + ": " +
                              listener.error());
        tls_listener = std::move(*listener);
    }
    return std::unique_ptr<Server>(new Server(std::move(config), reactor, std::move(plain),
                                              std::move(tls_listener), std::move(tls)));
}

Server::Server(ServerConfig config, Reactor& reactor, std::optional<TcpListener> listener,
               std::optional<TcpListener> tls_listener, std::shared_ptr<const TlsContext> tls)
    : config_(std::move(config)),
      reactor_(reactor),
      listener_(std::move(listener)),
      tls_listener_(std::move(tls_listener)),
      tls_(std::move(tls)),
      next_session_id_(std::random_device{}() | 1),
      client_mouse_mode_(config_.client_mouse_mode) {
    pipeline_ = std::make_unique<DisplayPipeline>(
        std::make_unique<DemoDesktop>(DemoConfig{config_.demo_size, config_.demo_seed}),
        PipelineOptions{config_.demo_freeze, config_.dump_frame});
    pointer_ = {config_.demo_size.width / 2, config_.demo_size.height / 2};
    last_leds_ = pipeline_->desktop().keyboard_leds();
    if (listener_) {
        accept_watch_ = reactor_.accept_on(
            *listener_, [this](TcpStream stream) { on_accept(std::move(stream), false); });
    }
    if (tls_listener_) {
        tls_accept_watch_ = reactor_.accept_on(
            *tls_listener_, [this](TcpStream stream) { on_accept(std::move(stream), true); });
    }
    frame_timer_ = reactor_.every(std::chrono::nanoseconds(1'000'000'000 / config_.fps),
                                  [this] { on_frame_tick(); });
    housekeeping_timer_ = reactor_.every(std::chrono::seconds(1), [this] { on_housekeeping(); });
}

Server::~Server() {
    if (accept_watch_ != 0) reactor_.cancel(accept_watch_);
    if (tls_accept_watch_ != 0) reactor_.cancel(tls_accept_watch_);
    reactor_.cancel(frame_timer_);
    reactor_.cancel(housekeeping_timer_);
    if (key_retry_timer_ != 0) reactor_.cancel(key_retry_timer_);
    // Channels and links hold Connections registered with the reactor; drop them first.
    sessions_.clear();
    pending_.clear();
}

void Server::shutdown() {
    for_each_channel([](ChannelClient& channel) {
        if (auto* display = dynamic_cast<DisplayChannelClient*>(&channel)) display->send_goodbye();
    });
    for_each_channel([](ChannelClient& channel) {
        channel.connection().close("server shutting down", /*flush_first=*/true);
    });
}

void Server::on_accept(TcpStream stream, bool tls) {
    LOG_DEBUG("server", "%s: connected%s", stream.peer().c_str(), tls ? " (TLS port)" : "");
    auto link = std::make_unique<PendingLink>(
        *this, reactor_, std::move(stream),
        [this, tls](const LinkRequest& request) { return decide(request, tls); },
        [this] { return keys_.try_take(); }, config_.ticket, tls ? tls_ : nullptr);
    PendingLink* key = link.get();
    pending_.emplace(key, std::move(link));
}

LinkDecision Server::decide(const LinkRequest& request, bool tls) const {
    LinkDecision decision;
    decision.common_caps =
        Capabilities::of({SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION, SPICE_COMMON_CAP_AUTH_SPICE,
                          SPICE_COMMON_CAP_MINI_HEADER});
    decision.channel_caps = channel_caps_for(request.channel_type);
    const char* type_name = channel_type_name(request.channel_type);
    auto refuse = [&](uint32_t error, std::string reason) {
        decision.error = error;
        decision.reason = std::move(reason);
        return decision;
    };
    if (type_name == nullptr) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      "unknown channel type " + std::to_string(request.channel_type));
    }
    const bool served = request.channel_type == SPICE_CHANNEL_MAIN ||
                        request.channel_type == SPICE_CHANNEL_DISPLAY ||
                        request.channel_type == SPICE_CHANNEL_INPUTS ||
                        request.channel_type == SPICE_CHANNEL_CURSOR;
    if (!served || request.channel_id != 0) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      std::string("channel ") + type_name + ":" +
                          std::to_string(request.channel_id) + " is not available");
    }
    // QEMU's tls-channel / plaintext-channel: spice-gtk answers NEED_SECURED by reconnecting
    // to the TLS port (and NEED_UNSECURED by going back to the plain one).
    const ChannelSecurity security =
        config_.channel_security[request.channel_type].value_or(config_.default_security);
    if (!tls && security == ChannelSecurity::kSecureOnly) {
        return refuse(SPICE_LINK_ERR_NEED_SECURED, std::string(type_name) +
                                                       " channel is TLS-only (--tls-channel); "
                                                       "refused on the plain port");
    }
    if (tls && security == ChannelSecurity::kPlainOnly) {
        return refuse(SPICE_LINK_ERR_NEED_UNSECURED,
                      std::string(type_name) +
                          " channel is plaintext-only "
                          "(--plaintext-channel); refused on the TLS port");
    }
    if (request.channel_type == SPICE_CHANNEL_MAIN) return decision;
    auto session = sessions_.find(request.connection_id);
    if (session == sessions_.end()) {
        return refuse(SPICE_LINK_ERR_BAD_CONNECTION_ID, std::string(type_name) +
                                                            " channel names unknown session " +
                                                            std::to_string(request.connection_id));
    }
    if (session->second->has_channel(request.channel_type, request.channel_id)) {
        return refuse(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      std::string(type_name) + " channel already linked in session " +
                          std::to_string(request.connection_id));
    }
    return decision;
}

void Server::link_finished(PendingLink& link) {
    const LinkRequest& request = link.handshake().request();
    const bool mini = link.handshake().mini_header();
    std::unique_ptr<Connection> connection = link.take_connection();
    const std::string peer = connection->peer();
    reactor_.defer([this, self = &link] { drop_link(self); });

    Session* session = nullptr;
    if (request.channel_type == SPICE_CHANNEL_MAIN) {
        uint32_t id = next_session_id_++;
        while (id == 0 || sessions_.count(id) != 0) id = next_session_id_++;
        auto created = std::make_unique<Session>(*this, id);
        session = created.get();
        sessions_.emplace(id, std::move(created));
        LOG_INFO("session", "%s: session %u started (%zu active)", peer.c_str(), id,
                 sessions_.size());
    } else {
        // The session may have ended during the ticket exchange.
        auto found = sessions_.find(request.connection_id);
        if (found == sessions_.end()) {
            LOG_WARN("link", "%s: session %u ended before its %s channel linked", peer.c_str(),
                     request.connection_id, channel_type_name(request.channel_type));
            connection->close("session gone");
            reactor_.defer([held = std::shared_ptr<Connection>(std::move(connection))] {});
            return;
        }
        session = found->second.get();
    }

    std::unique_ptr<ChannelClient> channel;
    switch (request.channel_type) {
        case SPICE_CHANNEL_MAIN:
            channel =
                std::make_unique<MainChannelClient>(*session, std::move(connection), request, mini);
            break;
        case SPICE_CHANNEL_DISPLAY:
            channel = std::make_unique<DisplayChannelClient>(*session, std::move(connection),
                                                             request, mini);
            break;
        case SPICE_CHANNEL_INPUTS:
            channel = std::make_unique<InputsChannelClient>(*session, std::move(connection),
                                                            request, mini);
            break;
        default:
            channel = std::make_unique<CursorChannelClient>(*session, std::move(connection),
                                                            request, mini);
            break;
    }
    LOG_DEBUG("session", "%s: session %u: %s channel linked", peer.c_str(), session->id(),
              channel_type_name(request.channel_type));
    session->add_channel(std::move(channel));
}

void Server::drop_link(PendingLink* link) {
    std::erase(awaiting_key_, link);
    pending_.erase(link);
}

void Server::wait_for_key(PendingLink* link) {
    if (std::find(awaiting_key_.begin(), awaiting_key_.end(), link) == awaiting_key_.end()) {
        awaiting_key_.push_back(link);
    }
    if (key_retry_timer_ == 0) {
        key_retry_timer_ = reactor_.every(kKeyRetryPeriod, [this] { retry_key_waiters(); });
    }
}

void Server::retry_key_waiters() {
    while (!awaiting_key_.empty()) {
        PendingLink* link = awaiting_key_.front();
        link->retry_key();
        if (link->handshake().awaiting_key()) break;  // pool empty again: keep the order
        awaiting_key_.pop_front();
    }
    if (awaiting_key_.empty() && key_retry_timer_ != 0) {
        reactor_.cancel(key_retry_timer_);
        key_retry_timer_ = 0;
    }
}

void Server::session_ended(uint32_t id) {
    reactor_.defer([this, id] {
        sessions_.erase(id);
        LOG_INFO("session", "session %u ended (%zu active)", id, sessions_.size());
    });
}

void Server::on_frame_tick() {
    if (pipeline_->tick()) {
        for_each_channel([&](ChannelClient& channel) {
            if (auto* display = dynamic_cast<DisplayChannelClient*>(&channel)) {
                display->on_frame(*pipeline_);
            }
        });
    }
    const uint32_t leds = keyboard_leds();
    if (leds != last_leds_) {
        last_leds_ = leds;
        for_each_channel([&](ChannelClient& channel) {
            if (auto* inputs = dynamic_cast<InputsChannelClient*>(&channel))
                inputs->send_leds(leds);
        });
    }
}

void Server::on_housekeeping() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [key, link] : pending_) {
        if (!link->finished() && link->expired(now)) link->time_out();
    }
    for_each_channel([&](ChannelClient& channel) { channel.tick(now); });
    if (++housekeeping_ticks_ % kMemoryReportTicks == 0 && !sessions_.empty()) report_memory();
}

void Server::report_memory() {
    size_t channels = 0, queued = 0, largest = 0, peak = 0;
    for_each_channel([&](ChannelClient& channel) {
        const Connection& connection = channel.connection();
        ++channels;
        queued += connection.queued_bytes();
        largest = std::max(largest, connection.queued_bytes());
        peak = std::max(peak, connection.peak_queued_bytes());
    });
    LOG_INFO("server",
             "%zu sessions, %zu channels: %zu B queued (largest %zu B, peak %zu B; limit %zu B "
             "per connection)",
             sessions_.size(), channels, queued, largest, peak, config_.client_memory_limit_bytes);
}

void Server::request_mouse_mode(bool client) {
    if (client == client_mouse_mode_) {
        // Still confirm, so the requesting client learns the mode it already has.
    }
    client_mouse_mode_ = client;
    for_each_channel([&](ChannelClient& channel) {
        if (auto* main = dynamic_cast<MainChannelClient*>(&channel)) main->send_mouse_mode(client);
    });
}

void Server::pointer_moved_to(Point position, uint32_t buttons) {
    const Size size = pipeline_->current().size();
    pointer_ = {std::clamp(position.x, 0, size.width - 1),
                std::clamp(position.y, 0, size.height - 1)};
    buttons_ = buttons;
    pipeline_->desktop().pointer_moved(pointer_, buttons);
    update_cursor(/*moved_by_server=*/false);
}

void Server::update_cursor(bool moved_by_server) {
    const DemoCursor shape = pipeline_->desktop().cursor_at(pointer_);
    const bool reshape = shape != cursor_shape_ || cursor_hidden_;
    cursor_shape_ = shape;
    cursor_hidden_ = false;
    if (!reshape && !moved_by_server) return;  // in client mode the client draws it itself
    for_each_channel([&](ChannelClient& channel) {
        if (auto* cursor = dynamic_cast<CursorChannelClient*>(&channel)) {
            if (reshape) {
                cursor->send_shape(shape, pointer_);
            } else {
                cursor->send_position(pointer_);
            }
        }
    });
}

void Server::pointer_moved_by(int32_t dx, int32_t dy, uint32_t buttons) {
    // Clamp the deltas first so hostile values can't overflow.
    dx = std::clamp(dx, -100000, 100000);
    dy = std::clamp(dy, -100000, 100000);
    const Size size = pipeline_->current().size();
    pointer_ = {std::clamp(pointer_.x + dx, 0, size.width - 1),
                std::clamp(pointer_.y + dy, 0, size.height - 1)};
    buttons_ = buttons;
    pipeline_->desktop().pointer_moved(pointer_, buttons);
    update_cursor(/*moved_by_server=*/true);
}

void Server::button_event(int button, bool down) {
    pipeline_->desktop().button_event(button, down, pointer_);
}

void Server::key_event(uint16_t scancode, bool down) {
    pipeline_->desktop().key_event(scancode, down);
    // Like most desktops, hide the pointer while the user types into the editor.
    if (down && !cursor_hidden_ && scancode_to_ascii(scancode, false, false) != 0) {
        cursor_hidden_ = true;
        for_each_channel([&](ChannelClient& channel) {
            if (auto* cursor = dynamic_cast<CursorChannelClient*>(&channel)) cursor->send_hide();
        });
    }
}

uint32_t Server::keyboard_leds() const {
    return pipeline_->desktop().keyboard_leds();
}

void Server::sync_keyboard_leds(uint32_t client_leds) {
    pipeline_->desktop().set_keyboard_leds(client_leds & 7u);
}

}  // namespace spiced
