// The four channel kinds we serve. Each is a ChannelClient with its channel's messages.
#pragma once

#include <cstdint>
#include <memory>

#include "core/channel.h"
#include "core/pixmap_cache.h"
#include "core/server_config.h"
#include "demo/demo_desktop.h"
#include "encode/image_encoder.h"
#include "encode/image_policy.h"
#include "gpu/region.h"

namespace spiced {

struct DesktopUpdate;

class MainChannelClient final : public ChannelClient {
public:
    using ChannelClient::ChannelClient;
    void send_mouse_mode(bool client_mode);

    // The bandwidth test at connect, as spice-server does it: a small ping then a large one
    // back to back; the gap between their pongs is the large one's transfer time.
    static constexpr size_t kNetTestBytes = size_t{256} * 1024;
    // Below this the session counts as low-bandwidth (JPEG / zlib-GLZ in the auto modes).
    static constexpr double kLowBandwidthMbps = 10.0;

private:
    void on_start() override;
    void on_pong(uint32_t id) override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;

    uint32_t warmup_ping_ = 0;
    uint32_t test_ping_ = 0;
    std::chrono::steady_clock::time_point warmup_pong_{};
};

class DisplayChannelClient final : public ChannelClient {
public:
    DisplayChannelClient(Session& session, std::unique_ptr<Connection> connection,
                         const LinkRequest& link, bool mini_header);
    // The session's bandwidth estimate arrived (or changed).
    void set_low_bandwidth(bool low);
    // A new frame from the desktop: apply its moves and merge its damage, then send what
    // the client's budget allows (encoding from the shard's newest frame).
    void on_frame(const DesktopUpdate& update);
    const Region& pending() const { return pending_; }
    // SURFACE_DESTROY for the primary surface, before the server goes away.
    void send_goodbye();
    uint64_t updates_sent() const { return updates_sent_; }

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    void on_can_send() override { flush(); }
    void on_closing() override;
    void flush();
    // Room for display data: the ACK window is open and the socket queue is under budget.
    bool can_send_bulk();
    void send_area(const Frame& frame, const Rect& area);

    ImagePolicy policy_;
    ClientImageCaps image_caps_;
    PixmapCacheModel cache_;
    Region pending_;
    uint64_t next_image_id_ = 1;
    uint64_t updates_sent_ = 0;
    // What went out, for the close line (operators and tests read it).
    struct Counts {
        uint64_t images = 0, image_bytes = 0, fills = 0, copy_bits = 0, cache_hits = 0,
                 deferred_moves = 0;
        uint64_t by_codec[7] = {};  // indexed by ImageCodec
    } counts_;
};

class InputsChannelClient final : public ChannelClient {
public:
    using ChannelClient::ChannelClient;
    void send_leds(uint32_t leds);

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    void count_motion();
    uint32_t motions_ = 0;
};

class CursorChannelClient final : public ChannelClient {
public:
    using ChannelClient::ChannelClient;
    void send_position(Point position);
    // Shows `shape` at `position`: CURSOR_SET, with the pixels the first time (CACHE_ME) and
    // by cache id afterwards (FROM_CACHE).
    void send_shape(DemoCursor shape, Point position);
    void send_hide();

private:
    void on_start() override;
    Expected<void, ParseError> on_message(uint16_t type, std::span<const uint8_t> body) override;
    CursorShape shape_message(DemoCursor shape, uint16_t& flags);

    uint32_t cached_ = 0;  // bit per DemoCursor the client holds in its cursor cache
};

}  // namespace spiced
