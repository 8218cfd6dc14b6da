// SPICE LZ decoder (our own, for tests, fuzzers and spiced-codec). Unlike spice-common's,
// which asserts, every check here is an error value: truncation, a length or distance that
// leaves the image, a header that disagrees with itself, trailing bytes.
#include <algorithm>
#include <cstring>

#include "encode/lz.h"
#include "encode/lz_format.h"

namespace spiced {

namespace {

using Error = std::string;

uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

struct RgbLiteral {  // B, G, R -> 0x00RRGGBB
    using Sym = uint32_t;
    static constexpr size_t kBytes = 3;
    static constexpr uint32_t kMin = lz::kMinMatchRgb;
    static Sym read(const uint8_t* p) {
        return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
    }
};
struct Rgb16Literal {  // high byte first
    using Sym = uint16_t;
    static constexpr size_t kBytes = 2;
    static constexpr uint32_t kMin = lz::kMinMatchRgb16;
    static Sym read(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
};
struct ByteLiteral {
    using Sym = uint8_t;
    static constexpr size_t kBytes = 1;
    static constexpr uint32_t kMin = lz::kMinMatchByte;
    static Sym read(const uint8_t* p) { return *p; }
};

// Decodes exactly n symbols from in[pos..] into out; advances pos past the ops it read.
template <typename L>
Expected<void, Error> decode_symbols(std::span<const uint8_t> in, size_t& pos, typename L::Sym* out,
                                     size_t n) {
    const uint8_t* ip = in.data() + pos;
    const uint8_t* const end = in.data() + in.size();
    size_t op = 0;
    while (op < n) {
        if (ip == end) return unexpected(Error("lz: truncated stream"));
        const uint32_t ctrl = *ip++;
        if (ctrl < lz::kMaxLiterals) {
            const size_t count = ctrl + 1;
            if (count > n - op) return unexpected(Error("lz: literals past the image end"));
            if (size_t(end - ip) < count * L::kBytes) {
                return unexpected(Error("lz: truncated literals"));
            }
            for (size_t k = 0; k < count; ++k, ip += L::kBytes) out[op + k] = L::read(ip);
            op += count;
            continue;
        }
        size_t len = ctrl >> 5;
        uint32_t ofs = (ctrl & 31) << 8;
        if (len == 7) {
            uint8_t more;
            do {
                if (ip == end) return unexpected(Error("lz: truncated match length"));
                more = *ip++;
                len += more;
                if (len > n) return unexpected(Error("lz: match past the image end"));
            } while (more == 255);
        }
        if (ip == end) return unexpected(Error("lz: truncated match distance"));
        const uint8_t low = *ip++;
        ofs += low;
        if (ofs == lz::kMaxNearDistance) {  // escape to a 16-bit far distance
            if (end - ip < 2) return unexpected(Error("lz: truncated far distance"));
            ofs = lz::kMaxNearDistance + (uint32_t{ip[0]} << 8 | ip[1]);
            ip += 2;
        }
        len += L::kMin - 1;
        const size_t distance = size_t(ofs) + 1;
        if (distance > op) return unexpected(Error("lz: match before the image start"));
        if (len > n - op) return unexpected(Error("lz: match past the image end"));
        auto* dest = out + op;
        const auto* ref = dest - distance;
        if (distance >= len) {
            std::memcpy(dest, ref, len * sizeof(*dest));
        } else {
            for (size_t k = 0; k < len; ++k) dest[k] = ref[k];  // overlapping: a repeat
        }
        op += len;
    }
    pos = size_t(ip - in.data());
    return {};
}

// Rejects a stream whose header claims more symbols than its bytes can produce.
Expected<void, Error> check_plausible(uint64_t symbols, size_t stream_bytes) {
    if (symbols >
        lz::kMaxSymbolsPerByte * (stream_bytes - std::min(stream_bytes, kLzHeaderBytes))) {
        return unexpected(Error("lz: stream too short for its header's size"));
    }
    return {};
}

Expected<void, Error> check_consumed(size_t pos, std::span<const uint8_t> stream) {
    if (pos != stream.size()) return unexpected(Error("lz: trailing bytes after the image"));
    return {};
}

void flip_rows(Frame& frame) {
    const size_t row = size_t(frame.width()) * 4;
    std::vector<uint8_t> tmp(row);
    for (int32_t top = 0, bottom = frame.height() - 1; top < bottom; ++top, --bottom) {
        auto* a = reinterpret_cast<uint8_t*>(frame.row(top));
        auto* b = reinterpret_cast<uint8_t*>(frame.row(bottom));
        std::memcpy(tmp.data(), a, row);
        std::memcpy(a, b, row);
        std::memcpy(b, tmp.data(), row);
    }
}

uint32_t expand555(uint16_t v) {
    const uint32_t r = v >> 10 & 31, g = v >> 5 & 31, b = v & 31;
    return (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
}

}  // namespace

Expected<LzHeader, std::string> lz_read_header(std::span<const uint8_t> stream) {
    if (stream.size() < kLzHeaderBytes) return unexpected(Error("lz: truncated header"));
    const uint8_t* p = stream.data();
    if (be32(p) != lz::kMagic) return unexpected(Error("lz: bad magic"));
    if (be32(p + 4) != lz::kVersion) return unexpected(Error("lz: unsupported version"));
    const uint32_t type = be32(p + 8), width = be32(p + 12), height = be32(p + 16);
    const uint32_t stride = be32(p + 20), top_down = be32(p + 24);
    if (!lz::valid_type(type)) return unexpected(Error("lz: unsupported image type"));
    if (width == 0 || height == 0 || uint64_t{width} * height > uint64_t(kMaxDecodedPixels)) {
        return unexpected(Error("lz: image size out of range"));
    }
    LzHeader header;
    header.type = LzImageType(type);
    if (stride != lz::row_bytes(header.type, width)) {
        return unexpected(Error("lz: stride disagrees with width"));
    }
    header.width = int32_t(width);
    header.height = int32_t(height);
    header.stride = stride;
    header.top_down = top_down != 0;
    return header;
}

Expected<std::unique_ptr<Frame>, std::string> lz_decode(std::span<const uint8_t> stream,
                                                        std::span<const uint32_t> palette) {
    auto header = lz_read_header(stream);
    if (!header) return unexpected(header.error());
    const LzHeader& h = *header;
    const size_t n = size_t(h.width) * size_t(h.height);
    size_t pos = kLzHeaderBytes;

    if (lz_is_palette(h.type)) {
        const size_t symbols = size_t(h.stride) * size_t(h.height);
        if (auto ok = check_plausible(symbols, stream.size()); !ok) return unexpected(ok.error());
        if (palette.empty()) return unexpected(Error("lz: palette image without a palette"));
        std::vector<uint8_t> bytes(symbols);
        if (auto ok = decode_symbols<ByteLiteral>(stream, pos, bytes.data(), symbols); !ok) {
            return unexpected(ok.error());
        }
        if (auto ok = check_consumed(pos, stream); !ok) return unexpected(ok.error());
        auto frame = Frame::create({h.width, h.height});
        const int bits = lz_palette_bits(h.type);
        const bool be = h.type == LzImageType::kPlt1Be || h.type == LzImageType::kPlt4Be;
        const unsigned mask = (1u << bits) - 1;
        for (int32_t y = 0; y < h.height; ++y) {
            const uint8_t* src = bytes.data() + size_t(y) * h.stride;
            uint32_t* dest = frame->row(h.top_down ? y : h.height - 1 - y);
            for (int32_t x = 0; x < h.width; ++x) {
                const size_t bit = size_t(x) * size_t(bits);
                const unsigned in_byte = unsigned(bit & 7);
                const unsigned shift = be ? 8 - unsigned(bits) - in_byte : in_byte;
                const unsigned index = unsigned(src[bit >> 3]) >> shift & mask;
                if (index >= palette.size()) {
                    return unexpected(Error("lz: palette index outside the palette"));
                }
                dest[x] = palette[index] & 0x00ffffffu;
            }
        }
        return frame;
    }

    const uint64_t streams = h.type == LzImageType::kRgba ? 2 : 1;
    if (auto ok = check_plausible(n * streams, stream.size()); !ok) return unexpected(ok.error());
    auto frame = Frame::create({h.width, h.height});
    // Frame::create rows are contiguous (stride = 4 * width): decode straight into them.
    uint32_t* pixels = frame->row(0);
    switch (h.type) {
        case LzImageType::kRgb24:
        case LzImageType::kRgb32:
        case LzImageType::kRgba:
            if (auto ok = decode_symbols<RgbLiteral>(stream, pos, pixels, n); !ok) {
                return unexpected(ok.error());
            }
            if (h.type != LzImageType::kRgba) break;
            [[fallthrough]];
        case LzImageType::kXxxa: {
            std::vector<uint8_t> alpha(n);
            if (auto ok = decode_symbols<ByteLiteral>(stream, pos, alpha.data(), n); !ok) {
                return unexpected(ok.error());
            }
            for (size_t i = 0; i < n; ++i) pixels[i] |= uint32_t{alpha[i]} << 24;
            break;
        }
        case LzImageType::kRgb16: {
            std::vector<uint16_t> rgb16(n);
            if (auto ok = decode_symbols<Rgb16Literal>(stream, pos, rgb16.data(), n); !ok) {
                return unexpected(ok.error());
            }
            for (size_t i = 0; i < n; ++i) pixels[i] = expand555(rgb16[i]);
            break;
        }
        default:
            return unexpected(Error("lz: unsupported image type"));
    }
    if (auto ok = check_consumed(pos, stream); !ok) return unexpected(ok.error());
    if (!h.top_down) flip_rows(*frame);
    return frame;
}

Expected<void, std::string> lz_decode_alpha(std::span<const uint8_t> stream, Frame& frame) {
    auto header = lz_read_header(stream);
    if (!header) return unexpected(header.error());
    const LzHeader& h = *header;
    if (h.type != LzImageType::kXxxa) return unexpected(Error("lz: alpha stream is not XXXA"));
    if (h.width != frame.width() || h.height != frame.height()) {
        return unexpected(Error("lz: alpha size differs from the image"));
    }
    const size_t w = size_t(h.width), n = w * size_t(h.height);
    if (auto ok = check_plausible(n, stream.size()); !ok) return ok;
    std::vector<uint8_t> alpha(n);
    size_t pos = kLzHeaderBytes;
    if (auto ok = decode_symbols<ByteLiteral>(stream, pos, alpha.data(), n); !ok) return ok;
    if (auto ok = check_consumed(pos, stream); !ok) return ok;
    for (int32_t y = 0; y < h.height; ++y) {
        const uint8_t* src = alpha.data() + size_t(h.top_down ? y : h.height - 1 - y) * w;
        uint32_t* dest = frame.row(y);
        for (size_t x = 0; x < w; ++x) dest[x] = (dest[x] & 0x00ffffffu) | uint32_t{src[x]} << 24;
    }
    return {};
}

}  // namespace spiced
