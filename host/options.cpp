#include "host/options.h"

#include "core/channel_kinds.h"
#include "io/cpu_placement.h"

#include <spice/protocol.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace spiced {

namespace {
template <typename T>
std::optional<T> to_number(std::string_view text) {
    T value{};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<std::array<uint8_t, 16>> to_uuid(std::string_view text) {
    std::array<uint8_t, 16> uuid{};
    size_t nibble = 0;
    for (char c : text) {
        if (c == '-') continue;
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0 || nibble >= 32) return std::nullopt;
        uuid[nibble / 2] = uint8_t(uuid[nibble / 2] | (v << (nibble % 2 ? 0 : 4)));
        ++nibble;
    }
    if (nibble != 32) return std::nullopt;
    return uuid;
}

// --tls-channel / --plaintext-channel names (QEMU's); 0 stands for "default".
std::optional<uint8_t> to_channel(std::string_view name) {
    if (name == "default") return uint8_t{0};
    return channel_type_by_name(name);
}

// Options that take a value; everything else is a flag.
constexpr std::string_view kValued[] = {"--addr",
                                        "--port",
                                        "--tls-port",
                                        "--x509-dir",
                                        "--tls-channel",
                                        "--plaintext-channel",
                                        "--password",
                                        "--password-file",
                                        "--password-expiry",
                                        "--image-compression",
                                        "--jpeg-wan-compression",
                                        "--zlib-glz-wan-compression",
                                        "--mouse-mode",
                                        "--name",
                                        "--uuid",
                                        "--source",
                                        "--demo-size",
                                        "--demo-seed",
                                        "--demo-freeze",
                                        "--dump-frame",
                                        "--fps",
                                        "--demo-monitors",
                                        "--demo-monitor-model",
                                        "--multi-client",
                                        "--streaming-video",
                                        "--video-codecs",
                                        "--stream-min-frames",
                                        "--stream-min-fps",
                                        "--stream-min-area",
                                        "--stream-idle-ms",
                                        "--stream-max-fps",
                                        "--gpu",
                                        "--gpu-tile-size",
                                        "--record-scene",
                                        "--display-budget",
                                        "--web-root",
                                        "--websocket-origin",
                                        "--io-backend",
                                        "--zero-copy-min",
                                        "--client-memory-limit",
                                        "--partial-message-timeout",
                                        "--pong-timeout",
                                        "--write-timeout",
                                        "--channel-binding",
                                        "--glz-memory-limit",
                                        "--cpus",
                                        "--numa-node",
                                        "--shards"};
}  // namespace

std::string usage_text() {
    return R"(Usage: spiced-gpu [OPTIONS]
A SPICE remote-display server. Connect with: remote-viewer spice://ADDR:PORT

Network:
  --addr ADDR               listen address (default 127.0.0.1; 0.0.0.0 or :: for all)
  --port N                  plain SPICE port (default 5900)
  --tls-port N              TLS port (needs --x509-dir); with --tls-port and no --port,
                            there is no plaintext port
  --x509-dir DIR            TLS identity: DIR/ca-cert.pem, DIR/server-cert.pem and
                            DIR/server-key.pem (QEMU's and libvirt's layout)
  --tls-channel NAME        channel NAME (main, display, inputs, cursor, playback,
                            record, tunnel, smartcard, usbredir, port, webdav, or
                            default for all not named) links over TLS only; repeatable
  --plaintext-channel NAME  channel NAME links over the plain port only; repeatable.
                            With neither, every channel may use either port
  --web-root DIR            serve DIR's files over HTTP on the same port (e.g.
                            /usr/share/spice-html5); WebSocket clients connect there too
  --websocket-origin O      a browser origin (e.g. https://vdi.example.com) whose pages may
                            open a WebSocket; repeatable; "*" allows any. Default: only
                            pages served from this server (same origin) and non-browsers
Input/output and placement:
  --io-backend B            io_uring|epoll (default io_uring; epoll is used, with a log
                            line, when the kernel refuses io_uring)
  --zero-copy-min BYTES     io_uring: send batches this large with zero-copy (default
                            65536; 0 = never); dropped per client where the kernel copies
  --client-memory-limit BYTES  most bytes queued for one client connection; a client that
                            stops reading is disconnected there (default 16777216)
  --partial-message-timeout SECONDS  close a channel that sent part of a message and
                            nothing more for this long (default 30; 0 = never)
  --pong-timeout SECONDS    close a session whose main channel leaves a ping unanswered
                            this long (pings go every 10 s; default 60; 0 = never)
  --write-timeout SECONDS   close a channel whose client takes none of its queued output
                            for this long (default 60; 0 = never)
  --channel-binding host|none  host (default): a session's channels must come from the
                            address its main channel came from; none: any address
  --glz-memory-limit BYTES  memory all clients' GLZ dictionaries may hold together; a
                            window that does not fit is served smaller, or LZ is used
                            (default 1073741824; 0 = no GLZ)
  --shards N                io threads, each with its own ring, listeners and clients
                            (default: one per CPU we may run on, at most 8)
  --cpus LIST               run the server's threads on these CPUs (e.g. 2-3 or 4,6);
                            shard i is pinned to the i-th CPU of LIST (round robin)
  --numa-node N             allocate memory on NUMA node N (and, without --cpus, run on
                            its CPUs)
Authentication (one of these is required):
  --password PW             ticket password (visible in ps; prefer the two below)
  --password-file FILE      read the password from the first line of FILE
  (environment) SPICED_PASSWORD   the password, if no option gives one
  --password-expiry SECS    the password stops working SECS seconds after start
  --disable-ticketing       accept clients without a password
Display:
  --image-compression MODE  auto_glz|auto_lz|quic|glz|lz|lz4|off (default auto_glz):
                            auto_* pick QUIC for natural content and GLZ (auto_glz) or
                            LZ (auto_lz) for text/UI per image; off sends bitmaps
  --jpeg-wan-compression W  auto|never|always (default auto): JPEG instead of QUIC for
                            natural content, in auto only for low-bandwidth clients
  --zlib-glz-wan-compression W  auto|never|always (default auto): zlib over GLZ, in auto
                            only for low-bandwidth clients
  --mouse-mode MODE         client|server (default client): client offers both modes
                            and starts in client mode; server offers server mode only
  --multi-client MODE       off|shared|view (default off): what a second client gets.
                            off: it replaces the connected one (as spice-server);
                            shared: every client drives; view: the first client drives,
                            later ones watch (their input is ignored)
  --streaming-video MODE    off|all|filter (default filter): regions that change like
                            video go to clients as a video stream (H.264 or MJPEG) while
                            the rest stays lossless; filter: only natural-looking content
                            (a film, a 3D view) streams at once, anything else only after
                            it animated for a second; all: any such region streams at once
  --video-codecs LIST       codecs offered, best first, in QEMU's syntax ENC:CODEC;...
                            (default gstreamer:h264;spice:mjpeg). ENC: spice, gstreamer,
                            x264/x264enc, nvenc/h264_nvenc, vaapi/h264_vaapi, auto; CODEC:
                            h264, mjpeg (vp8, vp9, h265 are skipped with a log line).
                            Hardware encoders fall back to x264 when there is no device
  --stream-min-frames N     changed frames in a row before a region streams (default 3)
  --stream-min-fps F        slowest update rate that counts as video (default 10)
  --stream-min-area PIXELS  smallest streamed region (default 16384, i.e. 128x128)
  --stream-idle-ms MS       a stream ends after this long without change and its area is
                            sent again losslessly (default 300)
  --stream-max-fps N        most pictures a second per stream (default 60)
  --gpu DEVICE              where the compositor finds damage: auto (default: the best
                            Vulkan GPU, else the CPU), none (the CPU), or a Vulkan device
                            by index or by part of its name (e.g. llvmpipe: Mesa's CPU
                            Vulkan driver). A named device that cannot be opened is an
                            error; auto falls back to the CPU and logs why
  --gpu-tile-size N         damage granularity in pixels (4-256, a multiple of 4; default
                            16, the H.264 macroblock)
  --record-scene FILE       record every composition step (the changed pixels, moves and
                            hints of each display) to FILE, to replay a desktop off-line
                            through either compositor backend (tests/unit/scene_replay_test)
  --name NAME               VM name shown by clients
  --uuid UUID               VM UUID (32 hex digits, dashes allowed)
  --display-budget BYTES    queued display bytes per client before updates merge
                            (default 4194304)
Source:
  --source SOURCE           demo: the embedded demo desktop (default); virgl: moving
                            rectangles rendered by virglrenderer (EGL surfaceless, e.g. on
                            Mesa's llvmpipe) from our own virgl command stream, for tests
                            and benchmarks; it takes --demo-size, --demo-freeze and --fps
  --demo-size WxH           demo resolution of each head (default 1920x1080)
  --demo-monitors N         demo heads (1-16, default 1)
  --demo-monitor-model M    one-surface|channel-per-head (default one-surface): all heads
                            on one display channel with a monitors config (QXL's way), or
                            one display channel per head (QEMU's other multihead devices)
  --demo-seed S             the same seed gives the same pictures (default 1)
  --demo-freeze N           animate frames 0..N at the frame rate, then hold frame N
  --dump-frame FILE         write each head of the served picture as PPM whenever the
                            demo freezes, input changes it or the monitors change: head 0
                            to FILE, head N to FILE-headN (before the extension); the
                            demo renders for it even with no client connected
  --fps N                   frame rate of the demo (default 30)
  --help, --version
Log verbosity: SPICED_LOG_LEVEL=debug|info|warning|error (default info).
)";
}

Expected<CommandLine, std::string> parse_command_line(std::span<const std::string_view> args,
                                                      std::string_view environment_password) {
    CommandLine result;
    ServerConfig& config = result.config;
    std::optional<std::string> password;
    std::optional<int64_t> expiry_seconds;
    bool disable_ticketing = false;
    bool port_given = false;
    bool channel_policy_given = false;
    std::optional<ChannelSecurity> default_security;  // --tls-channel/--plaintext-channel default

    for (size_t i = 0; i < args.size(); ++i) {
        std::string_view option = args[i];
        std::string_view value;
        bool has_value = false;
        if (auto eq = option.find('='); option.starts_with("--") && eq != std::string_view::npos) {
            value = option.substr(eq + 1);
            option = option.substr(0, eq);
            has_value = true;
        }
        const bool valued =
            std::find(std::begin(kValued), std::end(kValued), option) != std::end(kValued);
        if (valued && !has_value) {
            if (i + 1 >= args.size()) return unexpected(std::string(option) + " needs a value");
            value = args[++i];
        } else if (!valued && has_value) {
            return unexpected(std::string(option) + " takes no value");
        }
        auto bad = [&](std::string_view why) {
            return unexpected(std::string(option) + ": '" + std::string(value) + "' " +
                              std::string(why));
        };

        if (option == "--help" || option == "-h") {
            result.show_help = true;
        } else if (option == "--version") {
            result.show_version = true;
        } else if (option == "--addr") {
            config.address = std::string(value);
        } else if (option == "--port") {
            auto port = to_number<uint32_t>(value);
            if (!port || *port > 65535) return bad("is not a port number (0-65535)");
            config.port = uint16_t(*port);
            port_given = true;
        } else if (option == "--tls-port") {
            auto port = to_number<uint32_t>(value);
            if (!port || *port > 65535) return bad("is not a port number (0-65535)");
            config.tls_port = uint16_t(*port);
        } else if (option == "--x509-dir") {
            if (value.empty()) return bad("is not a directory name");
            config.x509_dir = std::string(value);
        } else if (option == "--tls-channel" || option == "--plaintext-channel") {
            auto channel = to_channel(value);
            if (!channel) {
                return bad(
                    "is not a channel name (main, display, inputs, cursor, playback, record, "
                    "tunnel, smartcard, usbredir, port, webdav, default)");
            }
            const ChannelSecurity want = option == "--tls-channel" ? ChannelSecurity::kSecureOnly
                                                                   : ChannelSecurity::kPlainOnly;
            std::optional<ChannelSecurity>& slot =
                *channel == 0 ? default_security : config.channel_security[*channel];
            if (slot && *slot != want) {
                return bad("is named by both --tls-channel and --plaintext-channel");
            }
            slot = want;
            channel_policy_given = true;
        } else if (option == "--password") {
            password = std::string(value);
        } else if (option == "--password-file") {
            std::ifstream file{std::string(value)};
            if (!file) return bad("cannot be read");
            std::string line;
            std::getline(file, line);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            password = line;
        } else if (option == "--password-expiry") {
            auto seconds = to_number<int64_t>(value);
            if (!seconds || *seconds < 0) return bad("is not a number of seconds");
            expiry_seconds = *seconds;
        } else if (option == "--disable-ticketing") {
            disable_ticketing = true;
        } else if (option == "--image-compression") {
            auto mode = parse_image_compression(value);
            if (!mode) return bad("is not one of auto_glz, auto_lz, quic, glz, lz, lz4, off");
            config.images.mode = *mode;
        } else if (option == "--jpeg-wan-compression" || option == "--zlib-glz-wan-compression") {
            auto wan = parse_wan_compression(value);
            if (!wan) return bad("is not one of auto, never, always");
            (option == "--jpeg-wan-compression" ? config.images.jpeg_wan
                                                : config.images.zlib_glz_wan) = *wan;
        } else if (option == "--mouse-mode") {
            if (value != "client" && value != "server") return bad("is not client or server");
            config.client_mouse_mode = value == "client";
        } else if (option == "--multi-client") {
            if (value == "off") {
                config.multi_client = MultiClient::kOff;
            } else if (value == "shared") {
                config.multi_client = MultiClient::kShared;
            } else if (value == "view") {
                config.multi_client = MultiClient::kView;
            } else {
                return bad("is not off, shared or view");
            }
        } else if (option == "--streaming-video") {
            auto mode = parse_streaming_video(value);
            if (!mode) return bad(mode.error());
            config.video.streaming = *mode;
        } else if (option == "--video-codecs") {
            auto parsed = parse_video_codecs(value);
            if (!parsed) return unexpected(std::string(option) + ": " + parsed.error());
            config.video.codecs = std::move(parsed->choices);
            for (std::string& note : parsed->notes)
                result.notes.push_back("--video-codecs: " + note);
        } else if (option == "--stream-min-frames") {
            auto frames = to_number<int>(value);
            if (!frames || *frames < 1 || *frames > 1000)
                return bad("is not a frame count (1-1000)");
            config.video.detector.min_frames = *frames;
        } else if (option == "--stream-min-fps") {
            auto fps = to_number<int>(value);
            if (!fps || *fps < 1 || *fps > 240) return bad("is not a frame rate (1-240)");
            config.video.detector.min_fps = *fps;
        } else if (option == "--stream-min-area") {
            auto area = to_number<int64_t>(value);
            if (!area || *area < 64 * 64 || *area > int64_t{kMaxSurfacePixels})
                return bad("is not an area in pixels (4096 or more)");
            config.video.detector.min_area = *area;
        } else if (option == "--stream-idle-ms") {
            auto ms = to_number<int64_t>(value);
            if (!ms || *ms < 50 || *ms > 3'600'000) return bad("is not a time in ms (50-3600000)");
            config.video.detector.idle_after = std::chrono::milliseconds(*ms);
        } else if (option == "--stream-max-fps") {
            auto fps = to_number<int>(value);
            if (!fps || *fps < 1 || *fps > 240) return bad("is not a frame rate (1-240)");
            config.video.max_fps = *fps;
        } else if (option == "--gpu") {
            if (value.empty()) return bad("is not a device (auto, none, an index or a name)");
            config.gpu.device = std::string(value);
        } else if (option == "--gpu-tile-size") {
            auto tile = to_number<int32_t>(value);
            if (!tile || !gpu::valid_compositor_tile(*tile))
                return bad("is not a tile size (4-256, a multiple of 4)");
            config.gpu_tile_size = *tile;
        } else if (option == "--record-scene") {
            if (value.empty()) return bad("is not a file name");
            config.record_scene = std::string(value);
        } else if (option == "--name") {
            config.name = std::string(value);
        } else if (option == "--uuid") {
            auto uuid = to_uuid(value);
            if (!uuid) return bad("is not a UUID (32 hex digits)");
            config.uuid = *uuid;
        } else if (option == "--source") {
            if (value == "demo") {
                result.source = SourceKind::kDemo;
            } else if (value == "virgl") {
                result.source = SourceKind::kVirgl;
            } else {
                return bad("is not a known source (demo, virgl)");
            }
        } else if (option == "--demo-size") {
            auto x = value.find('x');
            auto w = to_number<int32_t>(value.substr(0, x));
            auto h = x == std::string_view::npos ? std::nullopt
                                                 : to_number<int32_t>(value.substr(x + 1));
            if (!w || !h || *w < 320 || *h < 240 || *w > 8192 || *h > 8192) {
                return bad("is not WIDTHxHEIGHT between 320x240 and 8192x8192");
            }
            result.demo.head_size = {*w, *h};
        } else if (option == "--demo-seed") {
            auto seed = to_number<uint64_t>(value);
            if (!seed) return bad("is not a non-negative integer");
            result.demo.seed = *seed;
        } else if (option == "--demo-freeze") {
            auto frame = to_number<int64_t>(value);
            if (!frame || *frame < 0) return bad("is not a frame number (0 or more)");
            result.demo.freeze_at = *frame;
        } else if (option == "--dump-frame") {
            if (value.empty()) return bad("is not a file name");
            result.dump_frame = std::string(value);
        } else if (option == "--fps") {
            auto fps = to_number<int>(value);
            if (!fps || *fps < 1 || *fps > 240) return bad("is not a frame rate (1-240)");
            result.demo.fps = *fps;
        } else if (option == "--demo-monitors") {
            auto heads = to_number<uint32_t>(value);
            if (!heads || *heads < 1 || *heads > kMaxHeads)
                return bad("is not a head count (1-16)");
            result.demo.heads = *heads;
        } else if (option == "--demo-monitor-model") {
            if (value == "one-surface") {
                result.demo.model = MonitorModel::kOneSurface;
            } else if (value == "channel-per-head") {
                result.demo.model = MonitorModel::kChannelPerHead;
            } else {
                return bad("is not one-surface or channel-per-head");
            }
        } else if (option == "--display-budget") {
            auto bytes = to_number<uint64_t>(value);
            if (!bytes || *bytes < 65536) return bad("is not a byte count (at least 65536)");
            config.display_budget_bytes = size_t(*bytes);
        } else if (option == "--web-root") {
            std::error_code error;
            if (value.empty() || !std::filesystem::is_directory(std::string(value), error)) {
                return bad("is not an existing directory");
            }
            config.web_root = std::string(value);
        } else if (option == "--websocket-origin") {
            if (value.empty() || (value != "*" && value.find("://") == std::string_view::npos)) {
                return bad("is not an origin (scheme://host[:port]) or *");
            }
            config.websocket_origins.emplace_back(value);
        } else if (option == "--io-backend") {
            if (value == "io_uring") {
                config.io.backend = IoBackend::kIoUring;
            } else if (value == "epoll") {
                config.io.backend = IoBackend::kEpoll;
            } else {
                return bad("is not io_uring or epoll");
            }
        } else if (option == "--zero-copy-min") {
            auto bytes = to_number<uint64_t>(value);
            if (!bytes || (*bytes != 0 && *bytes < 4096)) {
                return bad("is not a byte count (0, or at least 4096)");
            }
            config.io.zero_copy_min_bytes = size_t(*bytes);
        } else if (option == "--client-memory-limit") {
            auto bytes = to_number<uint64_t>(value);
            if (!bytes || *bytes < (1 << 20)) return bad("is not a byte count (at least 1048576)");
            config.client_memory_limit_bytes = size_t(*bytes);
        } else if (option == "--channel-binding") {
            if (value != "host" && value != "none") return bad("is not host or none");
            config.bind_channels_to_host = value == "host";
        } else if (option == "--glz-memory-limit") {
            auto bytes = to_number<uint64_t>(value);
            if (!bytes) return bad("is not a byte count (0 turns GLZ off)");
            config.glz_memory_limit_bytes = size_t(*bytes);
        } else if (option == "--partial-message-timeout" || option == "--pong-timeout" ||
                   option == "--write-timeout") {
            auto seconds = to_number<uint32_t>(value);
            if (!seconds || *seconds > 86400) return bad("is not a number of seconds (0-86400)");
            auto& timeout = option == "--pong-timeout"    ? config.pong_timeout
                            : option == "--write-timeout" ? config.write_timeout
                                                          : config.partial_message_timeout;
            timeout = std::chrono::seconds(*seconds);
        } else if (option == "--cpus") {
            auto cpus = parse_cpu_list(value);
            if (!cpus) return unexpected("--cpus: " + cpus.error());
            config.cpus = std::move(*cpus);
        } else if (option == "--shards") {
            auto shards = to_number<uint32_t>(value);
            if (!shards || *shards < 1 || *shards > 256) return bad("is not a shard count (1-256)");
            config.shards = *shards;
        } else if (option == "--numa-node") {
            auto node = to_number<int>(value);
            if (!node || *node < 0) return bad("is not a NUMA node number");
            config.numa_node = *node;
        } else {
            return unexpected("unknown option '" + std::string(args[i]) + "' (see --help)");
        }
    }
    if (result.show_help || result.show_version) return result;

    config.default_security = default_security.value_or(ChannelSecurity::kAny);
    config.plain_port_enabled = port_given || !config.tls_port;
    if (config.tls_port && config.x509_dir.empty()) {
        return unexpected(std::string(
            "--tls-port needs --x509-dir DIR, the TLS certificate directory (ca-cert.pem, "
            "server-cert.pem, server-key.pem)"));
    }
    if (!config.tls_port && !config.x509_dir.empty()) {
        return unexpected(std::string("--x509-dir is only used with --tls-port"));
    }
    if (!config.tls_port && channel_policy_given) {
        return unexpected(
            std::string("--tls-channel and --plaintext-channel need --tls-port (and --x509-dir)"));
    }
    if (config.tls_port && config.plain_port_enabled && *config.tls_port != 0 &&
        *config.tls_port == config.port) {
        return unexpected("--port and --tls-port are both " + std::to_string(config.port) +
                          "; they need different ports");
    }
    if (!config.plain_port_enabled) {
        bool plain_only = config.default_security == ChannelSecurity::kPlainOnly;
        for (const auto& security : config.channel_security) {
            plain_only = plain_only || security == ChannelSecurity::kPlainOnly;
        }
        if (plain_only) {
            return unexpected(
                std::string("--plaintext-channel needs a plain port: give --port as well"));
        }
    }

    if (result.source == SourceKind::kVirgl &&
        (result.demo.heads != 1 || result.demo.model != MonitorModel::kOneSurface)) {
        return unexpected(
            std::string("--source virgl shows one head: --demo-monitors and --demo-monitor-model "
                        "do not apply"));
    }
    if (int64_t{result.demo.head_size.width} * result.demo.head_size.height * result.demo.heads >
        kMaxSurfacePixels) {
        return unexpected("--demo-monitors " + std::to_string(result.demo.heads) +
                          " of --demo-size " + std::to_string(result.demo.head_size.width) + "x" +
                          std::to_string(result.demo.head_size.height) + " need more than " +
                          std::to_string(kMaxSurfacePixels) + " pixels");
    }
    if (config.client_memory_limit_bytes < 2 * config.display_budget_bytes) {
        return unexpected("--client-memory-limit (" +
                          std::to_string(config.client_memory_limit_bytes) +
                          ") must be at least twice --display-budget (" +
                          std::to_string(config.display_budget_bytes) + ")");
    }

    if (!password && !environment_password.empty()) password = std::string(environment_password);
    if (disable_ticketing && password) {
        return unexpected(
            std::string("--disable-ticketing and a password were both given; pick one"));
    }
    if (password) {
        if (password->empty()) return unexpected(std::string("the password is empty"));
        if (password->size() > SPICE_MAX_PASSWORD_LENGTH) {
            return unexpected("the password is longer than SPICE's " +
                              std::to_string(SPICE_MAX_PASSWORD_LENGTH) + " characters");
        }
        std::optional<TicketPolicy::Clock::time_point> expiry;
        if (expiry_seconds)
            expiry = TicketPolicy::Clock::now() + std::chrono::seconds(*expiry_seconds);
        config.ticket = TicketPolicy::password(*password, expiry);
    } else if (disable_ticketing) {
        if (expiry_seconds) return unexpected(std::string("--password-expiry needs a password"));
        config.ticket = TicketPolicy::disabled();
    } else {
        return unexpected(
            std::string("no password: give --password, --password-file or SPICED_PASSWORD, or "
                        "--disable-ticketing to let anyone who reaches the port connect"));
    }
    return result;
}

}  // namespace spiced
