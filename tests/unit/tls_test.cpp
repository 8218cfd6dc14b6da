// io/tls: loading an x509 directory (QEMU's layout) and a server TlsSession driven through
// memory only, against an OpenSSL client also on memory BIOs. The CA and server certificate are
// made here with OpenSSL's C API in a temporary directory.
#include "io/tls.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace spiced {
namespace {

namespace fs = std::filesystem;

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

PkeyPtr new_key() {
    return PkeyPtr(EVP_EC_gen("P-256"));
}

// A certificate for `subject_key` named `cn`, signed by `issuer_key` (issuer `issuer`, or
// self-signed when null).
X509Ptr new_cert(const char* cn, EVP_PKEY* subject_key, EVP_PKEY* issuer_key, X509* issuer,
                 bool ca) {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), subject_key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        EXPECT_NE(ext, nullptr) << value;
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    };
    if (ca) {
        add(NID_basic_constraints, "critical,CA:TRUE");
        add(NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add(NID_basic_constraints, "CA:FALSE");
        add(NID_subject_alt_name, "IP:127.0.0.1");
    }
    EXPECT_GT(X509_sign(cert.get(), issuer_key, EVP_sha256()), 0);
    return cert;
}

void write_cert(const fs::path& path, X509* cert) {
    FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    PEM_write_X509(file, cert);
    std::fclose(file);
}

void write_key(const fs::path& path, EVP_PKEY* key) {
    FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(file);
}

class TlsTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/spiced-tls-test-XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir_ = pattern;
        ca_key_ = new_key();
        server_key_ = new_key();
        ca_ = new_cert("spiced test CA", ca_key_.get(), ca_key_.get(), nullptr, true);
        server_ = new_cert("127.0.0.1", server_key_.get(), ca_key_.get(), ca_.get(), false);
        write_cert(dir_ / TlsContext::kCaCert, ca_.get());
        write_cert(dir_ / TlsContext::kServerCert, server_.get());
        write_key(dir_ / TlsContext::kServerKey, server_key_.get());
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
    PkeyPtr ca_key_, server_key_;
    X509Ptr ca_, server_;
};

// An OpenSSL client on memory BIOs that trusts the test CA and checks the IP address.
struct Client {
    SslCtxPtr ctx;
    SslPtr ssl;
    BIO* in = nullptr;   // from the server
    BIO* out = nullptr;  // to the server

    Client(X509* ca, int max_version) {
        ctx.reset(SSL_CTX_new(TLS_client_method()));
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca);
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx.get(), max_version);
        SSL_CTX_set_security_level(ctx.get(), 0);
        ssl.reset(SSL_new(ctx.get()));
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl.get(), in, out);
        SSL_set_connect_state(ssl.get());
    }
    std::vector<uint8_t> take_output() {
        std::vector<uint8_t> bytes(BIO_ctrl_pending(out));
        if (!bytes.empty()) BIO_read(out, bytes.data(), int(bytes.size()));
        return bytes;
    }
    void give(const std::vector<uint8_t>& bytes) {
        if (!bytes.empty()) BIO_write(in, bytes.data(), int(bytes.size()));
    }
};

// Runs the handshake to the end (or a failure); returns the server's error, empty if none.
std::string pump_handshake(Client& client, TlsSession& server, std::vector<uint8_t>& plain) {
    for (int round = 0; round < 20; ++round) {
        SSL_do_handshake(client.ssl.get());
        std::vector<uint8_t> to_client;
        auto received = server.receive(client.take_output(), plain, to_client);
        client.give(to_client);
        if (!received) return received.error();
        if (server.handshake_done() && SSL_is_init_finished(client.ssl.get())) return {};
    }
    return "handshake did not finish";
}

TEST_F(TlsTest, HandshakeAndDataBothWays) {
    auto context = TlsContext::load_x509_dir(dir_.string());
    ASSERT_TRUE(context) << context.error();
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        SCOPED_TRACE(version);
        auto server = TlsSession::create(**context);
        ASSERT_TRUE(server) << server.error();
        Client client(ca_.get(), version);
        std::vector<uint8_t> plain;
        ASSERT_EQ(pump_handshake(client, **server, plain), "");
        EXPECT_EQ(SSL_get_verify_result(client.ssl.get()), X509_V_OK);
        EXPECT_EQ(SSL_version(client.ssl.get()), version);
        EXPECT_NE((*server)->describe().find(version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"),
                  std::string::npos);

        // Client -> server, as the SPICE link would start.
        const std::string hello = "REDQ hello";
        ASSERT_EQ(SSL_write(client.ssl.get(), hello.data(), int(hello.size())), int(hello.size()));
        std::vector<uint8_t> to_client;
        ASSERT_TRUE((*server)->receive(client.take_output(), plain, to_client));
        client.give(to_client);
        EXPECT_EQ(std::string(plain.begin(), plain.end()), hello);

        // Server -> client, larger than one record.
        std::vector<uint8_t> big(100000);
        for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7);
        std::vector<uint8_t> records;
        ASSERT_TRUE((*server)->encrypt(big, records));
        EXPECT_GT(records.size(), big.size());
        client.give(records);
        std::vector<uint8_t> got(big.size() + 10);
        size_t have = 0;
        for (int n;
             (n = SSL_read(client.ssl.get(), got.data() + have, int(got.size() - have))) > 0;) {
            have += size_t(n);
        }
        got.resize(have);
        EXPECT_EQ(got, big);

        // close_notify from the client is seen as the end of input.
        SSL_shutdown(client.ssl.get());
        plain.clear();
        to_client.clear();
        ASSERT_TRUE((*server)->receive(client.take_output(), plain, to_client));
        EXPECT_TRUE((*server)->peer_closed());
    }
}

TEST_F(TlsTest, OldProtocolAndGarbageFailTheHandshake) {
    auto context = TlsContext::load_x509_dir(dir_.string());
    ASSERT_TRUE(context) << context.error();
    {
        auto server = TlsSession::create(**context);
        ASSERT_TRUE(server);
        Client client(ca_.get(), TLS1_1_VERSION);
        std::vector<uint8_t> plain;
        const std::string error = pump_handshake(client, **server, plain);
        EXPECT_NE(error.find("TLS handshake failed"), std::string::npos) << error;
        EXPECT_FALSE((*server)->handshake_done());
    }
    {
        auto server = TlsSession::create(**context);
        ASSERT_TRUE(server);
        const std::string spice = "REDQ\x02\0\0\0\x02\0\0\0\x12\0\0\0";
        std::vector<uint8_t> plain, to_peer;
        auto received = (*server)->receive(
            std::span(reinterpret_cast<const uint8_t*>(spice.data()), spice.size()), plain,
            to_peer);
        ASSERT_FALSE(received);
        EXPECT_NE(received.error().find("TLS handshake failed"), std::string::npos);
        EXPECT_TRUE(plain.empty());
        // Nothing more is accepted.
        EXPECT_FALSE((*server)->receive({}, plain, to_peer));
        std::vector<uint8_t> records;
        EXPECT_FALSE((*server)->encrypt(plain, records));
    }
}

TEST_F(TlsTest, BadSetupsSayWhichFileAndWhy) {
    auto error_of = [](const fs::path& dir) {
        auto context = TlsContext::load_x509_dir(dir.string());
        return context ? std::string("(loaded)") : context.error();
    };
    EXPECT_NE(error_of(dir_ / "missing").find("does not exist"), std::string::npos);

    fs::remove(dir_ / TlsContext::kServerKey);
    std::string error = error_of(dir_);
    EXPECT_NE(error.find("server-key.pem: cannot read: No such file"), std::string::npos) << error;

    // A key that is not the certificate's.
    PkeyPtr other = new_key();
    write_key(dir_ / TlsContext::kServerKey, other.get());
    error = error_of(dir_);
    EXPECT_NE(error.find("server-key.pem does not match the certificate"), std::string::npos)
        << error;

    write_key(dir_ / TlsContext::kServerKey, server_key_.get());
    EXPECT_EQ(error_of(dir_), "(loaded)");

    std::ofstream(dir_ / TlsContext::kServerKey) << "not a key\n";
    error = error_of(dir_);
    EXPECT_NE(error.find("server-key.pem: not an unencrypted PEM private key"), std::string::npos)
        << error;
    write_key(dir_ / TlsContext::kServerKey, server_key_.get());

    std::ofstream(dir_ / TlsContext::kServerCert) << "not a certificate\n";
    error = error_of(dir_);
    EXPECT_NE(error.find("server-cert.pem: not a PEM certificate"), std::string::npos) << error;

    fs::remove(dir_ / TlsContext::kCaCert);
    error = error_of(dir_);
    EXPECT_NE(error.find("ca-cert.pem: cannot read"), std::string::npos) << error;
}

}  // namespace
}  // namespace spiced
