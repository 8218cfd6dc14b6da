#include "qxl/abi/remote_listen.h"

#include <arpa/inet.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace spiced::abi {
namespace {

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

// A plain decimal number that fits T ("12x", "+1", "-1" and empty are refused).
template <typename T>
std::optional<T> parse_number(std::string_view text) {
    T value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return value;
}

// A port is a plain decimal 1-65535: "5930x", "+5930", "0" and "70000" are all refused, so a
// typo never turns into some other port.
std::optional<uint16_t> parse_port(std::string_view text) {
    const auto value = parse_number<unsigned>(text);
    if (!value || *value == 0 || *value > 0xffff) return std::nullopt;
    return uint16_t(*value);
}

bool is_address(const std::string& text) {
    in6_addr storage{};
    return inet_pton(AF_INET, text.c_str(), &storage) == 1 ||
           inet_pton(AF_INET6, text.c_str(), &storage) == 1;
}

// One setting; `key` is the file's spelling, `origin` how the operator wrote it (a variable's
// name, or "file:line: key"), so the error line points at the one thing to fix.
Expected<void, std::string> apply(std::string_view key, std::string_view value,
                                  const std::string& origin, RemoteListen& into) {
    auto bad = [&](const char* why) {
        return unexpected(origin + "='" + std::string(value) + "' " + why);
    };
    if (key == "remote-port" || key == "remote-tls-port") {
        const auto port = parse_port(value);
        if (!port) return bad("is not a port number (1-65535)");
        if (key == "remote-port") {
            into.port = port;
            into.port_origin = origin;
        } else {
            into.tls_port = port;
            into.tls_port_origin = origin;
        }
        return {};
    }
    if (key == "remote-addr") {
        std::string address(value);
        // [::1] as in URLs is accepted too.
        if (address.size() > 2 && address.front() == '[' && address.back() == ']')
            address = address.substr(1, address.size() - 2);
        if (!is_address(address)) return bad("is not an IPv4 or IPv6 address");
        into.address = address;
        return {};
    }
    if (key == "remote-x509-dir") {
        if (value.empty()) return bad("is empty");
        into.x509_dir = std::string(value);
        return {};
    }
    if (key == "gpu" || key == "vulkan-loader") {
        if (value.empty()) return bad("is empty");
        (key == "gpu" ? into.gpu : into.vulkan_loader) = std::string(value);
        return {};
    }
    if (key == "record-scene") {
        if (value.empty()) return bad("is empty");
        into.record_scene = std::string(value);
        return {};
    }
    if (key == "client-memory-limit" || key == "glz-memory-limit") {
        const auto bytes = parse_number<uint64_t>(value);
        const bool client = key == "client-memory-limit";
        if (!bytes || (client && *bytes < (uint64_t{1} << 20)))
            return bad(client ? "is not a byte count (at least 1048576)"
                              : "is not a byte count (0 turns GLZ off)");
        (client ? into.client_memory_limit_bytes : into.glz_memory_limit_bytes) = *bytes;
        return {};
    }
    if (key == "partial-message-timeout" || key == "pong-timeout" || key == "write-timeout") {
        const auto seconds = parse_number<uint32_t>(value);
        if (!seconds || *seconds > 86400) return bad("is not a number of seconds (0-86400)");
        auto& timeout = key == "pong-timeout"    ? into.pong_timeout_seconds
                        : key == "write-timeout" ? into.write_timeout_seconds
                                                 : into.partial_message_timeout_seconds;
        timeout = *seconds;
        return {};
    }
    return unexpected(origin +
                      ": unknown key (known: remote-port, remote-tls-port, remote-addr, "
                      "remote-x509-dir, gpu, vulkan-loader, client-memory-limit, "
                      "glz-memory-limit, partial-message-timeout, pong-timeout, "
                      "write-timeout, record-scene)");
}

}  // namespace

Expected<void, std::string> parse_remote_config(std::string_view text, std::string_view origin,
                                                RemoteListen& into) {
    size_t line_number = 0;
    while (!text.empty()) {
        const auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        ++line_number;
        if (const auto hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        const std::string where = std::string(origin) + ":" + std::to_string(line_number);
        const auto equals = line.find('=');
        if (equals == std::string_view::npos)
            return unexpected(where + ": expected 'key = value', got '" + std::string(line) + "'");
        const std::string_view key = trim(line.substr(0, equals));
        if (auto applied =
                apply(key, trim(line.substr(equals + 1)), where + ": " + std::string(key), into);
            !applied)
            return applied;
    }
    return {};
}

std::span<const RemoteVariable> remote_config_variables() {
    static constexpr RemoteVariable kVariables[] = {
        {"SPICED_REMOTE_PORT", "remote-port"},
        {"SPICED_REMOTE_TLS_PORT", "remote-tls-port"},
        {"SPICED_REMOTE_ADDR", "remote-addr"},
        {"SPICED_REMOTE_X509_DIR", "remote-x509-dir"},
        {"SPICED_GPU", "gpu"},
        {"SPICED_VULKAN_LOADER", "vulkan-loader"},
        {"SPICED_CLIENT_MEMORY_LIMIT", "client-memory-limit"},
        {"SPICED_GLZ_MEMORY_LIMIT", "glz-memory-limit"},
        {"SPICED_PARTIAL_MESSAGE_TIMEOUT", "partial-message-timeout"},
        {"SPICED_PONG_TIMEOUT", "pong-timeout"},
        {"SPICED_WRITE_TIMEOUT", "write-timeout"},
        {"SPICED_RECORD_SCENE", "record-scene"},
    };
    return kVariables;
}

Expected<RemoteListen, std::string> load_remote_listen(
    const std::function<const char*(const char*)>& getenv) {
    RemoteListen result;
    const char* named = getenv("SPICED_CONFIG");
    const bool explicit_path = named && *named;
    const std::string path = explicit_path ? named : kDefaultRemoteConfigPath;
    std::ifstream file(path);
    if (file) {
        std::ostringstream text;
        text << file.rdbuf();
        if (file.bad()) return unexpected(path + ": " + std::strerror(errno));
        if (auto parsed = parse_remote_config(text.str(), path, result); !parsed)
            return unexpected(parsed.error());
    } else if (explicit_path) {
        // The operator named this file: running without it would silently drop their settings.
        return unexpected("SPICED_CONFIG=" + path + ": cannot be read: " + std::strerror(errno));
    }
    for (const auto& [variable, key] : remote_config_variables()) {
        const char* value = getenv(variable);
        if (!value || !*value) continue;
        if (auto applied = apply(key, trim(value), variable, result); !applied)
            return unexpected(applied.error());
    }
    return result;
}

}  // namespace spiced::abi
