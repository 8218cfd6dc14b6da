#include "core/messages.h"

namespace spiced {

namespace {
// Upper bounds on array counts we accept when parsing, far above anything legitimate, so a
// hostile count can never make us allocate much.
constexpr uint32_t kMaxListEntries = 4096;
constexpr uint32_t kMaxClipRects = 4096;

void put_rect(ByteWriter& w, const Rect& r) {
    w.i32(r.top());
    w.i32(r.left());
    w.i32(r.bottom());
    w.i32(r.right());
}
Rect get_rect(ByteReader& r) {
    int32_t top = r.i32(), left = r.i32(), bottom = r.i32(), right = r.i32();
    return Rect::MakeLTRB(left, top, right, bottom);
}

void put_base(ByteWriter& w, const DisplayBase& base) {
    w.u32(base.surface_id);
    put_rect(w, base.box);
    w.u8(SPICE_CLIP_TYPE_NONE);
}
// Reads DisplayBase; a RECTS clip is accepted and skipped (we only ever send NONE).
bool get_base(ByteReader& r, DisplayBase& base) {
    base.surface_id = r.u32();
    base.box = get_rect(r);
    uint8_t clip = r.u8();
    if (clip == SPICE_CLIP_TYPE_RECTS) {
        uint32_t count = r.u32();
        if (count > kMaxClipRects) return false;
        r.bytes(size_t(count) * 16);
    } else if (clip != SPICE_CLIP_TYPE_NONE) {
        return false;
    }
    return r.ok();
}

// A QMask with no mask image.
void put_no_mask(ByteWriter& w) {
    w.u8(0);
    w.i32(0);
    w.i32(0);
    w.u32(0);
}
void skip_mask(ByteReader& r) {
    r.bytes(13);
}

void put_cursor(ByteWriter& w, uint16_t flags, const CursorShape& shape) {
    w.u16(flags);
    if (flags & SPICE_CURSOR_FLAGS_NONE) return;
    w.u64(shape.unique);
    w.u8(SPICE_CURSOR_TYPE_ALPHA);
    w.u16(shape.width);
    w.u16(shape.height);
    w.u16(shape.hot_x);
    w.u16(shape.hot_y);
    if (flags & SPICE_CURSOR_FLAGS_FROM_CACHE) return;
    for (uint32_t pixel : shape.argb) w.u32(pixel);
}
bool get_cursor(ByteReader& r, uint16_t& flags, CursorShape& shape) {
    flags = r.u16();
    if (flags & SPICE_CURSOR_FLAGS_NONE) return r.ok();
    shape.unique = r.u64();
    uint8_t type = r.u8();
    shape.width = r.u16();
    shape.height = r.u16();
    shape.hot_x = r.u16();
    shape.hot_y = r.u16();
    if (!r.ok() || type != SPICE_CURSOR_TYPE_ALPHA) return false;
    if (flags & SPICE_CURSOR_FLAGS_FROM_CACHE) return true;
    size_t pixels = size_t(shape.width) * shape.height;
    if (r.remaining() < pixels * 4) return false;
    shape.argb.resize(pixels);
    for (auto& pixel : shape.argb) pixel = r.u32();
    return r.ok();
}
}  // namespace

std::string_view to_string(ParseError error) {
    switch (error) {
        case ParseError::kTruncated:
            return "truncated message";
        case ParseError::kOutOfRange:
            return "field out of range";
        case ParseError::kTooLarge:
            return "message too large";
        case ParseError::kUnknownType:
            return "unknown message type";
    }
    return "?";
}

const char* channel_type_name(uint8_t type) {
    switch (type) {
        case SPICE_CHANNEL_MAIN:
            return "main";
        case SPICE_CHANNEL_DISPLAY:
            return "display";
        case SPICE_CHANNEL_INPUTS:
            return "inputs";
        case SPICE_CHANNEL_CURSOR:
            return "cursor";
        case SPICE_CHANNEL_PLAYBACK:
            return "playback";
        case SPICE_CHANNEL_RECORD:
            return "record";
        case SPICE_CHANNEL_TUNNEL:
            return "tunnel";
        case SPICE_CHANNEL_SMARTCARD:
            return "smartcard";
        case SPICE_CHANNEL_USBREDIR:
            return "usbredir";
        case SPICE_CHANNEL_PORT:
            return "port";
        case SPICE_CHANNEL_WEBDAV:
            return "webdav";
        default:
            return nullptr;
    }
}

void marshal(const MsgMainChannelsList& message, ByteWriter& out) {
    out.u32(uint32_t(message.channels.size()));
    for (const auto& channel : message.channels) {
        out.u8(channel.type);
        out.u8(channel.id);
    }
}

Expected<MsgMainChannelsList, ParseError> parse_channels_list(std::span<const uint8_t> body) {
    ByteReader r(body);
    uint32_t count = r.u32();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (count > kMaxListEntries) return unexpected(ParseError::kTooLarge);
    MsgMainChannelsList message;
    for (uint32_t i = 0; i < count; ++i) message.channels.push_back({r.u8(), r.u8()});
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    return message;
}

void marshal(const MsgMainName& message, ByteWriter& out) {
    out.u32(uint32_t(message.name.size() + 1));  // the name travels NUL-terminated
    out.bytes(message.name);
    out.u8(0);
}

Expected<MsgMainName, ParseError> parse_main_name(std::span<const uint8_t> body) {
    ByteReader r(body);
    uint32_t length = r.u32();
    auto bytes = r.bytes(length);
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (length == 0 || bytes.back() != 0) return unexpected(ParseError::kOutOfRange);
    return MsgMainName{std::string(bytes.begin(), bytes.end() - 1)};
}

void marshal(const MsgDisplayMonitorsConfig& message, ByteWriter& out) {
    out.u16(uint16_t(message.heads.size()));
    out.u16(message.max_allowed);
    for (const auto& h : message.heads) {
        for (uint32_t v : {h.monitor_id, h.surface_id, h.width, h.height, h.x, h.y, h.flags}) {
            out.u32(v);
        }
    }
}

Expected<MsgDisplayMonitorsConfig, ParseError> parse_monitors_config(
    std::span<const uint8_t> body) {
    ByteReader r(body);
    uint16_t count = r.u16();
    MsgDisplayMonitorsConfig message{r.u16(), {}};
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (size_t(count) * 28 > r.remaining()) return unexpected(ParseError::kTruncated);
    for (uint16_t i = 0; i < count; ++i) {
        MonitorHead h{};
        h.monitor_id = r.u32();
        h.surface_id = r.u32();
        h.width = r.u32();
        h.height = r.u32();
        h.x = r.u32();
        h.y = r.u32();
        h.flags = r.u32();
        message.heads.push_back(h);
    }
    return message;
}

void marshal(const MsgDisplayCopyBits& message, ByteWriter& out) {
    put_base(out, message.base);
    out.i32(message.src.x);
    out.i32(message.src.y);
}

Expected<MsgDisplayCopyBits, ParseError> parse_copy_bits(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgDisplayCopyBits message{};
    if (!get_base(r, message.base)) return unexpected(ParseError::kTruncated);
    message.src.x = r.i32();
    message.src.y = r.i32();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    return message;
}

void marshal(const MsgDisplayDrawFill& message, ByteWriter& out) {
    put_base(out, message.base);
    out.u8(SPICE_BRUSH_TYPE_SOLID);
    out.u32(message.color);
    out.u16(SPICE_ROPD_OP_PUT);
    put_no_mask(out);
}

Expected<MsgDisplayDrawFill, ParseError> parse_draw_fill(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgDisplayDrawFill message{};
    if (!get_base(r, message.base)) return unexpected(ParseError::kTruncated);
    if (r.u8() != SPICE_BRUSH_TYPE_SOLID) return unexpected(ParseError::kOutOfRange);
    message.color = r.u32();
    uint16_t rop = r.u16();
    skip_mask(r);
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (rop != SPICE_ROPD_OP_PUT) return unexpected(ParseError::kOutOfRange);
    return message;
}

void write_draw_copy_head(ByteWriter& out, const DisplayBase& base, const Rect& src_area,
                          const ImageDescriptor& image) {
    const size_t start = out.size();
    put_base(out, base);
    const size_t image_pointer = out.size();
    out.u32(0);  // patched below: the image sits right after the fixed part
    put_rect(out, src_area);
    out.u16(SPICE_ROPD_OP_PUT);
    out.u8(SPICE_IMAGE_SCALE_MODE_NEAREST);
    put_no_mask(out);
    out.patch_u32(image_pointer, uint32_t(out.size() - start));
    out.u64(image.id);
    out.u8(image.type);
    out.u8(image.flags);
    out.u32(image.width);
    out.u32(image.height);
}

Expected<ParsedDrawCopy, ParseError> parse_draw_copy(std::span<const uint8_t> body) {
    ByteReader r(body);
    ParsedDrawCopy message{};
    if (!get_base(r, message.base)) return unexpected(ParseError::kTruncated);
    uint32_t image_offset = r.u32();
    message.src_area = get_rect(r);
    message.rop = r.u16();
    message.scale_mode = r.u8();
    skip_mask(r);
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (image_offset == 0 || image_offset >= body.size())
        return unexpected(ParseError::kOutOfRange);
    r.seek(image_offset);
    message.image.id = r.u64();
    message.image.type = r.u8();
    message.image.flags = r.u8();
    message.image.width = r.u32();
    message.image.height = r.u32();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    message.image_body = r.rest();
    return message;
}

void marshal(const MsgDisplayInvalList& message, ByteWriter& out) {
    out.u16(uint16_t(message.resources.size()));
    for (const auto& resource : message.resources) {
        out.u8(resource.type);
        out.u64(resource.id);
    }
}

Expected<MsgDisplayInvalList, ParseError> parse_inval_list(std::span<const uint8_t> body) {
    ByteReader r(body);
    uint16_t count = r.u16();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (size_t(count) * 9 > r.remaining()) return unexpected(ParseError::kTruncated);
    MsgDisplayInvalList message;
    for (uint16_t i = 0; i < count; ++i) {
        uint8_t type = r.u8();
        message.resources.push_back({type, r.u64()});
    }
    return message;
}

void marshal(const MsgDisplayStreamCreate& message, ByteWriter& out) {
    out.u32(message.surface_id);
    out.u32(message.id);
    out.u8(message.flags);
    out.u8(message.codec_type);
    out.u64(message.stamp);
    out.u32(message.stream_width);
    out.u32(message.stream_height);
    out.u32(message.src_width);
    out.u32(message.src_height);
    put_rect(out, message.dest);
    out.u8(SPICE_CLIP_TYPE_NONE);
}

Expected<MsgDisplayStreamCreate, ParseError> parse_stream_create(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgDisplayStreamCreate message{};
    message.surface_id = r.u32();
    message.id = r.u32();
    message.flags = r.u8();
    message.codec_type = r.u8();
    message.stamp = r.u64();
    message.stream_width = r.u32();
    message.stream_height = r.u32();
    message.src_width = r.u32();
    message.src_height = r.u32();
    message.dest = get_rect(r);
    const uint8_t clip = r.u8();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (clip != SPICE_CLIP_TYPE_NONE) return unexpected(ParseError::kOutOfRange);
    return message;
}

void write_stream_data_head(ByteWriter& out, const MsgDisplayStreamData& message) {
    out.u32(message.id);
    out.u32(message.multi_media_time);
    if (message.sized) {
        out.u32(message.width);
        out.u32(message.height);
        put_rect(out, message.dest);
    }
    out.u32(uint32_t(message.data.size()));
}

Expected<MsgDisplayStreamData, ParseError> parse_stream_data(std::span<const uint8_t> body,
                                                             bool sized) {
    ByteReader r(body);
    MsgDisplayStreamData message{};
    message.id = r.u32();
    message.multi_media_time = r.u32();
    message.sized = sized;
    if (sized) {
        message.width = r.u32();
        message.height = r.u32();
        message.dest = get_rect(r);
    }
    const uint32_t size = r.u32();
    message.data = r.bytes(size);
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    return message;
}

void marshal(const MsgDisplayStreamClip& message, ByteWriter& out) {
    out.u32(message.id);
    out.u8(SPICE_CLIP_TYPE_RECTS);
    out.u32(uint32_t(message.rects.size()));
    for (const Rect& rect : message.rects) put_rect(out, rect);
}

Expected<MsgDisplayStreamClip, ParseError> parse_stream_clip(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgDisplayStreamClip message{};
    message.id = r.u32();
    const uint8_t type = r.u8();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (type == SPICE_CLIP_TYPE_NONE) return message;
    if (type != SPICE_CLIP_TYPE_RECTS) return unexpected(ParseError::kOutOfRange);
    const uint32_t count = r.u32();
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    if (count > kMaxClipRects) return unexpected(ParseError::kTooLarge);
    if (size_t(count) * 16 > r.remaining()) return unexpected(ParseError::kTruncated);
    for (uint32_t i = 0; i < count; ++i) message.rects.push_back(get_rect(r));
    return message;
}

void marshal(const MsgcDisplayPreferredVideoCodecType& message, ByteWriter& out) {
    out.u8(uint8_t(message.codecs.size()));
    for (uint8_t codec : message.codecs) out.u8(codec);
}

Expected<MsgcDisplayPreferredVideoCodecType, ParseError> parse_preferred_video_codecs(
    std::span<const uint8_t> body) {
    ByteReader r(body);
    const uint8_t count = r.u8();
    auto codecs = r.bytes(count);
    if (!r.ok()) return unexpected(ParseError::kTruncated);
    return MsgcDisplayPreferredVideoCodecType{std::vector<uint8_t>(codecs.begin(), codecs.end())};
}

void marshal(const MsgCursorInit& message, ByteWriter& out) {
    out.i16(int16_t(message.position.x));
    out.i16(int16_t(message.position.y));
    out.u16(0);  // trail length
    out.u16(0);  // trail frequency
    out.u8(message.visible ? 1 : 0);
    put_cursor(out, message.flags, message.shape);
}

void marshal(const MsgCursorSet& message, ByteWriter& out) {
    out.i16(int16_t(message.position.x));
    out.i16(int16_t(message.position.y));
    out.u8(message.visible ? 1 : 0);
    put_cursor(out, message.flags, message.shape);
}

Expected<MsgCursorInit, ParseError> parse_cursor_init(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgCursorInit message{};
    message.position.x = int16_t(r.u16());
    message.position.y = int16_t(r.u16());
    r.u16();
    r.u16();
    message.visible = r.u8() != 0;
    if (!get_cursor(r, message.flags, message.shape)) return unexpected(ParseError::kTruncated);
    return message;
}

Expected<MsgCursorSet, ParseError> parse_cursor_set(std::span<const uint8_t> body) {
    ByteReader r(body);
    MsgCursorSet message{};
    message.position.x = int16_t(r.u16());
    message.position.y = int16_t(r.u16());
    message.visible = r.u8() != 0;
    if (!get_cursor(r, message.flags, message.shape)) return unexpected(ParseError::kTruncated);
    return message;
}

Expected<KeyCode, ParseError> decode_key_code(uint32_t wire_code, bool is_key_up) {
    // spice-gtk sends 0xE0 | code << 8 for extended keys and the plain code otherwise; the
    // release bit (0x80) is set on key-up codes. Anything above 16 bits is not a scancode.
    if (wire_code > 0xffff) return unexpected(ParseError::kOutOfRange);
    uint8_t low = wire_code & 0xff;
    uint8_t high = (wire_code >> 8) & 0xff;
    uint16_t scancode;
    if (low == 0xe0) {
        scancode = uint16_t(0x100 | (high & 0x7f));
    } else {
        if (high != 0) return unexpected(ParseError::kOutOfRange);
        scancode = low & 0x7f;
    }
    if ((scancode & 0xff) == 0) return unexpected(ParseError::kOutOfRange);
    return KeyCode{scancode, !is_key_up};
}

Expected<std::vector<KeyCode>, ParseError> decode_scancode_bytes(std::span<const uint8_t> bytes) {
    std::vector<KeyCode> keys;
    bool extended = false;
    for (uint8_t byte : bytes) {
        if (byte == 0xe0) {
            extended = true;
            continue;
        }
        if (byte == 0xe1) continue;  // Pause's prefix: its codes follow as ordinary bytes
        uint16_t code = byte & 0x7f;
        if (code == 0) return unexpected(ParseError::kOutOfRange);
        keys.push_back({uint16_t(extended ? 0x100 | code : code), (byte & 0x80) == 0});
        extended = false;
    }
    if (extended) return unexpected(ParseError::kTruncated);
    return keys;
}

}  // namespace spiced
