#include "io/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/unique_file.h"

namespace spiced {

namespace {

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
struct EvpPkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// The reason of the oldest queued OpenSSL error ("wrong version number"), and a clear queue.
std::string openssl_reason(const char* fallback) {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return fallback;
    if (const char* reason = ERR_reason_error_string(code)) return reason;
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    return text.data();
}

// Never prompt on the terminal for an encrypted key's pass phrase: fail instead.
int no_pass_phrase(char*, int, int, void*) {
    return 0;
}

// The file opened for reading, or a one-line error naming it.
Expected<UniqueFile, std::string> open_pem(const std::string& path) {
    UniqueFile file(std::fopen(path.c_str(), "rb"));
    if (!file) return unexpected(path + ": cannot read: " + std::strerror(errno));
    return file;
}

}  // namespace

Expected<std::shared_ptr<TlsContext>, std::string> TlsContext::load_x509_dir(
    const std::string& directory) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (!fs::is_directory(directory, error)) {
        return unexpected("x509 directory " + directory + " does not exist or is not a directory");
    }
    return load_files((fs::path(directory) / kCaCert).string(),
                      (fs::path(directory) / kServerCert).string(),
                      (fs::path(directory) / kServerKey).string(), "");
}

Expected<std::shared_ptr<TlsContext>, std::string> TlsContext::load_files(
    const std::string& ca_path, const std::string& cert_path, const std::string& key_path,
    const std::string& key_password) {
    ERR_clear_error();

    // Each file must at least be readable and hold what its name says, checked in this order so
    // the message names the first problem.
    auto ca_file = open_pem(ca_path);
    if (!ca_file) return unexpected(ca_file.error());
    X509Ptr ca(PEM_read_X509(ca_file->get(), nullptr, no_pass_phrase, nullptr));
    if (!ca) {
        return unexpected(ca_path + ": not a PEM certificate (" + openssl_reason("no data") + ")");
    }
    auto cert_file = open_pem(cert_path);
    if (!cert_file) return unexpected(cert_file.error());
    auto key_file = open_pem(key_path);
    if (!key_file) return unexpected(key_file.error());

    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return unexpected("cannot create a TLS context: " + openssl_reason("out of memory"));
    SSL_CTX_set_default_passwd_cb(ctx.get(), no_pass_phrase);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    // TLS 1.2 suites; TLS 1.3 keeps OpenSSL's defaults (all of them are strong).
    if (SSL_CTX_set_cipher_list(ctx.get(), "HIGH:!aNULL:!MD5:!RC4") != 1) {
        return unexpected("cannot set the TLS cipher list: " + openssl_reason("unknown"));
    }
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE);

    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_path.c_str()) != 1) {
        return unexpected(cert_path + ": not a PEM certificate (" + openssl_reason("no data") +
                          ")");
    }
    // PEM_read_PrivateKey takes a NUL-terminated pass phrase as its user data when no
    // callback is given; without one, an encrypted key is refused rather than prompted for.
    std::unique_ptr<EVP_PKEY, EvpPkeyDeleter> key(
        key_password.empty()
            ? PEM_read_PrivateKey(key_file->get(), nullptr, no_pass_phrase, nullptr)
            : PEM_read_PrivateKey(key_file->get(), nullptr, nullptr,
                                  const_cast<char*>(key_password.c_str())));
    if (!key) {
        return unexpected(key_path +
                          (key_password.empty() ? ": not an unencrypted PEM private key ("
                                                : ": not a PEM private key for this password (") +
                          openssl_reason("no data") + ")");
    }
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), key.get()) != 1) {
        ERR_clear_error();
        return unexpected(key_path + " does not match the certificate in " + cert_path);
    }
    if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
        return unexpected(key_path + ": cannot use the key (" + openssl_reason("unknown") + ")");
    }
    // Send the CA along, as QEMU does, for clients that only trust a higher root.
    if (SSL_CTX_add1_chain_cert(ctx.get(), ca.get()) != 1) {
        return unexpected(ca_path + ": cannot use as chain certificate (" +
                          openssl_reason("unknown") + ")");
    }
    ERR_clear_error();
    return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx)));
}

Expected<std::unique_ptr<TlsSession>, std::string> TlsSession::create(const TlsContext& context) {
    SslPtr ssl(SSL_new(context.get()));
    BioPtr in(BIO_new(BIO_s_mem()));
    BioPtr out(BIO_new(BIO_s_mem()));
    if (!ssl || !in || !out) {
        return unexpected("cannot create a TLS session: " + openssl_reason("out of memory"));
    }
    // An empty memory BIO reports "retry" rather than end of file.
    BIO_set_mem_eof_return(in.get(), -1);
    BIO_set_mem_eof_return(out.get(), -1);
    SSL_set_accept_state(ssl.get());
    BIO* in_raw = in.release();
    BIO* out_raw = out.release();
    SSL_set_bio(ssl.get(), in_raw, out_raw);  // the SSL owns both from here
    return std::unique_ptr<TlsSession>(new TlsSession(std::move(ssl), in_raw, out_raw));
}

void TlsSession::drain_output(std::vector<uint8_t>& to_peer) {
    for (;;) {
        const size_t pending = BIO_ctrl_pending(out_);
        if (pending == 0) return;
        const size_t before = to_peer.size();
        to_peer.resize(before + pending);
        const int got = BIO_read(out_, to_peer.data() + before, int(pending));
        to_peer.resize(before + size_t(std::max(got, 0)));
        if (got <= 0) return;
    }
}

std::string TlsSession::failure(int ssl_result, const char* during) {
    failed_ = true;
    const int code = SSL_get_error(ssl_.get(), ssl_result);
    std::string reason;
    switch (code) {
        case SSL_ERROR_SSL:
            reason = openssl_reason("protocol error");
            break;
        case SSL_ERROR_SYSCALL:
            reason = openssl_reason("unexpected end of data");
            break;
        default:
            reason = "SSL error " + std::to_string(code);
            ERR_clear_error();
            break;
    }
    return std::string(during) + ": " + reason;
}

Expected<void, std::string> TlsSession::receive(std::span<const uint8_t> from_peer,
                                                std::vector<uint8_t>& plain,
                                                std::vector<uint8_t>& to_peer) {
    if (failed_) return unexpected(std::string("TLS session already failed"));
    if (!from_peer.empty()) {
        // A memory BIO takes everything; it grows as needed.
        if (BIO_write(in_, from_peer.data(), int(from_peer.size())) != int(from_peer.size())) {
            failed_ = true;
            return unexpected(std::string("cannot buffer TLS input"));
        }
    }
    if (!handshake_done_) {
        const int result = SSL_do_handshake(ssl_.get());
        if (result != 1) {
            const int code = SSL_get_error(ssl_.get(), result);
            if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
                drain_output(to_peer);
                return {};
            }
            auto message = failure(result, "TLS handshake failed");
            drain_output(to_peer);  // the alert that tells the peer why
            return unexpected(std::move(message));
        }
        handshake_done_ = true;
    }
    std::array<uint8_t, 16384> chunk;
    for (;;) {
        const int got = SSL_read(ssl_.get(), chunk.data(), int(chunk.size()));
        if (got > 0) {
            plain.insert(plain.end(), chunk.begin(), chunk.begin() + got);
            continue;
        }
        const int code = SSL_get_error(ssl_.get(), got);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) break;
        if (code == SSL_ERROR_ZERO_RETURN) {
            peer_closed_ = true;
            ERR_clear_error();
            break;
        }
        auto message = failure(got, "TLS record error");
        drain_output(to_peer);
        return unexpected(std::move(message));
    }
    drain_output(to_peer);
    return {};
}

Expected<void, std::string> TlsSession::encrypt(std::span<const uint8_t> plain,
                                                std::vector<uint8_t>& to_peer) {
    if (failed_ || !handshake_done_) {
        return unexpected(std::string("TLS session is not established"));
    }
    constexpr size_t kPiece = size_t{1} << 20;
    while (!plain.empty()) {
        const size_t piece = std::min(plain.size(), kPiece);
        const int wrote = SSL_write(ssl_.get(), plain.data(), int(piece));
        if (wrote <= 0) return unexpected(failure(wrote, "TLS write failed"));
        plain = plain.subspan(size_t(wrote));
    }
    drain_output(to_peer);
    return {};
}

void TlsSession::shutdown(std::vector<uint8_t>& to_peer) {
    if (failed_ || !handshake_done_) return;
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
    drain_output(to_peer);
}

std::string TlsSession::describe() const {
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get());
    return std::string(SSL_get_version(ssl_.get())) + " " +
           (cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "(no cipher)");
}

}  // namespace spiced
