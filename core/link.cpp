#include "core/link.h"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <algorithm>
#include <cstdio>

namespace spiced {

namespace {
constexpr size_t kLinkHeaderSize = 16;
constexpr size_t kLinkMessSize = 18;    // sizeof(SpiceLinkMess), packed
constexpr size_t kLinkReplySize = 178;  // sizeof(SpiceLinkReply), packed
constexpr size_t kEncryptedTicketSize = SPICE_TICKET_KEY_PAIR_LENGTH / 8;
static_assert(sizeof(SpiceLinkHeader) == kLinkHeaderSize);
static_assert(sizeof(SpiceLinkMess) == kLinkMessSize);
static_assert(sizeof(SpiceLinkReply) == kLinkReplySize);

void write_link_header(ByteWriter& out, uint32_t size) {
    out.u32(SPICE_MAGIC);
    out.u32(SPICE_VERSION_MAJOR);
    out.u32(SPICE_VERSION_MINOR);
    out.u32(size);
}
}  // namespace

Capabilities Capabilities::of(std::initializer_list<unsigned> bits) {
    std::vector<uint32_t> words;
    for (unsigned bit : bits) {
        if (words.size() <= bit / 32) words.resize(bit / 32 + 1, 0);
        words[bit / 32] |= 1u << (bit % 32);
    }
    return Capabilities(std::move(words));
}

LinkHandshake::LinkHandshake(Decide decide, TakeKey take_key, const TicketPolicy& policy)
    : decide_(std::move(decide)), take_key_(std::move(take_key)), policy_(policy) {
    expect(Step::kHeader, kLinkHeaderSize);
}

void LinkHandshake::expect(Step step, size_t bytes) {
    step_ = step;
    need_ = bytes;
    buffer_.clear();
}

const char* LinkHandshake::step_name() const {
    switch (step_) {
        case Step::kHeader:
            return "link header";
        case Step::kMessage:
            return "link message";
        case Step::kAwaitKey:
            return "key wait";
        case Step::kAuthMechanism:
            return "auth mechanism";
        case Step::kTicket:
            return "ticket";
        case Step::kDone:
            return "done";
    }
    return "?";
}

size_t LinkHandshake::feed(std::span<const uint8_t> in, ByteWriter& out) {
    size_t used = 0;
    // While waiting for a key nothing is consumed; the client has nothing to say until it
    // gets our reply, and whatever it sends early stays buffered in the connection.
    while (state_ == State::kReading && step_ != Step::kAwaitKey && used < in.size()) {
        size_t take = std::min(need_ - buffer_.size(), in.size() - used);
        if (step_ == Step::kTicket && take > 0) ticket_bytes_seen_ = true;
        buffer_.insert(buffer_.end(), in.begin() + long(used), in.begin() + long(used + take));
        used += take;
        if (buffer_.size() < need_) break;
        switch (step_) {
            case Step::kHeader:
                on_header(out);
                break;
            case Step::kMessage:
                on_message(out);
                break;
            case Step::kAwaitKey:
                break;
            case Step::kAuthMechanism:
                on_auth_mechanism(out);
                break;
            case Step::kTicket:
                on_ticket(out);
                break;
            case Step::kDone:
                break;
        }
    }
    return used;
}

void LinkHandshake::on_header(ByteWriter& out) {
    ByteReader r(buffer_);
    uint32_t magic = r.u32(), major = r.u32(), minor = r.u32();
    message_size_ = r.u32();
    char reason[128];
    if (magic != SPICE_MAGIC) {
        std::snprintf(reason, sizeof reason, "bad magic 0x%08x (not a SPICE client?)", magic);
        return fail_with_reply(out, SPICE_LINK_ERR_INVALID_MAGIC, reason);
    }
    if (major != SPICE_VERSION_MAJOR) {
        std::snprintf(reason, sizeof reason, "unsupported protocol version %u.%u (we speak %d.%d)",
                      major, minor, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR);
        return fail_with_reply(out, SPICE_LINK_ERR_VERSION_MISMATCH, reason);
    }
    if (message_size_ < kLinkMessSize || message_size_ > kMaxLinkMessageSize) {
        std::snprintf(reason, sizeof reason, "link message size %u out of range (%zu..%u)",
                      message_size_, kLinkMessSize, kMaxLinkMessageSize);
        return fail_with_reply(out, SPICE_LINK_ERR_INVALID_DATA, reason);
    }
    expect(Step::kMessage, message_size_);
}

void LinkHandshake::on_message(ByteWriter& out) {
    ByteReader r(buffer_);
    request_.connection_id = r.u32();
    request_.channel_type = r.u8();
    request_.channel_id = r.u8();
    uint32_t common_count = r.u32(), channel_count = r.u32(), caps_offset = r.u32();
    if (common_count > kMaxCapabilityWords || channel_count > kMaxCapabilityWords) {
        return fail_with_reply(out, SPICE_LINK_ERR_INVALID_DATA,
                               "link message announces too many capability words");
    }
    const size_t caps_bytes = (size_t(common_count) + channel_count) * 4;
    if (caps_bytes > 0 && (caps_offset < kLinkMessSize || caps_offset > buffer_.size() ||
                           caps_bytes > buffer_.size() - caps_offset)) {
        return fail_with_reply(out, SPICE_LINK_ERR_INVALID_DATA,
                               "link message capability list lies outside the message");
    }
    r.seek(caps_offset);
    std::vector<uint32_t> common(common_count), channel(channel_count);
    for (auto& word : common) word = r.u32();
    for (auto& word : channel) word = r.u32();
    request_.common_caps = Capabilities(std::move(common));
    request_.channel_caps = Capabilities(std::move(channel));

    decision_ = decide_(request_);
    if (decision_.error != SPICE_LINK_ERR_OK) {
        return fail_with_reply(out, decision_.error, decision_.reason);
    }
    step_ = Step::kAwaitKey;
    buffer_.clear();
    retry_key(out);
}

void LinkHandshake::retry_key(ByteWriter& out) {
    if (step_ != Step::kAwaitKey) return;
    key_ = take_key_();
    if (key_) send_reply(out);
}

std::optional<TicketKey> LinkHandshake::release_unused_key() {
    if (!key_ || ticket_bytes_seen_) return std::nullopt;
    std::optional<TicketKey> key = std::move(key_);
    key_.reset();
    return key;
}

void LinkHandshake::send_reply(ByteWriter& out) {
    const auto& ours_common = decision_.common_caps.words();
    const auto& ours_channel = decision_.channel_caps.words();
    write_link_header(out,
                      uint32_t(kLinkReplySize + 4 * (ours_common.size() + ours_channel.size())));
    out.u32(SPICE_LINK_ERR_OK);
    out.bytes(key_->public_der());
    out.u32(uint32_t(ours_common.size()));
    out.u32(uint32_t(ours_channel.size()));
    out.u32(uint32_t(kLinkReplySize));
    for (uint32_t word : ours_common) out.u32(word);
    for (uint32_t word : ours_channel) out.u32(word);

    mini_header_ = request_.common_caps.has(SPICE_COMMON_CAP_MINI_HEADER) &&
                   decision_.common_caps.has(SPICE_COMMON_CAP_MINI_HEADER);
    if (request_.common_caps.has(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION)) {
        expect(Step::kAuthMechanism, 4);
    } else {
        expect(Step::kTicket, kEncryptedTicketSize);
    }
}

void LinkHandshake::on_auth_mechanism(ByteWriter& out) {
    uint32_t mechanism = ByteReader(buffer_).u32();
    if (mechanism != SPICE_COMMON_CAP_AUTH_SPICE) {
        return fail_with_result(out, SPICE_LINK_ERR_INVALID_DATA,
                                "client asked for auth mechanism " + std::to_string(mechanism) +
                                    " (only SPICE ticket auth is offered; no SASL)");
    }
    expect(Step::kTicket, kEncryptedTicketSize);
}

void LinkHandshake::on_ticket(ByteWriter& out) {
    // The client always sends an encrypted ticket, even an empty one with ticketing disabled.
    auto password = key_->decrypt(buffer_);
    if (!password) {
        return fail_with_result(
            out, SPICE_LINK_ERR_PERMISSION_DENIED,
            "authentication failed: ticket does not decrypt (" + password.error() + ")");
    }
    if (auto refused = policy_.check(*password, TicketPolicy::Clock::now())) {
        return fail_with_result(out, SPICE_LINK_ERR_PERMISSION_DENIED,
                                "authentication failed: " + *refused);
    }
    if (admit_) {
        LinkDecision admitted = admit_();
        if (admitted.error != SPICE_LINK_ERR_OK)
            return fail_with_result(out, admitted.error, std::move(admitted.reason));
    }
    out.u32(SPICE_LINK_ERR_OK);
    step_ = Step::kDone;
    need_ = 0;
    buffer_.clear();
    state_ = State::kLinked;
}

void LinkHandshake::fail_with_reply(ByteWriter& out, uint32_t error, std::string reason) {
    write_link_header(out, uint32_t(kLinkReplySize));
    out.u32(error);
    out.zeros(SPICE_TICKET_PUBKEY_BYTES);
    out.u32(0);
    out.u32(0);
    out.u32(uint32_t(kLinkReplySize));
    state_ = State::kFailed;
    failure_ = std::move(reason);
}

void LinkHandshake::fail_with_result(ByteWriter& out, uint32_t error, std::string reason) {
    out.u32(error);
    state_ = State::kFailed;
    failure_ = std::move(reason);
}

}  // namespace spiced
