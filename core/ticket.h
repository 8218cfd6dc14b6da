// Ticket authentication: the RSA-1024 key exchange SPICE uses to carry the password, and the
// password policy (value, expiry, or ticketing disabled).
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/expected.h"
#include "io/mpsc_queue.h"

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
// replayed) from a pool that a worker thread keeps full. RSA generation takes milliseconds,
// so it must never run on the reactor: try_take() never blocks, and a link that finds the
// pool empty waits (without holding up anyone else) until the worker catches up. A flood of
// link attempts therefore costs one core at most and delays only new links.
//
// Ready keys reach the reactor through a lock-free queue, so try_take() takes no lock; the
// worker sleeps on an atomic counter while the pool is full and try_take() wakes it.
class TicketKeySource {
public:
    // A few clients' worth of channels (main, display, inputs, cursor each).
    static constexpr size_t kPoolSize = 12;
    TicketKeySource();
    ~TicketKeySource();
    TicketKeySource(const TicketKeySource&) = delete;
    TicketKeySource& operator=(const TicketKeySource&) = delete;

    // One thread only (its shard's): the pool is a single-consumer queue.
    std::optional<TicketKey> try_take();

private:
    void refill();

    // Rounded up to 16 slots, so the worker's pushes (only while below kPoolSize) never fail.
    MpscQueue<TicketKey> ready_{kPoolSize};
    // Bumped by every successful try_take() and by the destructor; the worker waits for it
    // to change when the pool is full. 32 bits so that waiting is a bare futex on Linux.
    std::atomic<uint32_t> taken_{0};
    std::atomic<bool> stopping_{false};
    std::thread worker_;  // last: it starts in the constructor and uses the members above
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
