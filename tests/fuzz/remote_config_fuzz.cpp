// libFuzzer: the drop-in library's remote-listen settings (qxl/abi/remote_listen.h).
// Input: config file text up to the first NUL byte; after it, NUL-separated values for the
// environment variables SPICED_REMOTE_PORT, SPICED_REMOTE_TLS_PORT, SPICED_REMOTE_ADDR,
// SPICED_REMOTE_X509_DIR, SPICED_GPU, SPICED_VULKAN_LOADER, SPICED_CLIENT_MEMORY_LIMIT,
// SPICED_GLZ_MEMORY_LIMIT, SPICED_PARTIAL_MESSAGE_TIMEOUT, SPICED_PONG_TIMEOUT,
// SPICED_WRITE_TIMEOUT and SPICED_RECORD_SCENE, in that order (missing ones unset).
// Checks: the text parses to a value or to an error naming its origin; a parsed value keeps
// the header's ranges (ports 1-65535 with their origin, an address inet_pton accepts, no empty
// strings set, limits and timeouts in range); load_remote_listen on those variables (config
// file /dev/null) gives the same settings as the same keys written as file lines, since both
// sources spell the same settings.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qxl/abi/remote_listen.h"

using spiced::abi::RemoteListen;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool is_address(const std::string& text) {
    in6_addr storage{};
    return inet_pton(AF_INET, text.c_str(), &storage) == 1 ||
           inet_pton(AF_INET6, text.c_str(), &storage) == 1;
}

// Values are trimmed of spaces, tabs and CRs (not of newlines: a variable may end in one).
bool trimmed_non_empty(const std::string& s) {
    return !s.empty() && s.find_first_of(" \t\r") != 0 && s.find_last_of(" \t\r") != s.size() - 1;
}

// What remote_listen.h promises of any successfully parsed settings.
void check_invariants(const RemoteListen& r) {
    check(!r.port || (*r.port != 0 && !r.port_origin.empty()));
    check(!r.tls_port || (*r.tls_port != 0 && !r.tls_port_origin.empty()));
    check(r.any() == (r.port || r.tls_port));
    check(r.address.empty() || is_address(r.address));
    for (const std::string* s : {&r.x509_dir, &r.gpu, &r.vulkan_loader, &r.record_scene})
        check(s->empty() || trimmed_non_empty(*s));
    check(!r.client_memory_limit_bytes || *r.client_memory_limit_bytes >= (uint64_t{1} << 20));
    for (const auto* t :
         {&r.partial_message_timeout_seconds, &r.pong_timeout_seconds, &r.write_timeout_seconds})
        check(!*t || **t <= 86400);
}

bool same_settings(const RemoteListen& a, const RemoteListen& b) {
    return a.port == b.port && a.tls_port == b.tls_port && a.address == b.address &&
           a.x509_dir == b.x509_dir && a.gpu == b.gpu && a.vulkan_loader == b.vulkan_loader &&
           a.client_memory_limit_bytes == b.client_memory_limit_bytes &&
           a.glz_memory_limit_bytes == b.glz_memory_limit_bytes &&
           a.partial_message_timeout_seconds == b.partial_message_timeout_seconds &&
           a.pong_timeout_seconds == b.pong_timeout_seconds &&
           a.write_timeout_seconds == b.write_timeout_seconds && a.record_scene == b.record_scene;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    const std::string_view text = input.substr(0, nul);

    RemoteListen parsed;
    if (auto ok = spiced::abi::parse_remote_config(text, "fuzz.conf", parsed); ok) {
        check_invariants(parsed);
        check(!parsed.port || parsed.port_origin.starts_with("fuzz.conf:"));
    } else {
        check(ok.error().starts_with("fuzz.conf:"));
    }

    // The environment, and the same settings as file lines (where a value fits on one line
    // without a comment, the file can say it too).
    const auto variables = spiced::abi::remote_config_variables();
    std::vector<std::string> values;
    for (std::string_view rest = nul == std::string_view::npos ? "" : input.substr(nul + 1);
         !rest.empty() && values.size() < variables.size();) {
        const size_t end = rest.find('\0');
        values.emplace_back(rest.substr(0, end));
        rest = end == std::string_view::npos ? "" : rest.substr(end + 1);
    }
    std::string as_file;
    bool file_can_say_it = true;
    for (size_t k = 0; k < values.size(); ++k) {
        if (values[k].empty()) continue;  // an empty variable counts as unset
        file_can_say_it &= values[k].find_first_of("\n#") == std::string::npos;
        as_file += std::string(variables[k].key) + " = " + values[k] + "\n";
    }
    const auto getenv = [&values, variables](const char* name) -> const char* {
        if (std::string_view(name) == "SPICED_CONFIG") return "/dev/null";
        for (size_t k = 0; k < values.size(); ++k)
            if (std::string_view(name) == variables[k].variable) return values[k].c_str();
        return nullptr;
    };
    auto loaded = spiced::abi::load_remote_listen(getenv);
    if (loaded) check_invariants(*loaded);
    if (file_can_say_it) {
        RemoteListen from_file;
        auto ok = spiced::abi::parse_remote_config(as_file, "env.conf", from_file);
        check(ok.has_value() == loaded.has_value());
        if (loaded) check(same_settings(*loaded, from_file));
    }
    return 0;
}
