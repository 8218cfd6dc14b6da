#include <spice/enums.h>

#include "base/log.h"
#include "core/channels.h"
#include "core/session.h"
#include "core/shard.h"
#include "display/desktop.h"

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
      policy_(session.shard().config().images) {
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
    if (watching_) session().shard().desktop().watch(display_, -1);
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
}

void DisplayChannelClient::on_start() {
    // Someone watches this display now: the source renders for it (and stops when the last
    // watcher leaves).
    session().shard().desktop().watch(display_, +1);
    watching_ = true;
    create_surface();
}

void DisplayChannelClient::set_low_bandwidth(bool low) {
    image_caps_.low_bandwidth = low;
    policy_.set_client(image_caps_);
}

void DisplayChannelClient::send_goodbye() {
    if (has_surface_) send(MsgDisplaySurfaceDestroy{kPrimarySurfaceId});
}

void DisplayChannelClient::on_update(const DesktopUpdate& update) {
    if (display_ >= update.displays.size()) return;
    const DisplayChange& change = update.displays[display_];
    if (change.surface_replaced) {
        // A resize or a head switched on or off: the client drops the old surface and gets
        // the new one whole, so what it had pending is moot.
        pending_.clear();
        if (has_surface_) send(MsgDisplaySurfaceDestroy{kPrimarySurfaceId});
        has_surface_ = false;
        create_surface();
        return;
    }
    if (!change.frame_changed || !has_surface_) return;
    for (const MoveHint& move : change.moves) {
        const Rect source =
            Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height());
        if (can_send_bulk() && !pending_.intersects(source)) {
            // What the client shows at `source` is current, so it can move it itself.
            send(MsgDisplayCopyBits{{kPrimarySurfaceId, move.dest}, move.src});
            ++counts_.copy_bits;
        } else {
            pending_.add_rect(move.dest);
            ++counts_.deferred_moves;
        }
    }
    pending_.add_region(change.damage);
    flush();
}

bool DisplayChannelClient::can_send_bulk() {
    return ack_window_open() &&
           connection().queued_bytes() <= session().shard().config().display_budget_bytes;
}

void DisplayChannelClient::flush() {
    // Latest wins: damage stays merged in pending_ until the client has room, and is then
    // encoded from the newest frame. Whatever doesn't fit now stays pending.
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
        send_area(frame, todo[i].intersect(frame.rect()));
    }
    ++updates_sent_;
}

void DisplayChannelClient::send_area(const Frame& frame, const Rect& area) {
    // A connection that failed earlier in this turn takes nothing more (and counts nothing).
    if (area.is_empty() || closing()) return;
    const DisplayBase base{kPrimarySurfaceId, area};
    if (auto colour = solid_colour(frame, area)) {
        send(MsgDisplayDrawFill{base, *colour});
        ++counts_.fills;
        return;
    }
    ImageDescriptor image{next_image_id_++, 0, 0, uint32_t(area.width()), uint32_t(area.height())};
    const Rect src_area = Rect::MakeXYWH(0, 0, area.width(), area.height());
    const int64_t pixels = area.area();
    const bool cacheable = pixels <= kMaxCachedPixels && cache_.worth_caching(pixels);
    if (cacheable) {
        image.id = hash_area(frame, area);
        if (cache_.lookup(image.id)) {
            image.type = SPICE_IMAGE_TYPE_FROM_CACHE;
            send_with(SPICE_MSG_DISPLAY_DRAW_COPY, [&](ByteWriter& out, size_t) {
                write_draw_copy_head(out, base, src_area, image);
            });
            ++counts_.cache_hits;
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
    ImageEncoder* encoder = &policy_.encoder_for(frame, area);
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
                LOG_DEBUG("display", "%s: %s; using the fallback codec", peer().c_str(),
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
    if (!encoded) LOG_ERROR("display", "%s: %s", peer().c_str(), encoded.error().c_str());
}

void DisplayChannelClient::on_closing() {
    if (watching_) {
        watching_ = false;
        session().shard().desktop().watch(display_, -1);
    }
    std::string codecs;
    for (size_t i = 0; i < std::size(counts_.by_codec); ++i) {
        if (counts_.by_codec[i] == 0) continue;
        if (!codecs.empty()) codecs += ' ';
        codecs += std::string(to_string(ImageCodec(i))) + '=' + std::to_string(counts_.by_codec[i]);
    }
    LOG_INFO("display",
             "%s: sent %llu images (%llu B; %s), %llu fills, %llu copy_bits, %llu cache hits "
             "(cache %lld of %lld px); %llu moves deferred to pixels; display %u, %llu surfaces",
             peer().c_str(), static_cast<unsigned long long>(counts_.images),
             static_cast<unsigned long long>(counts_.image_bytes),
             codecs.empty() ? "none" : codecs.c_str(),
             static_cast<unsigned long long>(counts_.fills),
             static_cast<unsigned long long>(counts_.copy_bits),
             static_cast<unsigned long long>(counts_.cache_hits),
             static_cast<long long>(cache_.used()), static_cast<long long>(cache_.capacity()),
             static_cast<unsigned long long>(counts_.deferred_moves), display_,
             static_cast<unsigned long long>(counts_.surfaces));
}

Expected<void, ParseError> DisplayChannelClient::on_message(uint16_t type,
                                                            std::span<const uint8_t> body) {
    switch (type) {
        case SPICE_MSGC_DISPLAY_INIT: {
            auto init = parse<MsgcDisplayInit>(body);
            if (!init) return unexpected(init.error());
            cache_.set_capacity(init->pixmap_cache_size);
            image_caps_.glz_window_pixels = init->glz_dictionary_window_size;
            policy_.set_client(image_caps_);
            LOG_INFO("display",
                     "%s: display %u: client caches %lld pixels of images, a GLZ window of %lld "
                     "pixels",
                     peer().c_str(), display_, static_cast<long long>(init->pixmap_cache_size),
                     static_cast<long long>(init->glz_dictionary_window_size));
            return {};
        }
        case SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION: {
            auto preferred = parse<MsgcDisplayPreferredCompression>(body);
            if (!preferred) return unexpected(preferred.error());
            if (auto mode = from_wire(preferred->image_compression)) policy_.set_mode(*mode);
            return {};
        }
        case SPICE_MSGC_DISPLAY_STREAM_REPORT:
        case SPICE_MSGC_DISPLAY_GL_DRAW_DONE:
        case SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE:
            return {};  // no video streams yet
        default:
            return unexpected(ParseError::kUnknownType);
    }
}

}  // namespace spiced
