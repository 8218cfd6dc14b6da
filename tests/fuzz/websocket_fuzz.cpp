// libFuzzer: arbitrary bytes into the HTTP request-head parser, the static-path check and the
// WebSocket frame decoder (in arbitrary chunks). Checks the decoder's own promises too.
// Frames start after the request head when the input begins with a complete one (a handshake
// followed by frames, as a client sends them), else at byte 1.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "io/websocket.h"

using namespace spiced;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto head = parse_http_head(std::span(data, size));
    size_t frames_at = 1;
    if (head && head->size > 0) {
        if (head->size > size || head->size > kMaxHttpHead) std::abort();
        if (is_websocket_upgrade(head->request)) {
            (void)websocket_handshake_response(head->request);
        }
        auto path = static_file_path(head->request.target);
        if (path && (path->find("..") == 0 || path->starts_with('/'))) std::abort();
        frames_at = head->size;
    }

    // The first byte picks a chunk size, so partial deliveries are exercised too.
    WebSocketDecoder decoder;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> replies;
    const size_t chunk = size > 0 ? size_t(data[0] % 16) + 1 : 1;
    for (size_t offset = frames_at; offset < size; offset += chunk) {
        const size_t n = std::min(chunk, size - offset);
        decoder.feed(std::span(data + offset, n), payload, replies);
    }
    // Payload never exceeds what came in, and a failure always says why.
    if (payload.size() > size) std::abort();
    if (decoder.state() == WebSocketDecoder::State::kFailed && decoder.failure().empty()) {
        std::abort();
    }
    return 0;
}
