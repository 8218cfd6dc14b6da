// The link stage against a client written here with OpenSSL: the happy path, byte-at-a-time
// delivery, and each SPICE_LINK_ERR_* the protocol defines for bad input.
#include "core/link.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <spice/enums.h>
#include <spice/protocol.h>

namespace spiced {
namespace {

std::vector<uint8_t> link_bytes(uint32_t magic, uint32_t major, uint8_t channel_type,
                                std::vector<uint32_t> common_caps, uint32_t size_override = 0) {
    ByteWriter mess;
    mess.u32(0);  // connection id
    mess.u8(channel_type);
    mess.u8(0);
    mess.u32(uint32_t(common_caps.size()));
    mess.u32(0);
    mess.u32(18);
    for (uint32_t word : common_caps) mess.u32(word);
    ByteWriter out;
    out.u32(magic);
    out.u32(major);
    out.u32(2);
    out.u32(size_override ? size_override : uint32_t(mess.size()));
    out.bytes(mess.buffer());
    return out.take();
}

std::vector<uint8_t> encrypt_ticket(std::span<const uint8_t> der, const std::string& password) {
    const unsigned char* p = der.data();
    EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, long(der.size())));
    EXPECT_TRUE(key);
    std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(EVP_PKEY_CTX_new(key.get(), nullptr),
                                                               EVP_PKEY_CTX_free);
    EVP_PKEY_encrypt_init(ctx.get());
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING);
    std::vector<uint8_t> out(128);
    size_t length = out.size();
    EXPECT_GT(EVP_PKEY_encrypt(ctx.get(), out.data(), &length,
                               reinterpret_cast<const unsigned char*>(password.c_str()),
                               password.size() + 1),
              0);
    return out;
}

struct Harness {
    TicketPolicy policy = TicketPolicy::password("s3cret", std::nullopt);
    LinkHandshake handshake{[](const LinkRequest& request) {
                                LinkDecision d;
                                d.common_caps = Capabilities::of(
                                    {SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION,
                                     SPICE_COMMON_CAP_AUTH_SPICE, SPICE_COMMON_CAP_MINI_HEADER});
                                if (request.channel_type > SPICE_CHANNEL_CURSOR) {
                                    d.error = SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE;
                                    d.reason = "unknown channel type";
                                }
                                return d;
                            },
                            [this]() -> std::optional<TicketKey> {
                                if (keys_withheld > 0) {
                                    --keys_withheld;
                                    return std::nullopt;
                                }
                                return *TicketKey::generate();
                            },
                            policy};
    int keys_withheld = 0;  // read by the lambda only during feed(), after construction
    ByteWriter out;

    void feed(std::span<const uint8_t> bytes, bool one_at_a_time = false) {
        if (!one_at_a_time) {
            handshake.feed(bytes, out);
            return;
        }
        for (uint8_t b : bytes) handshake.feed(std::span(&b, 1), out);
    }
    uint32_t reply_error() const { return load_u32_le(out.buffer().data() + 16); }
};

constexpr uint32_t kAuthCaps = (1u << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION) |
                               (1u << SPICE_COMMON_CAP_AUTH_SPICE) |
                               (1u << SPICE_COMMON_CAP_MINI_HEADER);

void run_full_link(bool one_at_a_time, const std::string& password, uint32_t want_result,
                   uint32_t admit_error = SPICE_LINK_ERR_OK) {
    Harness h;
    int admit_calls = 0;
    h.handshake.set_admit([&] {
        ++admit_calls;
        LinkDecision admitted;
        admitted.error = admit_error;
        admitted.reason = "session gone";
        return admitted;
    });
    h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {kAuthCaps}), one_at_a_time);
    ASSERT_EQ(h.handshake.state(), LinkHandshake::State::kReading);
    ASSERT_EQ(h.out.size(), 16u + 178u + 4u);
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_OK));
    EXPECT_TRUE(h.handshake.mini_header());
    std::vector<uint8_t> der(h.out.buffer().begin() + 20, h.out.buffer().begin() + 20 + 162);
    h.out.buffer().clear();
    const std::vector<uint8_t> ticket = encrypt_ticket(der, password);
    std::vector<uint8_t> rest(4 + ticket.size());
    rest[0] = SPICE_COMMON_CAP_AUTH_SPICE;
    std::copy(ticket.begin(), ticket.end(), rest.begin() + 4);
    h.feed(rest, one_at_a_time);
    ASSERT_EQ(h.out.size(), 4u);
    EXPECT_EQ(load_u32_le(h.out.buffer().data()), want_result);
    EXPECT_EQ(h.handshake.state(), want_result == SPICE_LINK_ERR_OK
                                       ? LinkHandshake::State::kLinked
                                       : LinkHandshake::State::kFailed);
    // Admission is asked only once the ticket checked out, and only then.
    EXPECT_EQ(admit_calls, password == "s3cret" ? 1 : 0);
    if (admit_error != SPICE_LINK_ERR_OK) {
        EXPECT_EQ(h.handshake.failure(), "session gone");
    }
}

TEST(Link, RightPasswordLinks) {
    run_full_link(false, "s3cret", SPICE_LINK_ERR_OK);
}
TEST(Link, ByteAtATime) {
    run_full_link(true, "s3cret", SPICE_LINK_ERR_OK);
}
TEST(Link, RefusedAdmissionIsTheLinkResult) {
    run_full_link(false, "s3cret", SPICE_LINK_ERR_BAD_CONNECTION_ID,
                  SPICE_LINK_ERR_BAD_CONNECTION_ID);
}
TEST(Link, WrongPasswordIsPermissionDenied) {
    run_full_link(false, "guess", SPICE_LINK_ERR_PERMISSION_DENIED);
}

TEST(Link, BadMagic) {
    Harness h;
    h.feed(link_bytes(0x54544547, 2, SPICE_CHANNEL_MAIN, {}));  // "GETT": an HTTP client
    EXPECT_EQ(h.handshake.state(), LinkHandshake::State::kFailed);
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_INVALID_MAGIC));
    EXPECT_NE(h.handshake.failure().find("bad magic"), std::string::npos);
}

TEST(Link, VersionMismatch) {
    Harness h;
    h.feed(link_bytes(SPICE_MAGIC, 3, SPICE_CHANNEL_MAIN, {}));
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_VERSION_MISMATCH));
}

TEST(Link, HugeAndTinySizes) {
    for (uint32_t size : {0x7fffffffu, 4097u, 17u}) {
        Harness h;
        h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {}, size));
        EXPECT_EQ(h.handshake.state(), LinkHandshake::State::kFailed) << size;
        EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_INVALID_DATA)) << size;
    }
}

TEST(Link, CapabilitiesOutsideTheMessage) {
    auto bytes = link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {kAuthCaps});
    bytes[16 + 6] = 200;  // num_common_caps = 200 words, far beyond the message
    Harness h;
    h.feed(bytes);
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
    bytes[16 + 6] = 1;
    bytes[16 + 14] = 2;  // caps_offset = 2, inside the fixed part
    Harness h2;
    h2.feed(bytes);
    EXPECT_EQ(h2.reply_error(), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
}

TEST(Link, UnknownChannelType) {
    Harness h;
    h.feed(link_bytes(SPICE_MAGIC, 2, 200, {kAuthCaps}));
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE));
}

TEST(Link, WaitsForAKeyWithoutConsumingAndThenReplies) {
    Harness h;
    h.keys_withheld = 2;
    auto bytes = link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {kAuthCaps});
    EXPECT_EQ(h.handshake.feed(bytes, h.out), bytes.size());
    EXPECT_TRUE(h.handshake.awaiting_key());
    EXPECT_EQ(h.out.size(), 0u);
    const uint8_t early[] = {1, 0, 0, 0};
    EXPECT_EQ(h.handshake.feed(early, h.out), 0u);  // not consumed while waiting
    h.handshake.retry_key(h.out);
    EXPECT_TRUE(h.handshake.awaiting_key());
    h.handshake.retry_key(h.out);
    EXPECT_FALSE(h.handshake.awaiting_key());
    EXPECT_EQ(h.reply_error(), uint32_t(SPICE_LINK_ERR_OK));
    EXPECT_EQ(h.handshake.feed(early, h.out), 4u);
}

// A link that never sent a byte of its ticket gives its key back for another link; one that
// did never does (a ciphertext under that key exists: reusing it would allow a replay).
TEST(Link, OnlyAKeyThatSawNoTicketIsReleased) {
    {
        Harness h;
        EXPECT_FALSE(h.handshake.release_unused_key().has_value());  // no key yet
        h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {kAuthCaps}));
        ASSERT_TRUE(h.handshake.holds_key());
        const uint8_t mechanism[] = {SPICE_COMMON_CAP_AUTH_SPICE, 0, 0, 0};
        h.feed(mechanism);
        auto key = h.handshake.release_unused_key();
        ASSERT_TRUE(key.has_value());
        EXPECT_EQ(key->public_der().size(), 162u);
        EXPECT_FALSE(h.handshake.holds_key());
        EXPECT_FALSE(h.handshake.release_unused_key().has_value());  // once
    }
    {
        Harness h;
        h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {}));
        const uint8_t first_ticket_byte[] = {0x42};
        h.feed(first_ticket_byte);
        EXPECT_FALSE(h.handshake.release_unused_key().has_value());
    }
}

TEST(Link, SaslIsRefused) {
    Harness h;
    h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {kAuthCaps}));
    h.out.buffer().clear();
    ByteWriter mechanism;
    mechanism.u32(SPICE_COMMON_CAP_AUTH_SASL);
    h.feed(mechanism.buffer());
    EXPECT_EQ(h.handshake.state(), LinkHandshake::State::kFailed);
    EXPECT_EQ(load_u32_le(h.out.buffer().data()), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
}

TEST(Link, GarbageTicketIsPermissionDenied) {
    Harness h;
    h.feed(link_bytes(SPICE_MAGIC, 2, SPICE_CHANNEL_MAIN, {}));  // no auth selection
    h.out.buffer().clear();
    std::vector<uint8_t> garbage(128, 0x5a);
    h.feed(garbage);
    EXPECT_EQ(load_u32_le(h.out.buffer().data()), uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
}

// spice-html5 drops the ciphertext's leading zero bytes and pads at the end instead; such a
// ticket must still decrypt (and a real garbage ticket must not).
TEST(TicketKey, AcceptsSpiceHtml5ShiftedCiphertext) {
    auto key = TicketKey::generate();
    ASSERT_TRUE(key.has_value()) << key.error();
    int shifted_cases = 0;
    for (int attempt = 0; attempt < 5000 && shifted_cases < 2; ++attempt) {
        std::vector<uint8_t> ticket = encrypt_ticket(key->public_der(), "secret");
        if (ticket.empty() || ticket[0] != 0) continue;  // only ~1 in 256 starts with zero
        std::vector<uint8_t> as_html5(ticket.begin() + 1, ticket.end());
        as_html5.push_back(0);
        auto password = key->decrypt(as_html5);
        ASSERT_TRUE(password.has_value()) << password.error();
        EXPECT_EQ(*password, "secret");
        ++shifted_cases;
    }
    EXPECT_EQ(shifted_cases, 2);
    std::vector<uint8_t> garbage(128, 0x5a);
    garbage.back() = 0;
    EXPECT_FALSE(key->decrypt(garbage).has_value());
}

TEST(TicketPolicy, Expiry) {
    auto now = TicketPolicy::Clock::now();
    auto policy = TicketPolicy::password("pw", now + std::chrono::seconds(5));
    EXPECT_FALSE(policy.check("pw", now).has_value());
    EXPECT_TRUE(policy.check("pw", now + std::chrono::seconds(6)).has_value());
    EXPECT_TRUE(policy.check("pwx", now).has_value());
    EXPECT_TRUE(policy.check("", now).has_value());
    EXPECT_FALSE(TicketPolicy::disabled().check("anything", now).has_value());
}

}  // namespace
}  // namespace spiced
