// The channel kinds we serve. Each is a ChannelClient with its channel's messages; which kind
// a link gets, with which capabilities, is in the channel table (core/channel_kinds.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "agent/agent_stream.h"
#include "base/log_limiter.h"
#include "core/channel.h"
#include "core/pixmap_cache.h"
#include "display/state.h"
#include "encode/image_encoder.h"
#include "encode/image_policy.h"
#include "pixels/region.h"

namespace spiced {

class MainChannelClient final : public ChannelClient {
public:
    MainChannelClient(Session& session, std::unique_ptr<Connection> connection,
                      const LinkRequest& link, bool mini_header);
    void on_update(const DesktopUpdate& update) override;
    // A VDAgent message from the source's agent for this client (from the update stream); it
    // goes out as the client's agent tokens allow.
    void send_agent_message(uint32_t type, std::shared_ptr<const std::vector<uint8_t>> data);
    // The desktop took `bytes` of this client's agent messages: more tokens may go back.
    void agent_consumed(size_t bytes);

    // The bandwidth test at connect, as spice-server does it: a small ping then a large one
    // back to back; the gap between their pongs is the large one's transfer time.
    static constexpr size_t kNetTestBytes = size_t{256} * 1024;
    // Below this the session counts as low-bandwidth (JPEG / zlib-GLZ in the auto modes).
    static constexpr double kLowBandwidthMbps = 10.0;
    // A gap shorter than this says little beyond "fast": scheduling and the two pongs arriving
    // in one read dominate it (it produced 1000000 Mbit/s on loopback). 2 ms for 256 KiB is
    // 1049 Mbit/s, far above kLowBandwidthMbps, so the decision is the same either way.
    static constexpr std::chrono::microseconds kMinTimedGap{2000};
    // A pong to the large ping with more than this still on its way to the client was sent
    // before the client had the ping: the gap would time nothing. (An honest client's pong
    // acknowledges the whole ping; what may still be in flight is what we queued after it.)
    static constexpr size_t kMaxUnacknowledgedAtPong = 16 * 1024;
    // AGENT_DATA messages a client may send before we hand tokens back (spice-server's
    // REDS_AGENT_WINDOW_SIZE, which spice-gtk is used to), returned in batches of half of it.
    static constexpr uint32_t kAgentWindow = 10;
    // Largest VDAgent message a client may send (clipboard contents, a file chunk is 64 KiB);
    // a bigger one is refused at its header, so it never costs memory.
    static constexpr size_t kMaxAgentMessage = size_t{16} << 20;
    // Client agent data handed to the desktop and not yet taken: beyond this, tokens stay
    // with us, so a client cannot make the desktop queue more.
    static constexpr size_t kMaxAgentInFlight = size_t{256} << 10;
    // Agent data queued for a client that gives no tokens; beyond this messages are dropped.
    static constexpr size_t kMaxAgentQueued = size_t{16} << 20;

private:
    void on_start() override;
    void on_pong(uint32_t id) override;
    void on_closing() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    void send_mouse_mode(bool client_mode, bool client_allowed);
    void on_agent_data(std::span<const uint8_t> payload);
    void route_agent_message(vdagent::AgentRecord record);
    void return_agent_tokens();
    void flush_agent_output();
    void agent_connected(bool connected);
    // One line per second at most for what a client does wrong with the agent; the rest is
    // counted and reported with the next line (and at close).
    void agent_problem(const char* format, const std::string& detail);

    uint32_t warmup_ping_ = 0;
    uint32_t test_ping_ = 0;
    bool bandwidth_measured_ = false;
    std::chrono::steady_clock::time_point warmup_pong_{};

    // Client -> agent.
    vdagent::AgentRecordAssembler assembler_{kMaxAgentMessage};
    bool agent_started_ = false;  // the client sent AGENT_START
    uint32_t client_tokens_ = 0;  // AGENT_DATA the client may still send
    uint32_t owed_tokens_ = 0;    // spent by the client, not yet given back
    size_t in_flight_bytes_ = 0;  // handed to the desktop, not yet taken
    // Agent -> client.
    struct Outgoing {
        std::shared_ptr<const std::vector<uint8_t>> data;
        vdagent::AgentRecordSplitter splitter;
    };
    std::deque<Outgoing> agent_out_;
    size_t agent_out_bytes_ = 0;
    uint64_t server_tokens_ = 0;  // AGENT_DATA we may still send (the client's AGENT_START)
    LogLimiter problems_;
    bool viewer_logged_ = false;
};

class DisplayChannelClient final : public ChannelClient {
public:
    DisplayChannelClient(Session& session, std::unique_ptr<Connection> connection,
                         const LinkRequest& link, bool mini_header);
    ~DisplayChannelClient() override;
    // The session's bandwidth estimate arrived (or changed).
    void set_low_bandwidth(bool low);
    // A new update from the desktop: replace the surface, apply moves and merge damage, then
    // send what the client's budget allows (encoding from the shard's newest frame).
    void on_update(const DesktopUpdate& update) override;
    const Region& pending() const { return pending_; }
    // SURFACE_DESTROY for the primary surface, before the server goes away.
    void send_goodbye();
    uint64_t updates_sent() const { return updates_sent_; }

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    void on_can_send() override { flush(); }
    void on_closing() override;
    const DisplayState& shown();
    // SURFACE_CREATE and MONITORS_CONFIG for the display's current surface, if it has one.
    void create_surface();
    void flush();
    // Room for display data: the ACK window is open and the socket queue is under budget.
    bool can_send_bulk();
    // `lossless`: never a lossy codec (the repaint of an area sent as JPEG).
    void send_area(const Frame& frame, const Rect& area, bool lossless = false);
    // The DISPLAY_INIT line: the client's caches, and its GLZ window as served.
    void log_display_init(int64_t cache_pixels, int64_t glz_asked);
    // Areas sent as JPEG go again losslessly once they hold still (checked on a timer while
    // there are any).
    void repaint_still_lossy_areas();

    // -- Video streams -------------------------------------------------------------------------
    // The codec this client's streams use: the first of the client's preferences (or, without
    // any, the server's order) that the client can decode; none when streaming is off.
    std::optional<VideoCodec> choose_video_codec();
    void set_video_codec(std::optional<VideoCodec> codec);
    // Makes the client's streams those of the display state: ended, moved or resized ones are
    // destroyed and their area repainted losslessly; new ones are created.
    void sync_streams();
    void destroy_streams(bool repaint);
    void send_pictures(const DisplayChange& change);
    void on_stream_report(const MsgcDisplayStreamReport& report);
    void on_preferred_video_codecs(const MsgcDisplayPreferredVideoCodecType& preferred);
    void apply_codec_preference(std::chrono::steady_clock::time_point now);

    struct ShownStream {
        StreamInfo info;         // the desktop's stream and the rect the client shows it in
        Rect created_rect;       // its rect at STREAM_CREATE (else pictures go SIZED)
        uint32_t wire_id = 0;    // small: spice-gtk sizes an array by the largest id
        uint32_t unique_id = 0;  // tells reports on an earlier stream with this id apart
        bool awaiting_key = true;
        uint32_t sent_since_flow = 0;  // pictures since the last flow note to the desktop
        std::chrono::steady_clock::time_point last_report{};  // forwarded to the desktop
    };
    Region lossy_;  // shown with JPEG's loss on the client
    std::chrono::steady_clock::time_point lossy_touched_{};
    Reactor::Id lossy_timer_ = 0;
    Region lossless_pending_;  // of pending_: to go out losslessly

    std::optional<VideoCodec> video_codec_;
    std::vector<uint8_t> preferred_video_codecs_;   // the client's, best first
    std::vector<VideoCodec> refused_video_codecs_;  // the client reported it cannot play
    std::vector<ShownStream> streams_;
    bool streams_stale_ = false;  // the state's streams changed while the ACK window was shut
    uint32_t next_unique_id_ = 1;
    // Frame submitted to STREAM_DATA queued, in microseconds, for the close line's p50/p99
    // (the first kLatencySamples pictures).
    std::vector<uint32_t> picture_latency_us_;
    LogLimiter stream_log_limiter_;  // reports on unknown streams
    LogLimiter codec_log_limiter_;   // unknown codecs in preferences
    LogLimiter report_flood_limiter_;
    std::chrono::steady_clock::time_point last_codec_switch_{};
    bool codec_switch_pending_ = false;

    uint32_t display_;  // which display channel (= link channel id)
    bool watching_ = false;
    bool has_surface_ = false;
    ImagePolicy policy_;
    ClientImageCaps image_caps_;
    PixmapCacheModel cache_;
    Region pending_;
    uint64_t next_image_id_ = 1;
    uint64_t updates_sent_ = 0;
    bool display_init_seen_ = false;
    bool repeated_init_logged_ = false;
    // What went out, for the close line (operators and tests read it).
    struct Counts {
        uint64_t images = 0, image_bytes = 0, fills = 0, copy_bits = 0, cache_hits = 0,
                 deferred_moves = 0, surfaces = 0, streams = 0, stream_pictures = 0,
                 stream_bytes = 0, skipped_pictures = 0, lossless_repaints = 0, stream_moves = 0;
        uint64_t by_codec[7] = {};  // indexed by ImageCodec
    } counts_;
};

class InputsChannelClient final : public ChannelClient {
public:
    using ChannelClient::ChannelClient;
    void on_update(const DesktopUpdate& update) override;

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    void count_motion();
    // Whether this session may drive the desktop (--multi-client view); logs once when not.
    bool may_drive();
    bool accepts_input() override;
    // `events` input events went to the desktop's queue; every kInputMarkEvery of them a
    // marker follows that reports them consumed (Shard::inputs_consumed -> input_consumed).
    void posted_input(uint32_t events);

    uint32_t motions_ = 0;
    bool viewer_logged_ = false;
    uint32_t in_flight_ = 0;  // events posted to the desktop, not yet reported consumed
    uint32_t unmarked_ = 0;   // of those, events no marker covers yet
    bool input_held_ = false;
    bool held_logged_ = false;

public:
    // Events this client may have queued on the desktop thread: beyond it, its messages wait
    // in the connection (then the socket), and another session's key waits behind at most
    // this many of its events (a flood once queued millions: 4 s for another client's key).
    static constexpr uint32_t kMaxInputInFlight = 4096;
    static constexpr uint32_t kInputMarkEvery = 64;
    // The desktop consumed `events` of this client's input (on the channel's shard).
    void input_consumed(uint32_t events);
};

class CursorChannelClient final : public ChannelClient {
public:
    using ChannelClient::ChannelClient;
    void on_update(const DesktopUpdate& update) override;

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    const CursorState& cursor();
    // CURSOR_SET / CURSOR_INIT's shape: the pixels the first time (CACHE_ME), by cache id
    // afterwards (FROM_CACHE).
    CursorShape shape_message(const PointerShape& shape, uint16_t& flags);

    // Cursor cache ids the client holds (we never send more than a handful of shapes).
    std::vector<uint64_t> cached_;
};

}  // namespace spiced
