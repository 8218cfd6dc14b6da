// Shard: one io thread's share of the server. It owns one Reactor (one io_uring ring or epoll
// instance), its own listener on each port (the kernel spreads new connections over the
// shards' listeners), and every connection it accepted, for the connection's whole life: the
// link stage, and then the channel. Nothing of a shard is touched by another thread; shards
// reach each other and the desktop only through posted tasks and the desktop's update ring.
//
// A client's channels may land on different shards. Each shard holds a Session "part" with
// the channels it accepted; the session's main channel (and so its end) lives on the owning
// shard, and the SessionDirectory tells a linking channel whether its session exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log_limiter.h"
#include "core/link.h"
#include "core/server_config.h"
#include "core/session.h"
#include "core/session_directory.h"
#include "core/ticket.h"
#include "display/desktop.h"
#include "display/state.h"
#include "io/reactor.h"
#include "io/tcp.h"
#include "io/tls.h"

namespace spiced {

class PendingLink;
class Server;

class Shard {
public:
    // Starts accepting on every listener given (plain SPICE ports, then TLS ones).
    Shard(size_t index, Server& server, Reactor& reactor,
          std::span<const TcpListener* const> listeners,
          std::span<const TcpListener* const> tls_listeners);
    ~Shard();
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    size_t index() const { return index_; }
    const ServerConfig& config() const;
    const std::shared_ptr<GlzMemoryBudget>& glz_budget() const;
    Reactor& reactor() { return reactor_; }
    // Graceful stop: tells display clients their surface is gone and closes every connection.
    void shutdown();
    // The password links are checked against from now on (spice_server_set_ticket at run
    // time); links already past their ticket are not affected.
    void set_ticket(TicketPolicy ticket) { ticket_ = std::move(ticket); }
    // Ends every session that has a part on this shard (closing its main channel ends it
    // everywhere). `why` is logged.
    void disconnect_all(const char* why);

    // -- Used by channels ------------------------------------------------------------------
    // The desktop as this shard last heard of it (displays, cursors, modes, agent).
    const DesktopState& state() const { return state_; }
    // Input and requests go to the desktop's thread; their effects come back as updates.
    Desktop& desktop() { return desktop_; }
    SessionDirectory& sessions() { return directory_; }

    // The session's main channel closed here: the session is over on every shard.
    void session_ended(uint32_t id);
    // A non-main channel of session `id` closed here.
    void channel_left(uint32_t id, uint8_t channel_type, uint8_t channel_id, bool part_empty);
    // The owning main channel measured the client's bandwidth: every shard's part adapts.
    void session_bandwidth(uint32_t id, bool low);
    // From a PendingLink whose ticket checked out: claims its place in the session (or
    // creates the session, for a main channel) before the client is told "OK".
    LinkDecision admit(PendingLink& link);
    // From a PendingLink: its link succeeded (takes its connection) or it is done for.
    void link_finished(PendingLink& link);
    void drop_link(PendingLink* link);
    // The link found the ticket key pool empty; it is retried until a key is ready.
    void wait_for_key(PendingLink* link);
    // A ticket key for `link`, or nothing while it must wait (see keys_held_).
    std::optional<TicketKey> take_key(PendingLink& link);

    // -- From other shards and the desktop (posted) ------------------------------------------
    void end_session_part(uint32_t id);
    void apply_bandwidth(uint32_t id, bool low);
    // --multi-client off: a new client replaced session `id`, whose main channel is here.
    void replace_session(uint32_t id);
    // The desktop took `bytes` of session `id`'s agent messages.
    void agent_consumed(uint32_t id, size_t bytes);
    // The desktop consumed `events` of session `id`'s input (InputsChannelClient).
    void inputs_consumed(uint32_t id, uint32_t events);
    // The log budget every connection shares until its link completes (lines about links,
    // HTTP and TLS before a session): one line per connection is right, but a flood of short
    // connections must not become a flood of lines. A burst, then 20 a second; what is held
    // back is counted in the next line that goes out.
    LogLimiter& link_log_limiter() { return link_log_; }
    // A connection the host handed over (Server::add_client).
    void adopt(TcpStream stream, bool tls) { on_accept(std::move(stream), tls); }

    template <typename F>
    void for_each_channel(F&& f) {
        for (auto& [id, session] : sessions_) session->for_each_channel(f);
    }

private:
    void on_accept(TcpStream stream, bool tls);
    // New updates from the desktop: each reaches the channels that care, in order.
    void drain_desktop();
    void apply(const DesktopUpdate& update);
    void on_housekeeping();
    // `tls`: the link arrived on the TLS port.
    // `host`: the link's peer address (without the port).
    LinkDecision decide(const LinkRequest& request, bool tls, const std::string& host) const;
    void retry_key_waiters();
    // One line for operators: what this shard's clients cost in queued output.
    void report_memory();

    size_t index_;
    Server& server_;
    Reactor& reactor_;
    Desktop& desktop_;
    SessionDirectory& directory_;
    Desktop::Feed& feed_;
    DesktopState state_;
    std::vector<Reactor::Id> accept_watches_;
    Reactor::Id housekeeping_timer_ = 0;
    TicketKeySource keys_;
    std::map<PendingLink*, std::unique_ptr<PendingLink>> pending_;
    LogLimiter link_log_{std::chrono::milliseconds(50), 200};
    std::deque<PendingLink*> awaiting_key_;  // first come, first served (per share, below)
    Reactor::Id key_retry_timer_ = 0;
    // Ticket keys under a link flood (issue 14 item 5): links of one host that hold a key and
    // are not done yet; past kKeysPerHost that host's links wait behind other hosts'. Keys
    // of links that ended without a ticket byte are handed out again.
    static constexpr uint32_t kKeysPerHost = 16;
    static constexpr size_t kMaxRecycledKeys = 64;
    std::unordered_map<std::string, uint32_t> keys_held_;
    std::vector<TicketKey> recycled_keys_;
    bool serving_over_quota_ = false;
    bool keys_dry_ = false;  // a take found no key (ends a retry round)
    TicketPolicy ticket_;    // links in pending_ hold a reference to it
    // Addresses of pending links, for the host's channel events (only when it wants them).
    std::map<PendingLink*, ChannelEvent> link_events_;
    uint64_t channel_events_ = 0;
    // This shard's parts of sessions, by session id.
    std::map<uint32_t, std::unique_ptr<Session>> sessions_;
    // Housekeeping runs every second; the memory line every minute.
    static constexpr uint64_t kMemoryReportTicks = 60;
    uint64_t housekeeping_ticks_ = 0;
};

}  // namespace spiced
