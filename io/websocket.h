// HTTP/1.1 request heads, the RFC 6455 opening handshake and WebSocket framing, as pure
// functions and a byte-fed decoder: no sockets, no files. Connection (io/connection.h) uses
// them so a browser client (spice-html5) can reach the same port as plain SPICE.
//
// Everything here takes untrusted bytes and either succeeds or returns one sentence saying
// what was wrong; nothing here throws or reads past what it was given.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.h"

namespace spiced {

// Largest request head (request line + headers + blank line) we read; browsers send well
// under 2 KiB, and the bound keeps a hostile peer from growing our buffer.
inline constexpr size_t kMaxHttpHead = size_t{8} * 1024;

struct HttpRequest {
    std::string method;   // "GET"
    std::string target;   // as sent: "/spice_auto.html?host=..."
    std::string version;  // "HTTP/1.1" or "HTTP/1.0"
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed

    // The first header called `lower_name`, or nullptr.
    const std::string* header(std::string_view lower_name) const;
    // True when the comma-separated header `lower_name` lists `token` (case-insensitive).
    bool header_has_token(std::string_view lower_name, std::string_view token) const;
};

struct HttpHead {
    size_t size = 0;  // bytes of the head including its blank line; 0 = not complete yet
    HttpRequest request;
};

// Parses the request head at the start of `data`. Incomplete input gives size 0 (feed more);
// malformed input, or no end of head within kMaxHttpHead bytes, gives an error.
Expected<HttpHead, std::string> parse_http_head(std::span<const uint8_t> data);

// A refusal: the status to answer with and why, for the log line.
struct HttpRefusal {
    int status = 400;
    std::string reason;
};

// True when the request asks for a WebSocket (Upgrade: websocket).
bool is_websocket_upgrade(const HttpRequest& request);
// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string websocket_accept(std::string_view key);
// Checks an upgrade request (RFC 6455 4.2.1) and returns the whole 101 response. spice-html5
// asks for the subprotocol "binary"; it is echoed when offered.
Expected<std::string, HttpRefusal> websocket_handshake_response(const HttpRequest& request);

// Whether a browser page from the request's Origin may open this WebSocket. Browsers send
// Origin on every WebSocket upgrade and let any page connect anywhere, so without this check a
// page on any site could drive a session from a user's browser. `allowed` lists origins
// ("https://vdi.example.com"; "*" allows any). With an empty list only same-origin pages are
// allowed (the Origin's host[:port] equals the Host header: the page came from this server,
// e.g. --web-root). Requests without Origin are not from a browser page and are allowed.
bool websocket_origin_allowed(const HttpRequest& request, std::span<const std::string> allowed);

// The request target as a path relative to a web root ("dir/file.js"): query and fragment
// dropped, %XX decoded; "/" becomes "index.html". Refuses "..", ".", empty segments,
// backslashes and NUL, so the result never leaves the root by itself (symlinks are the
// caller's to check).
Expected<std::string, HttpRefusal> static_file_path(std::string_view target);
// Content-Type by extension (.html .js .css .png .svg ...); application/octet-stream else.
std::string_view http_content_type(std::string_view path);
// "HTTP/1.1 200 OK" head with Content-Type/Length and Connection: close.
std::string http_response_head(int status, std::string_view content_type, size_t content_length);
// A complete small error response (text body naming the status).
std::string http_error_response(int status);

enum class WsOpcode : uint8_t {
    kContinuation = 0x0,
    kText = 0x1,
    kBinary = 0x2,
    kClose = 0x8,
    kPing = 0x9,
    kPong = 0xA,
};
using WsMask = std::array<uint8_t, 4>;

// Appends a frame header; with `mask` (client frames) the header carries the key and the
// caller must mask the payload itself. Server frames are unmasked.
void append_ws_frame_header(std::vector<uint8_t>& out, WsOpcode opcode, uint64_t length,
                            bool fin = true, const WsMask* mask = nullptr);
// A whole frame: header and payload (masked with `mask` when given).
std::vector<uint8_t> encode_ws_frame(WsOpcode opcode, std::span<const uint8_t> payload,
                                     bool fin = true, const WsMask* mask = nullptr);
// A close frame with a status code (RFC 6455 7.4.1), unmasked.
std::vector<uint8_t> ws_close_frame(uint16_t code);

// Decodes a client's frames from bytes split anyhow. Binary and continuation payload is
// unmasked straight into the caller's buffer; control frames are answered (ping -> pong,
// close -> close) through `replies`. Protocol violations end the stream: the decoder puts a
// close frame with the matching status into `replies` and reports kFailed with the reason.
class WebSocketDecoder {
public:
    // Largest frame payload accepted; SPICE messages are far smaller (clients send < 64 KiB).
    static constexpr uint64_t kMaxFramePayload = uint64_t{16} << 20;
    enum class State : uint8_t { kOpen, kClosed, kFailed };

    // Consumes all of `input` while kOpen; after a close frame or an error the rest is ignored.
    State feed(std::span<const uint8_t> input, std::vector<uint8_t>& payload,
               std::vector<uint8_t>& replies);
    State state() const { return state_; }
    const std::string& failure() const { return failure_; }
    // The status code of the peer's close frame (1005 "no status" when it carried none).
    uint16_t close_code() const { return close_code_; }

private:
    bool check_first_bytes(std::vector<uint8_t>& replies);
    bool check_header(std::vector<uint8_t>& replies);
    void finish_frame(std::vector<uint8_t>& replies);
    void fail(uint16_t code, std::string why, std::vector<uint8_t>& replies);

    std::array<uint8_t, 14> header_{};  // 2 fixed + up to 8 length + 4 mask bytes
    size_t header_have_ = 0;
    size_t header_need_ = 2;
    bool in_payload_ = false;
    bool fin_ = false;
    uint8_t opcode_ = 0;
    WsMask mask_{};
    uint64_t remaining_ = 0;
    size_t mask_offset_ = 0;
    bool in_message_ = false;  // a fragmented binary message awaits continuation frames
    std::vector<uint8_t> control_;
    State state_ = State::kOpen;
    std::string failure_;
    uint16_t close_code_ = 1005;
};

}  // namespace spiced
