// spiced-gpu: parse the command line, start the server's shards, run until signalled.
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "core/options.h"
#include "core/server.h"
#include "io/cpu_placement.h"

namespace {
int run(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    const char* env_password = std::getenv("SPICED_PASSWORD");
    auto command_line = spiced::parse_command_line(args, env_password ? env_password : "");
    if (!command_line) {
        std::fprintf(stderr, "spiced-gpu: %s\n", command_line.error().c_str());
        return 2;
    }
    if (command_line->show_help) {
        std::fputs(spiced::usage_text().c_str(), stdout);
        return 0;
    }
    if (command_line->show_version) {
        std::puts("spiced-gpu " SPICED_VERSION);
        return 0;
    }
    // Before any thread starts: they all inherit the main thread's CPUs and memory policy.
    auto placement =
        spiced::place_server_threads(command_line->config.cpus, command_line->config.numa_node);
    if (!placement) {
        LOG_ERROR("server", "cannot place threads: %s", placement.error().c_str());
        return 1;
    }
    const auto& wanted = command_line->config;
    if (!wanted.cpus.empty() || wanted.numa_node) {
        LOG_INFO("server", "placement: %s", placement->c_str());
    }
    auto server = spiced::Server::create(std::move(command_line->config));
    if (!server) {
        LOG_ERROR("server", "cannot start: %s", server.error().c_str());
        return 1;
    }
    const auto& config = (*server)->config();
    // "127.0.0.1:5900", "127.0.0.1:5900 and TLS 127.0.0.1:5901" or "TLS 127.0.0.1:5901".
    std::string where;
    if (config.plain_port_enabled) where = config.address + ":" + std::to_string((*server)->port());
    if (config.tls_port) {
        where += (where.empty() ? "TLS " : " and TLS ") + config.address + ":" +
                 std::to_string((*server)->tls_port());
    }
    auto ran = (*server)->run([&](std::string_view backend) {
        LOG_INFO("server", "listening on %s (demo desktop %dx%d, seed %llu, %s, %s, %zu shards)",
                 where.c_str(), config.demo_size.width, config.demo_size.height,
                 static_cast<unsigned long long>(config.demo_seed),
                 config.ticket.ticketing_enabled() ? "password required" : "no password",
                 std::string(backend).c_str(), (*server)->shard_count());
    });
    server->reset();
    if (!ran) {
        LOG_ERROR("server", "cannot start: %s", ran.error().c_str());
        return 1;
    }
    LOG_INFO("server", "stopped");
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    // Errors are values everywhere; only allocation failure can throw. Say so in one line.
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        LOG_ERROR("server", "fatal: %s", error.what());
        return 1;
    }
}
