// SPICE LZ4 image body, as spice-common's canvas decodes it:
//   u32 data_size, then data = u8 top_down, u8 bitmap format, then blocks of
//   [u32 big-endian compressed size][LZ4 block], decoded as one linked LZ4 stream into
//   tightly packed rows.
// We feed LZ4 packed 24-bit pixels (B, G, R): a quarter less input than 32-bit, and the
// constant X byte would only cost match-finder work.
#include <immintrin.h>
#include <lz4.h>
#include <spice/enums.h>

#include <vector>

#include "encode/codecs.h"
#include "encode/image_encoder.h"

namespace spiced {

namespace {
// Input per LZ4 block. Blocks are linked (each may reference the previous 64 KiB), so the
// size only bounds per-block bookkeeping; 64 KiB keeps the whole window in L2.
constexpr size_t kBlockInput = size_t{64} * 1024;

// BGRX -> BGR for one row of `width` pixels.
using PackRow = void (*)(const uint8_t* src, uint8_t* dest, int32_t width);

void pack_row_portable(const uint8_t* src, uint8_t* dest, int32_t width) {
    for (int32_t x = 0; x < width; ++x, src += 4, dest += 3) {
        dest[0] = src[0];
        dest[1] = src[1];
        dest[2] = src[2];
    }
}

// Four pixels per shuffle. Each store writes 16 bytes but advances 12, so the loop stops while
// at least six pixels (18 bytes) remain: the store never leaves this row's output.
__attribute__((target("ssse3"))) void pack_row_ssse3(const uint8_t* src, uint8_t* dest,
                                                     int32_t width) {
    const __m128i drop_x = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    int32_t x = 0;
    for (; x + 6 <= width; x += 4) {
        const __m128i pixels =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + size_t(x) * 4));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dest + size_t(x) * 3),
                         _mm_shuffle_epi8(pixels, drop_x));
    }
    pack_row_portable(src + size_t(x) * 4, dest + size_t(x) * 3, width - x);
}

class Lz4Encoder final : public ImageEncoder {
public:
    explicit Lz4Encoder(bool allow_simd)
        : pack_row_(allow_simd && __builtin_cpu_supports("ssse3") ? pack_row_ssse3
                                                                  : pack_row_portable),
          stream_(LZ4_createStream()) {}
    ~Lz4Encoder() override { LZ4_freeStream(stream_); }
    Lz4Encoder(const Lz4Encoder&) = delete;
    Lz4Encoder& operator=(const Lz4Encoder&) = delete;

    ImageCodec codec() const override { return ImageCodec::kLz4; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
        if (!frame.rect().contains(area) || area.is_empty()) {
            return unexpected(std::string("lz4: area outside the frame"));
        }
        begin_packing(frame, area);
        const size_t size_at = out.size();
        out.u32(0);  // data_size, patched below
        out.u8(1);   // top-down
        out.u8(SPICE_BITMAP_FMT_24BIT);
        LZ4_resetStream_fast(stream_);
        block_.resize(4 + size_t(LZ4_compressBound(int(kBlockInput))));
        for (size_t offset = 0; offset < packed_.size(); offset += kBlockInput) {
            const int input = int(std::min(kBlockInput, packed_.size() - offset));
            // Pack just ahead of the compressor, so LZ4 reads rows that are still in cache.
            pack_through(offset + size_t(input));
            const int written = LZ4_compress_fast_continue(
                stream_, reinterpret_cast<const char*>(packed_.data() + offset),
                reinterpret_cast<char*>(block_.data() + 4), input, int(block_.size()) - 4, 1);
            if (written <= 0) return unexpected(std::string("lz4: compression failed"));
            block_[0] = uint8_t(written >> 24);
            block_[1] = uint8_t(written >> 16);
            block_[2] = uint8_t(written >> 8);
            block_[3] = uint8_t(written);
            // Copying the compressed block costs less than growing the message by the bound
            // (zero-filled) and shrinking it again.
            out.bytes(std::span<const uint8_t>(block_.data(), 4 + size_t(written)));
        }
        out.patch_u32(size_at, uint32_t(out.size() - size_at - 4));
        return uint8_t{SPICE_IMAGE_TYPE_LZ4};
    }

private:
    void begin_packing(const Frame& frame, const Rect& area) {
        packed_.resize(size_t(area.width()) * area.height() * 3);
        frame_ = &frame;
        area_ = area;
        next_row_ = area.top();
        packed_end_ = 0;
    }

    // Packs whole rows until at least `end` bytes of packed_ are ready.
    void pack_through(size_t end) {
        const size_t row_bytes = size_t(area_.width()) * 3;
        while (packed_end_ < end && next_row_ < area_.bottom()) {
            pack_row_(reinterpret_cast<const uint8_t*>(frame_->row(next_row_) + area_.left()),
                      packed_.data() + packed_end_, area_.width());
            packed_end_ += row_bytes;
            ++next_row_;
        }
    }

    PackRow pack_row_;

    LZ4_stream_t* stream_;
    // The whole packed image must stay in place while compressing: linked blocks refer back.
    std::vector<uint8_t> packed_;
    std::vector<uint8_t> block_;  // one compressed block with its length prefix
    // The image being packed, row by row, ahead of the compressor.
    const Frame* frame_ = nullptr;
    Rect area_;
    int32_t next_row_ = 0;
    size_t packed_end_ = 0;
};
}  // namespace

std::unique_ptr<ImageEncoder> make_lz4_encoder() {
    return std::make_unique<Lz4Encoder>(true);
}

std::unique_ptr<ImageEncoder> make_lz4_encoder_portable() {
    return std::make_unique<Lz4Encoder>(false);
}

}  // namespace spiced
