#include <spice/enums.h>

#include <algorithm>

#include "base/log.h"
#include "core/channels.h"
#include "core/session.h"
#include "core/shard.h"
#include "display/desktop.h"
#include "encode/codecs.h"

namespace spiced {

namespace {
constexpr uint32_t kPrimarySurfaceId = 0;
// Images at most this large (in pixels) go through the pixmap cache; bigger ones are rarely
// repeated exactly and would only push useful entries out.
constexpr int64_t kMaxCachedPixels = int64_t{256} * 256;
// Damage rects are merged while the merged box stays within 25 % of their combined area: each
// draw costs ~100 bytes of headers and a fresh compression context, so a little re-sent area
// is cheaper than many tiny images (see docs/benchmarks.md for the measured effect).
constexpr double kCoalesceOverhead = 0.25;
// Stream reports: at most this many pictures or this long between two (the client sends one
// sooner after 3 drops in a row): ~1/3 s at 30 fps keeps rate control responsive.
constexpr uint32_t kReportWindowFrames = 10;
constexpr uint32_t kReportTimeoutMs = 500;
// spice-gtk's answer for a stream it cannot decode: a report of UINT32_MAX drops in 0 frames.
constexpr uint32_t kStreamRefused = 0xffffffffu;
// An area sent as JPEG that has not changed for this long is sent again losslessly (as a
// stream that goes idle is): ringing around text must not stay on the client.
constexpr auto kLossyRepaintAfter = std::chrono::milliseconds(300);
constexpr auto kLossyCheckPeriod = std::chrono::milliseconds(100);
// Stream reports forwarded to the rate control, per stream, at most this often.
constexpr int kMaxReportsPerSecond = 20;
constexpr auto kMinReportInterval = std::chrono::milliseconds(1000 / kMaxReportsPerSecond);
// Codec switches a client's preferences may cause, at most one this often.
constexpr auto kMinCodecSwitchInterval = std::chrono::seconds(1);
// Pictures sent without a skip between two "the link keeps up" notes to the rate control.
constexpr uint32_t kFlowPictures = 30;
// Latency samples kept per display channel for the close line (~5 min at 30 fps).
constexpr size_t kLatencySamples = 10'000;

bool known_video_codec(uint8_t value) {
    return value >= SPICE_VIDEO_CODEC_TYPE_MJPEG && value < SPICE_VIDEO_CODEC_TYPE_ENUM_END;
}

// 64-bit content hash of an area (with its size), used as the pixmap cache id.
uint64_t hash_area(const Frame& frame, const Rect& area) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t(area.width()) << 32) ^ uint64_t(area.height());
    for (int32_t y = area.top(); y < area.bottom(); ++y) {
        const uint32_t* row = frame.row(y) + area.left();
        for (int32_t x = 0; x < area.width(); ++x) {
            h = (h ^ (row[x] & 0x00ffffffu)) * 0x100000001b3ull;
            h ^= h >> 29;
        }
    }
    return h | 1;  // never 0
}

// The colour when every pixel of `area` has it.
std::optional<uint32_t> solid_colour(const Frame& frame, const Rect& area) {
    const uint32_t colour = frame.pixel(area.left(), area.top());
    for (int32_t y = area.top(); y < area.bottom(); ++y) {
        const uint32_t* row = frame.row(y) + area.left();
        for (int32_t x = 0; x < area.width(); ++x) {
            if ((row[x] & 0x00ffffffu) != colour) return std::nullopt;
        }
    }
    return colour;
}
}  // namespace

DisplayChannelClient::DisplayChannelClient(Session& session, std::unique_ptr<Connection> connection,
                                           const LinkRequest& link, bool mini_header)
    : ChannelClient(session, std::move(connection), link, mini_header),
      display_(link.channel_id),
      policy_(session.shard().config().images, session.shard().glz_budget()) {
    image_caps_.lz4 = client_caps().has(SPICE_DISPLAY_CAP_LZ4_COMPRESSION);
    image_caps_.low_bandwidth = session.low_bandwidth();
    // Browser clients (spice-html5, the only SPICE client that speaks WebSocket) decode LZ
    // only as LZ_RGB.
    image_caps_.lz_palette = !this->connection().is_websocket();
    policy_.set_client(image_caps_);
    this->connection().set_low_water(session.shard().config().display_budget_bytes / 2);
}

namespace {
std::optional<ImageCompression> from_wire(uint8_t compression) {
    switch (compression) {
        case SPICE_IMAGE_COMPRESSION_OFF:
            return ImageCompression::kOff;
        case SPICE_IMAGE_COMPRESSION_AUTO_GLZ:
            return ImageCompression::kAutoGlz;
        case SPICE_IMAGE_COMPRESSION_AUTO_LZ:
            return ImageCompression::kAutoLz;
        case SPICE_IMAGE_COMPRESSION_QUIC:
            return ImageCompression::kQuic;
        case SPICE_IMAGE_COMPRESSION_GLZ:
            return ImageCompression::kGlz;
        case SPICE_IMAGE_COMPRESSION_LZ:
            return ImageCompression::kLz;
        case SPICE_IMAGE_COMPRESSION_LZ4:
            return ImageCompression::kLz4;
        default:
            return std::nullopt;
    }
}
}  // namespace

DisplayChannelClient::~DisplayChannelClient() {
    if (lossy_timer_ != 0) session().shard().reactor().cancel(lossy_timer_);
    if (watching_) session().shard().desktop().watch(display_, -1);
    if (video_codec_) session().shard().desktop().watch_video(display_, *video_codec_, -1);
}

const DisplayState& DisplayChannelClient::shown() {
    // The link stage admits only ids the desktop has.
    return session().shard().state().displays.at(display_);
}

void DisplayChannelClient::create_surface() {
    const DisplayState& display = shown();
    if (display.layout.surface.is_empty()) return;
    const Size size = display.layout.surface;
    send(MsgDisplaySurfaceCreate{kPrimarySurfaceId, uint32_t(size.width), uint32_t(size.height),
                                 SPICE_SURFACE_FMT_32_xRGB, SPICE_SURFACE_FLAGS_PRIMARY});
    has_surface_ = true;
    ++counts_.surfaces;
    if (client_caps().has(SPICE_DISPLAY_CAP_MONITORS_CONFIG)) {
        MsgDisplayMonitorsConfig config;
        config.max_allowed = uint16_t(session().shard().desktop().max_heads());
        for (const Head& head : display.layout.heads) {
            config.heads.push_back({head.monitor, kPrimarySurfaceId, uint32_t(head.rect.width()),
                                    uint32_t(head.rect.height()), uint32_t(head.rect.left()),
                                    uint32_t(head.rect.top()), 0});
        }
        send(config);
    }
    // The whole picture goes as one image so the client's first invalidate already shows a
    // complete frame (spicy-screenshot saves at the first one).
    if (display.frame) send_area(*display.frame, display.frame->rect());
    send_empty(SPICE_MSG_DISPLAY_MARK);
    pending_.clear();
    lossless_pending_.clear();
    sync_streams();
}

void DisplayChannelClient::on_start() {
    // Someone watches this display now: the source renders for it (and stops when the last
    // watcher leaves).
    session().shard().desktop().watch(display_, +1);
    watching_ = true;
    set_video_codec(choose_video_codec());
    create_surface();
}

void DisplayChannelClient::log_display_init(int64_t cache_pixels, int64_t glz_asked) {
    const int64_t granted = policy_.glz_window_pixels();
    char glz[160];
    if (glz_asked <= 0 || granted == std::min(glz_asked, kGlzMaxWindowPixels)) {
        std::snprintf(glz, sizeof glz, "a GLZ window of %lld pixels",
                      static_cast<long long>(glz_asked));
    } else {
        // The one line that says why this client compresses less than it could.
        const auto& budget = session().shard().glz_budget();
        const std::string served =
            granted > 0 ? "served with " + std::to_string(granted) : "not served (LZ instead)";
        std::snprintf(glz, sizeof glz,
                      "a GLZ window of %lld pixels, %s: --glz-memory-limit has %zu of %zu MiB "
                      "in use",
                      static_cast<long long>(glz_asked), served.c_str(), budget->used_bytes() >> 20,
                      budget->limit_bytes() >> 20);
    }
    log(LogLevel::kInfo, "display", "display %u: client caches %lld pixels of images, %s", display_,
        static_cast<long long>(cache_pixels), glz);
}

void DisplayChannelClient::set_low_bandwidth(bool low) {
    image_caps_.low_bandwidth = low;
    policy_.set_client(image_caps_);
}

void DisplayChannelClient::send_goodbye() {
    destroy_streams(false);
    if (has_surface_) send(MsgDisplaySurfaceDestroy{kPrimarySurfaceId});
}

void DisplayChannelClient::on_update(const DesktopUpdate& update) {
    if (display_ >= update.displays.size()) return;
    const DisplayChange& change = update.displays[display_];
    if (change.surface_replaced) {
        // A resize or a head switched on or off: the client drops the old surface and gets
        // the new one whole, so what it had pending is moot.
        pending_.clear();
        lossless_pending_.clear();
        lossy_.clear();
        destroy_streams(false);
        if (has_surface_) send(MsgDisplaySurfaceDestroy{kPrimarySurfaceId});
        has_surface_ = false;
        create_surface();
        return;
    }
    if (!has_surface_) return;
    if (codec_switch_pending_) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_codec_switch_ >= kMinCodecSwitchInterval) apply_codec_preference(now);
    }
    if (change.streams_changed) sync_streams();
    send_pictures(change);
    if (!change.frame_changed) {
        flush();  // a stream that ended left its area to repaint
        return;
    }
    for (const MoveHint& move : change.moves) {
        const Rect source =
            Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height());
        // A stream's area on the client shows video: lossy, and whichever frame its clock
        // has reached, so a copy out of it would leave stale loss behind that no stream's
        // end repaints.
        const bool from_stream = std::any_of(
            streams_.begin(), streams_.end(),
            [&](const ShownStream& stream) { return stream.info.rect.intersects(source); });
        if (can_send_bulk() && !pending_.intersects(source) && !from_stream) {
            // What the client shows at `source` is current, so it can move it itself (with
            // whatever loss it shows there).
            send(MsgDisplayCopyBits{{kPrimarySurfaceId, move.dest}, move.src});
            ++counts_.copy_bits;
            if (!lossy_.is_empty()) {
                Region carried = lossy_;
                carried.intersect_with(source);
                carried.translate(move.dest.left() - move.src.x, move.dest.top() - move.src.y);
                lossy_.subtract(move.dest);
                lossy_.add_region(carried);
            }
        } else {
            pending_.add_rect(move.dest);
            ++counts_.deferred_moves;
        }
    }
    if (!lossy_.is_empty()) {
        Region touched = change.damage;
        touched.intersect_with(lossy_);
        if (!touched.is_empty()) lossy_touched_ = std::chrono::steady_clock::now();
    }
    if (streams_.empty()) {
        pending_.add_region(change.damage);
    } else {
        // What the client's streams show comes as video, not as images.
        Region damage = change.damage;
        for (const ShownStream& stream : streams_) damage.subtract(stream.info.rect);
        pending_.add_region(damage);
    }
    flush();
}

bool DisplayChannelClient::can_send_bulk() {
    return ack_window_open() &&
           connection().queued_bytes() <= session().shard().config().display_budget_bytes;
}

void DisplayChannelClient::flush() {
    // Latest wins: damage stays merged in pending_ until the client has room, and is then
    // encoded from the newest frame. Whatever doesn't fit now stays pending.
    if (streams_stale_ && has_surface_ && !closing()) sync_streams();
    if (pending_.is_empty() || closing() || !can_send_bulk()) return;
    if (!shown().frame) return;
    const Frame& frame = *shown().frame;
    const std::vector<Rect> todo = coalesce_rects(pending_, kCoalesceOverhead);
    pending_.clear();
    for (size_t i = 0; i < todo.size(); ++i) {
        if (!can_send_bulk()) {
            for (size_t j = i; j < todo.size(); ++j) pending_.add_rect(todo[j]);
            break;
        }
        const Rect area = todo[i].intersect(frame.rect());
        const bool lossless = lossless_pending_.intersects(area);
        if (lossless) lossless_pending_.subtract(area);
        send_area(frame, area, lossless);
    }
    ++updates_sent_;
}

void DisplayChannelClient::send_area(const Frame& frame, const Rect& area, bool lossless) {
    // A connection that failed earlier in this turn takes nothing more (and counts nothing).
    if (area.is_empty() || closing()) return;
    const DisplayBase base{kPrimarySurfaceId, area};
    if (auto colour = solid_colour(frame, area)) {
        send(MsgDisplayDrawFill{base, *colour});
        ++counts_.fills;
        lossy_.subtract(area);
        return;
    }
    ImageEncoder* encoder =
        lossless ? &policy_.lossless_encoder_for(frame, area) : &policy_.encoder_for(frame, area);
    ImageDescriptor image{next_image_id_++, 0, 0, uint32_t(area.width()), uint32_t(area.height())};
    const Rect src_area = Rect::MakeXYWH(0, 0, area.width(), area.height());
    const int64_t pixels = area.area();
    // A lossy picture is never cached: a later hit would bring its loss back, also into the
    // lossless repaint of the same content.
    const bool cacheable = pixels <= kMaxCachedPixels && cache_.worth_caching(pixels) &&
                           encoder->codec() != ImageCodec::kJpeg;
    if (cacheable) {
        image.id = hash_area(frame, area);
        if (cache_.lookup(image.id)) {
            image.type = SPICE_IMAGE_TYPE_FROM_CACHE;
            send_with(SPICE_MSG_DISPLAY_DRAW_COPY, [&](ByteWriter& out, size_t) {
                write_draw_copy_head(out, base, src_area, image);
            });
            ++counts_.cache_hits;
            lossy_.subtract(area);
            return;
        }
        auto evicted = cache_.insert(image.id, pixels);
        if (!evicted.empty()) {
            MsgDisplayInvalList inval;
            for (uint64_t id : evicted) inval.resources.push_back({SPICE_RES_TYPE_PIXMAP, id});
            send(inval);
        }
        image.flags = SPICE_IMAGE_FLAGS_CACHE_ME;
    }
    Expected<uint8_t, std::string> encoded = unexpected(std::string("not encoded"));
    send_with(
        SPICE_MSG_DISPLAY_DRAW_COPY,
        [&](ByteWriter& out, size_t message_start) {
            write_draw_copy_head(out, base, src_area, image);
            const size_t body = out.size();
            encoded = encoder->encode(frame, area, out, message_start);
            if (!encoded) {
                // A refusal (e.g. larger than the GLZ window) leaves the encoder's state as it
                // was; the picture goes with a codec that cannot refuse.
                log(LogLevel::kDebug, "display", "%s; using the fallback codec",
                    encoded.error().c_str());
                out.buffer().resize(body);
                encoder = &policy_.fallback();
                encoded = encoder->encode(frame, area, out, message_start);
            }
            counts_.image_bytes += out.size() - body;
            // The encoder picks the image type; it is byte 8 of the descriptor just written.
            if (encoded) out.buffer()[body - kImageDescriptorSize + 8] = *encoded;
        },
        size_t(pixels) * 4 + 128);
    ++counts_.images;
    ++counts_.by_codec[size_t(encoder->codec())];
    if (!encoded) log(LogLevel::kError, "display", "%s", encoded.error().c_str());
    if (encoder->codec() != ImageCodec::kJpeg) {
        lossy_.subtract(area);
        return;
    }
    lossy_.add_rect(area);
    lossy_touched_ = std::chrono::steady_clock::now();
    if (lossy_timer_ == 0) {
        lossy_timer_ = session().shard().reactor().every(kLossyCheckPeriod,
                                                         [this] { repaint_still_lossy_areas(); });
    }
}

void DisplayChannelClient::repaint_still_lossy_areas() {
    if (lossy_.is_empty() || closing()) {
        session().shard().reactor().cancel(lossy_timer_);
        lossy_timer_ = 0;
        return;
    }
    if (std::chrono::steady_clock::now() - lossy_touched_ < kLossyRepaintAfter) return;
    pending_.add_region(lossy_);
    lossless_pending_.add_region(lossy_);
    ++counts_.lossless_repaints;
    lossy_.clear();
    flush();
}

void DisplayChannelClient::on_closing() {
    if (watching_) {
        watching_ = false;
        session().shard().desktop().watch(display_, -1);
    }
    set_video_codec(std::nullopt);
    std::string codecs;
    for (size_t i = 0; i < std::size(counts_.by_codec); ++i) {
        if (counts_.by_codec[i] == 0) continue;
        if (!codecs.empty()) codecs += ' ';
        codecs += std::string(to_string(ImageCodec(i))) + '=' + std::to_string(counts_.by_codec[i]);
    }
    log(LogLevel::kInfo, "display",
        "sent %llu images (%llu B; %s), %llu fills, %llu copy_bits, %llu cache hits "
        "(cache %lld of %lld px); %llu moves deferred to pixels; %llu lossless repaints of "
        "JPEG areas; display %u, %llu surfaces",
        static_cast<unsigned long long>(counts_.images),
        static_cast<unsigned long long>(counts_.image_bytes),
        codecs.empty() ? "none" : codecs.c_str(), static_cast<unsigned long long>(counts_.fills),
        static_cast<unsigned long long>(counts_.copy_bits),
        static_cast<unsigned long long>(counts_.cache_hits), static_cast<long long>(cache_.used()),
        static_cast<long long>(cache_.capacity()),
        static_cast<unsigned long long>(counts_.deferred_moves),
        static_cast<unsigned long long>(counts_.lossless_repaints), display_,
        static_cast<unsigned long long>(counts_.surfaces));
    if (counts_.streams > 0) {
        auto percentile = [this](double p) -> double {
            if (picture_latency_us_.empty()) return 0.0;
            std::vector<uint32_t> sorted = picture_latency_us_;
            const size_t at = std::min(sorted.size() - 1, size_t(p * double(sorted.size())));
            std::nth_element(sorted.begin(), sorted.begin() + ptrdiff_t(at), sorted.end());
            return sorted[at] / 1000.0;
        };
        log(LogLevel::kInfo, "display",
            "display %u: %llu video streams (%llu moves or resizes followed), %llu "
            "pictures (%llu B), %llu pictures skipped while the client was behind; frame "
            "to STREAM_DATA p50 %.2f ms, p99 %.2f ms",
            display_, static_cast<unsigned long long>(counts_.streams),
            static_cast<unsigned long long>(counts_.stream_moves),
            static_cast<unsigned long long>(counts_.stream_pictures),
            static_cast<unsigned long long>(counts_.stream_bytes),
            static_cast<unsigned long long>(counts_.skipped_pictures), percentile(0.5),
            percentile(0.99));
    }
}

Expected<void, ParseError> DisplayChannelClient::on_message(uint16_t type,
                                                            std::span<const uint8_t> body) {
    switch (type) {
        case SPICE_MSGC_DISPLAY_INIT: {
            auto init = parse<MsgcDisplayInit>(body);
            if (!init) return unexpected(init.error());
            // A client sends it once; its caches are set up by then. Repeats change nothing
            // and log one line in all (they cost a log line each before).
            if (display_init_seen_) {
                if (!repeated_init_logged_) {
                    log(LogLevel::kWarning, "display",
                        "display %u: repeated DISPLAY_INIT ignored (logged once)", display_);
                    repeated_init_logged_ = true;
                }
                return {};
            }
            display_init_seen_ = true;
            cache_.set_capacity(init->pixmap_cache_size);
            image_caps_.glz_window_pixels = init->glz_dictionary_window_size;
            policy_.set_client(image_caps_);
            log_display_init(init->pixmap_cache_size, init->glz_dictionary_window_size);
            return {};
        }
        case SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION: {
            auto preferred = parse<MsgcDisplayPreferredCompression>(body);
            if (!preferred) return unexpected(preferred.error());
            if (auto mode = from_wire(preferred->image_compression)) policy_.set_mode(*mode);
            return {};
        }
        case SPICE_MSGC_DISPLAY_STREAM_REPORT: {
            auto report = parse<MsgcDisplayStreamReport>(body);
            if (!report) return unexpected(report.error());
            on_stream_report(*report);
            return {};
        }
        case SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE: {
            auto preferred = parse_preferred_video_codecs(body);
            if (!preferred) return unexpected(preferred.error());
            on_preferred_video_codecs(*preferred);
            return {};
        }
        case SPICE_MSGC_DISPLAY_GL_DRAW_DONE:
            return {};  // no GL scanouts to remote clients
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

// ---- Video streams ---------------------------------------------------------------------------

std::optional<VideoCodec> DisplayChannelClient::choose_video_codec() {
    const Capabilities& caps = client_caps();
    // Clients from before MULTI_CODEC decode MJPEG streams, and only those.
    auto client_decodes = [&](VideoCodec codec) {
        if (!caps.has(SPICE_DISPLAY_CAP_MULTI_CODEC)) return codec == VideoCodec::kMjpeg;
        switch (codec) {
            case VideoCodec::kMjpeg:
                return caps.has(SPICE_DISPLAY_CAP_CODEC_MJPEG);
            case VideoCodec::kH264:
                return caps.has(SPICE_DISPLAY_CAP_CODEC_H264);
            default:
                return false;  // we encode MJPEG and H.264 only
        }
    };
    const VideoConfig& video = session().shard().config().video;
    if (video.streaming == StreamingVideo::kOff) return std::nullopt;
    auto served = [&](VideoCodec codec) {
        return std::find(refused_video_codecs_.begin(), refused_video_codecs_.end(), codec) ==
                   refused_video_codecs_.end() &&
               std::any_of(video.codecs.begin(), video.codecs.end(),
                           [&](const VideoCodecChoice& choice) { return choice.codec == codec; });
    };
    for (uint8_t value : preferred_video_codecs_) {
        const auto codec = VideoCodec(value);
        if (served(codec) && client_decodes(codec)) return codec;
    }
    for (const VideoCodecChoice& choice : video.codecs) {
        if (served(choice.codec) && client_decodes(choice.codec)) return choice.codec;
    }
    return std::nullopt;
}

void DisplayChannelClient::set_video_codec(std::optional<VideoCodec> codec) {
    if (codec == video_codec_) return;
    Desktop& desktop = session().shard().desktop();
    destroy_streams(true);
    if (video_codec_) desktop.watch_video(display_, *video_codec_, -1);
    video_codec_ = codec;
    if (video_codec_) {
        desktop.watch_video(display_, *video_codec_, +1);
        log(LogLevel::kInfo, "display", "display %u: video streams in %s", display_,
            std::string(to_string(*video_codec_)).c_str());
    }
    if (has_surface_) sync_streams();
}

void DisplayChannelClient::destroy_streams(bool repaint) {
    for (const ShownStream& stream : streams_) {
        send(MsgDisplayStreamDestroy{stream.wire_id});
        if (repaint) pending_.add_rect(stream.info.rect);
    }
    streams_.clear();
}

void DisplayChannelClient::sync_streams() {
    // Stream messages count against the client's ACK window like any other: when it is
    // closed, the client's streams follow the state once it opens again (flush()).
    streams_stale_ = !ack_window_open();
    if (streams_stale_) return;
    const std::vector<StreamInfo>& wanted =
        video_codec_ ? shown().streams : std::vector<StreamInfo>{};
    // Moved or resized, for clients that take pictures with their own size and place
    // (SIZED_STREAM): the stream goes on. Its clip becomes the new rect first, so pictures
    // still queued for the old place show nothing outside it, and the part of the old place
    // the stream left is repainted losslessly.
    if (client_caps().has(SPICE_DISPLAY_CAP_SIZED_STREAM)) {
        for (ShownStream& stream : streams_) {
            auto now = std::find_if(wanted.begin(), wanted.end(), [&](const StreamInfo& info) {
                return info.id == stream.info.id && info.rect != stream.info.rect;
            });
            if (now == wanted.end()) continue;
            send(MsgDisplayStreamClip{stream.wire_id, {now->rect}});
            Region left(stream.info.rect);
            left.subtract(now->rect);
            pending_.add_region(left);
            if (now->rect.size() != stream.info.rect.size()) {
                // The desktop restarts the encoder at the new size, with a key frame.
                stream.awaiting_key = true;
                session().shard().desktop().request_key_frame(display_, now->id, *video_codec_);
            }
            stream.info.rect = now->rect;
            ++counts_.stream_moves;
        }
    }
    // Ended, or moved without SIZED_STREAM: gone from the client, and its area repainted
    // losslessly (after the destroy, so no picture still queued in the client's decoder can
    // paint over it).
    std::erase_if(streams_, [&](const ShownStream& stream) {
        if (std::find(wanted.begin(), wanted.end(), stream.info) != wanted.end()) return false;
        send(MsgDisplayStreamDestroy{stream.wire_id});
        pending_.add_rect(stream.info.rect);
        return true;
    });
    for (const StreamInfo& info : wanted) {
        const bool shown_already = std::any_of(
            streams_.begin(), streams_.end(), [&](const ShownStream& s) { return s.info == info; });
        if (shown_already) continue;
        uint32_t wire_id = 0;
        while (std::any_of(streams_.begin(), streams_.end(),
                           [&](const ShownStream& s) { return s.wire_id == wire_id; }))
            ++wire_id;
        ShownStream stream{info, info.rect, wire_id, next_unique_id_++, true, 0};
        const auto width = uint32_t(info.rect.width());
        const auto height = uint32_t(info.rect.height());
        send(MsgDisplayStreamCreate{kPrimarySurfaceId, wire_id, SPICE_STREAM_FLAGS_TOP_DOWN,
                                    uint8_t(*video_codec_), 0, width, height, width, height,
                                    info.rect});
        if (client_caps().has(SPICE_DISPLAY_CAP_STREAM_REPORT)) {
            send(MsgDisplayStreamActivateReport{wire_id, stream.unique_id, kReportWindowFrames,
                                                kReportTimeoutMs});
        }
        streams_.push_back(stream);
        ++counts_.streams;
        // Its first picture must be a key frame.
        session().shard().desktop().request_key_frame(display_, info.id, *video_codec_);
    }
}

void DisplayChannelClient::send_pictures(const DisplayChange& change) {
    if (!video_codec_ || streams_.empty()) return;
    Desktop& desktop = session().shard().desktop();
    if (change.pictures_lost) {
        for (ShownStream& stream : streams_) {
            if (stream.awaiting_key) continue;
            stream.awaiting_key = true;
            desktop.request_key_frame(display_, stream.info.id, *video_codec_);
        }
    }
    for (const StreamPicture& picture : change.pictures) {
        if (picture.codec != *video_codec_) continue;
        auto it = std::find_if(streams_.begin(), streams_.end(),
                               [&](const ShownStream& s) { return s.info == picture.stream; });
        if (it == streams_.end()) continue;
        ShownStream& stream = *it;
        if (stream.awaiting_key && !picture.packet->keyframe) continue;
        if (closing() || !can_send_bulk()) {
            // The client is behind: pictures after a skipped one are useless until a key
            // frame, which the encoder makes next (again, when the skipped one was the key
            // frame this client waited for).
            ++counts_.skipped_pictures;
            if (!stream.awaiting_key || picture.packet->keyframe) {
                // Once a skip episode: the link is full, so the stream's rate goes down.
                if (!stream.awaiting_key)
                    desktop.stream_flow(display_, stream.info.id, *video_codec_, true, 0);
                stream.awaiting_key = true;
                desktop.request_key_frame(display_, stream.info.id, *video_codec_);
            }
            stream.sent_since_flow = 0;
            continue;
        }
        const std::vector<uint8_t>& data = picture.packet->data;
        MsgDisplayStreamData head{};
        head.id = stream.wire_id;
        head.multi_media_time = picture.mm_time;
        head.data = data;
        // A stream that moved or resized since STREAM_CREATE says where each picture goes.
        head.sized = stream.info.rect != stream.created_rect;
        head.width = uint32_t(stream.info.rect.width());
        head.height = uint32_t(stream.info.rect.height());
        head.dest = stream.info.rect;
        send_with(
            head.sized ? SPICE_MSG_DISPLAY_STREAM_DATA_SIZED : SPICE_MSG_DISPLAY_STREAM_DATA,
            [&](ByteWriter& out, size_t) {
                write_stream_data_head(out, head);
                out.bytes(data);
            },
            data.size() + 16);
        stream.awaiting_key = false;
        // Clients that report steer the rate with their reports; for the others, pictures
        // that go out without skips are the sign the link keeps up.
        if (!client_caps().has(SPICE_DISPLAY_CAP_STREAM_REPORT) &&
            ++stream.sent_since_flow >= kFlowPictures) {
            desktop.stream_flow(display_, stream.info.id, *video_codec_, false,
                                stream.sent_since_flow);
            stream.sent_since_flow = 0;
        }
        if (picture_latency_us_.size() < kLatencySamples) {
            picture_latency_us_.push_back(
                uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - picture.submitted)
                             .count()));
        }
        ++counts_.stream_pictures;
        counts_.stream_bytes += data.size();
    }
}

void DisplayChannelClient::on_stream_report(const MsgcDisplayStreamReport& report) {
    uint64_t held_back = 0;
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](const ShownStream& s) { return s.wire_id == report.stream_id; });
    if (report.num_frames == 0 && report.num_drops == kStreamRefused && it != streams_.end()) {
        // The client has no working decoder for this codec (spice-gtk offers codecs by the
        // GStreamer elements it finds, which may still fail): the next codec, or lossless.
        // (spice-gtk sends such reports with unique id 0; one on a stream we do not show is
        // an unknown-stream report below.)
        refused_video_codecs_.push_back(*video_codec_);
        const std::optional<VideoCodec> next = choose_video_codec();
        log(LogLevel::kWarning, "display", "display %u: the client cannot play stream %u (%s); %s",
            display_, report.stream_id,
            video_codec_ ? std::string(to_string(*video_codec_)).c_str() : "no codec",
            next ? ("its streams go as " + std::string(to_string(*next))).c_str()
                 : "no more video streams for it");
        set_video_codec(next);
        flush();
        return;
    }
    if (it == streams_.end() || it->unique_id != report.unique_id) {
        // Late reports of a stream that just ended are normal; many are not.
        if (stream_log_limiter_.allow(held_back))
            log(LogLevel::kInfo, "display",
                "display %u: report on unknown stream %u/%u ignored (%llu "
                "more held back)",
                display_, report.stream_id, report.unique_id,
                static_cast<unsigned long long>(held_back));
        return;
    }
    // Reports cost the desktop a task each: a client gets kMaxReportsPerSecond per stream
    // (spice-gtk sends about two a second, sooner after three drops in a row).
    const auto now = std::chrono::steady_clock::now();
    if (now - it->last_report < kMinReportInterval) {
        if (report_flood_limiter_.allow(held_back))
            log(LogLevel::kWarning, "display",
                "display %u: stream reports faster than %d a second dropped (%llu more "
                "held back)",
                display_, kMaxReportsPerSecond, static_cast<unsigned long long>(held_back));
        return;
    }
    it->last_report = now;
    // The desktop's rate control checks the figures (and logs absurd ones).
    StreamReportFigures figures;
    figures.start_frame_mm_time = report.start_frame_mm_time;
    figures.end_frame_mm_time = report.end_frame_mm_time;
    figures.num_frames = report.num_frames;
    figures.num_drops = report.num_drops;
    figures.last_frame_delay = report.last_frame_delay;
    session().shard().desktop().stream_report(display_, it->info.id, *video_codec_, figures);
}

void DisplayChannelClient::on_preferred_video_codecs(
    const MsgcDisplayPreferredVideoCodecType& preferred) {
    preferred_video_codecs_.clear();
    for (uint8_t value : preferred.codecs) {
        if (!known_video_codec(value)) {
            uint64_t held_back = 0;
            if (codec_log_limiter_.allow(held_back))
                log(LogLevel::kInfo, "display",
                    "display %u: unknown video codec %u in the client's "
                    "preferences ignored",
                    display_, value);
            continue;
        }
        if (std::find(preferred_video_codecs_.begin(), preferred_video_codecs_.end(), value) ==
            preferred_video_codecs_.end())
            preferred_video_codecs_.push_back(value);
    }
    if (!watching_) return;
    // A switch destroys, recreates and repaints the client's streams: at most one a second;
    // a later preference waits (on_update applies it).
    const auto now = std::chrono::steady_clock::now();
    if (now - last_codec_switch_ < kMinCodecSwitchInterval) {
        codec_switch_pending_ = true;
        return;
    }
    apply_codec_preference(now);
}

void DisplayChannelClient::apply_codec_preference(std::chrono::steady_clock::time_point now) {
    codec_switch_pending_ = false;
    const std::optional<VideoCodec> codec = choose_video_codec();
    if (codec == video_codec_) return;
    last_codec_switch_ = now;
    set_video_codec(codec);
}

}  // namespace spiced
