// libFuzzer: arbitrary bytes, in arbitrary chunks, into the link stage.
#include <spice/enums.h>
#include <spice/protocol.h>

#include <cstddef>
#include <cstdint>

#include "core/link.h"

using namespace spiced;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const TicketKey key = *TicketKey::generate();
    static const TicketPolicy policy = TicketPolicy::password("pw", std::nullopt);
    LinkHandshake handshake(
        [](const LinkRequest& request) {
            LinkDecision decision;
            decision.common_caps = Capabilities::of(
                {SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION, SPICE_COMMON_CAP_MINI_HEADER});
            if (request.channel_type != SPICE_CHANNEL_MAIN)
                decision.error = SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE;
            return decision;
        },
        [] { return std::optional<TicketKey>(key.share()); }, policy);
    ByteWriter out;
    // The first byte picks a chunk size, so partial deliveries are exercised too.
    size_t chunk = size > 0 ? size_t(data[0] % 32) + 1 : 1;
    for (size_t offset = 1; offset < size && handshake.state() == LinkHandshake::State::kReading;
         offset += chunk) {
        size_t n = std::min(chunk, size - offset);
        handshake.feed(std::span(data + offset, n), out);
    }
    return 0;
}
