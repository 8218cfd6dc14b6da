// The SPICE link stage as a pure state machine, with no sockets: bytes in, bytes out.
//
//   client: SpiceLinkHeader + SpiceLinkMess + caps     server: header + SpiceLinkReply + caps
//   client: [auth mechanism, if both sides offer AUTH_SELECTION] + RSA-encrypted ticket
//   server: u32 link result                                  -> the channel starts
//
// Every failure ends in the SPICE_LINK_ERR_* the protocol defines for it (sent to the client
// when the protocol allows) and one human-readable reason for the log.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "core/ticket.h"

namespace spiced {

// Capability sets as the wire carries them: bit N of word N/32.
class Capabilities {
public:
    Capabilities() = default;
    explicit Capabilities(std::vector<uint32_t> words) : words_(std::move(words)) {}
    static Capabilities of(std::initializer_list<unsigned> bits);
    bool has(unsigned bit) const {
        return bit / 32 < words_.size() && (words_[bit / 32] >> (bit % 32)) & 1u;
    }
    const std::vector<uint32_t>& words() const { return words_; }

private:
    std::vector<uint32_t> words_;
};

struct LinkRequest {
    uint32_t connection_id = 0;
    uint8_t channel_type = 0;
    uint8_t channel_id = 0;
    Capabilities common_caps;
    Capabilities channel_caps;
};

// What the server answers to a link request: an error, or OK with its own capabilities.
struct LinkDecision {
    uint32_t error = 0;  // SPICE_LINK_ERR_*
    std::string reason;  // for the log when error != OK
    Capabilities common_caps;
    Capabilities channel_caps;
};

class LinkHandshake {
public:
    enum class State { kReading, kLinked, kFailed };
    // Limits from the protocol's own reference behaviour: a link message is at most 4 KiB and
    // carries at most 1024 capability words per set.
    static constexpr uint32_t kMaxLinkMessageSize = 4096;
    static constexpr uint32_t kMaxCapabilityWords = 1024;

    using Decide = std::function<LinkDecision(const LinkRequest&)>;
    // Returns a fresh key, or nothing when none is ready yet (the handshake then waits in
    // awaiting_key() until retry_key() finds one).
    using TakeKey = std::function<std::optional<TicketKey>()>;

    // Called once the ticket checks out, just before the OK result is written: the last word
    // on whether the link completes (a LinkDecision with an error refuses it with that
    // result). Lets the server claim the session's channel before the client can see "OK".
    using Admit = std::function<LinkDecision()>;

    LinkHandshake(Decide decide, TakeKey take_key, const TicketPolicy& policy);
    void set_admit(Admit admit) { admit_ = std::move(admit); }
    void set_take_key(TakeKey take_key) { take_key_ = std::move(take_key); }
    void set_decide(Decide decide) { decide_ = std::move(decide); }

    // Consumes bytes from `in` (returns how many) and appends any reply to `out`. Stops
    // consuming at kLinked: the rest belongs to the channel.
    size_t feed(std::span<const uint8_t> in, ByteWriter& out);

    State state() const { return state_; }
    bool awaiting_key() const { return step_ == Step::kAwaitKey; }
    // Tries again to get a key and, if it comes, sends the link reply.
    void retry_key(ByteWriter& out);
    bool holds_key() const { return key_.has_value(); }
    // The key, when the client never sent a byte of a ticket encrypted to it: no ciphertext
    // under it exists, so another link may use it without a replay being possible. Empty
    // otherwise (a key that saw a ticket is never handed out again).
    std::optional<TicketKey> release_unused_key();
    // Valid once the link message was read.
    const LinkRequest& request() const { return request_; }
    const LinkDecision& decision() const { return decision_; }
    bool mini_header() const { return mini_header_; }
    // Why the link failed (kFailed), for one log line.
    const std::string& failure() const { return failure_; }
    // How many bytes the current step still waits for (for "truncated" diagnostics).
    size_t bytes_expected() const { return need_; }
    size_t bytes_buffered() const { return buffer_.size(); }
    const char* step_name() const;

private:
    enum class Step { kHeader, kMessage, kAwaitKey, kAuthMechanism, kTicket, kDone };

    void on_header(ByteWriter& out);
    void on_message(ByteWriter& out);
    void send_reply(ByteWriter& out);
    void on_auth_mechanism(ByteWriter& out);
    void on_ticket(ByteWriter& out);
    // Before the reply: header + SpiceLinkReply carrying only the error. After: u32 result.
    void fail_with_reply(ByteWriter& out, uint32_t error, std::string reason);
    void fail_with_result(ByteWriter& out, uint32_t error, std::string reason);
    void expect(Step step, size_t bytes);

    Decide decide_;
    TakeKey take_key_;
    Admit admit_;
    const TicketPolicy& policy_;
    State state_ = State::kReading;
    Step step_ = Step::kHeader;
    size_t need_ = 0;
    std::vector<uint8_t> buffer_;
    uint32_t message_size_ = 0;
    LinkRequest request_;
    LinkDecision decision_;
    std::optional<TicketKey> key_;
    bool ticket_bytes_seen_ = false;
    bool mini_header_ = false;
    std::string failure_;
};

}  // namespace spiced
