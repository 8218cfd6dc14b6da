// The drop-in library's own remote port settings (qxl/abi/remote_listen.h): what the file and
// the environment accept, what they refuse, and which wins.
#include "qxl/abi/remote_listen.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

namespace {

using spiced::abi::load_remote_listen;
using spiced::abi::parse_remote_config;
using spiced::abi::RemoteListen;

// A fake environment for load_remote_listen.
struct Env {
    std::map<std::string, std::string> values;
    const char* operator()(const char* name) const {
        auto found = values.find(name);
        return found == values.end() ? nullptr : found->second.c_str();
    }
};

// A config file in the test's temporary directory, removed afterwards.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char name[] = "/tmp/remote_listen_test_XXXXXX";
        const int fd = mkstemp(name);
        path = name;
        if (fd >= 0) close(fd);
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

TEST(RemoteListen, FileLines) {
    RemoteListen r;
    ASSERT_TRUE(
        parse_remote_config("# GL display for remote users\n"
                            "remote-port = 5930\n"
                            "\n"
                            "  remote-tls-port=5931   # TLS too\n"
                            "remote-addr = [::1]\n"
                            "remote-x509-dir = /etc/pki/spice\n",
                            "f.conf", r));
    EXPECT_EQ(r.port, 5930);
    EXPECT_EQ(r.tls_port, 5931);
    EXPECT_EQ(r.address, "::1");
    EXPECT_EQ(r.x509_dir, "/etc/pki/spice");
    EXPECT_EQ(r.port_origin, "f.conf:2: remote-port");
    EXPECT_TRUE(r.any());
}

// The compositor's device for a host that loads the library (QEMU): a file key and a variable,
// without opening a remote port.
TEST(RemoteListen, GpuChoice) {
    RemoteListen r;
    ASSERT_TRUE(
        parse_remote_config("gpu = none\nvulkan-loader = /opt/vk/libvulkan.so.1\n", "f.conf", r));
    EXPECT_EQ(r.gpu, "none");
    EXPECT_EQ(r.vulkan_loader, "/opt/vk/libvulkan.so.1");
    EXPECT_FALSE(r.any());
    EXPECT_FALSE(parse_remote_config("gpu =\n", "f.conf", r));
    Env env;
    env.values["SPICED_GPU"] = "llvmpipe";
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(loaded->gpu, "llvmpipe");
}

// spiced-gpu's --record-scene, for a library inside QEMU: file key and environment.
TEST(RemoteListen, RecordScene) {
    RemoteListen r;
    ASSERT_TRUE(parse_remote_config("record-scene = /var/tmp/vm1.scene\n", "f.conf", r));
    EXPECT_EQ(r.record_scene, "/var/tmp/vm1.scene");
    auto empty = parse_remote_config("record-scene =\n", "f.conf", r);
    ASSERT_FALSE(empty);
    EXPECT_NE(empty.error().find("f.conf:1: record-scene"), std::string::npos) << empty.error();
    Env env;
    env.values["SPICED_RECORD_SCENE"] = "/tmp/from-env.scene";
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(loaded->record_scene, "/tmp/from-env.scene");
}

// The limits and timeouts hostile clients meet (issue 14), for a library inside QEMU.
TEST(RemoteListen, LimitsAndTimeouts) {
    RemoteListen r;
    ASSERT_TRUE(
        parse_remote_config("client-memory-limit = 8388608\nglz-memory-limit = 0\n"
                            "partial-message-timeout = 5\npong-timeout=0\n",
                            "f.conf", r));
    EXPECT_EQ(r.client_memory_limit_bytes, 8388608u);
    EXPECT_EQ(r.glz_memory_limit_bytes, 0u);
    EXPECT_EQ(r.partial_message_timeout_seconds, 5u);
    EXPECT_EQ(r.pong_timeout_seconds, 0u);
    EXPECT_FALSE(r.write_timeout_seconds.has_value());
    EXPECT_FALSE(r.any());
    auto small = parse_remote_config("client-memory-limit = 1000\n", "f.conf", r);
    ASSERT_FALSE(small);
    EXPECT_NE(small.error().find("f.conf:1: client-memory-limit='1000'"), std::string::npos);
    EXPECT_FALSE(parse_remote_config("write-timeout = 90000\n", "f.conf", r));
    EXPECT_FALSE(parse_remote_config("glz-memory-limit = 1G\n", "f.conf", r));
    Env env;
    env.values["SPICED_WRITE_TIMEOUT"] = "15";
    env.values["SPICED_GLZ_MEMORY_LIMIT"] = "268435456";
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(loaded->write_timeout_seconds, 15u);
    EXPECT_EQ(loaded->glz_memory_limit_bytes, 268435456u);
}

TEST(RemoteListen, FileErrorsNameTheLine) {
    const struct {
        const char* text;
        const char* want;
    } cases[] = {
        {"remote-port = 0\n", "f.conf:1: remote-port='0' is not a port number (1-65535)"},
        {"\nremote-port = 65536\n", "f.conf:2: remote-port='65536' is not a port number"},
        {"remote-port = 59 30\n", "f.conf:1: remote-port='59 30' is not a port number"},
        {"remote-port = +5930\n", "f.conf:1: remote-port='+5930' is not a port number"},
        {"remote-port =\n", "f.conf:1: remote-port='' is not a port number"},
        {"remote-addr = example.org\n", "f.conf:1: remote-addr='example.org' is not an IPv4"},
        {"remote_port = 5930\n", "f.conf:1: remote_port: unknown key"},
        {"remote-port 5930\n", "f.conf:1: expected 'key = value'"},
        {"remote-x509-dir =\n", "f.conf:1: remote-x509-dir='' is empty"},
    };
    for (const auto& c : cases) {
        RemoteListen r;
        auto parsed = parse_remote_config(c.text, "f.conf", r);
        ASSERT_FALSE(parsed) << c.text;
        EXPECT_EQ(parsed.error().rfind(c.want, 0), 0u) << parsed.error();
    }
}

TEST(RemoteListen, NothingSetIsNothing) {
    // No SPICED_CONFIG and no default file: nothing to open, no error.
    if (access(spiced::abi::kDefaultRemoteConfigPath, F_OK) == 0)
        GTEST_SKIP() << spiced::abi::kDefaultRemoteConfigPath << " exists on this machine";
    Env env;
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_FALSE(loaded->any());
}

TEST(RemoteListen, EnvironmentWinsOverTheFile) {
    TempFile file("remote-port = 5930\nremote-addr = 127.0.0.1\n");
    Env env{{{"SPICED_CONFIG", file.path}, {"SPICED_REMOTE_PORT", "6000"}}};
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(loaded->port, 6000);
    EXPECT_EQ(loaded->port_origin, "SPICED_REMOTE_PORT");
    EXPECT_EQ(loaded->address, "127.0.0.1");  // from the file: the environment did not set it
}

TEST(RemoteListen, EmptyVariableIsUnset) {
    Env env{{{"SPICED_REMOTE_PORT", ""}, {"SPICED_CONFIG", ""}}};
    auto loaded = load_remote_listen(std::ref(env));
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_FALSE(loaded->any());
}

TEST(RemoteListen, EnvironmentErrors) {
    const struct {
        const char* name;
        const char* value;
        const char* want;
    } cases[] = {
        {"SPICED_REMOTE_PORT", "abc", "SPICED_REMOTE_PORT='abc' is not a port number (1-65535)"},
        {"SPICED_REMOTE_TLS_PORT", "-1", "SPICED_REMOTE_TLS_PORT='-1' is not a port number"},
        {"SPICED_REMOTE_ADDR", "1.2.3", "SPICED_REMOTE_ADDR='1.2.3' is not an IPv4 or IPv6"},
        {"SPICED_CONFIG", "/nonexistent/spiced.conf",
         "SPICED_CONFIG=/nonexistent/spiced.conf: cannot be read"},
    };
    for (const auto& c : cases) {
        Env env{{{c.name, c.value}}};
        auto loaded = load_remote_listen(std::ref(env));
        ASSERT_FALSE(loaded) << c.name;
        EXPECT_EQ(loaded.error().rfind(c.want, 0), 0u) << loaded.error();
    }
}

}  // namespace
