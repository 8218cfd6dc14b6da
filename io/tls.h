// TLS for SPICE's tls-port, on OpenSSL 3, without ever touching a socket: every TlsSession
// talks to the network through two memory BIOs. The Connection feeds it the bytes read from the
// socket and queues the bytes it produces, so the handshake and all records are driven by the
// reactor's readiness like any other input, and nothing here can block.
//
// TlsContext loads a server identity from an x509 directory laid out as QEMU and libvirt do:
// ca-cert.pem (the CA that signed the server certificate, sent along as its chain),
// server-cert.pem and server-key.pem. TLS 1.2 and 1.3 only.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"

namespace spiced {

struct SslCtxDeleter {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

class TlsContext {
public:
    // The file names inside an x509 directory (QEMU's and libvirt's names).
    static constexpr const char* kCaCert = "ca-cert.pem";
    static constexpr const char* kServerCert = "server-cert.pem";
    static constexpr const char* kServerKey = "server-key.pem";

    // Loads and checks the directory's files. The error is one line naming the file and what
    // is wrong with it (missing, unreadable, not PEM, key not matching the certificate).
    static Expected<std::shared_ptr<TlsContext>, std::string> load_x509_dir(
        const std::string& directory);
    // The same from three files (spice_server_set_tls); a non-empty `key_password` unlocks an
    // encrypted key.
    static Expected<std::shared_ptr<TlsContext>, std::string> load_files(
        const std::string& ca_path, const std::string& cert_path, const std::string& key_path,
        const std::string& key_password);

    SSL_CTX* get() const { return ctx_.get(); }

private:
    explicit TlsContext(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
    SslCtxPtr ctx_;
};

// The server side of one TLS connection.
class TlsSession {
public:
    static Expected<std::unique_ptr<TlsSession>, std::string> create(const TlsContext& context);
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Takes bytes from the network: advances the handshake, appends decrypted application
    // data to `plain` and whatever must go back to the peer (handshake records, alerts,
    // session tickets) to `to_peer`. An error (a failed handshake, a bad record) is final:
    // `to_peer` may still hold an alert worth sending before closing.
    Expected<void, std::string> receive(std::span<const uint8_t> from_peer,
                                        std::vector<uint8_t>& plain, std::vector<uint8_t>& to_peer);
    // Encrypts application data into records appended to `to_peer`.
    Expected<void, std::string> encrypt(std::span<const uint8_t> plain,
                                        std::vector<uint8_t>& to_peer);
    // Appends a close_notify alert to `to_peer` (after a completed handshake only).
    void shutdown(std::vector<uint8_t>& to_peer);

    bool handshake_done() const { return handshake_done_; }
    // The peer sent close_notify: no more input will come.
    bool peer_closed() const { return peer_closed_; }
    // "TLSv1.3 TLS_AES_256_GCM_SHA384", for log lines.
    std::string describe() const;

private:
    TlsSession(SslPtr ssl, BIO* network_in, BIO* network_out)
        : ssl_(std::move(ssl)), in_(network_in), out_(network_out) {}
    void drain_output(std::vector<uint8_t>& to_peer);
    std::string failure(int ssl_result, const char* during);

    SslPtr ssl_;
    BIO* in_;   // owned by ssl_ (SSL_set_bio): ciphertext from the peer
    BIO* out_;  // owned by ssl_: ciphertext for the peer
    bool handshake_done_ = false;
    bool failed_ = false;
    bool peer_closed_ = false;
};

}  // namespace spiced
