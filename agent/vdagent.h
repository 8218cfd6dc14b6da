// The VDAgent protocol's messages (spice-protocol's spice/vd_agent.h), as the SPICE main channel
// carries them between client and server inside AGENT_DATA payloads.
//
// Pure functions, safe from any thread: parse_*() reads a record's data (without its 20-byte
// header) with bounds and range checks and returns one sentence on failure; build() writes
// the data back; encode_record() adds the header. Parsed messages that carry bulk bytes
// (clipboard contents, file chunks) hold spans into the parsed data: they stay valid only
// while that buffer lives. Layouts come from vd_agent.h's packed structs, read and written
// field by field in little-endian order; the structs themselves are never copied.
//
// Messages whose length follows from fixed fields and counts accept trailing bytes (a newer
// peer may append fields, as the reference agents allow); arrays that run to the end of the
// data (capability words, offered clipboard types) must consist of whole words.
#pragma once

#include <spice/vd_agent.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/expected.h"

namespace spiced::vdagent {

template <typename T>
using Parsed = Expected<T, std::string>;

inline constexpr size_t kRecordHeaderBytes = sizeof(VDAgentMessage);
static_assert(kRecordHeaderBytes == 20, "VDAgentMessage is 4+4+8+4 bytes, packed");
// The most bytes one AGENT_DATA message may carry, in either direction.
inline constexpr size_t kMaxPayloadBytes = VD_AGENT_MAX_DATA_SIZE;

// Bounds against hostile counts; each is far above what any real client sends.
inline constexpr size_t kMaxCapsWords = 64;       // 2048 capability bits; 18 exist today
inline constexpr size_t kMaxMonitors = 64;        // spice-gtk sends at most 16
inline constexpr size_t kMaxClipboardTypes = 64;  // 7 types exist today
inline constexpr size_t kMaxFileNameBytes = 255;  // Linux NAME_MAX (bytes)

// "VD_AGENT_CLIPBOARD_GRAB" for a known type, nullptr otherwise (for log lines).
const char* message_type_name(uint32_t type);

// ---- Record header ---------------------------------------------------------------------
struct RecordHeader {
    uint32_t protocol;
    uint32_t type;
    uint64_t opaque;
    uint32_t size;  // data bytes after the header
};
// Reads the first kRecordHeaderBytes of `bytes`; fails when fewer or protocol != VD_AGENT_PROTOCOL.
Parsed<RecordHeader> parse_record_header(std::span<const uint8_t> bytes);
// Header + data, ready to split into AGENT_DATA payloads. data.size() must fit in 32 bits.
std::vector<uint8_t> encode_record(uint32_t type, std::span<const uint8_t> data,
                                   uint64_t opaque = 0);

// ---- Capabilities ----------------------------------------------------------------------
// A capability bitmap in VDAgentAnnounceCapabilities' word order (bit n of word n / 32).
struct AgentCaps {
    std::vector<uint32_t> words;

    bool has(uint32_t cap) const;
    void set(uint32_t cap);  // grows words as needed; cap < kMaxCapsWords * 32
    bool operator==(const AgentCaps&) const = default;
};

struct AnnounceCapabilities {
    static constexpr uint32_t kType = VD_AGENT_ANNOUNCE_CAPABILITIES;
    bool request = false;  // the sender wants our capabilities back
    AgentCaps caps;
};
Parsed<AnnounceCapabilities> parse_announce_capabilities(std::span<const uint8_t> data);
std::vector<uint8_t> build(const AnnounceCapabilities& message);

// ---- Monitors ----------------------------------------------------------------------------
// Field order here is the natural one; on the wire VDAgentMonConfig and VDAgentMonitorMM
// put height before width, and parse/build take care of that.
struct MonConfig {
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t depth = 0;
    int32_t x = 0;
    int32_t y = 0;
    bool operator==(const MonConfig&) const = default;
};
struct MonitorMM {
    uint16_t width = 0;  // millimetres; 0 = unknown or disabled
    uint16_t height = 0;
    bool operator==(const MonitorMM&) const = default;
};
struct MonitorsConfig {
    static constexpr uint32_t kType = VD_AGENT_MONITORS_CONFIG;
    uint32_t flags = 0;  // VD_AGENT_CONFIG_MONITORS_FLAG_*
    std::vector<MonConfig> monitors;
    // Present exactly when flags has VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE; build()
    // writes one entry per monitor (zeros where this holds fewer).
    std::optional<std::vector<MonitorMM>> physical_sizes;
};
Parsed<MonitorsConfig> parse_monitors_config(std::span<const uint8_t> data);
std::vector<uint8_t> build(const MonitorsConfig& message);

// ---- Small fixed messages ----------------------------------------------------------------
struct Reply {
    static constexpr uint32_t kType = VD_AGENT_REPLY;
    uint32_t type = 0;   // the VD_AGENT_* message this answers
    uint32_t error = 0;  // VD_AGENT_SUCCESS or VD_AGENT_ERROR
};
Parsed<Reply> parse_reply(std::span<const uint8_t> data);
std::vector<uint8_t> build(const Reply& message);

struct MaxClipboard {
    static constexpr uint32_t kType = VD_AGENT_MAX_CLIPBOARD;
    int32_t max = -1;  // bytes; negative = no limit (spice-gtk's -1)
};
Parsed<MaxClipboard> parse_max_clipboard(std::span<const uint8_t> data);
std::vector<uint8_t> build(const MaxClipboard& message);

struct MouseState {
    static constexpr uint32_t kType = VD_AGENT_MOUSE_STATE;
    uint32_t x = 0;
    uint32_t y = 0;
    uint32_t buttons = 0;  // VD_AGENT_*BUTTON_MASK
    uint8_t display_id = 0;
};
Parsed<MouseState> parse_mouse_state(std::span<const uint8_t> data);
std::vector<uint8_t> build(const MouseState& message);

// ---- Clipboard ---------------------------------------------------------------------------
// How clipboard messages are framed, decided by capabilities BOTH sides announced.
struct ClipboardFraming {
    bool selection = false;    // VD_AGENT_CAP_CLIPBOARD_SELECTION: u8 selection + 3 reserved
    bool grab_serial = false;  // VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL: GRAB carries a u32 serial
};
ClipboardFraming negotiate_clipboard_framing(const AgentCaps& ours, const AgentCaps& theirs);

// `selection` is a VD_AGENT_CLIPBOARD_SELECTION_* value. Without selection framing only the
// CLIPBOARD selection exists on the wire: parse reports it, build leaves the field out.
struct ClipboardGrab {
    static constexpr uint32_t kType = VD_AGENT_CLIPBOARD_GRAB;
    uint8_t selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
    uint32_t serial = 0;          // only on the wire with grab_serial framing
    std::vector<uint32_t> types;  // VD_AGENT_CLIPBOARD_* offered, at most kMaxClipboardTypes
};
struct ClipboardRequest {
    static constexpr uint32_t kType = VD_AGENT_CLIPBOARD_REQUEST;
    uint8_t selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
    uint32_t type = 0;
};
struct ClipboardData {  // VD_AGENT_CLIPBOARD
    static constexpr uint32_t kType = VD_AGENT_CLIPBOARD;
    uint8_t selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
    uint32_t type = 0;
    std::span<const uint8_t> data;  // a view into the parsed (or to-be-built) bytes
};
struct ClipboardRelease {
    static constexpr uint32_t kType = VD_AGENT_CLIPBOARD_RELEASE;
    uint8_t selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
};
Parsed<ClipboardGrab> parse_clipboard_grab(std::span<const uint8_t> data, ClipboardFraming f);
Parsed<ClipboardRequest> parse_clipboard_request(std::span<const uint8_t> data, ClipboardFraming f);
Parsed<ClipboardData> parse_clipboard_data(std::span<const uint8_t> data, ClipboardFraming f);
Parsed<ClipboardRelease> parse_clipboard_release(std::span<const uint8_t> data, ClipboardFraming f);
std::vector<uint8_t> build(const ClipboardGrab& message, ClipboardFraming f);
std::vector<uint8_t> build(const ClipboardRequest& message, ClipboardFraming f);
std::vector<uint8_t> build(const ClipboardData& message, ClipboardFraming f);
std::vector<uint8_t> build(const ClipboardRelease& message, ClipboardFraming f);

// ---- File transfer (client -> guest) -----------------------------------------------------
struct FileXferStart {
    static constexpr uint32_t kType = VD_AGENT_FILE_XFER_START;
    uint32_t id = 0;
    // GKeyFile text. On the wire it ends with one NUL (spice-gtk sends strlen + 1 bytes);
    // parse requires it and strips it, build appends it.
    std::string keyfile;
};
Parsed<FileXferStart> parse_file_xfer_start(std::span<const uint8_t> data);
std::vector<uint8_t> build(const FileXferStart& message);

// What the keyfile announces. `name` is a bare file name: valid UTF-8, 1..kMaxFileNameBytes
// bytes, not "." or "..", without '/', '\\' (a path separator for Windows guests), NUL or
// other control characters.
struct FileXferInfo {
    std::string name;
    uint64_t size = 0;
};
// Reads spice-gtk's keyfile: a "[vdagent-file-xfer]" group with name= (GKeyFile escapes
// \s \t \n \r \\ undone) and size= (decimal digits only). Stricter than GLib where GLib is
// lenient in a way a hostile client could use: keys outside a group, repeated keys, invalid
// escapes, signs or overflow in size are all errors.
Parsed<FileXferInfo> parse_file_xfer_keyfile(std::string_view text);

struct FileXferStatus {
    static constexpr uint32_t kType = VD_AGENT_FILE_XFER_STATUS;
    uint32_t id = 0;
    uint32_t result = 0;              // VD_AGENT_FILE_XFER_STATUS_*
    std::span<const uint8_t> detail;  // VDAgentFileXferStatus{Error,NotEnoughSpace} or empty
};
Parsed<FileXferStatus> parse_file_xfer_status(std::span<const uint8_t> data);
std::vector<uint8_t> build(const FileXferStatus& message);

// The wire's u64 size must equal the bytes that follow; build writes data.size().
struct FileXferData {
    static constexpr uint32_t kType = VD_AGENT_FILE_XFER_DATA;
    uint32_t id = 0;
    std::span<const uint8_t> data;
};
Parsed<FileXferData> parse_file_xfer_data(std::span<const uint8_t> data);
std::vector<uint8_t> build(const FileXferData& message);

// ---- Any record --------------------------------------------------------------------------
// A type this module does not interpret (DISPLAY_CONFIG, CLIENT_DISCONNECTED,
// AUDIO_VOLUME_SYNC, GRAPHICS_DEVICE_INFO, future ones): callers forward or ignore it.
struct UnknownMessage {
    uint32_t type = 0;
    std::span<const uint8_t> data;
};
using Message = std::variant<AnnounceCapabilities, MonitorsConfig, Reply, MaxClipboard, MouseState,
                             ClipboardGrab, ClipboardRequest, ClipboardData, ClipboardRelease,
                             FileXferStart, FileXferStatus, FileXferData, UnknownMessage>;
// Dispatches on `type`; spans in the result point into `data`.
Parsed<Message> parse_message(uint32_t type, std::span<const uint8_t> data, ClipboardFraming f);
// The record type and data of any message (an UnknownMessage's data is copied as it is).
uint32_t message_type(const Message& message);
std::vector<uint8_t> build(const Message& message, ClipboardFraming f);

}  // namespace spiced::vdagent
