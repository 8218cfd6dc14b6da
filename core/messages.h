// SPICE 2.2 message bodies (layouts from spice-common's spice.proto), with one description per
// message that serves both directions: marshal() writes it, parse() reads it back with bounds
// and range checks. Server code marshals server messages and parses client ones; tests and
// fuzzers use the other direction to prove the two agree.
//
// Fixed-layout messages list their fields once in fields(); messages with arrays, pointers or
// trailing data have hand-written marshal/parse pairs below.
#pragma once

#include <spice/enums.h>
#include <spice/protocol.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/bytes.h"
#include "base/expected.h"
#include "pixels/geometry.h"

namespace spiced {

enum class ParseError { kTruncated, kOutOfRange, kTooLarge, kUnknownType };
std::string_view to_string(ParseError error);

// "main", "display", ... for SPICE_CHANNEL_*; nullptr for a type the protocol doesn't define.
const char* channel_type_name(uint8_t type);

// ---- Generic field (de)serialisation -------------------------------------------------------
inline void put(ByteWriter& w, uint8_t v) {
    w.u8(v);
}
inline void put(ByteWriter& w, uint16_t v) {
    w.u16(v);
}
inline void put(ByteWriter& w, uint32_t v) {
    w.u32(v);
}
inline void put(ByteWriter& w, uint64_t v) {
    w.u64(v);
}
inline void put(ByteWriter& w, int16_t v) {
    w.i16(v);
}
inline void put(ByteWriter& w, int32_t v) {
    w.i32(v);
}
inline void put(ByteWriter& w, int64_t v) {
    w.i64(v);
}
template <size_t N>
void put(ByteWriter& w, const std::array<uint8_t, N>& v) {
    w.bytes(std::span<const uint8_t>(v));
}
inline void get(ByteReader& r, uint8_t& v) {
    v = r.u8();
}
inline void get(ByteReader& r, uint16_t& v) {
    v = r.u16();
}
inline void get(ByteReader& r, uint32_t& v) {
    v = r.u32();
}
inline void get(ByteReader& r, uint64_t& v) {
    v = r.u64();
}
inline void get(ByteReader& r, int16_t& v) {
    v = static_cast<int16_t>(r.u16());
}
inline void get(ByteReader& r, int32_t& v) {
    v = r.i32();
}
inline void get(ByteReader& r, int64_t& v) {
    v = r.i64();
}
template <size_t N>
void get(ByteReader& r, std::array<uint8_t, N>& v) {
    auto bytes = r.bytes(N);
    if (bytes.size() == N) std::copy(bytes.begin(), bytes.end(), v.begin());
}

// A message type with kType and fields() (a std::tie of its members in wire order);
// valid() adds range checks where the protocol has them.
template <typename M>
concept FixedMessage = requires(M m) {
    { M::kType } -> std::convertible_to<uint16_t>;
    m.fields();
};

template <FixedMessage M>
void marshal(const M& message, ByteWriter& out) {
    M copy = message;  // fields() ties non-const members so one list serves both directions
    std::apply([&](auto&... field) { (put(out, field), ...); }, copy.fields());
}

// Parses a fixed-layout body. Trailing bytes are accepted (newer peers may append fields,
// as spice-common's demarshallers allow); missing bytes are kTruncated.
template <FixedMessage M>
Expected<M, ParseError> parse(std::span<const uint8_t> body) {
    M message{};
    ByteReader reader(body);
    std::apply([&](auto&... field) { (get(reader, field), ...); }, message.fields());
    if (!reader.ok()) return unexpected(ParseError::kTruncated);
    if constexpr (requires { message.valid(); }) {
        if (!message.valid()) return unexpected(ParseError::kOutOfRange);
    }
    return message;
}

// ---- Common (every channel) ------------------------------------------------------------------
struct MsgSetAck {
    static constexpr uint16_t kType = SPICE_MSG_SET_ACK;
    uint32_t generation;
    uint32_t window;
    auto fields() { return std::tie(generation, window); }
};
struct MsgPing {
    static constexpr uint16_t kType = SPICE_MSG_PING;
    uint32_t id;
    uint64_t timestamp;  // our monotonic clock in ns; the client echoes it back
    auto fields() { return std::tie(id, timestamp); }
};
struct MsgcAckSync {
    static constexpr uint16_t kType = SPICE_MSGC_ACK_SYNC;
    uint32_t generation;
    auto fields() { return std::tie(generation); }
};
struct MsgcPong {
    static constexpr uint16_t kType = SPICE_MSGC_PONG;
    uint32_t id;
    uint64_t timestamp;
    auto fields() { return std::tie(id, timestamp); }
};
struct MsgcDisconnecting {
    static constexpr uint16_t kType = SPICE_MSGC_DISCONNECTING;
    uint64_t time_stamp;
    uint32_t reason;
    auto fields() { return std::tie(time_stamp, reason); }
};

// ---- Main channel ----------------------------------------------------------------------------
struct MsgMainInit {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_INIT;
    uint32_t session_id;
    uint32_t display_channels_hint;
    uint32_t supported_mouse_modes;
    uint32_t current_mouse_mode;
    uint32_t agent_connected;
    uint32_t agent_tokens;
    uint32_t multi_media_time;
    uint32_t ram_hint;
    auto fields() {
        return std::tie(session_id, display_channels_hint, supported_mouse_modes,
                        current_mouse_mode, agent_connected, agent_tokens, multi_media_time,
                        ram_hint);
    }
};
struct MsgMainMouseMode {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_MOUSE_MODE;
    uint16_t supported_modes;
    uint16_t current_mode;
    auto fields() { return std::tie(supported_modes, current_mode); }
};
struct MsgMainMultiMediaTime {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_MULTI_MEDIA_TIME;
    uint32_t time;
    auto fields() { return std::tie(time); }
};
struct MsgMainUuid {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_UUID;
    std::array<uint8_t, 16> uuid;
    auto fields() { return std::tie(uuid); }
};
struct MsgcMainMouseModeRequest {
    static constexpr uint16_t kType = SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST;
    uint16_t mode;
    auto fields() { return std::tie(mode); }
    bool valid() const {
        return mode == SPICE_MOUSE_MODE_SERVER || mode == SPICE_MOUSE_MODE_CLIENT;
    }
};
struct MsgcMainClientInfo {
    static constexpr uint16_t kType = SPICE_MSGC_MAIN_CLIENT_INFO;
    uint64_t cache_size;
    auto fields() { return std::tie(cache_size); }
};
struct MsgcMainAgentStart {
    static constexpr uint16_t kType = SPICE_MSGC_MAIN_AGENT_START;
    uint32_t num_tokens;
    auto fields() { return std::tie(num_tokens); }
};
struct MsgcMainAgentToken {
    static constexpr uint16_t kType = SPICE_MSGC_MAIN_AGENT_TOKEN;
    uint32_t num_tokens;
    auto fields() { return std::tie(num_tokens); }
};
struct MsgMainAgentConnectedTokens {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS;
    uint32_t num_tokens;
    auto fields() { return std::tie(num_tokens); }
};
struct MsgMainAgentDisconnected {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_AGENT_DISCONNECTED;
    uint32_t error_code;
    auto fields() { return std::tie(error_code); }
};
struct MsgMainAgentToken {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_AGENT_TOKEN;
    uint32_t num_tokens;
    auto fields() { return std::tie(num_tokens); }
};

struct ChannelId {
    uint8_t type;
    uint8_t id;
    friend bool operator==(const ChannelId&, const ChannelId&) = default;
};
struct MsgMainChannelsList {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_CHANNELS_LIST;
    std::vector<ChannelId> channels;
};
void marshal(const MsgMainChannelsList& message, ByteWriter& out);
Expected<MsgMainChannelsList, ParseError> parse_channels_list(std::span<const uint8_t> body);

struct MsgMainName {
    static constexpr uint16_t kType = SPICE_MSG_MAIN_NAME;
    std::string name;
};
void marshal(const MsgMainName& message, ByteWriter& out);
Expected<MsgMainName, ParseError> parse_main_name(std::span<const uint8_t> body);

// ---- Display channel -------------------------------------------------------------------------
struct MsgcDisplayInit {
    static constexpr uint16_t kType = SPICE_MSGC_DISPLAY_INIT;
    uint8_t pixmap_cache_id;
    int64_t pixmap_cache_size;  // pixels
    uint8_t glz_dictionary_id;
    int32_t glz_dictionary_window_size;  // pixels
    auto fields() {
        return std::tie(pixmap_cache_id, pixmap_cache_size, glz_dictionary_id,
                        glz_dictionary_window_size);
    }
    bool valid() const { return pixmap_cache_size >= 0 && glz_dictionary_window_size >= 0; }
};
struct MsgcDisplayPreferredCompression {
    static constexpr uint16_t kType = SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION;
    uint8_t image_compression;
    auto fields() { return std::tie(image_compression); }
    bool valid() const {
        return image_compression > SPICE_IMAGE_COMPRESSION_INVALID &&
               image_compression < SPICE_IMAGE_COMPRESSION_ENUM_END;
    }
};
struct MsgDisplaySurfaceCreate {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_SURFACE_CREATE;
    uint32_t surface_id;
    uint32_t width;
    uint32_t height;
    uint32_t format;
    uint32_t flags;
    auto fields() { return std::tie(surface_id, width, height, format, flags); }
};
struct MsgDisplaySurfaceDestroy {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_SURFACE_DESTROY;
    uint32_t surface_id;
    auto fields() { return std::tie(surface_id); }
};

struct MonitorHead {
    uint32_t monitor_id, surface_id, width, height, x, y, flags;
    friend bool operator==(const MonitorHead&, const MonitorHead&) = default;
};
struct MsgDisplayMonitorsConfig {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_MONITORS_CONFIG;
    uint16_t max_allowed;
    std::vector<MonitorHead> heads;
};
void marshal(const MsgDisplayMonitorsConfig& message, ByteWriter& out);
Expected<MsgDisplayMonitorsConfig, ParseError> parse_monitors_config(std::span<const uint8_t> body);

// DisplayBase: the target surface, the bounding box and (always, for us) no clip.
struct DisplayBase {
    uint32_t surface_id;
    Rect box;
};
struct MsgDisplayCopyBits {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_COPY_BITS;
    DisplayBase base;
    Point src;
};
void marshal(const MsgDisplayCopyBits& message, ByteWriter& out);
Expected<MsgDisplayCopyBits, ParseError> parse_copy_bits(std::span<const uint8_t> body);

struct MsgDisplayDrawFill {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_DRAW_FILL;
    DisplayBase base;
    uint32_t color;  // solid brush, 0x00RRGGBB
};
void marshal(const MsgDisplayDrawFill& message, ByteWriter& out);
Expected<MsgDisplayDrawFill, ParseError> parse_draw_fill(std::span<const uint8_t> body);

// The SpiceImage descriptor that precedes every image body: u64 id, u8 type, u8 flags,
// u32 width, u32 height.
inline constexpr size_t kImageDescriptorSize = 18;
struct ImageDescriptor {
    uint64_t id;
    uint8_t type;   // SPICE_IMAGE_TYPE_*
    uint8_t flags;  // SPICE_IMAGE_FLAGS_*
    uint32_t width;
    uint32_t height;
    friend bool operator==(const ImageDescriptor&, const ImageDescriptor&) = default;
};
// DRAW_COPY is written in two steps so an encoder can write a large image body straight into
// the message without another copy: write_draw_copy_head() writes everything up to and
// including the image descriptor; the image body (see encode/) follows directly.
void write_draw_copy_head(ByteWriter& out, const DisplayBase& base, const Rect& src_area,
                          const ImageDescriptor& image);
struct ParsedDrawCopy {
    DisplayBase base;
    Rect src_area;
    uint16_t rop;
    uint8_t scale_mode;
    ImageDescriptor image;
    std::span<const uint8_t> image_body;  // everything after the descriptor
};
Expected<ParsedDrawCopy, ParseError> parse_draw_copy(std::span<const uint8_t> body);

struct ResourceId {
    uint8_t type;
    uint64_t id;
    friend bool operator==(const ResourceId&, const ResourceId&) = default;
};
struct MsgDisplayInvalList {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_INVAL_LIST;
    std::vector<ResourceId> resources;
};
void marshal(const MsgDisplayInvalList& message, ByteWriter& out);
Expected<MsgDisplayInvalList, ParseError> parse_inval_list(std::span<const uint8_t> body);
// INVAL_ALL_PIXMAPS with an empty wait list (we have one display channel per client).
struct MsgDisplayInvalAllPixmaps {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS;
    uint8_t wait_count;
    auto fields() { return std::tie(wait_count); }
};

// ---- Display channel: video streams ---------------------------------------------------------
// Streams are drawn top-down, with no clip (the stream's rect is exactly the video region).
struct MsgDisplayStreamCreate {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_STREAM_CREATE;
    uint32_t surface_id;
    uint32_t id;
    uint8_t flags;       // SPICE_STREAM_FLAGS_*
    uint8_t codec_type;  // SPICE_VIDEO_CODEC_TYPE_*
    uint64_t stamp;
    uint32_t stream_width;  // encoded picture size
    uint32_t stream_height;
    uint32_t src_width;  // source area size
    uint32_t src_height;
    Rect dest;
};
void marshal(const MsgDisplayStreamCreate& message, ByteWriter& out);
Expected<MsgDisplayStreamCreate, ParseError> parse_stream_create(std::span<const uint8_t> body);

// STREAM_DATA and STREAM_DATA_SIZED (when `sized`: the picture's own size and destination,
// for a stream whose window changed size without a new stream).
struct MsgDisplayStreamData {
    uint32_t id;
    uint32_t multi_media_time;
    bool sized = false;
    uint32_t width = 0;
    uint32_t height = 0;
    Rect dest;
    std::span<const uint8_t> data;
};
// Writes everything up to and including data_size, so the packet bytes can follow directly.
void write_stream_data_head(ByteWriter& out, const MsgDisplayStreamData& message);
Expected<MsgDisplayStreamData, ParseError> parse_stream_data(std::span<const uint8_t> body,
                                                             bool sized);

// STREAM_CLIP with a RECTS clip: pictures show only inside `rects` (a moved stream's new rect,
// so pictures still queued for its old place cannot paint over that place's repaint).
struct MsgDisplayStreamClip {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_STREAM_CLIP;
    uint32_t id;
    std::vector<Rect> rects;
};
void marshal(const MsgDisplayStreamClip& message, ByteWriter& out);
Expected<MsgDisplayStreamClip, ParseError> parse_stream_clip(std::span<const uint8_t> body);

struct MsgDisplayStreamDestroy {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_STREAM_DESTROY;
    uint32_t id;
    auto fields() { return std::tie(id); }
};
struct MsgDisplayStreamActivateReport {
    static constexpr uint16_t kType = SPICE_MSG_DISPLAY_STREAM_ACTIVATE_REPORT;
    uint32_t stream_id;
    uint32_t unique_id;
    uint32_t max_window_size;  // frames per report at most
    uint32_t timeout_ms;       // a report at least this often
    auto fields() { return std::tie(stream_id, unique_id, max_window_size, timeout_ms); }
};
struct MsgcDisplayStreamReport {
    static constexpr uint16_t kType = SPICE_MSGC_DISPLAY_STREAM_REPORT;
    uint32_t stream_id;
    uint32_t unique_id;
    uint32_t start_frame_mm_time;
    uint32_t end_frame_mm_time;
    uint32_t num_frames;
    uint32_t num_drops;
    int32_t last_frame_delay;
    uint32_t audio_delay;
    auto fields() {
        return std::tie(stream_id, unique_id, start_frame_mm_time, end_frame_mm_time, num_frames,
                        num_drops, last_frame_delay, audio_delay);
    }
};
// The client's video codecs, best first. Unknown values are kept: the caller ignores them
// with a log line.
struct MsgcDisplayPreferredVideoCodecType {
    static constexpr uint16_t kType = SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE;
    std::vector<uint8_t> codecs;
};
void marshal(const MsgcDisplayPreferredVideoCodecType& message, ByteWriter& out);
Expected<MsgcDisplayPreferredVideoCodecType, ParseError> parse_preferred_video_codecs(
    std::span<const uint8_t> body);

// ---- Inputs channel --------------------------------------------------------------------------
struct MsgInputsInit {
    static constexpr uint16_t kType = SPICE_MSG_INPUTS_INIT;
    uint16_t keyboard_modifiers;
    auto fields() { return std::tie(keyboard_modifiers); }
};
struct MsgInputsKeyModifiers {
    static constexpr uint16_t kType = SPICE_MSG_INPUTS_KEY_MODIFIERS;
    uint16_t modifiers;
    auto fields() { return std::tie(modifiers); }
};
struct MsgcKeyDown {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_KEY_DOWN;
    uint32_t code;
    auto fields() { return std::tie(code); }
};
struct MsgcKeyUp {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_KEY_UP;
    uint32_t code;
    auto fields() { return std::tie(code); }
};
struct MsgcKeyModifiers {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_KEY_MODIFIERS;
    uint16_t modifiers;
    auto fields() { return std::tie(modifiers); }
};
struct MsgcMouseMotion {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_MOUSE_MOTION;
    int32_t dx;
    int32_t dy;
    uint16_t buttons_state;
    auto fields() { return std::tie(dx, dy, buttons_state); }
};
struct MsgcMousePosition {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_MOUSE_POSITION;
    uint32_t x;
    uint32_t y;
    uint16_t buttons_state;
    uint8_t display_id;
    auto fields() { return std::tie(x, y, buttons_state, display_id); }
};
struct MsgcMousePress {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_MOUSE_PRESS;
    uint8_t button;
    uint16_t buttons_state;
    auto fields() { return std::tie(button, buttons_state); }
    bool valid() const {
        return button >= SPICE_MOUSE_BUTTON_LEFT && button < SPICE_MOUSE_BUTTON_ENUM_END;
    }
};
struct MsgcMouseRelease {
    static constexpr uint16_t kType = SPICE_MSGC_INPUTS_MOUSE_RELEASE;
    uint8_t button;
    uint16_t buttons_state;
    auto fields() { return std::tie(button, buttons_state); }
    bool valid() const {
        return button >= SPICE_MOUSE_BUTTON_LEFT && button < SPICE_MOUSE_BUTTON_ENUM_END;
    }
};

// ---- Cursor channel --------------------------------------------------------------------------
struct CursorShape {
    uint64_t unique;  // cache id
    uint16_t width;
    uint16_t height;
    uint16_t hot_x;
    uint16_t hot_y;
    std::vector<uint32_t> argb;  // straight alpha, row-major, width * height
};
struct MsgCursorInit {
    static constexpr uint16_t kType = SPICE_MSG_CURSOR_INIT;
    Point position;
    bool visible;
    uint16_t flags;  // SPICE_CURSOR_FLAGS_*; NONE means no shape follows
    CursorShape shape;
};
struct MsgCursorSet {
    static constexpr uint16_t kType = SPICE_MSG_CURSOR_SET;
    Point position;
    bool visible;
    uint16_t flags;
    CursorShape shape;
};
void marshal(const MsgCursorInit& message, ByteWriter& out);
void marshal(const MsgCursorSet& message, ByteWriter& out);
Expected<MsgCursorInit, ParseError> parse_cursor_init(std::span<const uint8_t> body);
Expected<MsgCursorSet, ParseError> parse_cursor_set(std::span<const uint8_t> body);
struct MsgCursorMove {
    static constexpr uint16_t kType = SPICE_MSG_CURSOR_MOVE;
    int16_t x;
    int16_t y;
    auto fields() { return std::tie(x, y); }
};
struct MsgCursorInvalOne {
    static constexpr uint16_t kType = SPICE_MSG_CURSOR_INVAL_ONE;
    uint64_t id;
    auto fields() { return std::tie(id); }
};

// ---- Inputs decoding ---------------------------------------------------------------------------
// A key as SPICE carries it (KEY_DOWN/KEY_UP codes): set-1 make code in the low byte, or 0xE0
// in the low byte and the code in the next one for extended keys; the 0x80 bit marks release.
// Returns the normalised scancode (0x100 + code for extended keys), or nothing if malformed.
struct KeyCode {
    uint16_t scancode;
    bool down;
};
Expected<KeyCode, ParseError> decode_key_code(uint32_t wire_code, bool is_key_up);
// KEY_SCANCODE carries raw set-1 bytes (with 0xE0 prefixes); decodes them all.
Expected<std::vector<KeyCode>, ParseError> decode_scancode_bytes(std::span<const uint8_t> bytes);

}  // namespace spiced
