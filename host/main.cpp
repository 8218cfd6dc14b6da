// spiced-gpu: the standalone host of the server core. It owns what a host owns: the command
// line, thread placement, and how the process ends (SIGINT/SIGTERM); the core runs on its own
// threads and changes nothing process-wide.
#include <csignal>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "core/server.h"
#include "demo/demo_source.h"
#include "display/frame_tap.h"
#include "host/options.h"
#include "io/cpu_placement.h"
#ifdef SPICED_HAVE_VIRGL
#include "virgl/virgl_source.h"
#endif

namespace {

// The source --source asks for, and how the start-up log line names it; an error when it
// cannot start (the operator asked for it: no fallback).
struct ChosenSource {
    std::unique_ptr<spiced::DisplaySource> source;
    std::string description;
};

spiced::Expected<ChosenSource, std::string> make_source(const spiced::CommandLine& command_line) {
    const spiced::DemoSourceConfig& demo = command_line.demo;
    if (command_line.source == spiced::SourceKind::kVirgl) {
#ifdef SPICED_HAVE_VIRGL
        spiced::VirglSourceConfig config;
        config.size = demo.head_size;
        config.freeze_at = demo.freeze_at;
        config.fps = demo.fps;
        auto source = spiced::VirglSource::create(std::move(config));
        if (!source) return spiced::unexpected("--source virgl: " + source.error());
        std::string description = "virgl source " + std::to_string(demo.head_size.width) + "x" +
                                  std::to_string(demo.head_size.height) + ", " +
                                  (*source)->description();
        return ChosenSource{std::move(*source), std::move(description)};
#else
        return spiced::unexpected(std::string(
            "--source virgl: this build has no virglrenderer (install libvirglrenderer-dev)"));
#endif
    }
    char text[160];
    std::snprintf(
        text, sizeof(text), "demo desktop %u x %dx%d %s, seed %llu", demo.heads,
        demo.head_size.width, demo.head_size.height,
        demo.model == spiced::MonitorModel::kOneSurface ? "on one surface" : "one channel each",
        static_cast<unsigned long long>(demo.seed));
    return ChosenSource{std::make_unique<spiced::DemoSource>(demo), text};
}

// "127.0.0.1:5900", "127.0.0.1:5900 and TLS 127.0.0.1:5901" or "TLS 127.0.0.1:5901".
std::string listening_on(const spiced::Server& server) {
    const auto& config = server.config();
    std::string where;
    if (config.plain_port_enabled) where = config.address + ":" + std::to_string(server.port());
    if (config.tls_port) {
        where += (where.empty() ? "TLS " : " and TLS ") + config.address + ":" +
                 std::to_string(server.tls_port());
    }
    return where;
}

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
    // A private Vulkan loader (or, in tests, a missing one) instead of libvulkan.so.1.
    if (const char* loader = std::getenv("SPICED_VULKAN_LOADER"); loader && *loader)
        command_line->config.gpu.vulkan_loader = loader;
    // SIGINT and SIGTERM end the process: blocked here and taken with sigwait() below, so a
    // signal during start-up waits for us instead of killing the process.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // This host owns the process: a log line to a closed stderr pipe must not kill the
    // server. (The core needs nothing of the kind: its sends never raise SIGPIPE.)
    std::signal(SIGPIPE, SIG_IGN);

    // Before any thread starts: they all inherit the main thread's CPUs and memory policy.
    const auto& wanted = command_line->config;
    auto placement = spiced::place_server_threads(wanted.cpus, wanted.numa_node);
    if (!placement) {
        LOG_ERROR("server", "cannot place threads: %s", placement.error().c_str());
        return 1;
    }
    if (!wanted.cpus.empty() || wanted.numa_node) {
        LOG_INFO("server", "placement: %s", placement->c_str());
    }
    for (const std::string& note : command_line->notes) LOG_WARN("server", "%s", note.c_str());
    const std::string video = std::string(spiced::to_string(wanted.video.streaming)) + "; codecs " +
                              spiced::to_string(wanted.video.codecs);
    auto chosen = make_source(*command_line);
    if (!chosen) {
        LOG_ERROR("server", "cannot start: %s", chosen.error().c_str());
        return 1;
    }
    std::vector<std::unique_ptr<spiced::FrameTap>> taps;
    if (!command_line->dump_frame.empty())
        taps.push_back(spiced::make_ppm_dump_tap(command_line->dump_frame));
    auto server = spiced::Server::create(std::move(command_line->config), std::move(chosen->source),
                                         std::move(taps));
    if (!server) {
        LOG_ERROR("server", "cannot start: %s", server.error().c_str());
        return 1;
    }
    if (auto started = (*server)->start(); !started) {
        LOG_ERROR("server", "cannot start: %s", started.error().c_str());
        return 1;
    }
    LOG_INFO("server", "listening on %s (%s, %s, %s, %zu shards)", listening_on(**server).c_str(),
             chosen->description.c_str(),
             (*server)->config().ticket.ticketing_enabled() ? "password required" : "no password",
             std::string((*server)->backend_name()).c_str(), (*server)->shard_count());
    LOG_INFO("server", "video streams: %s", video.c_str());
    int signal = 0;
    sigwait(&stop_signals, &signal);
    LOG_INFO("server", "received signal %d, shutting down", signal);
    (*server)->stop();
    server->reset();
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
