// SpiceLinkClient: the client's half of the SPICE link stage, for tests that speak the protocol
// by hand (the embedded-core unit test, the linked-channel fuzz target): the link message out,
// the reply in, the auth mechanism and the password (RSA-OAEP to the reply's key) out, the
// result in. It owns no socket: the caller feeds it what it read and sends what it queued, so
// blocking, poll() loops and libFuzzer harnesses all drive the same code.
#pragma once

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <spice/enums.h>
#include <spice/protocol.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "core/ticket.h"

namespace spiced::test_support {

// `password` and its NUL, RSA-OAEP with SHA-1 (what SPICE clients send) to the link reply's
// SubjectPublicKeyInfo; empty when the key is unusable.
inline std::vector<uint8_t> encrypt_password(std::span<const uint8_t> spki_der,
                                             std::string_view password) {
    const unsigned char* p = spki_der.data();
    const EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, long(spki_der.size())));
    if (!key) return {};
    const std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(
        EVP_PKEY_CTX_new(key.get(), nullptr), EVP_PKEY_CTX_free);
    if (!context || EVP_PKEY_encrypt_init(context.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), EVP_sha1()) <= 0) {
        return {};
    }
    std::string plain(password);
    plain.push_back('\0');
    std::vector<uint8_t> out(SPICE_TICKET_KEY_PAIR_LENGTH / 8);
    size_t length = out.size();
    if (EVP_PKEY_encrypt(context.get(), out.data(), &length,
                         reinterpret_cast<const unsigned char*>(plain.data()), plain.size()) <= 0 ||
        length != out.size()) {
        return {};
    }
    return out;
}

class SpiceLinkClient {
public:
    enum class State { kReplyHeader, kReply, kResult, kLinked, kFailed };

    // Announces auth selection, SPICE auth and the mini header; `channel_caps`, when not 0, is
    // the channel's first capability word.
    SpiceLinkClient(uint8_t channel_type, uint32_t connection_id, uint32_t channel_caps,
                    std::string password)
        : channel_type_(channel_type),
          connection_id_(connection_id),
          channel_caps_(channel_caps),
          password_(std::move(password)) {}

    // Appends the link header and SpiceLinkMess to `out`.
    void start(ByteWriter& out) const {
        ByteWriter mess;
        mess.u32(connection_id_);
        mess.u8(channel_type_);
        mess.u8(0);  // channel id
        mess.u32(1);
        mess.u32(channel_caps_ ? 1u : 0u);
        mess.u32(uint32_t(sizeof(SpiceLinkMess)));
        mess.u32((1u << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION) |
                 (1u << SPICE_COMMON_CAP_AUTH_SPICE) | (1u << SPICE_COMMON_CAP_MINI_HEADER));
        if (channel_caps_) mess.u32(channel_caps_);
        out.u32(SPICE_MAGIC);
        out.u32(SPICE_VERSION_MAJOR);
        out.u32(SPICE_VERSION_MINOR);
        out.u32(uint32_t(mess.size()));
        out.bytes(mess.buffer());
    }

    // Takes the link's bytes from the front of `in` (what follows the result stays there for
    // the channel) and appends the answer to the reply to `out`.
    State take(std::vector<uint8_t>& in, ByteWriter& out) {
        for (;;) {
            switch (state_) {
                case State::kReplyHeader: {
                    if (in.size() < sizeof(SpiceLinkHeader)) return state_;
                    ByteReader r(in);
                    const uint32_t magic = r.u32(), major = r.u32();
                    r.u32();  // minor
                    reply_size_ = r.u32();
                    if (magic != SPICE_MAGIC || major != SPICE_VERSION_MAJOR)
                        return fail("the link reply is not SPICE 2.x");
                    if (reply_size_ < sizeof(SpiceLinkReply) || reply_size_ > 4096)
                        return fail("link reply size " + std::to_string(reply_size_));
                    consume(in, sizeof(SpiceLinkHeader));
                    state_ = State::kReply;
                    break;
                }
                case State::kReply: {
                    if (in.size() < reply_size_) return state_;
                    const std::span<const uint8_t> reply = std::span(in).first(reply_size_);
                    ByteReader r(reply);
                    if (const uint32_t error = r.u32(); error != SPICE_LINK_ERR_OK)
                        return fail("link refused with error " + std::to_string(error));
                    const auto key = r.bytes(SPICE_TICKET_PUBKEY_BYTES);
                    const uint32_t common_words = r.u32();
                    r.u32();  // channel caps words
                    r.seek(r.u32());
                    common_caps_ = common_words > 0 ? r.u32() : 0;
                    if (!r.ok()) return fail("link reply capabilities outside the reply");
                    if (common_caps_ & (1u << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION))
                        out.u32(SPICE_COMMON_CAP_AUTH_SPICE);
                    const auto ticket = encrypt_password(key, password_);
                    if (ticket.empty()) return fail("cannot encrypt to the server's key");
                    out.bytes(ticket);
                    consume(in, reply_size_);
                    state_ = State::kResult;
                    break;
                }
                case State::kResult: {
                    if (in.size() < 4) return state_;
                    if (const uint32_t result = load_u32(in); result != SPICE_LINK_ERR_OK)
                        return fail("link result " + std::to_string(result));
                    consume(in, 4);
                    state_ = State::kLinked;
                    return state_;
                }
                case State::kLinked:
                case State::kFailed:
                    return state_;
            }
        }
    }

    State state() const { return state_; }
    bool mini_header() const { return (common_caps_ >> SPICE_COMMON_CAP_MINI_HEADER) & 1; }
    uint32_t common_caps() const { return common_caps_; }
    const std::string& failure() const { return failure_; }
    const char* state_name() const {
        static const char* const kNames[] = {"link reply header", "link reply", "link result",
                                             "channel messages", "failed"};
        return kNames[int(state_)];
    }

private:
    State fail(std::string why) {
        failure_ = std::move(why);
        state_ = State::kFailed;
        return state_;
    }
    static void consume(std::vector<uint8_t>& in, size_t count) {
        in.erase(in.begin(), in.begin() + std::ptrdiff_t(count));
    }
    static uint32_t load_u32(std::span<const uint8_t> bytes) {
        ByteReader r(bytes);
        return r.u32();
    }

    uint8_t channel_type_;
    uint32_t connection_id_;
    uint32_t channel_caps_;
    std::string password_;
    State state_ = State::kReplyHeader;
    uint32_t reply_size_ = 0;
    uint32_t common_caps_ = 0;
    std::string failure_;
};

}  // namespace spiced::test_support
