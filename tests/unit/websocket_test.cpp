#include "io/websocket.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

namespace spiced {
namespace {

std::vector<uint8_t> bytes_of(std::string_view text) {
    return std::vector<uint8_t>(text.begin(), text.end());
}

std::vector<uint8_t> pattern(size_t n) {
    std::vector<uint8_t> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = uint8_t(i * 31 + (i >> 8));
    return out;
}

const WsMask kMask = {0x37, 0xfa, 0x21, 0x3d};

// A client frame: masked, as browsers send them.
std::vector<uint8_t> client_frame(WsOpcode opcode, std::span<const uint8_t> payload,
                                  bool fin = true) {
    return encode_ws_frame(opcode, payload, fin, &kMask);
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

struct Decoded {
    WebSocketDecoder::State state;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> replies;
    std::string failure;
};

// Feeds `wire` in pieces of `piece` bytes (0: all at once).
Decoded decode(const std::vector<uint8_t>& wire, size_t piece = 0) {
    WebSocketDecoder decoder;
    Decoded out{};
    if (piece == 0) piece = std::max<size_t>(wire.size(), 1);
    for (size_t at = 0; at < wire.size(); at += piece) {
        const size_t n = std::min(piece, wire.size() - at);
        decoder.feed(std::span(wire.data() + at, n), out.payload, out.replies);
    }
    out.state = decoder.state();
    out.failure = decoder.failure();
    return out;
}

// The close status code inside an (unmasked) server close frame.
int close_code_of(const std::vector<uint8_t>& frame) {
    if (frame.size() != 4 || frame[0] != 0x88 || frame[1] != 2) return -1;
    return frame[2] << 8 | frame[3];
}

std::string upgrade_request(std::string_view extra = "") {
    return "GET /websockify HTTP/1.1\r\n"
           "Host: 127.0.0.1:5900\r\n"
           "Connection: Upgrade\r\n"
           "Upgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
           std::string(extra) + "\r\n";
}

HttpRequest parse_ok(std::string_view text) {
    auto head = parse_http_head(bytes_of(text));
    EXPECT_TRUE(head.has_value()) << (head ? "" : head.error());
    if (!head) return {};
    EXPECT_EQ(head->size, text.size());
    return head->request;
}

// --- handshake ------------------------------------------------------------------------------

TEST(WebSocketHandshake, AcceptValueMatchesRfc6455Example) {
    // RFC 6455 section 1.3.
    EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketOrigin, SameOriginOrListedOnly) {
    const std::vector<std::string> none;
    const auto from = [](std::string_view origin_line) {
        return parse_ok(upgrade_request(std::string(origin_line)));
    };
    // No Origin: not a browser page.
    EXPECT_TRUE(websocket_origin_allowed(from(""), none));
    // upgrade_request() sends "Host: 127.0.0.1:5900".
    EXPECT_TRUE(websocket_origin_allowed(from("Origin: http://127.0.0.1:5900\r\n"), none));
    EXPECT_TRUE(websocket_origin_allowed(from("Origin: HTTPS://127.0.0.1:5900\r\n"), none));
    EXPECT_FALSE(websocket_origin_allowed(from("Origin: http://evil.example\r\n"), none));
    EXPECT_FALSE(websocket_origin_allowed(from("Origin: null\r\n"), none));
    EXPECT_FALSE(websocket_origin_allowed(from("Origin: http://127.0.0.1:8080\r\n"), none));

    const std::vector<std::string> listed{"https://vdi.example.com"};
    EXPECT_TRUE(websocket_origin_allowed(from("Origin: https://vdi.example.com\r\n"), listed));
    // A list replaces the same-origin default.
    EXPECT_FALSE(websocket_origin_allowed(from("Origin: http://127.0.0.1:5900\r\n"), listed));
    const std::vector<std::string> any{"*"};
    EXPECT_TRUE(websocket_origin_allowed(from("Origin: http://evil.example\r\n"), any));
}

TEST(WebSocketHandshake, ResponseEchoesBinarySubprotocol) {
    auto request = parse_ok(upgrade_request("Sec-WebSocket-Protocol: binary\r\n"));
    ASSERT_TRUE(is_websocket_upgrade(request));
    auto response = websocket_handshake_response(request);
    ASSERT_TRUE(response.has_value()) << response.error().reason;
    EXPECT_TRUE(response->starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    EXPECT_NE(response->find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos);
    EXPECT_NE(response->find("\r\nSec-WebSocket-Protocol: binary\r\n"), std::string::npos);
    EXPECT_NE(response->find("\r\nUpgrade: websocket\r\n"), std::string::npos);
    EXPECT_TRUE(response->ends_with("\r\n\r\n"));
}

TEST(WebSocketHandshake, NoSubprotocolUnlessBinaryIsOffered) {
    auto plain = websocket_handshake_response(parse_ok(upgrade_request()));
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->find("Sec-WebSocket-Protocol"), std::string::npos);
    auto other = websocket_handshake_response(
        parse_ok(upgrade_request("Sec-WebSocket-Protocol: chat, base64\r\n")));
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(other->find("Sec-WebSocket-Protocol"), std::string::npos);
    auto listed = websocket_handshake_response(
        parse_ok(upgrade_request("Sec-WebSocket-Protocol: chat, Binary\r\n")));
    ASSERT_TRUE(listed.has_value());
    EXPECT_NE(listed->find("Sec-WebSocket-Protocol: binary"), std::string::npos);
}

TEST(WebSocketHandshake, TokensAreCaseInsensitiveAndListed) {
    auto request = parse_ok(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n");
    EXPECT_TRUE(websocket_handshake_response(request).has_value());
}

TEST(WebSocketHandshake, RefusesIncompleteRequests) {
    struct Case {
        std::string text;
        int status;
    };
    const std::string base =
        "Host: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
    const Case cases[] = {
        {"GET / HTTP/1.0\r\n" + base + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         400},  // no Host
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         400},                                        // no Connection: Upgrade
        {"GET / HTTP/1.1\r\n" + base + "\r\n", 400},  // no key
        {"GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Key: short==\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Key: dGhlIHNhbXBs*SBub25jZQ==\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         426},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         426},  // no version
    };
    for (const auto& c : cases) {
        auto response = websocket_handshake_response(parse_ok(c.text));
        ASSERT_FALSE(response.has_value()) << c.text;
        EXPECT_EQ(response.error().status, c.status) << c.text;
        EXPECT_FALSE(response.error().reason.empty());
    }
    auto post = parse_ok("POST / HTTP/1.1\r\n" + base +
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    EXPECT_FALSE(websocket_handshake_response(post).has_value());
}

TEST(WebSocketHandshake, UpgradeResponse426NamesVersion) {
    EXPECT_NE(http_error_response(426).find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
}

// --- request heads --------------------------------------------------------------------------

TEST(HttpHead, ParsesRequestLineAndHeaders) {
    auto request = parse_ok(
        "GET /spice_auto.html?host=127.0.0.1&port=5900 HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUser-Agent:  x y \t\r\nX-Empty:\r\nACCEPT: a, b\r\n\r\n");
    EXPECT_EQ(request.method, "GET");
    EXPECT_EQ(request.target, "/spice_auto.html?host=127.0.0.1&port=5900");
    EXPECT_EQ(request.version, "HTTP/1.1");
    ASSERT_EQ(request.headers.size(), 4u);
    ASSERT_NE(request.header("user-agent"), nullptr);
    EXPECT_EQ(*request.header("user-agent"), "x y");
    EXPECT_EQ(*request.header("x-empty"), "");
    EXPECT_TRUE(request.header_has_token("accept", "B"));
    EXPECT_FALSE(request.header_has_token("accept", "c"));
    EXPECT_EQ(request.header("missing"), nullptr);
}

TEST(HttpHead, IncompleteUntilBlankLine) {
    const std::string text = upgrade_request();
    for (size_t n = 0; n < text.size(); ++n) {
        auto head = parse_http_head(bytes_of(text.substr(0, n)));
        ASSERT_TRUE(head.has_value()) << n << ": " << head.error();
        EXPECT_EQ(head->size, 0u) << n;
    }
}

TEST(HttpHead, SizeExcludesFollowingBytes) {
    const std::string text = upgrade_request();
    auto head = parse_http_head(bytes_of(text + "\x82\x85rest"));
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->size, text.size());
}

TEST(HttpHead, HeadOfExactlyTheLimitIsAccepted) {
    std::string text = "GET / HTTP/1.1\r\nX: ";
    text += std::string(kMaxHttpHead - text.size() - 4, 'a') + "\r\n\r\n";
    ASSERT_EQ(text.size(), kMaxHttpHead);
    auto head = parse_http_head(bytes_of(text));
    ASSERT_TRUE(head.has_value()) << head.error();
    EXPECT_EQ(head->size, kMaxHttpHead);
}

TEST(HttpHead, OversizedHeadIsAnError) {
    std::string text = "GET / HTTP/1.1\r\nX: ";
    text += std::string(kMaxHttpHead, 'a');
    auto head = parse_http_head(bytes_of(text));
    ASSERT_FALSE(head.has_value());
    EXPECT_NE(head.error().find("8192"), std::string::npos) << head.error();
    // Also when the end comes, but one byte too late.
    std::string late = "GET / HTTP/1.1\r\nX: ";
    late += std::string(kMaxHttpHead - late.size() - 3, 'a') + "\r\n\r\n";
    ASSERT_EQ(late.size(), kMaxHttpHead + 1);
    EXPECT_FALSE(parse_http_head(bytes_of(late)).has_value());
}

TEST(HttpHead, MalformedHeadsAreErrors) {
    const char* bad[] = {
        "GET /\r\n\r\n",                              // no version
        "GET  / HTTP/1.1\r\n\r\n",                    // double space
        "GET / HTTP/1.1 x\r\n\r\n",                   // extra field
        "get / HTTP/1.1\r\n\r\n",                     // lower-case method
        "GET / HTTP/2.0\r\n\r\n",                     // version
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",          // header without ':'
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",      // space in name
        "GET / HTTP/1.1\r\n: x\r\n\r\n",              // empty name
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",  // obs-fold
        "GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",       // bare LF
        "GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n",       // bare CR
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",         // control character
        "GET /\x7f HTTP/1.1\r\n\r\n",                 // non-printable target
        "\r\n\r\n",                                   // empty request line
        "GETTTTTTTTTTTTTTTTTTTT / HTTP/1.1\r\n\r\n",  // method too long
    };
    for (const char* text : bad) {
        auto head = parse_http_head(bytes_of(text));
        EXPECT_FALSE(head.has_value()) << text;
        if (!head) {
            EXPECT_FALSE(head.error().empty());
        }
    }
    const std::string nul("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24);
    EXPECT_FALSE(parse_http_head(bytes_of(nul)).has_value());
}

TEST(HttpHead, TooManyHeaderLinesIsAnError) {
    std::string text = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 101; ++i) text += "A: b\r\n";
    text += "\r\n";
    EXPECT_FALSE(parse_http_head(bytes_of(text)).has_value());
}

// --- static file paths ----------------------------------------------------------------------

TEST(StaticFiles, PathsStayBelowTheRoot) {
    EXPECT_EQ(*static_file_path("/spice_auto.html?host=a&port=1"), "spice_auto.html");
    EXPECT_EQ(*static_file_path("/thirdparty/jsbn.js#x"), "thirdparty/jsbn.js");
    EXPECT_EQ(*static_file_path("/"), "index.html");
    EXPECT_EQ(*static_file_path("/a%20b.js"), "a b.js");
    const char* refused[] = {"/../etc/passwd",
                             "/a/../../b",
                             "/..",
                             "/%2e%2e/etc/passwd",
                             "/a/%2E%2E/b",
                             "/./a",
                             "//etc/passwd",
                             "/a//b",
                             "/a/",
                             "etc/passwd",
                             "http://x/a",
                             "/a%00b",
                             "/a%5c..%5cb",
                             "/a\\b",
                             "/%zz",
                             "/%4"};
    for (const char* target : refused) {
        auto path = static_file_path(target);
        EXPECT_FALSE(path.has_value()) << target << " -> " << (path ? *path : "");
        if (!path) {
            EXPECT_EQ(path.error().status, 404);
        }
    }
}

TEST(StaticFiles, ContentTypes) {
    EXPECT_EQ(http_content_type("a/spice_auto.html"), "text/html; charset=utf-8");
    EXPECT_EQ(http_content_type("main.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(http_content_type("spice.css"), "text/css; charset=utf-8");
    EXPECT_EQ(http_content_type("x.png"), "image/png");
    EXPECT_EQ(http_content_type("x.svg"), "image/svg+xml");
    EXPECT_EQ(http_content_type("README"), "application/octet-stream");
    EXPECT_EQ(http_content_type(".js"), "application/octet-stream");
}

TEST(StaticFiles, ResponseHeads) {
    const std::string head = http_response_head(200, "text/html", 42);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(head.find("\r\nContent-Length: 42\r\n"), std::string::npos);
    EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_TRUE(head.ends_with("\r\n\r\n"));
    const std::string error = http_error_response(404);
    EXPECT_TRUE(error.starts_with("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_TRUE(error.ends_with("\r\n\r\n404 Not Found\n"));
}

// --- frames ---------------------------------------------------------------------------------

TEST(WebSocketFrames, ServerHeaderLengthClasses) {
    struct Case {
        uint64_t length;
        std::vector<uint8_t> header;
    };
    const Case cases[] = {
        {0, {0x82, 0}},
        {125, {0x82, 125}},
        {126, {0x82, 126, 0, 126}},
        {65535, {0x82, 126, 0xff, 0xff}},
        {65536, {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
        {uint64_t{1} << 40, {0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0}},
    };
    for (const auto& c : cases) {
        std::vector<uint8_t> header;
        append_ws_frame_header(header, WsOpcode::kBinary, c.length);
        EXPECT_EQ(header, c.header) << c.length;
    }
    std::vector<uint8_t> fragment;
    append_ws_frame_header(fragment, WsOpcode::kContinuation, 3, /*fin=*/false, &kMask);
    EXPECT_EQ(fragment, (std::vector<uint8_t>{0x00, 0x83, 0x37, 0xfa, 0x21, 0x3d}));
}

TEST(WebSocketFrames, EveryLengthClassRoundTripsInAnyPieces) {
    for (size_t length : {size_t{0}, size_t{1}, size_t{7}, size_t{125}, size_t{126}, size_t{127},
                          size_t{65535}, size_t{65536}, size_t{200000}}) {
        const auto payload = pattern(length);
        const auto wire = client_frame(WsOpcode::kBinary, payload);
        for (size_t piece : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}}) {
            if (piece == 1 && length > 70000) continue;  // byte-at-a-time is covered below
            auto out = decode(wire, piece);
            ASSERT_EQ(out.state, WebSocketDecoder::State::kOpen) << length << " " << out.failure;
            EXPECT_EQ(out.payload, payload) << length << " piece " << piece;
            EXPECT_TRUE(out.replies.empty());
        }
    }
}

TEST(WebSocketFrames, ServerFramesAreUnmaskedBinary) {
    const auto payload = pattern(300);
    const auto frame = encode_ws_frame(WsOpcode::kBinary, payload);
    ASSERT_EQ(frame.size(), 4u + 300u);
    EXPECT_EQ(frame[0], 0x82);
    EXPECT_EQ(frame[1], 126);
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + 4));
}

TEST(WebSocketFrames, FragmentedMessageWithInterleavedPing) {
    const auto a = pattern(10);
    const auto b = pattern(20);
    const auto c = pattern(5);
    const std::vector<uint8_t> ping_body = {'h', 'i'};
    const auto wire = concat(
        {client_frame(WsOpcode::kBinary, a, false), client_frame(WsOpcode::kContinuation, b, false),
         client_frame(WsOpcode::kPing, ping_body), client_frame(WsOpcode::kContinuation, c, true),
         client_frame(WsOpcode::kBinary, {}, true), client_frame(WsOpcode::kBinary, a, true)});
    for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{5}}) {
        auto out = decode(wire, piece);
        ASSERT_EQ(out.state, WebSocketDecoder::State::kOpen) << out.failure;
        EXPECT_EQ(out.payload, concat({a, b, c, a}));
        EXPECT_EQ(out.replies, encode_ws_frame(WsOpcode::kPong, ping_body));
    }
}

TEST(WebSocketFrames, PingGetsPongWithSamePayloadAndPongIsIgnored) {
    const auto body = pattern(125);
    auto out =
        decode(concat({client_frame(WsOpcode::kPing, body), client_frame(WsOpcode::kPong, body),
                       client_frame(WsOpcode::kPing, {})}),
               1);
    ASSERT_EQ(out.state, WebSocketDecoder::State::kOpen);
    EXPECT_TRUE(out.payload.empty());
    EXPECT_EQ(out.replies, concat({encode_ws_frame(WsOpcode::kPong, body),
                                   encode_ws_frame(WsOpcode::kPong, {})}));
}

TEST(WebSocketFrames, CloseIsAnsweredAndEndsTheStream) {
    const std::vector<uint8_t> going_away = {0x03, 0xe9, 'b', 'y', 'e'};  // 1001 "bye"
    const auto data = pattern(9);
    WebSocketDecoder decoder;
    std::vector<uint8_t> payload, replies;
    const auto wire =
        concat({client_frame(WsOpcode::kBinary, data), client_frame(WsOpcode::kClose, going_away),
                client_frame(WsOpcode::kBinary, data)});
    EXPECT_EQ(decoder.feed(wire, payload, replies), WebSocketDecoder::State::kClosed);
    EXPECT_EQ(payload, data);  // data before the close is delivered, data after it is not
    EXPECT_EQ(decoder.close_code(), 1001);
    EXPECT_EQ(close_code_of(replies), 1001);
    EXPECT_EQ(decoder.feed(wire, payload, replies), WebSocketDecoder::State::kClosed);
    EXPECT_EQ(payload, data);

    auto empty = decode(client_frame(WsOpcode::kClose, {}));
    EXPECT_EQ(empty.state, WebSocketDecoder::State::kClosed);
    EXPECT_EQ(close_code_of(empty.replies), 1000);
}

struct Malformed {
    const char* name;
    std::vector<uint8_t> wire;
    int close_code;
};

std::vector<Malformed> malformed_cases() {
    const auto small = pattern(4);
    std::vector<Malformed> cases;
    auto unmasked = encode_ws_frame(WsOpcode::kBinary, small);
    cases.push_back({"unmasked", unmasked, 1002});
    cases.push_back({"text", client_frame(WsOpcode::kText, bytes_of("hi")), 1003});
    for (uint8_t rsv : {0x40, 0x20, 0x10}) {
        auto frame = client_frame(WsOpcode::kBinary, small);
        frame[0] |= rsv;
        cases.push_back({"reserved bit", frame, 1002});
    }
    for (uint8_t opcode : {3, 7, 0xb, 0xf}) {
        auto frame = client_frame(WsOpcode::kBinary, small);
        frame[0] = uint8_t(0x80 | opcode);
        cases.push_back({"reserved opcode", frame, 1002});
    }
    cases.push_back({"lone continuation", client_frame(WsOpcode::kContinuation, small), 1002});
    cases.push_back({"binary inside fragmented message",
                     concat({client_frame(WsOpcode::kBinary, small, false),
                             client_frame(WsOpcode::kBinary, small)}),
                     1002});
    cases.push_back({"fragmented ping", client_frame(WsOpcode::kPing, small, false), 1002});
    cases.push_back({"ping over 125", client_frame(WsOpcode::kPing, pattern(126)), 1002});
    cases.push_back({"close over 125", client_frame(WsOpcode::kClose, pattern(200)), 1002});
    cases.push_back(
        {"close with 1-byte body", client_frame(WsOpcode::kClose, std::vector<uint8_t>{3}), 1002});
    for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2000, 5000}) {
        const std::vector<uint8_t> body = {uint8_t(code >> 8), uint8_t(code)};
        cases.push_back({"close with invalid code", client_frame(WsOpcode::kClose, body), 1002});
    }
    // Lengths: 64-bit with the high bit set, over the limit, and non-minimal encodings.
    cases.push_back({"64-bit high bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 1002});
    cases.push_back({"over 16 MiB", {0x82, 0xff, 0, 0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 4}, 1009});
    cases.push_back({"16-bit length under 126", {0x82, 0xfe, 0, 5, 1, 2, 3, 4}, 1002});
    cases.push_back(
        {"64-bit length under 65536", {0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4}, 1002});
    return cases;
}

TEST(WebSocketFrames, EveryMalformedFrameIsAnErrorInAnyPieces) {
    for (const auto& c : malformed_cases()) {
        for (size_t piece : {size_t{0}, size_t{1}}) {
            auto out = decode(c.wire, piece);
            EXPECT_EQ(out.state, WebSocketDecoder::State::kFailed) << c.name;
            EXPECT_FALSE(out.failure.empty()) << c.name;
            EXPECT_EQ(close_code_of(out.replies), c.close_code) << c.name;
        }
    }
}

TEST(WebSocketFrames, ErrorStopsDecodingEvenWithGoodFramesAfter) {
    const auto good = client_frame(WsOpcode::kBinary, pattern(3));
    auto out = decode(concat({good, encode_ws_frame(WsOpcode::kBinary, pattern(3)), good}));
    EXPECT_EQ(out.state, WebSocketDecoder::State::kFailed);
    EXPECT_EQ(out.payload, pattern(3));
}

TEST(WebSocketFrames, LimitIsAcceptedExactly) {
    // A header announcing exactly kMaxFramePayload is fine (the payload may follow later).
    std::vector<uint8_t> header;
    append_ws_frame_header(header, WsOpcode::kBinary, WebSocketDecoder::kMaxFramePayload, true,
                           &kMask);
    auto out = decode(header);
    EXPECT_EQ(out.state, WebSocketDecoder::State::kOpen) << out.failure;
    header.clear();
    append_ws_frame_header(header, WsOpcode::kBinary, WebSocketDecoder::kMaxFramePayload + 1, true,
                           &kMask);
    EXPECT_EQ(decode(header).state, WebSocketDecoder::State::kFailed);
}

}  // namespace
}  // namespace spiced
