#include "io/websocket.h"

#include <cctype>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace spiced {

namespace {

// RFC 6455 1.3: the GUID appended to the client's key before hashing.
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// Header lines in one request; Chromium sends about 15.
constexpr size_t kMaxHeaders = 100;
// Longest method token we take ("OPTIONS" is 7).
constexpr size_t kMaxMethod = 16;
// Control frames carry at most 125 bytes (RFC 6455 5.5).
constexpr uint64_t kMaxControlPayload = 125;

// Close status codes (RFC 6455 7.4.1).
constexpr uint16_t kCloseNormal = 1000;
constexpr uint16_t kCloseProtocolError = 1002;
constexpr uint16_t kCloseUnsupportedData = 1003;
constexpr uint16_t kCloseNoStatus = 1005;
constexpr uint16_t kCloseTooBig = 1009;

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool equals_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// RFC 7230 3.2.6 tchar.
bool is_token_char(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

std::string base64(std::span<const uint8_t> bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                            int(bytes.size()));
    out.resize(size_t(std::max(n, 0)));
    return out;
}

const char* status_text(int status) {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 426:
            return "Upgrade Required";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        default:
            return "Error";
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// XORs `n` bytes of `in` with the mask (starting at key byte `offset % 4`) into `out`, eight
// bytes at a time: the mask repeats every 4 bytes, so an 8-byte word of it works unaligned.
void unmask(uint8_t* out, const uint8_t* in, size_t n, const WsMask& mask, size_t offset) {
    uint8_t rotated[8];
    for (size_t i = 0; i < 8; ++i) rotated[i] = mask[(offset + i) % 4];
    uint64_t word;
    std::memcpy(&word, rotated, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t chunk;
        std::memcpy(&chunk, in + i, 8);
        chunk ^= word;
        std::memcpy(out + i, &chunk, 8);
    }
    for (; i < n; ++i) out[i] = in[i] ^ rotated[i % 8];
}

bool valid_close_code(uint16_t code) {
    // 1004-1006 and 1015 are reserved and must not appear on the wire; 1016-2999 are
    // unassigned; 3000-4999 belong to libraries and applications.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HTTP request heads

const std::string* HttpRequest::header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) return &value;
    }
    return nullptr;
}

bool HttpRequest::header_has_token(std::string_view lower_name, std::string_view token) const {
    // A header may repeat; each occurrence is a comma-separated list (RFC 7230 3.2.2).
    for (const auto& [name, value] : headers) {
        if (name != lower_name) continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            size_t comma = rest.find(',');
            if (equals_nocase(trim(rest.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

Expected<HttpHead, std::string> parse_http_head(std::span<const uint8_t> data) {
    const std::string_view all(reinterpret_cast<const char*>(data.data()), data.size());
    const std::string_view window = all.substr(0, kMaxHttpHead);
    const size_t end = window.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (all.size() >= kMaxHttpHead) {
            return unexpected("request head has no end within " + std::to_string(kMaxHttpHead) +
                              " bytes");
        }
        return HttpHead{};
    }
    HttpHead head;
    head.size = end + 4;
    std::string_view rest = window.substr(0, end + 2);  // every line keeps its CRLF

    auto next_line = [&rest]() -> Expected<std::string_view, std::string> {
        size_t crlf = rest.find("\r\n");
        std::string_view line = rest.substr(0, crlf);
        rest.remove_prefix(crlf + 2);
        for (char c : line) {
            if (c == '\r' || c == '\n') return unexpected(std::string("bare CR or LF in a line"));
            if (c == '\0') return unexpected(std::string("NUL byte in the request head"));
        }
        return line;
    };

    auto first = next_line();
    if (!first) return unexpected(first.error());
    const std::string_view request_line = *first;
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos ||
        request_line.find(' ', sp2 + 1) != std::string_view::npos) {
        return unexpected(std::string("request line is not 'METHOD TARGET VERSION'"));
    }
    const std::string_view method = request_line.substr(0, sp1);
    const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = request_line.substr(sp2 + 1);
    if (method.empty() || method.size() > kMaxMethod ||
        !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        return unexpected(std::string("request method is not an upper-case token"));
    }
    if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        })) {
        return unexpected(std::string("request target is empty or has non-printable bytes"));
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return unexpected(std::string("HTTP version is not HTTP/1.0 or HTTP/1.1"));
    }
    head.request.method = std::string(method);
    head.request.target = std::string(target);
    head.request.version = std::string(version);

    while (!rest.empty()) {
        auto line = next_line();
        if (!line) return unexpected(line.error());
        if (head.request.headers.size() >= kMaxHeaders) {
            return unexpected("more than " + std::to_string(kMaxHeaders) + " header lines");
        }
        if (line->empty() || line->front() == ' ' || line->front() == '\t') {
            // RFC 7230 3.2.4: obsolete line folding must be rejected (or unfolded); we refuse.
            return unexpected(std::string("header line starts with white space (line folding)"));
        }
        const size_t colon = line->find(':');
        if (colon == std::string_view::npos) {
            return unexpected(std::string("header line has no ':'"));
        }
        const std::string_view name = line->substr(0, colon);
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
            return unexpected(std::string("header name is not a token"));
        }
        const std::string_view value = trim(line->substr(colon + 1));
        for (char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                return unexpected(std::string("control character in a header value"));
            }
        }
        std::string lower_name(name);
        std::transform(lower_name.begin(), lower_name.end(), lower_name.begin(), lower);
        head.request.headers.emplace_back(std::move(lower_name), std::string(value));
    }
    return head;
}

// ---------------------------------------------------------------------------------------------
// Opening handshake

bool is_websocket_upgrade(const HttpRequest& request) {
    return request.header_has_token("upgrade", "websocket");
}

std::string websocket_accept(std::string_view key) {
    std::string joined(key);
    joined += kWebSocketGuid;
    std::array<uint8_t, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest.data());
    return base64(digest);
}

Expected<std::string, HttpRefusal> websocket_handshake_response(const HttpRequest& request) {
    auto refuse = [](int status, std::string why) {
        return unexpected(HttpRefusal{status, std::move(why)});
    };
    if (request.method != "GET")
        return refuse(400, "WebSocket upgrade with method " + request.method);
    if (request.version != "HTTP/1.1") return refuse(400, "WebSocket upgrade needs HTTP/1.1");
    if (request.header("host") == nullptr) return refuse(400, "WebSocket upgrade without Host");
    if (!is_websocket_upgrade(request)) return refuse(400, "no 'Upgrade: websocket'");
    if (!request.header_has_token("connection", "upgrade")) {
        return refuse(400, "WebSocket upgrade without 'Connection: Upgrade'");
    }
    const std::string* version = request.header("sec-websocket-version");
    if (version == nullptr || *version != "13") {
        // RFC 6455 4.2.2: answer 426 naming the version we speak.
        return refuse(
            426, "Sec-WebSocket-Version is '" + (version ? *version : std::string()) + "', not 13");
    }
    const std::string* key = request.header("sec-websocket-key");
    // The key is 16 random bytes in base64: 22 characters and "==".
    if (key == nullptr || key->size() != 24 || !key->ends_with("==") ||
        !std::all_of(key->begin(), key->end() - 2, is_base64_char)) {
        return refuse(400, "Sec-WebSocket-Key is missing or not 16 bytes of base64");
    }
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        websocket_accept(*key) + "\r\n";
    if (request.header_has_token("sec-websocket-protocol", "binary")) {
        response += "Sec-WebSocket-Protocol: binary\r\n";
    }
    response += "\r\n";
    return response;
}

// ---------------------------------------------------------------------------------------------
// Static files

Expected<std::string, HttpRefusal> static_file_path(std::string_view target) {
    auto refuse = [](std::string why) { return unexpected(HttpRefusal{404, std::move(why)}); };
    target = target.substr(0, target.find_first_of("?#"));
    if (!target.starts_with('/')) return refuse("target is not an absolute path");
    std::string decoded;
    decoded.reserve(target.size());
    for (size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '%') {
            const int hi = i + 2 < target.size() ? hex_value(target[i + 1]) : -1;
            const int lo = hi >= 0 ? hex_value(target[i + 2]) : -1;
            if (lo < 0) return refuse("bad %-escape in the path");
            c = char(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || c == '\\') return refuse("NUL or backslash in the path");
        decoded += c;
    }
    std::string_view path = std::string_view(decoded).substr(1);
    if (path.empty()) return std::string("index.html");
    // Every segment must name something: "..", "." and "" (a "//") are refused, so the
    // path stays below the root however the file system resolves it.
    std::string_view rest = path;
    while (true) {
        const size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        if (segment.empty() || segment == "." || segment == "..") {
            return refuse("path has an empty, '.' or '..' segment");
        }
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return std::string(path);
}

std::string_view http_content_type(std::string_view path) {
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".png", "image/png"},
        {".svg", "image/svg+xml"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
    };
    for (const auto& [extension, type] : kTypes) {
        if (path.size() > extension.size() && path.ends_with(extension)) return type;
    }
    return "application/octet-stream";
}

std::string http_response_head(int status, std::string_view content_type, size_t content_length) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) + "\r\n";
    head += "Content-Type: ";
    head += content_type;
    head += "\r\nContent-Length: " + std::to_string(content_length) + "\r\n";
    // One request per connection keeps the connection state machine trivial; the browser
    // opens a few more connections for spice-html5's ~30 files, which is cheap on loopback
    // and LAN.
    head += "Connection: close\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n";
    if (status == 426) head += "Sec-WebSocket-Version: 13\r\n";
    head += "\r\n";
    return head;
}

std::string http_error_response(int status) {
    const std::string body = std::to_string(status) + " " + status_text(status) + "\n";
    return http_response_head(status, "text/plain; charset=utf-8", body.size()) + body;
}

// ---------------------------------------------------------------------------------------------
// Frames

void append_ws_frame_header(std::vector<uint8_t>& out, WsOpcode opcode, uint64_t length, bool fin,
                            const WsMask* mask) {
    out.push_back(uint8_t((fin ? 0x80 : 0x00) | uint8_t(opcode)));
    const uint8_t mask_bit = mask != nullptr ? 0x80 : 0x00;
    if (length < 126) {
        out.push_back(uint8_t(mask_bit | length));
    } else if (length <= 0xffff) {
        out.push_back(uint8_t(mask_bit | 126));
        out.push_back(uint8_t(length >> 8));
        out.push_back(uint8_t(length));
    } else {
        out.push_back(uint8_t(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(uint8_t(length >> shift));
    }
    if (mask != nullptr) out.insert(out.end(), mask->begin(), mask->end());
}

std::vector<uint8_t> encode_ws_frame(WsOpcode opcode, std::span<const uint8_t> payload, bool fin,
                                     const WsMask* mask) {
    std::vector<uint8_t> frame;
    frame.reserve(14 + payload.size());
    append_ws_frame_header(frame, opcode, payload.size(), fin, mask);
    const size_t start = frame.size();
    frame.resize(start + payload.size());
    if (mask != nullptr) {
        unmask(frame.data() + start, payload.data(), payload.size(), *mask, 0);
    } else if (!payload.empty()) {
        std::memcpy(frame.data() + start, payload.data(), payload.size());
    }
    return frame;
}

std::vector<uint8_t> ws_close_frame(uint16_t code) {
    const uint8_t body[2] = {uint8_t(code >> 8), uint8_t(code)};
    return encode_ws_frame(WsOpcode::kClose, body);
}

void WebSocketDecoder::fail(uint16_t code, std::string why, std::vector<uint8_t>& replies) {
    state_ = State::kFailed;
    failure_ = std::move(why);
    const auto frame = ws_close_frame(code);
    replies.insert(replies.end(), frame.begin(), frame.end());
}

// Checks what the first two header bytes alone decide, so a bad frame is refused before
// its length or payload arrives.
bool WebSocketDecoder::check_first_bytes(std::vector<uint8_t>& replies) {
    const uint8_t b0 = header_[0];
    const uint8_t b1 = header_[1];
    fin_ = (b0 & 0x80) != 0;
    opcode_ = b0 & 0x0f;
    if ((b0 & 0x70) != 0) {
        fail(kCloseProtocolError, "frame has reserved bits set (no extension was negotiated)",
             replies);
        return false;
    }
    if ((b1 & 0x80) == 0) {
        fail(kCloseProtocolError, "client frame is not masked", replies);
        return false;
    }
    const uint8_t len7 = b1 & 0x7f;
    switch (static_cast<WsOpcode>(opcode_)) {
        case WsOpcode::kText:
            fail(kCloseUnsupportedData, "text frame (SPICE travels in binary frames)", replies);
            return false;
        case WsOpcode::kBinary:
            if (in_message_) {
                fail(kCloseProtocolError, "binary frame inside a fragmented message", replies);
                return false;
            }
            break;
        case WsOpcode::kContinuation:
            if (!in_message_) {
                fail(kCloseProtocolError, "continuation frame without a message to continue",
                     replies);
                return false;
            }
            break;
        case WsOpcode::kClose:
        case WsOpcode::kPing:
        case WsOpcode::kPong:
            if (!fin_ || len7 > kMaxControlPayload) {
                fail(kCloseProtocolError, "control frame fragmented or longer than 125 bytes",
                     replies);
                return false;
            }
            break;
        default:
            fail(kCloseProtocolError, "reserved opcode " + std::to_string(opcode_), replies);
            return false;
    }
    header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return true;
}

bool WebSocketDecoder::check_header(std::vector<uint8_t>& replies) {
    const uint8_t len7 = header_[1] & 0x7f;
    uint64_t length = len7;
    size_t at = 2;
    if (len7 == 126) {
        length = uint64_t(header_[2]) << 8 | header_[3];
        at = 4;
        if (length < 126) {
            fail(kCloseProtocolError, "16-bit length used for a short payload", replies);
            return false;
        }
    } else if (len7 == 127) {
        length = 0;
        for (size_t i = 0; i < 8; ++i) length = length << 8 | header_[2 + i];
        at = 10;
        if (length >> 63 != 0) {
            fail(kCloseProtocolError, "64-bit length has its high bit set", replies);
            return false;
        }
        if (length <= 0xffff) {
            fail(kCloseProtocolError, "64-bit length used for a short payload", replies);
            return false;
        }
    }
    if (length > kMaxFramePayload) {
        fail(kCloseTooBig,
             "frame payload of " + std::to_string(length) + " bytes is over the " +
                 std::to_string(kMaxFramePayload) + "-byte limit",
             replies);
        return false;
    }
    std::copy_n(header_.begin() + long(at), 4, mask_.begin());
    remaining_ = length;
    mask_offset_ = 0;
    if (opcode_ == uint8_t(WsOpcode::kBinary) || opcode_ == uint8_t(WsOpcode::kContinuation)) {
        in_message_ = !fin_;
    } else {
        control_.clear();
    }
    return true;
}

void WebSocketDecoder::finish_frame(std::vector<uint8_t>& replies) {
    in_payload_ = false;
    header_have_ = 0;
    header_need_ = 2;
    switch (static_cast<WsOpcode>(opcode_)) {
        case WsOpcode::kPing: {
            const auto pong = encode_ws_frame(WsOpcode::kPong, control_);
            replies.insert(replies.end(), pong.begin(), pong.end());
            break;
        }
        case WsOpcode::kClose: {
            if (control_.size() == 1) {
                fail(kCloseProtocolError, "close frame with a 1-byte body", replies);
                return;
            }
            uint16_t code = kCloseNoStatus;
            if (control_.size() >= 2) {
                code = uint16_t(control_[0] << 8 | control_[1]);
                if (!valid_close_code(code)) {
                    fail(kCloseProtocolError,
                         "close frame with invalid code " + std::to_string(code), replies);
                    return;
                }
            }
            close_code_ = code;
            state_ = State::kClosed;
            // Answer with the peer's code (RFC 6455 5.5.1), or 1000 when it sent none.
            const auto reply = ws_close_frame(code == kCloseNoStatus ? kCloseNormal : code);
            replies.insert(replies.end(), reply.begin(), reply.end());
            break;
        }
        default:
            break;  // data frames were delivered as they arrived; pongs need no answer
    }
}

WebSocketDecoder::State WebSocketDecoder::feed(std::span<const uint8_t> input,
                                               std::vector<uint8_t>& payload,
                                               std::vector<uint8_t>& replies) {
    size_t pos = 0;
    while (state_ == State::kOpen) {
        if (!in_payload_) {
            while (header_have_ < header_need_ && pos < input.size()) {
                header_[header_have_++] = input[pos++];
                if (header_have_ == 2 && !check_first_bytes(replies)) return state_;
            }
            if (header_have_ < header_need_) break;
            if (!check_header(replies)) return state_;
            in_payload_ = true;
        }
        const size_t take = size_t(std::min<uint64_t>(remaining_, input.size() - pos));
        if (take > 0) {
            std::vector<uint8_t>& into = opcode_ >= uint8_t(WsOpcode::kClose) ? control_ : payload;
            const size_t start = into.size();
            into.resize(start + take);
            unmask(into.data() + start, input.data() + pos, take, mask_, mask_offset_);
            pos += take;
            remaining_ -= take;
            mask_offset_ = (mask_offset_ + take) % 4;
        }
        if (remaining_ > 0) break;  // input exhausted mid-payload
        finish_frame(replies);
    }
    return state_;
}

bool websocket_origin_allowed(const HttpRequest& request, std::span<const std::string> allowed) {
    const std::string* origin = request.header("origin");
    if (origin == nullptr) return true;
    auto same_text = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) ==
                          std::tolower(static_cast<unsigned char>(y));
               });
    };
    if (!allowed.empty()) {
        return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& entry) {
            return entry == "*" || same_text(entry, *origin);
        });
    }
    const std::string* host = request.header("host");
    const size_t scheme_end = origin->find("://");
    if (host == nullptr || scheme_end == std::string::npos) return false;
    return same_text(std::string_view(*origin).substr(scheme_end + 3), *host);
}

}  // namespace spiced
