// spiced-codec: measures one image codec on PNG/PPM files, the way the server uses it (one
// thread, one encoder per client) and checks that our decoder gets the picture back.
//
// This is an interface other tooling scripts against: option names, codec names, JSON field
// names and exit codes are fixed. See usage() for the contract.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "encode/codecs.h"
#include "encode/image_file.h"

namespace spiced {
namespace {

constexpr int kExitError = 1;            // unreadable file, codec missing, encode failure
constexpr int kExitUsage = 2;            // bad command line
constexpr int kExitRoundTripFailed = 3;  // results printed, but a decode did not match

// make_image_encoder(kGlz) models a client window of 2^24 pixels (encode/dispatch.cpp); our
// decoder must keep the same window or it could miss references the encoder made.
constexpr int64_t kGlzWindowPixels = int64_t{1} << 24;

// Timing: at least this many runs and at least this much time, whichever takes longer, and
// the median run reported (robust against a stray context switch).
constexpr int kMinRuns = 5;
constexpr double kMinSeconds = 0.2;
constexpr int kMaxRuns = 100000;  // caps tiny images, where 0.2 s would be millions of runs
// Wall-clock cap on the extra runs: for GLZ each run also builds a fresh encoder or decoder
// (untimed), which on a tiny image can cost far more than the codec itself.
constexpr double kMaxWallSeconds = 1.0;

// How many runs make a figure. Default: the minimums and caps above. `--runs N`: exactly N
// runs, no time minimum (round-trip checks over many files, where the figures do not matter).
struct RunPolicy {
    std::optional<int> exact_runs;
};

void usage(std::FILE* to) {
    std::fputs(
        "Usage: spiced-codec --codec quic|lz|glz|lz4|jpeg [--json] FILE...\n"
        "\n"
        "Loads each PNG or PPM (P6) file as a 32-bit BGRX picture (PNG palette, grey, alpha\n"
        "and 16-bit images are converted to 8-bit RGB; alpha is dropped), encodes it with the\n"
        "codec on one thread, decodes it with spiced's own decoder and checks the round trip.\n"
        "\n"
        "  --codec NAME  quic, lz, glz, lz4 or jpeg (jpeg at quality 85, as the server)\n"
        "  --json        one JSON object per file and line, fields:\n"
        "                  file, codec, width, height, compressed_bytes (the SPICE image body),\n"
        "                  encode_mbps, decode_mbps (10^6 bytes/s of the 4*width*height input,\n"
        "                  median of >= 5 runs and >= 0.2 s of codec time, at most 1 s of\n"
        "                  wall time beyond 5 runs; decode_mbps is null when the\n"
        "                  decode failed), roundtrip_ok (lossless codecs: every pixel's RGB\n"
        "                  equal; jpeg, being lossy: decoded without error to the right size)\n"
        "                Without --json a table is printed.\n"
        "  --runs N      exactly N encode and N decode runs per file (N >= 1), no time\n"
        "                minimum: for round-trip checks, where the figures matter less\n"
        "                (median of N runs; fields and output unchanged)\n"
        "  --help        this text\n"
        "\n"
        "Exit status: 0 all round trips ok; 1 a file could not be read or encoded, or the\n"
        "codec is not available in this build; 2 bad command line; 3 a round trip failed.\n"
        "Errors are one line on stderr.\n",
        to);
}

std::optional<ImageCodec> parse_codec(std::string_view name) {
    for (ImageCodec codec : {ImageCodec::kQuic, ImageCodec::kLz, ImageCodec::kGlz, ImageCodec::kLz4,
                             ImageCodec::kJpeg}) {
        if (name == to_string(codec)) return codec;
    }
    return std::nullopt;
}

bool is_lossy(ImageCodec codec) {
    return codec == ImageCodec::kJpeg;
}
bool is_stateful(ImageCodec codec) {
    return codec == ImageCodec::kGlz || codec == ImageCodec::kZlibGlz;
}

// ---- Measuring -------------------------------------------------------------------------------

struct Result {
    std::string file;
    ImageCodec codec = ImageCodec::kLz4;
    Size size;
    size_t compressed_bytes = 0;
    double encode_mbps = 0;
    std::optional<double> decode_mbps;  // none when the decode failed
    bool roundtrip_ok = false;
    std::string problem;  // why the round trip failed
};

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `once` (returns its own elapsed seconds, < 0 on failure) until both minimums are met
// or a cap is hit; the median.
template <typename Fn>
double median_seconds(const RunPolicy& policy, Fn&& once) {
    std::vector<double> times;
    double total = 0;
    const auto start = Clock::now();
    auto more = [&] {
        if (policy.exact_runs) return int(times.size()) < *policy.exact_runs;
        if (int(times.size()) < kMinRuns) return true;
        return total < kMinSeconds && int(times.size()) < kMaxRuns &&
               seconds_since(start) < kMaxWallSeconds;
    };
    while (more()) {
        const double t = once();
        if (t < 0) return -1;
        times.push_back(t);
        total += t;
    }
    return median(std::move(times));
}

std::string same_pixels(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) {
        return "decoded " + std::to_string(b.width()) + "x" + std::to_string(b.height());
    }
    for (int32_t y = 0; y < a.height(); ++y) {
        for (int32_t x = 0; x < a.width(); ++x) {
            if (a.pixel(x, y) != b.pixel(x, y)) {
                return "pixel " + std::to_string(x) + "," + std::to_string(y) + " differs";
            }
        }
    }
    return {};
}

Expected<Result, std::string> measure(const std::string& path, const Frame& frame, ImageCodec codec,
                                      const RunPolicy& policy) {
    Result result;
    result.file = path;
    result.codec = codec;
    result.size = frame.size();
    const double input_mb = 4.0 * double(frame.size().area()) / 1e6;

    // GLZ remembers what it sent: re-encoding the same picture with one encoder would find it
    // in the window and cost nothing. Each run gets a fresh encoder (and decoder) for such
    // codecs; the others reuse theirs, as a client's channel does.
    std::unique_ptr<ImageEncoder> encoder = make_image_encoder(codec);
    ByteWriter out;
    uint8_t image_type = 0;
    std::string encode_error;
    const double encode_s = median_seconds(policy, [&]() -> double {
        if (is_stateful(codec) || !encoder) encoder = make_image_encoder(codec);
        out.buffer().clear();  // keeps the capacity: we time the codec, not the allocator
        const auto start = Clock::now();
        auto type = encoder->encode(frame, frame.rect(), out, 0);
        const double t = seconds_since(start);
        if (!type) {
            encode_error = type.error();
            return -1;
        }
        image_type = *type;
        return t;
    });
    if (encode_s < 0) return unexpected("encode failed: " + encode_error);
    result.compressed_bytes = out.size();
    result.encode_mbps = input_mb / encode_s;
    const std::vector<uint8_t> body = out.take();

    std::unique_ptr<ImageDecoder> decoder = make_image_decoder(kGlzWindowPixels);
    std::unique_ptr<Frame> decoded;
    std::string decode_error;
    const double decode_s = median_seconds(policy, [&]() -> double {
        if (is_stateful(codec)) decoder = make_image_decoder(kGlzWindowPixels);
        const auto start = Clock::now();
        auto picture = decoder->decode(image_type, frame.size(), body, 0);
        const double t = seconds_since(start);
        if (!picture) {
            decode_error = picture.error();
            return -1;
        }
        decoded = std::move(*picture);
        return t;
    });
    if (decode_s < 0) {
        result.problem = "decode failed: " + decode_error;
        return result;
    }
    result.decode_mbps = input_mb / decode_s;
    if (is_lossy(codec)) {
        result.roundtrip_ok = decoded->size() == frame.size();
        if (!result.roundtrip_ok) result.problem = "decoded to the wrong size";
    } else {
        result.problem = same_pixels(frame, *decoded);
        result.roundtrip_ok = result.problem.empty();
    }
    return result;
}

// ---- Output ----------------------------------------------------------------------------------

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
                    out += escaped;
                } else {
                    out += c;  // UTF-8 passes through unchanged
                }
        }
    }
    return out + "\"";
}

void print_json(const Result& r) {
    char speeds[96];
    std::snprintf(speeds, sizeof(speeds), "\"encode_mbps\":%.2f,", r.encode_mbps);
    std::string decode = "null";
    if (r.decode_mbps) {
        char number[32];
        std::snprintf(number, sizeof(number), "%.2f", *r.decode_mbps);
        decode = number;
    }
    std::printf(
        "{\"file\":%s,\"codec\":\"%s\",\"width\":%d,\"height\":%d,"
        "\"compressed_bytes\":%zu,%s\"decode_mbps\":%s,\"roundtrip_ok\":%s}\n",
        json_string(r.file).c_str(), std::string(to_string(r.codec)).c_str(), r.size.width,
        r.size.height, r.compressed_bytes, speeds, decode.c_str(),
        r.roundtrip_ok ? "true" : "false");
}

void print_table_header() {
    std::printf("%-32s %-5s %11s %12s %7s %12s %12s  %s\n", "file", "codec", "size", "bytes",
                "ratio", "encode MB/s", "decode MB/s", "round trip");
}

void print_table_row(const Result& r) {
    const std::string size = std::to_string(r.size.width) + "x" + std::to_string(r.size.height);
    // Ratio against 24-bit RGB, as docs/benchmarks.md and codec_bench count it.
    const double ratio =
        3.0 * double(r.size.area()) / double(std::max<size_t>(1, r.compressed_bytes));
    char decode[32] = "-";
    if (r.decode_mbps) std::snprintf(decode, sizeof(decode), "%.1f", *r.decode_mbps);
    std::printf("%-32s %-5s %11s %12zu %7.2f %12.1f %12s  %s\n", r.file.c_str(),
                std::string(to_string(r.codec)).c_str(), size.c_str(), r.compressed_bytes, ratio,
                r.encode_mbps, decode, r.roundtrip_ok ? "ok" : ("FAILED: " + r.problem).c_str());
}

int run(int argc, char** argv) {
    std::optional<ImageCodec> codec;
    bool json = false;
    RunPolicy policy;
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        }
        if (arg == "--json") {
            json = true;
        } else if (arg == "--runs" || arg.starts_with("--runs=")) {
            std::string value;
            if (arg == "--runs") {
                if (i + 1 >= argc) {
                    std::fprintf(stderr, "spiced-codec: --runs needs a number (1 or more)\n");
                    return kExitUsage;
                }
                value = argv[++i];
            } else {
                value = std::string(arg.substr(std::strlen("--runs=")));
            }
            char* end = nullptr;
            errno = 0;
            const long runs = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || errno != 0 || runs < 1 || runs > kMaxRuns) {
                std::fprintf(stderr, "spiced-codec: --runs '%s' is not a number from 1 to %d\n",
                             value.c_str(), kMaxRuns);
                return kExitUsage;
            }
            policy.exact_runs = int(runs);
        } else if (arg == "--codec" || arg.starts_with("--codec=")) {
            std::string_view name;
            if (arg == "--codec") {
                if (i + 1 >= argc) {
                    std::fprintf(stderr,
                                 "spiced-codec: --codec needs a name (quic, lz, glz, lz4, jpeg)\n");
                    return kExitUsage;
                }
                name = argv[++i];
            } else {
                name = arg.substr(std::strlen("--codec="));
            }
            codec = parse_codec(name);
            if (!codec) {
                std::fprintf(
                    stderr,
                    "spiced-codec: unknown codec '%.*s' (known: quic, lz, glz, lz4, jpeg)\n",
                    int(name.size()), name.data());
                return kExitUsage;
            }
        } else if (arg == "--") {
            for (++i; i < argc; ++i) files.emplace_back(argv[i]);
        } else if (arg.starts_with("-") && arg != "-") {
            std::fprintf(stderr, "spiced-codec: unknown option '%s' (see --help)\n", argv[i]);
            return kExitUsage;
        } else {
            files.emplace_back(arg);
        }
    }
    if (!codec) {
        std::fprintf(stderr, "spiced-codec: --codec is required (see --help)\n");
        return kExitUsage;
    }
    if (files.empty()) {
        std::fprintf(stderr, "spiced-codec: no input files (see --help)\n");
        return kExitUsage;
    }
    if (!make_image_encoder(*codec)) {
        std::fprintf(stderr, "spiced-codec: codec %s is not available in this build\n",
                     std::string(to_string(*codec)).c_str());
        return kExitError;
    }

    int status = 0;
    if (!json) print_table_header();
    for (const std::string& path : files) {
        auto frame = load_image_file(path);
        if (!frame) {
            std::fprintf(stderr, "spiced-codec: %s: %s\n", path.c_str(), frame.error().c_str());
            status = kExitError;
            continue;
        }
        auto result = measure(path, **frame, *codec, policy);
        if (!result) {
            std::fprintf(stderr, "spiced-codec: %s: %s\n", path.c_str(), result.error().c_str());
            status = kExitError;
            continue;
        }
        if (json) {
            print_json(*result);
        } else {
            print_table_row(*result);
        }
        std::fflush(stdout);
        if (!result->roundtrip_ok) {
            std::fprintf(stderr, "spiced-codec: %s: round trip failed: %s\n", path.c_str(),
                         result->problem.c_str());
            if (status == 0) status = kExitRoundTripFailed;
        }
    }
    return status;
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    return spiced::run(argc, argv);
}
