// QUIC decoder: the exact reverse of quic.cpp, driven by the same row walker
// (quic_model.h), for tests, fuzzing and spiced-codec.
//
// Untrusted input: header fields are range-checked before anything is allocated, every
// codeword and run is checked against what the format can produce, and reads past the end
// see zeros while the bit count is checked once per row, so a truncated stream fails after
// at most one row of bounded work and never reads outside the span.
#include <spice/enums.h>

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

#include "base/bytes.h"
#include "encode/codecs.h"
#include "encode/quic.h"
#include "encode/quic_model.h"

namespace spiced {

namespace {
using quic::AlphaLayout;
using quic::GrayLayout;
using quic::RgbLayout;

using namespace quic;

// MSB-first reader over little-endian 32-bit words, keeping at least 32 bits ready.
class BitSource {
public:
    explicit BitSource(std::span<const uint8_t> stream)
        : data_(stream.data()), words_(stream.size() / 4) {
        refill();
    }

    uint32_t peek() const { return uint32_t(buf_ >> 32); }
    // n in 0..32.
    void skip(unsigned n) {
        buf_ <<= n;
        avail_ -= n;
        used_ += n;
        if (avail_ < 32) refill();
    }
    // n in 1..32.
    uint32_t read(unsigned n) {
        const uint32_t v = peek() >> (32 - n);
        skip(n);
        return v;
    }
    // A reference reader keeps a 32-bit look-ahead, so a valid stream has at least one word
    // after its last used bit.
    bool overrun() const { return words_ == 0 || used_ > (uint64_t{words_} - 1) * 32; }

private:
    void refill() {
        while (avail_ <= 32) {
            const uint32_t word = next_ < words_ ? load_u32_le(data_ + 4 * next_) : 0;
            ++next_;
            buf_ |= uint64_t{word} << (32 - avail_);
            avail_ += 32;
        }
    }

    const uint8_t* data_;
    size_t words_;
    size_t next_ = 0;
    uint64_t buf_ = 0;
    unsigned avail_ = 0;
    uint64_t used_ = 0;
};

inline unsigned sample(uint32_t pixel, unsigned shift) {
    return (pixel >> shift) & 0xff;
}

// Reads one folded residual coded with code k; flags values no encoder can produce.
inline unsigned read_residual(BitSource& bits, unsigned k, bool& bad) {
    const uint32_t peek = bits.peek();
    const CodeShape shape = kShapes[k];
    unsigned value, len;
    if (peek >> (32 - shape.escape_zeros)) {  // a one inside the escape prefix: Rice code
        const unsigned zeros = unsigned(std::countl_zero(peek));
        len = zeros + 1 + k;
        value = (zeros << k) | ((peek >> (32 - len)) & ((1u << k) - 1));
    } else {
        len = shape.escape_zeros + shape.escape_bits;
        value = shape.gr_limit + ((peek >> (32 - len)) & ((1u << shape.escape_bits) - 1));
        bad |= value > 255;
    }
    bits.skip(len);
    return value & 0xff;
}

template <typename L>
class DecodeOp {
public:
    static constexpr int kCh = L::kChannels;

    DecodeOp(BitSource& bits, ChannelModel* models, std::array<uint8_t*, kCh> residuals,
             unsigned& run_state)
        : bits_(bits), models_(models), residuals_(residuals), run_state_(run_state) {}

    bool bad() const { return bad_; }

    void start_row(const uint32_t* prev, uint32_t* cur) {
        prev_ = prev;
        cur_ = cur;
        for (int c = 0; c < kCh; ++c) residuals_[c][-1] = prev ? residuals_[c][0] : 0;
    }

    void first(bool row0) {
        const uint32_t up = row0 ? 0 : prev_[0];
        std::array<unsigned, kCh> values;
        for (int c = 0; c < kCh; ++c) {
            const unsigned k = models_[c].best[kBucketOf[residuals_[c][-1]]];
            const unsigned r = read_residual(bits_, k, bad_);
            residuals_[c][0] = uint8_t(r);
            values[c] = (kUnfold[r] + sample(up, L::kShift[c])) & 0xff;
        }
        store(cur_[0], values);
    }

    int span(int i, int last, int run_at) {
        if (i > last) return i;
        BitSource bits = bits_;  // in registers: pixel stores could alias the members
        bool bad = bad_;
        uint32_t* const cur = cur_;
        const uint32_t* const prev = prev_;
        for (; i <= last; ++i) {
            const uint32_t up = prev ? prev[i] : 0;
            if (prev && ((prev[i - 1] ^ up) & L::kMask) == 0 && i > 2 && i != run_at &&
                ((cur[i - 1] ^ cur[i - 2]) & L::kMask) == 0) {
                break;
            }
            const uint32_t left = cur[i - 1];
            std::array<unsigned, kCh> values;
            for (int c = 0; c < kCh; ++c) {
                const unsigned sh = L::kShift[c];
                const unsigned k = models_[c].best[kBucketOf[residuals_[c][i - 1]]];
                const unsigned r = read_residual(bits, k, bad);
                residuals_[c][i] = uint8_t(r);
                const unsigned pred =
                    prev ? (sample(left, sh) + sample(up, sh)) >> 1 : sample(left, sh);
                values[c] = (kUnfold[r] + pred) & 0xff;
            }
            store(cur[i], values);
        }
        bits_ = bits;
        bad_ = bad;
        return i;
    }

    int run(int i, int end) {
        const unsigned length = read_run(unsigned(end - i));
        if (bad_) return end;
        for (int j = i; j < i + int(length); ++j) {
            cur_[j] = (cur_[j] & ~L::kMask) | (cur_[j - 1] & L::kMask);
        }
        return i + int(length);
    }

    void learn(int at, unsigned trigger) {
        for (int c = 0; c < kCh; ++c) {
            models_[c].learn(kBucketOf[residuals_[c][at - 1]], residuals_[c][at], trigger);
        }
    }

private:
    static void store(uint32_t& pixel, const std::array<unsigned, kCh>& values) {
        if constexpr (kCh == 3) {
            pixel = values[0] << 16 | values[1] << 8 | values[2];
        } else {
            pixel = (pixel & ~L::kMask) | values[0] << L::kShift[0];
        }
    }

    unsigned read_run(unsigned limit) {
        unsigned& state = run_state_;
        unsigned length = 0;
        for (;;) {
            const unsigned ones = unsigned(std::countl_one(bits_.peek()));
            for (unsigned h = 0; h < ones; ++h) {
                length += 1u << kRunBits[state];
                if (state < kRunStates - 1) ++state;
                if (length > limit) {  // also bounds the loop on a stream of ones
                    bad_ = true;
                    return 0;
                }
            }
            if (ones < 32) {
                bits_.skip(ones + 1);
                break;
            }
            bits_.skip(32);
        }
        if (const unsigned n = kRunBits[state]) length += bits_.read(n);
        if (state) --state;
        if (length > limit) {
            bad_ = true;
            return 0;
        }
        return length;
    }

    BitSource& bits_;
    ChannelModel* models_;
    std::array<uint8_t*, kCh> residuals_;
    unsigned& run_state_;
    const uint32_t* prev_ = nullptr;
    uint32_t* cur_ = nullptr;
    bool bad_ = false;
};

Expected<QuicImage, std::string> fail(const char* why) {
    return unexpected(std::string("quic: ") + why);
}

}  // namespace

Expected<QuicImage, std::string> quic_decode(std::span<const uint8_t> stream, int64_t max_pixels) {
    const size_t words = stream.size() / 4;  // spice-common ignores a partial last word too
    if (words < size_t{kHeaderWords} + 1) return fail("truncated header");
    std::array<uint32_t, kHeaderWords> header;
    for (size_t i = 0; i < header.size(); ++i) header[i] = load_u32_le(stream.data() + 4 * i);
    if (header[0] != kMagic) return fail("bad magic");
    if (header[1] != kVersion) return fail("unsupported version");
    const uint32_t type_word = header[2];
    int channels;
    switch (type_word) {
        case uint32_t(QuicType::kGray):
            channels = 1;
            break;
        case uint32_t(QuicType::kRgb24):
        case uint32_t(QuicType::kRgb32):
            channels = 3;
            break;
        case uint32_t(QuicType::kRgba):
            channels = 4;
            break;
        case uint32_t(QuicType::kRgb16):
            return fail("RGB16 streams are not supported");
        default:
            return fail("bad image type");
    }
    const uint32_t width = header[3], height = header[4];
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX) {
        return fail("bad image size");
    }
    const uint64_t pixels = uint64_t{width} * height;
    if (pixels > uint64_t(std::clamp(max_pixels, int64_t{0}, kMaxDecodedPixels))) {
        return fail("image too large");
    }
    // Cheap plausibility check before allocating: every coded sample takes at least one bit,
    // and all of row 0 plus pixel 0 of every other row are always coded.
    const uint64_t min_bits =
        32 * uint64_t{kHeaderWords} + uint64_t(channels) * (uint64_t{width} + height - 1);
    if (min_bits > (uint64_t{words} - 1) * 32) return fail("truncated data");

    const int w = int(width), h = int(height);
    QuicImage image{QuicType(type_word), Frame::create(Size{w, h})};
    BitSource bits(stream.first(words * 4));
    for (int i = 0; i < kHeaderWords; ++i) bits.skip(32);

    std::array<ChannelModel, 4> models;
    std::array<std::vector<uint8_t>, 4> residual_rows;
    std::array<uint8_t*, 4> res;
    for (size_t c = 0; c < 4; ++c) {
        models[c].reset();
        residual_rows[c].resize(size_t(w) + 1);
        res[c] = residual_rows[c].data() + 1;
    }
    WalkerState rgb_state, plane_state;
    DecodeOp<RgbLayout> rgb(bits, &models[0], {res[0], res[1], res[2]}, rgb_state.run_state);
    DecodeOp<GrayLayout> gray(bits, &models[0], {res[0]}, plane_state.run_state);
    DecodeOp<AlphaLayout> alpha(bits, &models[3], {res[3]}, plane_state.run_state);

    Frame& frame = *image.frame;
    for (int y = 0; y < h; ++y) {
        const uint32_t* prev = y ? frame.row(y - 1) : nullptr;
        uint32_t* cur = frame.row(y);
        bool bad;
        if (channels == 1) {
            gray.start_row(prev, cur);
            walk_row(plane_state, gray, w, y == 0);
            bad = gray.bad();
        } else {
            rgb.start_row(prev, cur);
            walk_row(rgb_state, rgb, w, y == 0);
            bad = rgb.bad();
            if (channels == 4) {
                alpha.start_row(prev, cur);
                walk_row(plane_state, alpha, w, y == 0);
                bad |= alpha.bad();
            }
        }
        if (bad) return fail("corrupt data");
        if (bits.overrun()) return fail("truncated data");
    }
    if (channels == 1) {
        for (int y = 0; y < h; ++y) {
            uint32_t* row = frame.row(y);
            for (int x = 0; x < w; ++x) row[x] = sample(row[x], 8) * 0x010101u;
        }
    }
    return image;
}

Expected<std::unique_ptr<Frame>, std::string> decode_quic_body(std::span<const uint8_t> body,
                                                               Size size) {
    ByteReader reader(body);
    const uint32_t data_size = reader.u32();
    if (!reader.ok() || data_size > reader.remaining()) {
        return unexpected(std::string("quic: truncated body"));
    }
    if (size.is_empty() || size.area() > kMaxDecodedPixels) {
        return unexpected(std::string("quic: bad descriptor size"));
    }
    auto image = quic_decode(reader.bytes(data_size), size.area());
    if (!image) return unexpected(image.error());
    // Clients draw only RGB streams in the display channel (spice-gtk rejects GRAY).
    if (image->type == QuicType::kGray) {
        return unexpected(std::string("quic: GRAY streams are not drawable"));
    }
    if (image->frame->size() != size) {
        return unexpected(std::string("quic: stream size differs from the descriptor"));
    }
    return std::move(image->frame);
}

}  // namespace spiced
