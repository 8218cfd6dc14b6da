#include "agent/vdagent.h"

#include <cassert>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "base/bytes.h"

namespace spiced::vdagent {
namespace {

// Every layout size comes from vd_agent.h's packed structs.
constexpr size_t kCapsFixedBytes = sizeof(VDAgentAnnounceCapabilities);
constexpr size_t kMonitorsFixedBytes = sizeof(VDAgentMonitorsConfig);
constexpr size_t kMonConfigBytes = sizeof(VDAgentMonConfig);
constexpr size_t kMonitorMMBytes = sizeof(VDAgentMonitorMM);
constexpr size_t kReplyBytes = sizeof(VDAgentReply);
constexpr size_t kMaxClipboardBytes = sizeof(VDAgentMaxClipboard);
constexpr size_t kMouseStateBytes = sizeof(VDAgentMouseState);
constexpr size_t kXferStartFixedBytes = sizeof(VDAgentFileXferStartMessage);
constexpr size_t kXferStatusFixedBytes = sizeof(VDAgentFileXferStatusMessage);
constexpr size_t kXferDataFixedBytes = sizeof(VDAgentFileXferDataMessage);
// The selection header vd_agent.h shows under "#if 0 /* VD_AGENT_CAP_CLIPBOARD_SELECTION */":
// u8 selection padded with reserved bytes to a u32.
constexpr size_t kSelectionBytes = sizeof(uint32_t);
constexpr size_t kGrabSerialBytes = sizeof(uint32_t);
constexpr size_t kWordBytes = sizeof(uint32_t);
constexpr size_t kCapsPerWord = 32;

static_assert(kMonConfigBytes == 20 && kMonitorMMBytes == 4 && kMouseStateBytes == 13 &&
                  kXferDataFixedBytes == 12,
              "vd_agent.h layouts are packed");

std::string label(uint32_t type) {
    const char* name = message_type_name(type);
    return name ? std::string(name) : "VD_AGENT message type " + std::to_string(type);
}

Unexpected<std::string> fail(uint32_t type, const std::string& reason) {
    return unexpected(label(type) + ": " + reason + ".");
}

Unexpected<std::string> truncated(uint32_t type, size_t have, size_t need) {
    return fail(type, "truncated, " + std::to_string(have) + " bytes where at least " +
                          std::to_string(need) + " are needed");
}

size_t selection_bytes(ClipboardFraming f) {
    return f.selection ? kSelectionBytes : 0;
}

// Reads the selection header when framed; the caller has checked the length.
Parsed<uint8_t> read_selection(ByteReader& reader, ClipboardFraming f, uint32_t type) {
    if (!f.selection) return uint8_t{VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD};
    const uint8_t selection = reader.u8();
    reader.bytes(kSelectionBytes - 1);  // reserved: ignored, as spice-vdagent does
    if (selection > VD_AGENT_CLIPBOARD_SELECTION_SECONDARY) {
        return fail(type, "selection " + std::to_string(selection) + " is out of range");
    }
    return selection;
}

void write_selection(ByteWriter& out, ClipboardFraming f, uint8_t selection) {
    if (!f.selection) return;
    out.u8(selection);
    out.zeros(kSelectionBytes - 1);
}

// Not `requires { build(m, f); }`: every alternative converts to Message, so that would
// pick build(const Message&, ...) and recurse.
template <typename T>
constexpr bool kClipboardFramed =
    std::is_same_v<T, ClipboardGrab> || std::is_same_v<T, ClipboardRequest> ||
    std::is_same_v<T, ClipboardData> || std::is_same_v<T, ClipboardRelease>;

template <typename T>
Parsed<Message> as_message(Parsed<T> parsed) {
    if (!parsed) return unexpected(parsed.error());
    return Message(std::move(parsed).value());
}

// ---- keyfile helpers ----

// g_ascii_isspace, which GKeyFile uses to trim keys and values.
bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view chug(std::string_view text) {
    while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
    return text;
}

std::string_view chomp(std::string_view text) {
    while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
    return text;
}

Unexpected<std::string> keyfile_fail(const std::string& reason) {
    return unexpected("file-transfer keyfile: " + reason + ".");
}

// Undoes g_key_file_set_string's escapes. GLib keeps unknown escapes and drops a trailing
// backslash; both are refused here, since spice-gtk never writes them.
Parsed<std::string> unescape_keyfile_value(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            out.push_back(raw[i]);
            continue;
        }
        if (++i == raw.size()) return keyfile_fail("name= ends with a lone backslash");
        switch (raw[i]) {
            case 's':
                out.push_back(' ');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case '\\':
                out.push_back('\\');
                break;
            default:
                return keyfile_fail("name= holds an invalid escape sequence");
        }
    }
    return out;
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), which
// GLib's g_key_file_get_string also insists on.
bool is_valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<uint8_t>(text[i]);
        size_t extra = 0;
        uint32_t code = 0;
        uint32_t min_code = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xe0) == 0xc0) {
            extra = 1, code = lead & 0x1f, min_code = 0x80;
        } else if ((lead & 0xf0) == 0xe0) {
            extra = 2, code = lead & 0x0f, min_code = 0x800;
        } else if ((lead & 0xf8) == 0xf0) {
            extra = 3, code = lead & 0x07, min_code = 0x10000;
        } else {
            return false;
        }
        if (extra > text.size() - i - 1) return false;
        for (size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<uint8_t>(text[i + k]);
            if ((next & 0xc0) != 0x80) return false;
            code = code << 6 | (next & 0x3f);
        }
        if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

Parsed<std::string> validate_file_name(std::string name) {
    if (name.empty()) return keyfile_fail("the file name is empty");
    if (name.size() > kMaxFileNameBytes) {
        return keyfile_fail("the file name is longer than " + std::to_string(kMaxFileNameBytes) +
                            " bytes");
    }
    if (name == "." || name == "..") return keyfile_fail("the file name is \".\" or \"..\"");
    for (const char c : name) {
        if (c == '/' || c == '\\') return keyfile_fail("the file name contains a path separator");
        const auto byte = static_cast<uint8_t>(c);
        if (byte < 0x20 || byte == 0x7f) {
            return keyfile_fail("the file name contains a control character");
        }
    }
    if (!is_valid_utf8(name)) return keyfile_fail("the file name is not valid UTF-8");
    return name;
}

// Decimal digits only: GLib's g_ascii_strtoull also takes signs ("-1" becomes 2^64-1) and
// saturates on overflow, both of which would let a client announce a size it does not mean.
Parsed<uint64_t> parse_decimal_size(std::string_view raw) {
    if (raw.empty()) return keyfile_fail("size= is empty");
    uint64_t value = 0;
    for (const char c : raw) {
        if (c < '0' || c > '9') return keyfile_fail("size= is not a decimal number");
        const auto digit = static_cast<uint64_t>(c - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
            return keyfile_fail("size= does not fit in 64 bits");
        }
        value = value * 10 + digit;
    }
    return value;
}

}  // namespace

const char* message_type_name(uint32_t type) {
    switch (type) {
        case VD_AGENT_MOUSE_STATE:
            return "VD_AGENT_MOUSE_STATE";
        case VD_AGENT_MONITORS_CONFIG:
            return "VD_AGENT_MONITORS_CONFIG";
        case VD_AGENT_REPLY:
            return "VD_AGENT_REPLY";
        case VD_AGENT_CLIPBOARD:
            return "VD_AGENT_CLIPBOARD";
        case VD_AGENT_DISPLAY_CONFIG:
            return "VD_AGENT_DISPLAY_CONFIG";
        case VD_AGENT_ANNOUNCE_CAPABILITIES:
            return "VD_AGENT_ANNOUNCE_CAPABILITIES";
        case VD_AGENT_CLIPBOARD_GRAB:
            return "VD_AGENT_CLIPBOARD_GRAB";
        case VD_AGENT_CLIPBOARD_REQUEST:
            return "VD_AGENT_CLIPBOARD_REQUEST";
        case VD_AGENT_CLIPBOARD_RELEASE:
            return "VD_AGENT_CLIPBOARD_RELEASE";
        case VD_AGENT_FILE_XFER_START:
            return "VD_AGENT_FILE_XFER_START";
        case VD_AGENT_FILE_XFER_STATUS:
            return "VD_AGENT_FILE_XFER_STATUS";
        case VD_AGENT_FILE_XFER_DATA:
            return "VD_AGENT_FILE_XFER_DATA";
        case VD_AGENT_CLIENT_DISCONNECTED:
            return "VD_AGENT_CLIENT_DISCONNECTED";
        case VD_AGENT_MAX_CLIPBOARD:
            return "VD_AGENT_MAX_CLIPBOARD";
        case VD_AGENT_AUDIO_VOLUME_SYNC:
            return "VD_AGENT_AUDIO_VOLUME_SYNC";
        case VD_AGENT_GRAPHICS_DEVICE_INFO:
            return "VD_AGENT_GRAPHICS_DEVICE_INFO";
        default:
            return nullptr;
    }
}

// ---- Record header ---------------------------------------------------------------------

Parsed<RecordHeader> parse_record_header(std::span<const uint8_t> bytes) {
    if (bytes.size() < kRecordHeaderBytes) {
        return unexpected("VDAgent record header is truncated, " + std::to_string(bytes.size()) +
                          " of " + std::to_string(kRecordHeaderBytes) + " bytes.");
    }
    ByteReader reader(bytes);
    RecordHeader header{};
    header.protocol = reader.u32();
    header.type = reader.u32();
    header.opaque = reader.u64();
    header.size = reader.u32();
    if (header.protocol != VD_AGENT_PROTOCOL) {
        return unexpected("VDAgent record has protocol " + std::to_string(header.protocol) +
                          " where " + std::to_string(VD_AGENT_PROTOCOL) + " is required.");
    }
    return header;
}

std::vector<uint8_t> encode_record(uint32_t type, std::span<const uint8_t> data, uint64_t opaque) {
    assert(data.size() <= std::numeric_limits<uint32_t>::max());
    ByteWriter out(kRecordHeaderBytes + data.size());
    out.u32(VD_AGENT_PROTOCOL);
    out.u32(type);
    out.u64(opaque);
    out.u32(static_cast<uint32_t>(data.size()));
    out.bytes(data);
    return out.take();
}

// ---- Capabilities ----------------------------------------------------------------------

bool AgentCaps::has(uint32_t cap) const {
    const size_t word = cap / kCapsPerWord;
    return word < words.size() && ((words[word] >> (cap % kCapsPerWord)) & 1u) != 0;
}

void AgentCaps::set(uint32_t cap) {
    assert(cap < kMaxCapsWords * kCapsPerWord);
    if (cap >= kMaxCapsWords * kCapsPerWord) return;  // a bitmap no peer would accept
    const size_t word = cap / kCapsPerWord;
    if (word >= words.size()) words.resize(word + 1, 0);
    words[word] |= 1u << (cap % kCapsPerWord);
}

Parsed<AnnounceCapabilities> parse_announce_capabilities(std::span<const uint8_t> data) {
    constexpr uint32_t kType = AnnounceCapabilities::kType;
    if (data.size() < kCapsFixedBytes) return truncated(kType, data.size(), kCapsFixedBytes);
    const size_t rest = data.size() - kCapsFixedBytes;
    if (rest % kWordBytes != 0) {
        return fail(kType, std::to_string(rest) + " capability bytes are not whole 32-bit words");
    }
    if (rest / kWordBytes > kMaxCapsWords) {
        return fail(kType, "too large, " + std::to_string(rest / kWordBytes) +
                               " capability words where at most " + std::to_string(kMaxCapsWords) +
                               " are accepted");
    }
    ByteReader reader(data);
    AnnounceCapabilities message;
    message.request = reader.u32() != 0;
    message.caps.words.resize(rest / kWordBytes);
    for (auto& word : message.caps.words) word = reader.u32();
    return message;
}

std::vector<uint8_t> build(const AnnounceCapabilities& message) {
    ByteWriter out(kCapsFixedBytes + message.caps.words.size() * kWordBytes);
    out.u32(message.request ? 1 : 0);
    for (const uint32_t word : message.caps.words) out.u32(word);
    return out.take();
}

// ---- Monitors ----------------------------------------------------------------------------

Parsed<MonitorsConfig> parse_monitors_config(std::span<const uint8_t> data) {
    constexpr uint32_t kType = MonitorsConfig::kType;
    if (data.size() < kMonitorsFixedBytes) {
        return truncated(kType, data.size(), kMonitorsFixedBytes);
    }
    ByteReader reader(data);
    const uint32_t count = reader.u32();
    MonitorsConfig message;
    message.flags = reader.u32();
    if (count > kMaxMonitors) {
        return fail(kType, "too large, " + std::to_string(count) + " monitors where at most " +
                               std::to_string(kMaxMonitors) + " are accepted");
    }
    const bool physical = (message.flags & VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE) != 0;
    const size_t need =
        kMonitorsFixedBytes + count * (kMonConfigBytes + (physical ? kMonitorMMBytes : 0));
    if (data.size() < need) return truncated(kType, data.size(), need);

    message.monitors.resize(count);
    for (auto& monitor : message.monitors) {
        monitor.height = reader.u32();  // VDAgentMonConfig: height first
        monitor.width = reader.u32();
        monitor.depth = reader.u32();
        monitor.x = reader.i32();
        monitor.y = reader.i32();
    }
    if (physical) {
        auto& sizes = message.physical_sizes.emplace(count);
        for (auto& size : sizes) {
            size.height = reader.u16();  // VDAgentMonitorMM: height first too
            size.width = reader.u16();
        }
    }
    return message;
}

std::vector<uint8_t> build(const MonitorsConfig& message) {
    const bool physical = (message.flags & VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE) != 0;
    const size_t count = message.monitors.size();
    ByteWriter out(kMonitorsFixedBytes +
                   count * (kMonConfigBytes + (physical ? kMonitorMMBytes : 0)));
    out.u32(static_cast<uint32_t>(count));
    out.u32(message.flags);
    for (const auto& monitor : message.monitors) {
        out.u32(monitor.height);
        out.u32(monitor.width);
        out.u32(monitor.depth);
        out.i32(monitor.x);
        out.i32(monitor.y);
    }
    if (physical) {
        for (size_t i = 0; i < count; ++i) {
            MonitorMM size{};
            if (message.physical_sizes && i < message.physical_sizes->size()) {
                size = (*message.physical_sizes)[i];
            }
            out.u16(size.height);
            out.u16(size.width);
        }
    }
    return out.take();
}

// ---- Small fixed messages ----------------------------------------------------------------

Parsed<Reply> parse_reply(std::span<const uint8_t> data) {
    if (data.size() < kReplyBytes) return truncated(Reply::kType, data.size(), kReplyBytes);
    ByteReader reader(data);
    Reply message;
    message.type = reader.u32();
    message.error = reader.u32();
    return message;
}

std::vector<uint8_t> build(const Reply& message) {
    ByteWriter out(kReplyBytes);
    out.u32(message.type);
    out.u32(message.error);
    return out.take();
}

Parsed<MaxClipboard> parse_max_clipboard(std::span<const uint8_t> data) {
    if (data.size() < kMaxClipboardBytes) {
        return truncated(MaxClipboard::kType, data.size(), kMaxClipboardBytes);
    }
    ByteReader reader(data);
    MaxClipboard message;
    message.max = reader.i32();
    return message;
}

std::vector<uint8_t> build(const MaxClipboard& message) {
    ByteWriter out(kMaxClipboardBytes);
    out.i32(message.max);
    return out.take();
}

Parsed<MouseState> parse_mouse_state(std::span<const uint8_t> data) {
    if (data.size() < kMouseStateBytes) {
        return truncated(MouseState::kType, data.size(), kMouseStateBytes);
    }
    ByteReader reader(data);
    MouseState message;
    message.x = reader.u32();
    message.y = reader.u32();
    message.buttons = reader.u32();
    message.display_id = reader.u8();
    return message;
}

std::vector<uint8_t> build(const MouseState& message) {
    ByteWriter out(kMouseStateBytes);
    out.u32(message.x);
    out.u32(message.y);
    out.u32(message.buttons);
    out.u8(message.display_id);
    return out.take();
}

// ---- Clipboard ---------------------------------------------------------------------------

ClipboardFraming negotiate_clipboard_framing(const AgentCaps& ours, const AgentCaps& theirs) {
    ClipboardFraming framing;
    framing.selection =
        ours.has(VD_AGENT_CAP_CLIPBOARD_SELECTION) && theirs.has(VD_AGENT_CAP_CLIPBOARD_SELECTION);
    framing.grab_serial = ours.has(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL) &&
                          theirs.has(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL);
    return framing;
}

Parsed<ClipboardGrab> parse_clipboard_grab(std::span<const uint8_t> data, ClipboardFraming f) {
    constexpr uint32_t kType = ClipboardGrab::kType;
    const size_t prefix = selection_bytes(f) + (f.grab_serial ? kGrabSerialBytes : 0);
    if (data.size() < prefix) return truncated(kType, data.size(), prefix);
    const size_t rest = data.size() - prefix;
    if (rest % kWordBytes != 0) {
        return fail(kType, std::to_string(rest) + " bytes of types are not whole 32-bit words");
    }
    if (rest / kWordBytes > kMaxClipboardTypes) {
        return fail(kType, "too large, " + std::to_string(rest / kWordBytes) +
                               " types where at most " + std::to_string(kMaxClipboardTypes) +
                               " are accepted");
    }
    ByteReader reader(data);
    ClipboardGrab message;
    auto selection = read_selection(reader, f, kType);
    if (!selection) return unexpected(selection.error());
    message.selection = *selection;
    if (f.grab_serial) message.serial = reader.u32();
    message.types.resize(rest / kWordBytes);
    for (auto& type : message.types) type = reader.u32();
    return message;
}

Parsed<ClipboardRequest> parse_clipboard_request(std::span<const uint8_t> data,
                                                 ClipboardFraming f) {
    constexpr uint32_t kType = ClipboardRequest::kType;
    const size_t need = selection_bytes(f) + sizeof(VDAgentClipboardRequest);
    if (data.size() < need) return truncated(kType, data.size(), need);
    ByteReader reader(data);
    ClipboardRequest message;
    auto selection = read_selection(reader, f, kType);
    if (!selection) return unexpected(selection.error());
    message.selection = *selection;
    message.type = reader.u32();
    return message;
}

Parsed<ClipboardData> parse_clipboard_data(std::span<const uint8_t> data, ClipboardFraming f) {
    constexpr uint32_t kType = ClipboardData::kType;
    const size_t need = selection_bytes(f) + sizeof(VDAgentClipboard);
    if (data.size() < need) return truncated(kType, data.size(), need);
    ByteReader reader(data);
    ClipboardData message;
    auto selection = read_selection(reader, f, kType);
    if (!selection) return unexpected(selection.error());
    message.selection = *selection;
    message.type = reader.u32();
    message.data = reader.rest();
    return message;
}

Parsed<ClipboardRelease> parse_clipboard_release(std::span<const uint8_t> data,
                                                 ClipboardFraming f) {
    constexpr uint32_t kType = ClipboardRelease::kType;
    const size_t need = selection_bytes(f);
    if (data.size() < need) return truncated(kType, data.size(), need);
    ByteReader reader(data);
    ClipboardRelease message;
    auto selection = read_selection(reader, f, kType);
    if (!selection) return unexpected(selection.error());
    message.selection = *selection;
    return message;
}

std::vector<uint8_t> build(const ClipboardGrab& message, ClipboardFraming f) {
    ByteWriter out(selection_bytes(f) + kGrabSerialBytes + message.types.size() * kWordBytes);
    write_selection(out, f, message.selection);
    if (f.grab_serial) out.u32(message.serial);
    for (const uint32_t type : message.types) out.u32(type);
    return out.take();
}

std::vector<uint8_t> build(const ClipboardRequest& message, ClipboardFraming f) {
    ByteWriter out(selection_bytes(f) + sizeof(VDAgentClipboardRequest));
    write_selection(out, f, message.selection);
    out.u32(message.type);
    return out.take();
}

std::vector<uint8_t> build(const ClipboardData& message, ClipboardFraming f) {
    ByteWriter out(selection_bytes(f) + sizeof(VDAgentClipboard) + message.data.size());
    write_selection(out, f, message.selection);
    out.u32(message.type);
    out.bytes(message.data);
    return out.take();
}

std::vector<uint8_t> build(const ClipboardRelease& message, ClipboardFraming f) {
    ByteWriter out(selection_bytes(f));
    write_selection(out, f, message.selection);
    return out.take();
}

// ---- File transfer -----------------------------------------------------------------------

Parsed<FileXferStart> parse_file_xfer_start(std::span<const uint8_t> data) {
    constexpr uint32_t kType = FileXferStart::kType;
    if (data.size() < kXferStartFixedBytes) {
        return truncated(kType, data.size(), kXferStartFixedBytes);
    }
    ByteReader reader(data);
    FileXferStart message;
    message.id = reader.u32();
    const auto text = reader.rest();
    if (text.empty() || text.back() != 0) {
        return fail(kType, "the keyfile text does not end with a NUL");
    }
    const auto body = text.first(text.size() - 1);
    if (std::memchr(body.data(), 0, body.size()) != nullptr) {
        return fail(kType, "the keyfile text holds a NUL before its end");
    }
    message.keyfile.assign(body.begin(), body.end());
    return message;
}

std::vector<uint8_t> build(const FileXferStart& message) {
    ByteWriter out(kXferStartFixedBytes + message.keyfile.size() + 1);
    out.u32(message.id);
    out.bytes(std::string_view(message.keyfile));
    out.u8(0);
    return out.take();
}

Parsed<FileXferInfo> parse_file_xfer_keyfile(std::string_view text) {
    constexpr std::string_view kGroup = "vdagent-file-xfer";
    bool any_group = false;
    bool in_ours = false;
    bool found_ours = false;
    std::optional<std::string_view> raw_name;
    std::optional<std::string_view> raw_size;
    size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // as GKeyFile
        line = chug(line);
        if (line.empty() || line.front() == '#') continue;
        const std::string where = "line " + std::to_string(line_number);
        if (line.front() == '[') {
            const size_t close = line.find(']');
            if (close == std::string_view::npos ||
                line.find_first_not_of(" \t", close + 1) != std::string_view::npos) {
                return keyfile_fail(where + " is a malformed group header");
            }
            any_group = true;
            in_ours = line.substr(1, close - 1) == kGroup;
            found_ours = found_ours || in_ours;
            continue;
        }
        const size_t equals = line.find('=');
        if (equals == std::string_view::npos || equals == 0) {
            return keyfile_fail(where + " is neither a group, a comment nor key=value");
        }
        if (!any_group) return keyfile_fail(where + " holds a key before any group");
        if (!in_ours) continue;
        const std::string_view key = chomp(line.substr(0, equals));
        const std::string_view value = chug(line.substr(equals + 1));
        // GLib keeps the last of repeated keys; a checker and a consumer that disagree on
        // which one counts is how a validated name gets swapped, so repeats are refused.
        if (key == "name") {
            if (raw_name) return keyfile_fail("name= appears twice");
            raw_name = value;
        } else if (key == "size") {
            if (raw_size) return keyfile_fail("size= appears twice");
            raw_size = value;
        }
    }
    if (!found_ours) return keyfile_fail("there is no [vdagent-file-xfer] group");
    if (!raw_name) return keyfile_fail("name= is missing");
    if (!raw_size) return keyfile_fail("size= is missing");

    auto unescaped = unescape_keyfile_value(*raw_name);
    if (!unescaped) return unexpected(unescaped.error());
    auto name = validate_file_name(std::move(unescaped).value());
    if (!name) return unexpected(name.error());
    auto size = parse_decimal_size(*raw_size);
    if (!size) return unexpected(size.error());
    return FileXferInfo{std::move(name).value(), *size};
}

Parsed<FileXferStatus> parse_file_xfer_status(std::span<const uint8_t> data) {
    if (data.size() < kXferStatusFixedBytes) {
        return truncated(FileXferStatus::kType, data.size(), kXferStatusFixedBytes);
    }
    ByteReader reader(data);
    FileXferStatus message;
    message.id = reader.u32();
    message.result = reader.u32();
    message.detail = reader.rest();
    return message;
}

std::vector<uint8_t> build(const FileXferStatus& message) {
    ByteWriter out(kXferStatusFixedBytes + message.detail.size());
    out.u32(message.id);
    out.u32(message.result);
    out.bytes(message.detail);
    return out.take();
}

Parsed<FileXferData> parse_file_xfer_data(std::span<const uint8_t> data) {
    constexpr uint32_t kType = FileXferData::kType;
    if (data.size() < kXferDataFixedBytes) {
        return truncated(kType, data.size(), kXferDataFixedBytes);
    }
    ByteReader reader(data);
    FileXferData message;
    message.id = reader.u32();
    const uint64_t size = reader.u64();
    message.data = reader.rest();
    if (size != message.data.size()) {
        return fail(kType, "announces " + std::to_string(size) + " bytes but " +
                               std::to_string(message.data.size()) + " follow");
    }
    return message;
}

std::vector<uint8_t> build(const FileXferData& message) {
    ByteWriter out(kXferDataFixedBytes + message.data.size());
    out.u32(message.id);
    out.u64(message.data.size());
    out.bytes(message.data);
    return out.take();
}

// ---- Any record --------------------------------------------------------------------------

Parsed<Message> parse_message(uint32_t type, std::span<const uint8_t> data, ClipboardFraming f) {
    switch (type) {
        case VD_AGENT_MOUSE_STATE:
            return as_message(parse_mouse_state(data));
        case VD_AGENT_MONITORS_CONFIG:
            return as_message(parse_monitors_config(data));
        case VD_AGENT_REPLY:
            return as_message(parse_reply(data));
        case VD_AGENT_CLIPBOARD:
            return as_message(parse_clipboard_data(data, f));
        case VD_AGENT_ANNOUNCE_CAPABILITIES:
            return as_message(parse_announce_capabilities(data));
        case VD_AGENT_CLIPBOARD_GRAB:
            return as_message(parse_clipboard_grab(data, f));
        case VD_AGENT_CLIPBOARD_REQUEST:
            return as_message(parse_clipboard_request(data, f));
        case VD_AGENT_CLIPBOARD_RELEASE:
            return as_message(parse_clipboard_release(data, f));
        case VD_AGENT_FILE_XFER_START:
            return as_message(parse_file_xfer_start(data));
        case VD_AGENT_FILE_XFER_STATUS:
            return as_message(parse_file_xfer_status(data));
        case VD_AGENT_FILE_XFER_DATA:
            return as_message(parse_file_xfer_data(data));
        case VD_AGENT_MAX_CLIPBOARD:
            return as_message(parse_max_clipboard(data));
        default:
            return Message(UnknownMessage{type, data});
    }
}

uint32_t message_type(const Message& message) {
    return std::visit(
        [](const auto& m) -> uint32_t {
            if constexpr (std::is_same_v<std::decay_t<decltype(m)>, UnknownMessage>) {
                return m.type;
            } else {
                return std::decay_t<decltype(m)>::kType;
            }
        },
        message);
}

std::vector<uint8_t> build(const Message& message, ClipboardFraming f) {
    return std::visit(
        [f](const auto& m) -> std::vector<uint8_t> {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, UnknownMessage>) {
                return std::vector<uint8_t>(m.data.begin(), m.data.end());
            } else if constexpr (kClipboardFramed<T>) {
                return build(m, f);
            } else {
                return build(m);
            }
        },
        message);
}

}  // namespace spiced::vdagent
