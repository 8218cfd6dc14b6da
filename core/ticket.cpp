#include "core/ticket.h"

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <spice/protocol.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/log.h"

namespace spiced {

namespace {
std::string openssl_error(const char* what) {
    unsigned long code = ERR_get_error();
    char text[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return std::string(what) + ": " + text;
}

struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

// Constant-time comparison, so response timing doesn't reveal how much of a guess matched.
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % (b.empty() ? 1 : b.size())];
    return diff == 0 && !b.empty();
}
}  // namespace

Expected<TicketKey, std::string> TicketKey::generate() {
    EvpPkeyPtr key(EVP_RSA_gen(SPICE_TICKET_KEY_PAIR_LENGTH));
    if (!key) return unexpected(openssl_error("RSA key generation"));
    int length = i2d_PUBKEY(key.get(), nullptr);
    if (length != SPICE_TICKET_PUBKEY_BYTES) {
        return unexpected("RSA public key has " + std::to_string(length) + " DER bytes, want " +
                          std::to_string(SPICE_TICKET_PUBKEY_BYTES));
    }
    std::vector<uint8_t> der(static_cast<size_t>(length));
    unsigned char* cursor = der.data();
    i2d_PUBKEY(key.get(), &cursor);
    return TicketKey(std::move(key), std::move(der));
}

namespace {
Expected<std::string, std::string> oaep_decrypt(EVP_PKEY* key, std::span<const uint8_t> encrypted) {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0) {
        return unexpected(openssl_error("RSA decrypt setup"));
    }
    size_t length = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &length, encrypted.data(), encrypted.size()) <= 0) {
        return unexpected(openssl_error("RSA decrypt"));
    }
    std::vector<unsigned char> plain(length);
    if (EVP_PKEY_decrypt(ctx.get(), plain.data(), &length, encrypted.data(), encrypted.size()) <=
        0) {
        return unexpected(openssl_error("RSA decrypt"));
    }
    // The client sends the password NUL-terminated; stop at the first NUL.
    std::string password(reinterpret_cast<const char*>(plain.data()), length);
    password.resize(std::strlen(password.c_str()));
    return password;
}
}  // namespace

Expected<std::string, std::string> TicketKey::decrypt(std::span<const uint8_t> encrypted) const {
    auto password = oaep_decrypt(key_.get(), encrypted);
    if (password || encrypted.empty() || encrypted.back() != 0) return password;
    // spice-html5 (ticket.js) writes the ciphertext as a big integer without its leading zero
    // bytes and pads the block with zeros at the end instead, so about one link in 256 arrives
    // shifted. Try the block realigned (trailing zeros moved to the front) before refusing.
    size_t zeros = 0;
    while (zeros < encrypted.size() && encrypted[encrypted.size() - 1 - zeros] == 0) ++zeros;
    std::vector<uint8_t> realigned(encrypted.size(), 0);
    for (size_t shift = 1; shift <= zeros && shift <= 2; ++shift) {
        std::copy(encrypted.begin(), encrypted.end() - long(shift),
                  realigned.begin() + long(shift));
        std::fill(realigned.begin(), realigned.begin() + long(shift), 0);
        if (auto retried = oaep_decrypt(key_.get(), realigned)) return retried;
    }
    return password;
}

TicketKeySource::TicketKeySource() : worker_([this] { refill(); }) {}

TicketKeySource::~TicketKeySource() {
    stopping_.store(true, std::memory_order_relaxed);
    // Release pairs with the worker's acquire load of taken_: a worker that sees the bump
    // also sees stopping_; one that loaded taken_ before it returns from wait() at once.
    taken_.fetch_add(1, std::memory_order_release);
    taken_.notify_all();
    worker_.join();
}

std::optional<TicketKey> TicketKeySource::try_take() {
    std::optional<TicketKey> key = ready_.try_pop();
    if (key) {
        taken_.fetch_add(1, std::memory_order_release);
        taken_.notify_one();
    }
    // Nothing to wake when the pool is empty: the worker only sleeps while it is full.
    return key;
}

void TicketKeySource::refill() {
    for (;;) {
        // Load the counter before looking at the pool: a take that lands after the look
        // changes the counter, so wait() below returns instead of missing the wake-up.
        uint32_t seen = taken_.load(std::memory_order_acquire);
        if (stopping_.load(std::memory_order_relaxed)) return;
        if (ready_.size_approx() >= kPoolSize) {
            taken_.wait(seen, std::memory_order_acquire);
            continue;
        }
        auto key = TicketKey::generate();
        if (!key) {
            LOG_ERROR("link", "%s", key.error().c_str());
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        // The worker is the only producer and pushes only below kPoolSize, which is under the
        // queue's capacity, so this cannot fail.
        bool pushed = ready_.try_push(std::move(*key));
        assert(pushed);
        (void)pushed;
    }
}

TicketPolicy TicketPolicy::password(std::string value, std::optional<Clock::time_point> expiry) {
    TicketPolicy policy;
    policy.enabled_ = true;
    policy.password_ = std::move(value);
    policy.expiry_ = expiry;
    return policy;
}

std::optional<std::string> TicketPolicy::check(const std::string& offered,
                                               Clock::time_point now) const {
    if (!enabled_) return std::nullopt;
    if (password_.empty()) return "ticketing is enabled but no password is set";
    if (expiry_ && now >= *expiry_) return "the password has expired";
    if (!same_secret(offered, password_)) return "wrong password";
    return std::nullopt;
}

}  // namespace spiced
