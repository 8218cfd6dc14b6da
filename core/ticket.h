// Ticket authentication: the RSA-1024 key exchange SPICE uses to carry the password, and the
// password policy (value, expiry, or ticketing disabled).
#pragma once

#include <openssl/evp.h>

#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"

namespace spiced {

struct EvpPkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// One link's key pair. The client encrypts its password to public_der() with RSA-OAEP (SHA-1).
class TicketKey {
public:
    static Expected<TicketKey, std::string> generate();
    // SubjectPublicKeyInfo DER, exactly SPICE_TICKET_PUBKEY_BYTES long.
    const std::vector<uint8_t>& public_der() const { return public_der_; }
    // Another handle to the same key pair (for tests and fuzzers; links never share keys).
    TicketKey share() const {
        EVP_PKEY_up_ref(key_.get());
        return TicketKey(EvpPkeyPtr(key_.get()), public_der_);
    }
    // The plaintext password, or an error when the block doesn't decrypt.
    Expected<std::string, std::string> decrypt(std::span<const uint8_t> encrypted) const;

private:
    TicketKey(EvpPkeyPtr key, std::vector<uint8_t> der)
        : key_(std::move(key)), public_der_(std::move(der)) {}
    EvpPkeyPtr key_;
    std::vector<uint8_t> public_der_;
};

// Hands out a fresh key per link (a key is never reused, so a captured ticket can't be
// replayed) from a small pool refilled on worker threads: RSA generation takes milliseconds,
// and a client links four channels at once, so without the pool it would sit on the connect
// path of every channel.
class TicketKeySource {
public:
    // One client's worth of channels (main, display, inputs, cursor) plus one.
    static constexpr size_t kPoolSize = 5;
    TicketKeySource();
    ~TicketKeySource();
    Expected<TicketKey, std::string> take();

private:
    std::deque<std::future<Expected<TicketKey, std::string>>> pool_;
};

// The password policy, as QEMU's -spice options set it.
class TicketPolicy {
public:
    using Clock = std::chrono::steady_clock;
    static TicketPolicy disabled() { return TicketPolicy(); }
    static TicketPolicy password(std::string value, std::optional<Clock::time_point> expiry);

    bool ticketing_enabled() const { return enabled_; }
    // Empty when `offered` may connect at `now`, else the reason it may not.
    std::optional<std::string> check(const std::string& offered, Clock::time_point now) const;

private:
    TicketPolicy() = default;
    bool enabled_ = false;
    std::string password_;
    std::optional<Clock::time_point> expiry_;
};

}  // namespace spiced
