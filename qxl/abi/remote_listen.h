// Where the drop-in library listens for remote clients on its own, besides what the host asked
// for. QEMU refuses `gl=on` together with `-spice port=`/`tls-port=` and hands the library a
// unix socket only, so a virgl desktop could never reach a remote client; the operator names a
// TCP (and/or TLS) port here instead, in the environment of the host process or in a config
// file. Pure parsing: no sockets, no logging (the caller logs the one error line).
//
// Sources, later ones winning key by key:
//   1. the config file: $SPICED_CONFIG, else /etc/spiced-gpu/libspice-server.conf (a missing
//      default file is no error; a missing file that SPICED_CONFIG names is);
//      lines `key = value`, `#` starts a comment, blank lines ignored;
//   2. the environment: SPICED_REMOTE_PORT, SPICED_REMOTE_TLS_PORT, SPICED_REMOTE_ADDR,
//      SPICED_REMOTE_X509_DIR, SPICED_GPU, SPICED_VULKAN_LOADER (an empty variable counts as
//      unset).
// Keys: remote-port, remote-tls-port (1-65535), remote-addr (IPv4/IPv6 literal, default all
// addresses), remote-x509-dir (QEMU's x509-dir layout: ca-cert.pem, server-cert.pem,
// server-key.pem), gpu (spiced-gpu's --gpu: auto, none or a Vulkan device; default auto),
// vulkan-loader (the Vulkan loader library to open), and the limits spiced-gpu takes as options:
// client-memory-limit and glz-memory-limit (bytes), partial-message-timeout, pong-timeout and
// write-timeout (seconds, 0 = never; environment SPICED_CLIENT_MEMORY_LIMIT, ...,
// SPICED_WRITE_TIMEOUT), and record-scene (spiced-gpu's --record-scene FILE; environment
// SPICED_RECORD_SCENE). Any bad value or unknown key is an error
// naming where it came from: an operator who asked for a remote port wants to hear at start that it
// will not open, not find out from a user later.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/expected.h"

namespace spiced::abi {

inline constexpr const char* kDefaultRemoteConfigPath = "/etc/spiced-gpu/libspice-server.conf";

struct RemoteListen {
    std::optional<uint16_t> port;
    std::optional<uint16_t> tls_port;
    std::string address;   // empty: every address (0.0.0.0)
    std::string x509_dir;  // empty: the TLS port needs the host's spice_server_set_tls files
    // The compositor's device and loader (empty: the defaults, --gpu auto, libvulkan.so.1).
    std::string gpu;
    std::string vulkan_loader;
    // The standalone server's limits of the same names (unset: its defaults).
    std::optional<uint64_t> client_memory_limit_bytes;
    std::optional<uint64_t> glz_memory_limit_bytes;
    std::optional<uint32_t> partial_message_timeout_seconds;
    std::optional<uint32_t> pong_timeout_seconds;
    std::optional<uint32_t> write_timeout_seconds;
    // spiced-gpu's --record-scene (empty: off).
    std::string record_scene;
    // Where each setting came from ("SPICED_REMOTE_PORT", "/etc/...conf:3"), for log lines.
    std::string port_origin, tls_port_origin;

    bool any() const { return port || tls_port; }
};

// Applies `key = value` lines to `into`; `origin` names the file in errors.
Expected<void, std::string> parse_remote_config(std::string_view text, std::string_view origin,
                                                RemoteListen& into);

// Each environment variable and the config key it sets (it overrides the file's line).
struct RemoteVariable {
    const char* variable;  // "SPICED_REMOTE_PORT"
    const char* key;       // "remote-port"
};
std::span<const RemoteVariable> remote_config_variables();

// The whole lookup: file, then environment. `getenv` is injectable for tests.
Expected<RemoteListen, std::string> load_remote_listen(
    const std::function<const char*(const char*)>& getenv);

}  // namespace spiced::abi
