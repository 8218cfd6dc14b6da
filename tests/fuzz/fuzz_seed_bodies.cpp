// Seeds for the decode-only fuzz targets whose valid inputs only our encoders can make:
// quic_fuzz, lz_fuzz, glz_fuzz and image_decoder_fuzz, each in the input layout its source
// describes. Usage: fuzz_seed_bodies OUT_ROOT (writes OUT_ROOT/<target>/<name>); run by
// make_seeds.py. Built only with SPICED_FUZZ, beside the targets.
#include <spice/enums.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "encode/codecs.h"

using namespace spiced;

namespace {

// Screen-like pictures, small enough that every seed stays a few KiB: glyph-like strokes on a
// flat background with a coloured bar, or a gradient, or a few colours (LZ_PLT territory).
std::unique_ptr<Frame> picture(Size size, int kind, int shift = 0) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            const int32_t u = x + shift;
            uint32_t p;
            switch (kind) {
                case 0:  // text
                    p = y < 4 ? 0x3050a0u : ((u * 7 + y * 3) % 11 < 2 ? 0x101010u : 0xf0f0f0u);
                    break;
                case 1:  // gradient
                    p = uint32_t(u * 255 / size.width) << 16 |
                        uint32_t(y * 255 / size.height) << 8 | uint32_t((u + y) & 0xff);
                    break;
                default:  // four colours
                    p = 0x102030u * uint32_t(1 + (u / 5 + y / 3) % 4);
                    break;
            }
            frame->row(y)[x] = p | 0xff000000u;  // opaque alpha, for RGBA streams
        }
    }
    return frame;
}

class SeedWriter {
public:
    explicit SeedWriter(std::filesystem::path root) : root_(std::move(root)) {}

    void write(const std::string& target, const std::string& name, std::span<const uint8_t> data) {
        const auto dir = root_ / target;
        std::filesystem::create_directories(dir);
        std::ofstream(dir / name, std::ios::binary)
            .write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
        ++count_;
    }
    int count() const { return count_; }

private:
    std::filesystem::path root_;
    int count_ = 0;
};

std::vector<uint8_t> encode(ImageEncoder& encoder, const Frame& frame, uint8_t& type) {
    ByteWriter out;
    auto written = encoder.encode(frame, frame.rect(), out, 0);
    if (!written) {
        std::fprintf(stderr, "encode failed: %s\n", written.error().c_str());
        std::exit(1);
    }
    type = *written;
    return out.take();
}

std::vector<uint8_t> concat(std::initializer_list<uint8_t> head, std::span<const uint8_t> tail) {
    std::vector<uint8_t> out(head);
    out.insert(out.end(), tail.begin(), tail.end());
    return out;
}

void quic_seeds(SeedWriter& seeds) {
    // quic_fuzz: [u16 LE width - 1][u16 LE height - 1][QUIC body].
    const Size size{40, 24};
    for (int kind : {0, 1}) {
        uint8_t type = 0;
        const auto body = encode(*make_quic_encoder(), *picture(size, kind), type);
        seeds.write("quic_fuzz", "rgb32_" + std::to_string(kind),
                    concat({uint8_t(size.width - 1), 0, uint8_t(size.height - 1), 0}, body));
    }
}

void lz_seeds(SeedWriter& seeds) {
    // lz_fuzz: [bit 0: LZ_PLT][u8 + 2 bits: width - 1][u8 + 2 bits: height - 1][body offset]
    // [message = body].
    const Size size{48, 20};
    for (int kind : {0, 1, 2}) {
        uint8_t type = 0;
        const auto body = encode(*make_lz_encoder(), *picture(size, kind), type);
        const uint8_t plt = type == SPICE_IMAGE_TYPE_LZ_PLT;
        seeds.write(
            "lz_fuzz", (plt ? "plt_" : "rgb_") + std::to_string(kind),
            concat({plt, uint8_t(size.width - 1), 0, uint8_t(size.height - 1), 0, 0}, body));
    }
}

void glz_seeds(SeedWriter& seeds) {
    // glz_fuzz: records [type: bit 0 ZLIB_GLZ][width - 1][height - 1][u16 LE length][body],
    // decoded into one 2^14-pixel window: a scrolling sequence, so later images reference
    // earlier ones, once plain and once through zlib.
    const Size size{64, 40};
    for (bool zlib : {false, true}) {
        auto encoder = make_glz_encoder({int64_t{1} << 14, zlib});
        std::vector<uint8_t> input;
        for (int step = 0; step < 3; ++step) {
            uint8_t type = 0;
            const auto body = encode(*encoder, *picture(size, 0, step * 3), type);
            const auto record =
                concat({uint8_t(type == SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB), uint8_t(size.width - 1),
                        uint8_t(size.height - 1), uint8_t(body.size()), uint8_t(body.size() >> 8)},
                       body);
            input.insert(input.end(), record.begin(), record.end());
        }
        seeds.write("glz_fuzz", zlib ? "zlib_scroll" : "scroll", input);
    }
}

void image_decoder_seeds(SeedWriter& seeds) {
    // image_decoder_fuzz: [type index][u8 + 1 bit: width - 1][u8 + 1 bit: height - 1][body],
    // type index into its kTypes.
    constexpr uint8_t kTypes[] = {
        SPICE_IMAGE_TYPE_BITMAP, SPICE_IMAGE_TYPE_QUIC,         SPICE_IMAGE_TYPE_LZ_PLT,
        SPICE_IMAGE_TYPE_LZ_RGB, SPICE_IMAGE_TYPE_GLZ_RGB,      SPICE_IMAGE_TYPE_JPEG,
        SPICE_IMAGE_TYPE_LZ4,    SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB, SPICE_IMAGE_TYPE_JPEG_ALPHA};
    const Size size{24, 16};
    for (ImageCodec codec : {ImageCodec::kBitmap, ImageCodec::kLz4, ImageCodec::kQuic,
                             ImageCodec::kLz, ImageCodec::kGlz, ImageCodec::kJpeg}) {
        for (int kind : {0, 2}) {
            auto encoder = make_image_encoder(codec);
            if (!encoder) continue;  // not in this build
            uint8_t type = 0;
            const auto body = encode(*encoder, *picture(size, kind), type);
            const auto index =
                uint8_t(std::find(std::begin(kTypes), std::end(kTypes), type) - std::begin(kTypes));
            seeds.write(
                "image_decoder_fuzz", std::string(to_string(codec)) + "_" + std::to_string(kind),
                concat({index, uint8_t(size.width - 1), 0, uint8_t(size.height - 1), 0}, body));
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_ROOT\n", argv[0]);
        return 2;
    }
    SeedWriter seeds(argv[1]);
    quic_seeds(seeds);
    lz_seeds(seeds);
    glz_seeds(seeds);
    image_decoder_seeds(seeds);
    std::printf("%d seeds under %s\n", seeds.count(), argv[1]);
    return 0;
}
