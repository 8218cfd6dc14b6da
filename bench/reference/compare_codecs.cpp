// Our lossless image encoders against the reference ones (spice-common's QUIC and LZ,
// spice-server's GLZ and LZ4) on a corpus of screen images, in one process.
//
// Built and run by scripts/compare-reference-codecs.sh, which fetches and builds the reference
// code outside this repository (bench/reference/reference_codecs.h). For every image and codec
// it times our encoder and the reference encoder in alternating rounds (thread CPU time; the
// order of the two flips every round; round 0 is a warm-up), takes the median per image, and
// checks that every stream of both sides decodes to the original pixels: ours and the
// reference's QUIC, LZ and GLZ streams with our decoders, the reference's LZ4 blocks with liblz4.
//
// Our encoders are used as the server uses them: make_image_encoder() for QUIC, LZ (palette
// when the image has at most 256 colours) and LZ4; GLZ with a window of the image's size (plus
// one pixel: the reference needs the window larger than the image) and the encoder kept across
// the rounds, as a client's is. The reference is fed as spice-server feeds it a 32-bit top-down
// bitmap in one chunk: QUIC_IMAGE_TYPE_RGB32, LZ_IMAGE_TYPE_RGB32 (spice-server never makes a
// palette), GLZ RGB32 and lz4-encoder.c's BGRX rows in place.
//
// Output: per image lines on stderr; on stdout a Markdown table of our speed / the reference's
// (median over the images of each kind, and over all) with the size ratio, and a table of size
// ratios per kind. --json FILE writes every image's figures.
#include <lz4.h>
#include <spice/enums.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/reference/reference_codecs.h"
#include "encode/codecs.h"
#include "encode/image_file.h"

namespace spiced {
namespace {

struct Options {
    std::string corpus = "tests/corpus/screens";
    int rounds = 9;
    std::string json;
    std::vector<std::string> codecs = {"quic", "lz", "glz", "lz4"};
};

struct Image {
    std::string kind;
    std::string name;
    std::unique_ptr<Frame> frame;
};

struct Result {
    std::string kind, name, codec;
    Size size;
    double ours_us = 0, theirs_us = 0;
    size_t ours_bytes = 0, theirs_bytes = 0;
    uint8_t ours_type = 0;
    bool identical = false;
};

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "compare_codecs: %s\n", message.c_str());
    std::exit(1);
}

double thread_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    if (n == 0) return 0;
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string type_name(uint8_t type) {
    switch (type) {
        case SPICE_IMAGE_TYPE_QUIC:
            return "QUIC";
        case SPICE_IMAGE_TYPE_LZ_PLT:
            return "LZ_PLT";
        case SPICE_IMAGE_TYPE_LZ_RGB:
            return "LZ_RGB";
        case SPICE_IMAGE_TYPE_GLZ_RGB:
            return "GLZ_RGB";
        case SPICE_IMAGE_TYPE_LZ4:
            return "LZ4";
        default:
            return std::to_string(type);
    }
}

// Kinds in the order the docs' tables use, then any others alphabetically.
std::vector<std::string> order_kinds(const std::set<std::string>& kinds) {
    std::vector<std::string> ordered;
    for (const char* known : {"text", "natural", "cad", "video"}) {
        if (kinds.count(known)) ordered.emplace_back(known);
    }
    for (const auto& kind : kinds) {
        if (std::find(ordered.begin(), ordered.end(), kind) == ordered.end()) {
            ordered.push_back(kind);
        }
    }
    return ordered;
}

std::vector<Image> load_corpus(const std::string& root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) die("no corpus directory " + root);
    std::vector<fs::path> kinds;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (entry.is_directory()) kinds.push_back(entry.path());
    }
    std::sort(kinds.begin(), kinds.end());
    std::vector<Image> images;
    for (const auto& dir : kinds) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.is_regular_file() && entry.path().extension() == ".png") {
                files.push_back(entry.path());
            }
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            auto frame = load_image_file(file.string());
            if (!frame) die(file.string() + ": " + frame.error());
            images.push_back({dir.filename().string(), file.stem().string(), std::move(*frame)});
        }
    }
    if (images.empty()) die("no <kind>/<name>.png under " + root);
    return images;
}

// BGR of every pixel (decoders write X = 0 or 255; the source's X is not image content).
bool same_pixels(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) return false;
    for (int32_t y = 0; y < a.height(); ++y) {
        const uint32_t* ra = a.row(y);
        const uint32_t* rb = b.row(y);
        for (int32_t x = 0; x < a.width(); ++x) {
            if ((ra[x] ^ rb[x]) & 0x00ffffffu) return false;
        }
    }
    return true;
}

// The reference's LZ4 data (u8 top_down, u8 format, then [u32 big-endian size][block]...) as
// a client decodes it: one linked liblz4 stream, compared byte for byte with the source rows.
std::string check_reference_lz4(std::span<const uint8_t> data, const Frame& frame) {
    const size_t row_bytes = size_t(frame.width()) * 4;
    const size_t total = row_bytes * size_t(frame.height());
    if (data.size() < 2 || data[0] != 1 || data[1] != SPICE_BITMAP_FMT_32BIT) {
        return "lz4: unexpected header";
    }
    std::vector<uint8_t> out(total);
    LZ4_streamDecode_t stream;
    LZ4_setStreamDecode(&stream, nullptr, 0);
    size_t at = 2, filled = 0;
    while (at < data.size()) {
        if (data.size() - at < 4) return "lz4: truncated block header";
        const uint32_t block = uint32_t{data[at]} << 24 | uint32_t{data[at + 1]} << 16 |
                               uint32_t{data[at + 2]} << 8 | data[at + 3];
        at += 4;
        if (block > data.size() - at) return "lz4: truncated block";
        const int n = LZ4_decompress_safe_continue(
            &stream, reinterpret_cast<const char*>(data.data() + at),
            reinterpret_cast<char*>(out.data() + filled), int(block), int(total - filled));
        if (n < 0) return "lz4: corrupt block";
        filled += size_t(n);
        at += block;
    }
    if (filled != total) return "lz4: wrong decoded size";
    for (int32_t y = 0; y < frame.height(); ++y) {
        if (std::memcmp(out.data() + size_t(y) * row_bytes, frame.row(y), row_bytes) != 0) {
            return "lz4: decoded pixels differ";
        }
    }
    return {};
}

enum RefCodecKind ref_kind(const std::string& codec) {
    if (codec == "quic") return REF_QUIC;
    if (codec == "lz") return REF_LZ;
    if (codec == "glz") return REF_GLZ;
    return REF_LZ4;
}

int64_t glz_window(const Frame& frame) {
    return frame.size().area() + 1;
}

std::unique_ptr<ImageEncoder> make_ours(const std::string& codec, const Frame& frame) {
    if (codec == "quic") return make_image_encoder(ImageCodec::kQuic);
    if (codec == "lz") return make_image_encoder(ImageCodec::kLz);
    if (codec == "glz") return make_glz_encoder({glz_window(frame), false});
    return make_image_encoder(ImageCodec::kLz4);
}

// Decodes one of our bodies (the whole message: message_start 0).
std::string check_ours(const std::string& codec, uint8_t type, std::span<const uint8_t> body,
                       const Frame& frame, GlzDecoderWindow* glz) {
    Expected<std::unique_ptr<Frame>, std::string> decoded =
        codec == "glz" ? decode_glz_body(*glz, type, frame.size(), body)
                       : make_image_decoder()->decode(type, frame.size(), body, 0);
    if (!decoded) return "ours: " + decoded.error();
    if (!same_pixels(**decoded, frame)) return "ours: decoded pixels differ";
    return {};
}

// Decodes one reference body (u32 data_size + the encoder's output, as spice-server sends it).
std::string check_theirs(const std::string& codec, std::span<const uint8_t> body,
                         const Frame& frame, GlzDecoderWindow* glz) {
    if (codec == "lz4") return check_reference_lz4(body.subspan(4), frame);
    Expected<std::unique_ptr<Frame>, std::string> decoded =
        codec == "quic"  ? decode_quic_body(body, frame.size())
        : codec == "glz" ? decode_glz_body(*glz, SPICE_IMAGE_TYPE_GLZ_RGB, frame.size(), body)
                         : decode_lz_body(SPICE_IMAGE_TYPE_LZ_RGB, frame.size(), body, 0);
    if (!decoded) return "reference: " + decoded.error();
    if (!same_pixels(**decoded, frame)) return "reference: decoded pixels differ";
    return {};
}

struct Shared {
    std::map<std::string, RefCodec*> reference;  // one per codec for the run, GLZ aside
};

Result measure(const Image& image, const std::string& codec, int rounds, Shared& shared) {
    Frame& frame = *image.frame;
    Result result{image.kind, image.name, codec, frame.size()};
    auto ours = make_ours(codec, frame);
    if (!ours) die(codec + ": not available in this build");
    RefCodec* theirs = nullptr;
    RefCodec* glz_reference = nullptr;
    if (codec == "glz") {
        glz_reference = ref_codec_create(REF_GLZ, uint32_t(glz_window(frame)));
        theirs = glz_reference;
    } else {
        auto& slot = shared.reference[codec];
        if (slot == nullptr) slot = ref_codec_create(ref_kind(codec), 0);
        theirs = slot;
    }
    if (theirs == nullptr) die(codec + ": could not create the reference encoder");

    const std::string where = image.kind + "/" + image.name + " " + codec;
    ByteWriter out(size_t(frame.size().area()) * 4 + 4096);
    std::vector<double> ours_s, theirs_s;
    // Every GLZ output, in order, for the decoder windows afterwards; other codecs are checked
    // on the warm-up round and the last one.
    std::vector<std::pair<uint8_t, std::vector<uint8_t>>> ours_glz;
    std::vector<std::vector<uint8_t>> theirs_glz;
    std::vector<uint8_t> ours_body, theirs_body;
    uint8_t ours_type = 0;
    auto run_ours = [&](bool timed) {
        out.buffer().clear();
        const double t0 = thread_seconds();
        auto type = ours->encode(frame, frame.rect(), out, 0);
        const double t1 = thread_seconds();
        if (!type) die(where + ": ours: " + type.error());
        if (timed) ours_s.push_back(t1 - t0);
        ours_type = *type;
        ours_body.assign(out.buffer().begin(), out.buffer().end());
        if (codec == "glz") ours_glz.emplace_back(ours_type, ours_body);
    };
    auto run_theirs = [&](bool timed) {
        const double t0 = thread_seconds();
        const long n =
            ref_codec_encode(theirs, frame.data(), frame.width(), frame.height(), frame.stride());
        const double t1 = thread_seconds();
        if (n < 0) die(where + ": reference: " + ref_codec_error(theirs));
        if (timed) theirs_s.push_back(t1 - t0);
        theirs_body.resize(4 + size_t(n));
        for (int k = 0; k < 4; ++k) theirs_body[size_t(k)] = uint8_t(uint32_t(n) >> (8 * k));
        ref_codec_copy_output(theirs, theirs_body.data() + 4, n);
        ref_codec_release_output(theirs);
        if (codec == "glz") theirs_glz.push_back(theirs_body);
    };
    auto check_round = [&] {
        if (codec == "glz") return;
        std::string error = check_ours(codec, ours_type, ours_body, frame, nullptr);
        if (error.empty()) error = check_theirs(codec, theirs_body, frame, nullptr);
        if (!error.empty()) die(where + ": " + error);
    };
    for (int round = 0; round <= rounds; ++round) {
        const bool timed = round > 0;
        if (round % 2 == 0) {
            run_ours(timed);
            run_theirs(timed);
        } else {
            run_theirs(timed);
            run_ours(timed);
        }
        if (round == 0) check_round();
    }
    check_round();
    if (codec == "glz") {
        auto ours_window = make_glz_decoder_window(glz_window(frame));
        auto theirs_window = make_glz_decoder_window(glz_window(frame));
        for (size_t k = 0; k < ours_glz.size(); ++k) {
            std::string error =
                check_ours(codec, ours_glz[k].first, ours_glz[k].second, frame, ours_window.get());
            if (error.empty())
                error = check_theirs(codec, theirs_glz[k], frame, theirs_window.get());
            if (!error.empty()) die(where + " round " + std::to_string(k) + ": " + error);
        }
    }
    ref_codec_destroy(glz_reference);
    result.ours_us = median(ours_s) * 1e6;
    result.theirs_us = median(theirs_s) * 1e6;
    result.ours_bytes = ours_body.size();
    result.theirs_bytes = theirs_body.size();
    result.ours_type = ours_type;
    result.identical = ours_body == theirs_body;
    return result;
}

std::string fixed(double value, int digits) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.*f", digits, value);
    return text;
}

std::string json_string(const std::string& text) {
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            quoted += '\\';
            quoted += c;
        } else if (uint8_t(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof(escaped), "\\u%04x", unsigned(uint8_t(c)));
            quoted += escaped;
        } else {
            quoted += c;
        }
    }
    return quoted + "\"";
}

void write_json(const std::string& path, const Options& options,
                const std::vector<Result>& results) {
    std::ofstream file(path);
    if (!file) die("cannot write " + path);
    file << "{\n  \"corpus\": " << json_string(options.corpus)
         << ",\n  \"rounds\": " << options.rounds << ",\n  \"results\": [\n";
    for (size_t k = 0; k < results.size(); ++k) {
        const Result& r = results[k];
        file << "    {\"kind\": " << json_string(r.kind) << ", \"image\": " << json_string(r.name)
             << ", \"width\": " << r.size.width << ", \"height\": " << r.size.height
             << ", \"codec\": " << json_string(r.codec) << ", \"ours_us\": " << fixed(r.ours_us, 1)
             << ", \"theirs_us\": " << fixed(r.theirs_us, 1)
             << ", \"speed_ours_over_theirs\": " << fixed(r.theirs_us / r.ours_us, 3)
             << ", \"ours_bytes\": " << r.ours_bytes << ", \"theirs_bytes\": " << r.theirs_bytes
             << ", \"ours_type\": " << json_string(type_name(r.ours_type))
             << ", \"identical_bytes\": " << (r.identical ? "true" : "false") << "}"
             << (k + 1 < results.size() ? "," : "") << "\n";
    }
    file << "  ]\n}\n";
    if (!file) die("cannot write " + path);
}

// Appends " text |" (piecewise: GCC 12 warns falsely on `" " + std::string&&`).
void add_cell(std::string& line, const std::string& text) {
    line += ' ';
    line += text;
    line += " |";
}

void print_tables(const Options& options, const std::vector<Result>& results) {
    std::set<std::string> kind_set;
    for (const auto& r : results) kind_set.insert(r.kind);
    const auto kinds = order_kinds(kind_set);
    auto speed = [&](const std::string& codec, const std::string& kind) {
        std::vector<double> ratios;
        for (const auto& r : results) {
            if (r.codec == codec && (kind.empty() || r.kind == kind)) {
                ratios.push_back(r.theirs_us / r.ours_us);
            }
        }
        return ratios.empty() ? std::string("—") : fixed(median(ratios), 2) + "x";
    };
    auto size = [&](const std::string& codec, const std::string& kind) {
        double ours = 0, theirs = 0;
        for (const auto& r : results) {
            if (r.codec == codec && (kind.empty() || r.kind == kind)) {
                ours += double(r.ours_bytes);
                theirs += double(r.theirs_bytes);
            }
        }
        return ours == 0 ? std::string("—") : fixed(theirs / ours, 2);
    };
    std::printf(
        "\nOur speed / the reference's (median over each kind's images of the ratio of "
        "median thread CPU times, %d alternating rounds); size = the reference's bytes / "
        "ours, all images:\n\n",
        options.rounds);
    std::string header = "| codec | all |", rule = "|---|---:|";
    for (const auto& kind : kinds) {
        header += " " + kind + " |";
        rule += "---:|";
    }
    std::printf("%s size (theirs / ours) |\n%s---:|\n", header.c_str(), rule.c_str());
    for (const auto& codec : options.codecs) {
        std::string line = "| ";
        line += codec;
        line += " | ";
        line += speed(codec, "");
        line += " |";
        for (const auto& kind : kinds) add_cell(line, speed(codec, kind));
        std::printf("%s %s |\n", line.c_str(), size(codec, "").c_str());
    }
    std::printf("\nSize, the reference's bytes / ours, summed per kind:\n\n%s\n%s\n",
                header.c_str(), rule.c_str());
    for (const auto& codec : options.codecs) {
        std::string line = "| ";
        line += codec;
        line += " | ";
        line += size(codec, "");
        line += " |";
        for (const auto& kind : kinds) add_cell(line, size(codec, kind));
        std::printf("%s\n", line.c_str());
    }
    std::map<std::string, int> images;
    for (const auto& r : results) {
        if (r.codec == options.codecs.front()) ++images[r.kind];
    }
    std::string counts;
    for (const auto& kind : kinds) {
        counts += (counts.empty() ? "" : ", ") + kind + " " + std::to_string(images[kind]);
    }
    std::printf("\nImages: %s. ", counts.c_str());
    int quic = 0, quic_identical = 0;
    for (const auto& r : results) {
        if (r.codec == "quic") {
            ++quic;
            quic_identical += r.identical ? 1 : 0;
        }
    }
    if (quic > 0)
        std::printf("QUIC streams identical to the reference's: %d of %d. ", quic_identical, quic);
    std::printf("Every stream of both sides decoded to the source pixels.\n");
}

Options parse(int argc, char** argv) {
    Options options;
    for (int k = 1; k < argc; ++k) {
        const std::string arg = argv[k];
        auto value = [&]() -> std::string {
            if (k + 1 >= argc) die(arg + " needs a value");
            return argv[++k];
        };
        if (arg == "--corpus") {
            options.corpus = value();
        } else if (arg == "--rounds") {
            options.rounds = std::atoi(value().c_str());
            if (options.rounds < 1) die("--rounds must be at least 1");
        } else if (arg == "--json") {
            options.json = value();
        } else if (arg == "--codecs") {
            options.codecs.clear();
            std::stringstream list(value());
            for (std::string codec; std::getline(list, codec, ',');) {
                if (codec != "quic" && codec != "lz" && codec != "glz" && codec != "lz4") {
                    die("unknown codec " + codec + " (quic, lz, glz, lz4)");
                }
                options.codecs.push_back(codec);
            }
            if (options.codecs.empty()) die("--codecs is empty");
        } else {
            die("usage: compare_codecs [--corpus DIR] [--rounds N] [--json FILE] "
                "[--codecs quic,lz,glz,lz4]");
        }
    }
    return options;
}

}  // namespace
}  // namespace spiced

int main(int argc, char** argv) {
    using namespace spiced;
    const Options options = parse(argc, argv);
    const auto images = load_corpus(options.corpus);
    Shared shared;
    std::vector<Result> results;
    for (const auto& image : images) {
        for (const auto& codec : options.codecs) {
            const Result r = measure(image, codec, options.rounds, shared);
            std::fprintf(stderr,
                         "%s/%s %dx%d %s: ours %.0f us (%s, %zu B), reference %.0f us (%zu B): "
                         "%.2fx, size %.2f\n",
                         r.kind.c_str(), r.name.c_str(), r.size.width, r.size.height,
                         r.codec.c_str(), r.ours_us, type_name(r.ours_type).c_str(), r.ours_bytes,
                         r.theirs_us, r.theirs_bytes, r.theirs_us / r.ours_us,
                         double(r.theirs_bytes) / double(r.ours_bytes));
            results.push_back(r);
        }
    }
    for (auto& [codec, ref] : shared.reference) ref_codec_destroy(ref);
    print_tables(options, results);
    if (!options.json.empty()) write_json(options.json, options, results);
    return 0;
}
