// QUIC encoder (see quic_model.h for the format) and the ImageEncoder that writes
// SPICE_IMAGE_TYPE_QUIC bodies.
//
// Speed: one pass over the source rows, no per-pixel calls through pointers or allocation;
// the bit writer lives in registers for a whole span of pixels and the three codewords of an
// RGB pixel are usually merged into one write. The only per-pixel memory traffic besides the
// source is the residual row each channel keeps for the next row's contexts.
#include "encode/quic.h"

#include <spice/enums.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "encode/codecs.h"
#include "encode/quic_model.h"

namespace spiced {

namespace {
using quic::AlphaLayout;
using quic::GrayLayout;
using quic::RgbLayout;

using namespace quic;

inline void store_le32(uint8_t* p, uint32_t v) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p, &v, 4);
    } else {
        p[0] = uint8_t(v);
        p[1] = uint8_t(v >> 8);
        p[2] = uint8_t(v >> 16);
        p[3] = uint8_t(v >> 24);
    }
}

// Bits not yet complete in a word sit at the top of `acc`. Every put stores the word at `out`
// (a cheap store instead of a branch) and moves `out` on once that word is full; bits that
// spilled into the next word are stored by the next put, or by BitSink::finish().
struct BitCursor {
    uint8_t* out;
    uint64_t acc;
    unsigned nbits;  // 0..31 valid bits at the top of acc

    // `code` holds `len` (1..32) bits left-aligned; the rest of it is zero.
    void put(uint32_t code, unsigned len) {
        acc |= uint64_t{code} << (32 - nbits);
        nbits += len;
        store_le32(out, uint32_t(acc >> 32));
        const unsigned full = nbits >> 5;
        out += full * 4;
        acc <<= full * 32;
        nbits &= 31;
    }
};

// Owns the growth of the output vector. It is grown ahead of the cursor in chunks (resize
// zero-fills, so growing to the worst case of a whole image at once would cost more than
// the encoding) and trimmed at the end.
class BitSink {
public:
    BitSink(std::vector<uint8_t>& buffer, size_t start) : buffer_(buffer), start_(start) {
        cursor_ = {buffer_.data() + start_, 0, 0};
    }

    BitCursor& cursor() { return cursor_; }

    // Makes room for `bytes` more output (plus the one-word overhang of put()).
    void ensure(size_t bytes) {
        const size_t at = size_t(cursor_.out - buffer_.data());
        if (buffer_.size() - at >= bytes + 8) return;
        const size_t written = at - start_;
        buffer_.resize(at + std::max(bytes + 8, written / 2 + 4096));
        cursor_.out = buffer_.data() + at;
    }

    // Pads the last word with zeros and adds the zero word readers look ahead into.
    // Returns the stream size in bytes.
    size_t finish() {
        ensure(8);
        if (cursor_.nbits) {
            store_le32(cursor_.out, uint32_t(cursor_.acc >> 32));
            cursor_.out += 4;
        }
        store_le32(cursor_.out, 0);
        cursor_.out += 4;
        const size_t end = size_t(cursor_.out - buffer_.data());
        buffer_.resize(end);
        return end - start_;
    }

private:
    std::vector<uint8_t>& buffer_;
    size_t start_;
    BitCursor cursor_;
};

inline unsigned sample(uint32_t pixel, unsigned shift) {
    return (pixel >> shift) & 0xff;
}

// Folded residuals of all bytes of a pixel at once (SWAR), for the mean-of-left-and-above
// predictor: byte n of the result is fold(byte n of p - floor((left + up) / 2)).
inline uint32_t fold_residuals(uint32_t p, uint32_t left, uint32_t up) {
    constexpr uint32_t kHigh = 0x80808080u, kLow = 0x7f7f7f7fu;
    const uint32_t pred = (left & up) + (((left ^ up) >> 1) & kLow);  // per-byte floor mean
    const uint32_t d = ((p | kHigh) - (pred & kLow)) ^ ((p ^ ~pred) & kHigh);  // per-byte p - pred
    const uint32_t sign = d & kHigh;
    // fold(d) = 2d for d < 128, else 2(255 - d) + 1 = (2d) ^ 0xff.
    return ((d << 1) & 0xfefefefeu) ^ ((sign << 1) - (sign >> 7));
}

// First index in [i, end) whose pixel differs from `ref` under `mask`, or end.
inline int run_end(const uint32_t* row, int i, int end, uint32_t ref, uint32_t mask) {
#if defined(__SSE2__)
    const __m128i vref = _mm_set1_epi32(int(ref));
    const __m128i vmask = _mm_set1_epi32(int(mask));
    for (; i + 4 <= end; i += 4) {
        const __m128i v =
            _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)), vmask);
        const unsigned same = unsigned(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(v, vref))));
        if (same != 0xf) return i + std::countr_one(same);
    }
#endif
    while (i < end && (row[i] & mask) == ref) ++i;
    return i;
}

// The per-walker encoding side of walk_row(): see the Op contract in quic_model.h.
// Residual rows hold each pixel's folded residuals packed like the pixel (byte n = channel
// at shift 8n), so one register carries the context of all channels.
template <typename L>
class EncodeOp {
public:
    static constexpr int kCh = L::kChannels;

    EncodeOp(BitSink& sink, ChannelModel* models, uint32_t* residuals, unsigned& run_state)
        : sink_(sink), models_(models), residuals_(residuals), run_state_(run_state) {}

    // Worst case of one row: every sample escapes (26 bits) and every pixel starts a run
    // attempt (remainder up to 16 bits plus one hit bit per run pixel).
    static size_t row_bytes(int width) {
        return (size_t(width) * (kCh * kMaxCodeBits + 17 + 1) + 7) / 8 + 16;
    }

    void start_row(const uint32_t* prev, const uint32_t* cur) {
        prev_ = prev;
        cur_ = cur;
        // Pixel 0's context is pixel 0's residual of the row above (0 in row 0).
        residuals_[-1] = prev ? residuals_[0] : 0;
    }

    void first(bool row0) {
        const uint32_t p = cur_[0];
        const uint32_t up = row0 ? 0 : prev_[0];
        const uint32_t ctx = residuals_[-1];
        uint32_t packed = 0;
        std::array<uint32_t, kCh> words;
        for (int c = 0; c < kCh; ++c) {
            const unsigned sh = L::kShift[c];
            const unsigned r = kFold[(sample(p, sh) - sample(up, sh)) & 0xff];
            words[c] = kCodewords[models_[c].best[kBucketOf[sample(ctx, sh)]]][r];
            packed |= r << sh;
        }
        residuals_[0] = packed;
        emit(sink_.cursor(), words);
    }

    int span(int i, int last, int run_at) {
        if (i > last) return i;
        // Local copies: the residual stores could alias the members, which would otherwise
        // force the bit cursor through memory on every pixel.
        BitCursor w = sink_.cursor();
        uint32_t* const res = residuals_;
        const ChannelModel* const models = models_;
        const uint32_t* const cur = cur_;
        const uint32_t* const prev = prev_;
        uint32_t ctx = res[i - 1];
        if (prev == nullptr) {
            for (; i <= last; ++i) {
                // Row 0 predicts from the left only: fold(p - left), the mean with itself.
                const uint32_t r = fold_residuals(cur[i], cur[i - 1], cur[i - 1]) & L::kMask;
                code_pixel(w, models, ctx, r);
                res[i] = ctx = r;
            }
        } else {
            for (; i <= last; ++i) {
                const uint32_t up = prev[i];
                const uint32_t left = cur[i - 1];
                if (((prev[i - 1] ^ up) & L::kMask) == 0 && i > 2 && i != run_at &&
                    ((left ^ cur[i - 2]) & L::kMask) == 0) {
                    break;
                }
                const uint32_t r = fold_residuals(cur[i], left, up) & L::kMask;
                code_pixel(w, models, ctx, r);
                res[i] = ctx = r;
            }
        }
        sink_.cursor() = w;
        return i;
    }

    int run(int i, int end) {
        const int j = run_end(cur_, i, end, cur_[i - 1] & L::kMask, L::kMask);
        encode_run(unsigned(j - i));
        return j;
    }

    void learn(int at, unsigned trigger) {
        const uint32_t ctx = residuals_[at - 1], r = residuals_[at];
        for (int c = 0; c < kCh; ++c) {
            const unsigned sh = L::kShift[c];
            models_[c].learn(kBucketOf[sample(ctx, sh)], sample(r, sh), trigger);
        }
    }

private:
    static inline void code_pixel(BitCursor& w, const ChannelModel* models, uint32_t ctx,
                                  uint32_t r) {
        std::array<uint32_t, kCh> words;
        for (int c = 0; c < kCh; ++c) {
            const unsigned sh = L::kShift[c];
            words[c] = kCodewords[models[c].best[kBucketOf[sample(ctx, sh)]]][sample(r, sh)];
        }
        emit(w, words);
    }

    static inline void emit(BitCursor& w, const std::array<uint32_t, kCh>& words) {
        if constexpr (kCh == 1) {
            w.put(words[0] & ~31u, words[0] & 31);
        } else {
            // Merged when the pixel fits one put (the common case for all but noise).
            const unsigned l0 = words[0] & 31, l1 = words[1] & 31, l2 = words[2] & 31;
            if (l0 + l1 + l2 <= 32) {
                w.put((words[0] & ~31u) | ((words[1] & ~31u) >> l0) |
                          ((words[2] & ~31u) >> (l0 + l1)),
                      l0 + l1 + l2);
            } else {
                w.put(words[0] & ~31u, l0);
                w.put(words[1] & ~31u, l1);
                w.put(words[2] & ~31u, l2);
            }
        }
    }

    void encode_run(unsigned length) {
        unsigned state = run_state_;
        unsigned hits = 0;
        while (length >= (1u << kRunBits[state])) {
            length -= 1u << kRunBits[state];
            ++hits;
            if (state < kRunStates - 1) ++state;
        }
        BitCursor w = sink_.cursor();
        for (; hits >= 32; hits -= 32) w.put(~0u, 32);
        if (hits) w.put(~0u << (32 - hits), hits);
        const unsigned bits = kRunBits[state] + 1u;  // a zero, then the remainder
        w.put(length << (32 - bits), bits);
        sink_.cursor() = w;
        run_state_ = state ? state - 1 : 0;
    }

    BitSink& sink_;
    ChannelModel* models_;
    uint32_t* residuals_;  // index -1 valid
    unsigned& run_state_;
    const uint32_t* prev_ = nullptr;
    const uint32_t* cur_ = nullptr;
};

}  // namespace

struct QuicEncoder::Scratch {
    std::array<ChannelModel, 4> models;
    // Packed residual rows for the RGB (or gray) walker and the alpha walker; width + 1
    // each, element 0 being index -1.
    std::array<std::vector<uint32_t>, 2> residuals;

    std::array<uint32_t*, 2> prepare(int width) {
        std::array<uint32_t*, 2> rows;
        for (size_t i = 0; i < rows.size(); ++i) {
            if (residuals[i].size() < size_t(width) + 1) residuals[i].resize(size_t(width) + 1);
            rows[i] = residuals[i].data() + 1;
        }
        for (auto& m : models) m.reset();
        return rows;
    }
};

QuicEncoder::QuicEncoder() : scratch_(std::make_unique<Scratch>()) {}
QuicEncoder::~QuicEncoder() = default;

Expected<size_t, std::string> QuicEncoder::encode(const Frame& frame, const Rect& area,
                                                  QuicType type, ByteWriter& out) {
    if (area.is_empty() || !frame.rect().contains(area)) {
        return unexpected(std::string("quic: area outside the frame"));
    }
    if (type != QuicType::kRgb32 && type != QuicType::kRgb24 && type != QuicType::kRgba &&
        type != QuicType::kGray) {
        return unexpected(std::string("quic: unsupported image type"));
    }
    const int width = area.width();
    const int height = area.height();
    const auto rows = scratch_->prepare(width);

    const size_t start = out.size();
    BitSink sink(out.buffer(), start);
    sink.ensure(4 * kHeaderWords);
    for (uint32_t word : {kMagic, kVersion, uint32_t(type), uint32_t(width), uint32_t(height)}) {
        sink.cursor().put(word, 32);
    }

    auto row_at = [&](int y) { return frame.row(area.top() + y) + area.left(); };
    const auto walk = [&](auto& op, WalkerState& state, size_t row_bytes, int y) {
        sink.ensure(row_bytes);
        op.start_row(y ? row_at(y - 1) : nullptr, row_at(y));
        walk_row(state, op, width, y == 0);
    };

    WalkerState rgb_state, plane_state;
    EncodeOp<RgbLayout> rgb(sink, &scratch_->models[0], rows[0], rgb_state.run_state);
    if (type == QuicType::kGray) {
        EncodeOp<GrayLayout> gray(sink, &scratch_->models[0], rows[0], plane_state.run_state);
        const size_t bytes = EncodeOp<GrayLayout>::row_bytes(width);
        for (int y = 0; y < height; ++y) walk(gray, plane_state, bytes, y);
    } else if (type == QuicType::kRgba) {
        EncodeOp<AlphaLayout> alpha(sink, &scratch_->models[3], rows[1], plane_state.run_state);
        const size_t rgb_bytes = EncodeOp<RgbLayout>::row_bytes(width);
        const size_t alpha_bytes = EncodeOp<AlphaLayout>::row_bytes(width);
        for (int y = 0; y < height; ++y) {
            walk(rgb, rgb_state, rgb_bytes, y);
            walk(alpha, plane_state, alpha_bytes, y);
        }
    } else {
        const size_t bytes = EncodeOp<RgbLayout>::row_bytes(width);
        for (int y = 0; y < height; ++y) walk(rgb, rgb_state, bytes, y);
    }
    const size_t size = sink.finish();
    if (size > UINT32_MAX) {
        out.buffer().resize(start);
        return unexpected(std::string("quic: stream larger than 4 GiB"));
    }
    return size;
}

Expected<size_t, std::string> quic_encode(const Frame& frame, const Rect& area, QuicType type,
                                          ByteWriter& out) {
    QuicEncoder encoder;
    return encoder.encode(frame, area, type, out);
}

namespace {

// SPICE_IMAGE_TYPE_QUIC body: u32 data_size, then the stream. RGB32: clients draw it as
// x8r8g8b8 and ignore the X byte.
class QuicImageEncoder final : public ImageEncoder {
public:
    ImageCodec codec() const override { return ImageCodec::kQuic; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
        const size_t size_at = out.size();
        out.u32(0);  // data_size, patched below
        auto written = encoder_.encode(frame, area, QuicType::kRgb32, out);
        if (!written) {
            out.buffer().resize(size_at);
            return unexpected(written.error());
        }
        out.patch_u32(size_at, uint32_t(*written));
        return uint8_t{SPICE_IMAGE_TYPE_QUIC};
    }

private:
    QuicEncoder encoder_;
};

}  // namespace

std::unique_ptr<ImageEncoder> make_quic_encoder() {
    return std::make_unique<QuicImageEncoder>();
}

}  // namespace spiced
