// The main channel: session start (MAIN_INIT, name, uuid, channel list), mouse modes, the
// connect-time bandwidth test, and the guest agent's traffic in both directions with SPICE's
// token flow control.
#include <spice/vd_agent.h>

#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "core/channel_kinds.h"
#include "core/channels.h"
#include "core/session.h"
#include "core/shard.h"
#include "display/desktop.h"

namespace spiced {

namespace {
uint16_t mouse_modes(bool client_allowed) {
    return uint16_t(SPICE_MOUSE_MODE_SERVER | (client_allowed ? SPICE_MOUSE_MODE_CLIENT : 0));
}
uint16_t mouse_mode(bool client) {
    return uint16_t(client ? SPICE_MOUSE_MODE_CLIENT : SPICE_MOUSE_MODE_SERVER);
}
}  // namespace

MainChannelClient::MainChannelClient(Session& session, std::unique_ptr<Connection> connection,
                                     const LinkRequest& link, bool mini_header)
    : ChannelClient(session, std::move(connection), link, mini_header) {}

void MainChannelClient::on_start() {
    Shard& shard = session().shard();
    const DesktopState& state = shard.state();
    client_tokens_ = state.agent_connected ? kAgentWindow : 0;
    send(MsgMainInit{
        .session_id = session().id(),
        .display_channels_hint = shard.desktop().display_channels(),
        .supported_mouse_modes = mouse_modes(state.client_mouse_allowed),
        .current_mouse_mode = mouse_mode(state.client_mouse_mode),
        .agent_connected = state.agent_connected ? 1u : 0u,
        .agent_tokens = kAgentWindow,
        .multi_media_time = shard.config().media_clock->now_ms(),
        .ram_hint = 0,
    });
    if (client_caps().has(SPICE_MAIN_CAP_NAME_AND_UUID)) {
        send(MsgMainName{shard.config().name});
        send(MsgMainUuid{shard.config().uuid});
    }
    warmup_ping_ = send_ping();
    test_ping_ = send_ping(kNetTestBytes);
}

void MainChannelClient::on_pong(uint32_t id) {
    const auto now = std::chrono::steady_clock::now();
    if (id == warmup_ping_) {
        warmup_pong_ = now;
    } else if (!bandwidth_measured_ && id == test_ping_ &&
               warmup_pong_.time_since_epoch().count() != 0) {
        // Measured once: a client that replays the test's pong ids (or sends id 0) gets no
        // second run, no second log line and no second post to every shard.
        bandwidth_measured_ = true;
        if (const size_t in_flight = connection().unacknowledged_bytes();
            in_flight > kMaxUnacknowledgedAtPong) {
            // Counted as not low-bandwidth, the default: the client only picks its own codecs.
            log(LogLevel::kInfo, "session",
                "session %u: link speed not measured: the client answered the test ping with "
                "%zu bytes still on their way to it",
                session().id(), in_flight);
            return;
        }
        const auto gap = now - warmup_pong_;
        const bool timed = gap >= kMinTimedGap;
        const double seconds = std::chrono::duration<double>(
                                   timed ? gap : std::chrono::steady_clock::duration(kMinTimedGap))
                                   .count();
        // Untimed, the figure is a lower bound: "faster than this".
        const double mbps = double(kNetTestBytes) * 8 / seconds / 1e6;
        session().set_bandwidth(mbps, !timed, mbps < kLowBandwidthMbps);
    }
}

void MainChannelClient::send_mouse_mode(bool client_mode, bool client_allowed) {
    send(MsgMainMouseMode{mouse_modes(client_allowed), mouse_mode(client_mode)});
}

void MainChannelClient::on_update(const DesktopUpdate& update) {
    if (update.mouse_mode_announced)
        send_mouse_mode(update.state.client_mouse_mode, update.state.client_mouse_allowed);
    if (update.agent_changed) agent_connected(update.state.agent_connected);
    for (const AgentMessage& message : update.agent_messages) {
        if (message.to == 0 || message.to == session().id())
            send_agent_message(message.type, message.data);
    }
}

void MainChannelClient::on_closing() {
    if (problems_.total() > 0) {
        log(LogLevel::kWarning, "agent", "session %u: %llu agent problems in all", session().id(),
            static_cast<unsigned long long>(problems_.total()));
    }
}

Expected<void, ParseError> MainChannelClient::on_message(uint16_t type,
                                                         std::span<const uint8_t> body) {
    Shard& shard = session().shard();
    switch (type) {
        case SPICE_MSGC_MAIN_ATTACH_CHANNELS: {
            MsgMainChannelsList list;
            const uint32_t displays = shard.desktop().display_channels();
            for (const ChannelKind& kind : channel_kinds()) {
                if (kind.make == nullptr || kind.type == SPICE_CHANNEL_MAIN) continue;
                const uint32_t count = kind.per_display ? displays : 1;
                for (uint32_t id = 0; id < count; ++id)
                    list.channels.push_back({kind.type, uint8_t(id)});
            }
            send(list);
            return {};
        }
        case SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST: {
            auto request = parse<MsgcMainMouseModeRequest>(body);
            if (!request) return unexpected(request.error());
            if (!shard.sessions().may_drive(session().id())) {
                // A watcher cannot change how everyone's pointer works; it hears the mode.
                send_mouse_mode(shard.state().client_mouse_mode,
                                shard.state().client_mouse_allowed);
                return {};
            }
            shard.desktop().request_mouse_mode(request->mode == SPICE_MOUSE_MODE_CLIENT);
            return {};
        }
        case SPICE_MSGC_MAIN_CLIENT_INFO: {
            auto info = parse<MsgcMainClientInfo>(body);
            if (!info) return unexpected(info.error());
            return {};
        }
        case SPICE_MSGC_MAIN_AGENT_START: {
            auto start = parse<MsgcMainAgentStart>(body);
            if (!start) return unexpected(start.error());
            // As spice-server: without an agent there is nothing to start (the client starts
            // again when it hears AGENT_CONNECTED).
            if (!shard.state().agent_connected) return {};
            agent_started_ = true;
            server_tokens_ = start->num_tokens;
            flush_agent_output();
            return {};
        }
        case SPICE_MSGC_MAIN_AGENT_TOKEN: {
            auto tokens = parse<MsgcMainAgentToken>(body);
            if (!tokens) return unexpected(tokens.error());
            server_tokens_ += tokens->num_tokens;
            flush_agent_output();
            return {};
        }
        case SPICE_MSGC_MAIN_AGENT_DATA:
            on_agent_data(body);
            return {};
        // No migration support: its notifications need no action.
        case SPICE_MSGC_MAIN_MIGRATE_CONNECTED:
        case SPICE_MSGC_MAIN_MIGRATE_CONNECT_ERROR:
        case SPICE_MSGC_MAIN_MIGRATE_END:
        case SPICE_MSGC_MAIN_MIGRATE_CONNECTED_SEAMLESS:
        case SPICE_MSGC_MAIN_MIGRATE_DST_DO_SEAMLESS:
        case SPICE_MSGC_MAIN_QUALITY_INDICATOR:
            return {};
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

// ---- Agent: client -> source ---------------------------------------------------------------

void MainChannelClient::agent_problem(const char* what, const std::string& detail) {
    uint64_t held_back = 0;
    if (!problems_.allow(held_back)) return;
    log(LogLevel::kWarning, "agent",
        "session %u: %s%s%s (dropped; %llu more since the last report)", session().id(), what,
        detail.empty() ? "" : ": ", detail.c_str(), static_cast<unsigned long long>(held_back));
}

void MainChannelClient::on_agent_data(std::span<const uint8_t> payload) {
    const DesktopState& state = session().shard().state();
    // A dropped payload may have been the middle of a record: the next one starts afresh
    // (spice-gtk starts every record on a payload, so an honest client is in step again).
    if (!state.agent_connected || !agent_started_) {
        // spice-server drops these too: there is nobody to give them to.
        agent_problem("agent data without a connected, started agent", "");
        assembler_.reset();
        return;
    }
    if (client_tokens_ == 0) {
        // spice-server disconnects the client here; one misbehaving client message is not
        // worth a user's session, so the data is dropped and the session goes on.
        agent_problem("agent data beyond the client's tokens", "");
        assembler_.reset();
        return;
    }
    --client_tokens_;
    ++owed_tokens_;
    std::vector<vdagent::AgentRecord> records;
    if (auto fed = assembler_.feed(payload, records); !fed) {
        agent_problem("bad agent data", fed.error());
        // Start over at the next payload: spice-gtk starts every message at a payload
        // boundary, so an honest client is back in step at once.
        assembler_.reset();
    }
    for (vdagent::AgentRecord& record : records) route_agent_message(std::move(record));
    return_agent_tokens();
}

void MainChannelClient::route_agent_message(vdagent::AgentRecord record) {
    Shard& shard = session().shard();
    const uint32_t id = session().id();
    if (!shard.sessions().may_drive(id)) {
        if (!viewer_logged_) {
            viewer_logged_ = true;
            log(LogLevel::kInfo, "agent",
                "session %u watches (--multi-client view): its agent messages "
                "(clipboard, monitors, files) are ignored",
                id);
        }
        return;
    }
    if (record.type == VD_AGENT_MONITORS_CONFIG) {
        auto config = vdagent::parse_monitors_config(record.data);
        if (!config) {
            agent_problem("bad monitors config", config.error());
            return;
        }
        // Entry i is monitor i (spice-gtk packs the enabled ones in order, or lists all 16
        // with zeros for the disabled ones); monitors not listed are off.
        std::vector<MonitorRequest> monitors;
        for (size_t i = 0; i < config->monitors.size(); ++i) {
            const vdagent::MonConfig& mon = config->monitors[i];
            const bool enabled = mon.width > 0 && mon.height > 0;
            if (i >= kMaxHeads) {
                if (!enabled) continue;  // listed as off: nothing to refuse
                agent_problem("monitors config refused",
                              "monitor " + std::to_string(i) + " is on; at most " +
                                  std::to_string(kMaxHeads) + " monitors exist");
                return;
            }
            MonitorRequest request;
            request.index = uint32_t(i);
            request.enabled = enabled;
            const auto side = [](uint32_t v) { return int32_t(std::min<uint32_t>(v, 65535)); };
            request.rect =
                Rect::MakeXYWH(std::clamp(mon.x, -65535, 65535), std::clamp(mon.y, -65535, 65535),
                               side(mon.width), side(mon.height));
            monitors.push_back(request);
        }
        shard.desktop().request_monitors(id, std::move(monitors));
        return;
    }
    const size_t bytes = record.data.size();
    in_flight_bytes_ += bytes;
    Reactor* reactor = &shard.reactor();
    Shard* home = &shard;
    shard.desktop().agent_message(
        id, record.type, std::move(record.data), [reactor, home, id, bytes] {
            reactor->post([home, id, bytes] { home->agent_consumed(id, bytes); });
        });
}

void MainChannelClient::agent_consumed(size_t bytes) {
    in_flight_bytes_ -= std::min(bytes, in_flight_bytes_);
    return_agent_tokens();
}

void MainChannelClient::return_agent_tokens() {
    // Tokens go back in batches (spice-server's REDS_TOKENS_TO_SEND), or all at once when the
    // desktop has taken everything; never while the desktop has more than its share queued.
    if (owed_tokens_ == 0 || in_flight_bytes_ > kMaxAgentInFlight) return;
    if (owed_tokens_ < kAgentWindow / 2 && in_flight_bytes_ > 0) return;
    send(MsgMainAgentToken{owed_tokens_});
    client_tokens_ += owed_tokens_;
    owed_tokens_ = 0;
}

// ---- Agent: source -> client ---------------------------------------------------------------

void MainChannelClient::agent_connected(bool connected) {
    assembler_.reset();
    agent_out_.clear();
    agent_out_bytes_ = 0;
    owed_tokens_ = 0;
    if (connected) {
        client_tokens_ = kAgentWindow;
        if (client_caps().has(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS)) {
            send(MsgMainAgentConnectedTokens{kAgentWindow});
        } else {
            send_empty(SPICE_MSG_MAIN_AGENT_CONNECTED);
        }
    } else {
        client_tokens_ = 0;
        agent_started_ = false;
        send(MsgMainAgentDisconnected{0});
    }
}

void MainChannelClient::send_agent_message(uint32_t type,
                                           std::shared_ptr<const std::vector<uint8_t>> data) {
    // The agent's messages come in the update stream, after the update that connected it.
    if (!session().shard().state().agent_connected) return;
    if (agent_out_bytes_ + data->size() > kMaxAgentQueued) {
        agent_problem("agent output dropped: the client takes none",
                      std::to_string(agent_out_bytes_) + " bytes queued");
        return;
    }
    agent_out_bytes_ += data->size();
    vdagent::AgentRecordSplitter splitter(type, 0, *data);
    agent_out_.push_back(Outgoing{std::move(data), splitter});
    flush_agent_output();
}

void MainChannelClient::flush_agent_output() {
    // Nothing goes before the client's AGENT_START (it has not set up its side yet).
    while (agent_started_ && server_tokens_ > 0 && !agent_out_.empty() && !closing()) {
        Outgoing& next = agent_out_.front();
        send_with(
            SPICE_MSG_MAIN_AGENT_DATA,
            [&](ByteWriter& out, size_t) { next.splitter.write_next(out); },
            VD_AGENT_MAX_DATA_SIZE);
        --server_tokens_;
        if (next.splitter.done()) {
            agent_out_bytes_ -= next.data->size();
            agent_out_.pop_front();
        }
    }
}

}  // namespace spiced
