// Server: accepts connections, runs the link stage, groups linked channels into sessions,
// and drives the display pipeline and input routing. Single-threaded on one Reactor.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/expected.h"
#include "core/display_pipeline.h"
#include "core/link.h"
#include "core/server_config.h"
#include "core/session.h"
#include "io/connection.h"
#include "io/reactor.h"
#include "io/tcp.h"
#include "io/tls.h"

namespace spiced {

class PendingLink;

class Server {
public:
    static Expected<std::unique_ptr<Server>, std::string> create(ServerConfig config,
                                                                 Reactor& reactor);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The plain port, or 0 when there is none (only --tls-port).
    uint16_t port() const { return listener_ ? listener_->port() : 0; }
    // The TLS port, or 0 when there is none.
    uint16_t tls_port() const { return tls_listener_ ? tls_listener_->port() : 0; }
    // Graceful stop: tells display clients their surface is gone and closes every connection.
    void shutdown();
    const ServerConfig& config() const { return config_; }
    Reactor& reactor() { return reactor_; }
    DisplayPipeline& pipeline() { return *pipeline_; }

    // -- Used by channels ------------------------------------------------------------------
    bool client_mouse_mode() const { return client_mouse_mode_; }
    void request_mouse_mode(bool client);
    // Pointer in frame coordinates (server mode moves it relatively; client mode sets it).
    Point pointer() const { return pointer_; }
    void pointer_moved_to(Point position, uint32_t buttons);
    void pointer_moved_by(int32_t dx, int32_t dy, uint32_t buttons);
    void button_event(int button, bool down);
    // The pointer shape clients should show, and whether typing has hidden it.
    DemoCursor cursor_shape() const { return cursor_shape_; }
    bool cursor_hidden() const { return cursor_hidden_; }
    void key_event(uint16_t scancode, bool down);
    // The client's lock-key LEDs; the desktop adopts them (bit order is SPICE's).
    void sync_keyboard_leds(uint32_t client_leds);
    uint32_t keyboard_leds() const;

    void session_ended(uint32_t id);
    // From a PendingLink: its link succeeded (takes its connection) or it is done for.
    void link_finished(PendingLink& link);
    void drop_link(PendingLink* link);
    // The link found the ticket key pool empty; it is retried until a key is ready.
    void wait_for_key(PendingLink* link);

    template <typename F>
    void for_each_channel(F&& f) {
        for (auto& [id, session] : sessions_) session->for_each_channel(f);
    }

private:
    Server(ServerConfig config, Reactor& reactor, std::optional<TcpListener> listener,
           std::optional<TcpListener> tls_listener, std::shared_ptr<const TlsContext> tls);
    void on_accept(TcpStream stream, bool tls);
    void on_frame_tick();
    void on_housekeeping();
    // `tls`: the link arrived on the TLS port.
    LinkDecision decide(const LinkRequest& request, bool tls) const;
    // Sends CURSOR_SET / CURSOR_MOVE for the pointer's new place to every cursor channel.
    void update_cursor(bool moved_by_server);
    void retry_key_waiters();
    // One line for operators: what the connected clients cost in queued output.
    void report_memory();

    ServerConfig config_;
    Reactor& reactor_;
    std::optional<TcpListener> listener_;      // plain SPICE (and HTTP/WebSocket)
    std::optional<TcpListener> tls_listener_;  // the same, under TLS
    std::shared_ptr<const TlsContext> tls_;
    Reactor::Id accept_watch_ = 0;
    Reactor::Id tls_accept_watch_ = 0;
    Reactor::Id frame_timer_ = 0;
    Reactor::Id housekeeping_timer_ = 0;
    TicketKeySource keys_;
    std::unique_ptr<DisplayPipeline> pipeline_;
    std::map<PendingLink*, std::unique_ptr<PendingLink>> pending_;
    std::deque<PendingLink*> awaiting_key_;  // first come, first served
    Reactor::Id key_retry_timer_ = 0;
    std::map<uint32_t, std::unique_ptr<Session>> sessions_;
    uint32_t next_session_id_;
    bool client_mouse_mode_;
    Point pointer_{};
    uint32_t buttons_ = 0;
    DemoCursor cursor_shape_ = DemoCursor::kArrow;
    bool cursor_hidden_ = false;
    uint32_t last_leds_ = 0;
    // Housekeeping runs every second; the memory line every minute.
    static constexpr uint64_t kMemoryReportTicks = 60;
    uint64_t housekeeping_ticks_ = 0;
};

}  // namespace spiced
