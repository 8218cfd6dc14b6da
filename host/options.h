// Command-line parsing for spiced-gpu. Option names and values follow QEMU's -spice where
// they overlap (port, addr, tls-port, password, disable-ticketing, image-compression, ...).
// The result has three parts: the server core's settings, the demo source's, and the host's
// own (the --dump-frame hook).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/expected.h"
#include "core/server_config.h"
#include "demo/demo_source.h"

namespace spiced {

// Where the pixels come from (--source).
enum class SourceKind { kDemo, kVirgl };

struct CommandLine {
    ServerConfig config;
    SourceKind source = SourceKind::kDemo;
    // The demo's settings; the virgl source takes its size (head_size), freeze_at and fps.
    DemoSourceConfig demo;
    std::string dump_frame;  // --dump-frame FILE ("" = off)
    // Lines for the log once logging runs (settings that were accepted with a remark).
    std::vector<std::string> notes;
    bool show_help = false;
    bool show_version = false;
};

// `args` excludes argv[0]. `environment_password` is $SPICED_PASSWORD (or empty).
// Errors are one sentence naming the option and what is wrong with its value.
Expected<CommandLine, std::string> parse_command_line(std::span<const std::string_view> args,
                                                      std::string_view environment_password);

std::string usage_text();

}  // namespace spiced
