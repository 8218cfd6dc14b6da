// SPICE LZ4 image body, as spice-common's canvas decodes it:
//   u32 data_size, then data = u8 top_down, u8 bitmap format, then blocks of
//   [u32 big-endian compressed size][LZ4 block], decoded as one linked LZ4 stream into
//   tightly packed rows.
// The blocks carry 24-bit pixels (B, G, R): a quarter less than 32-bit, and the constant X
// byte would only cost match-finder work. Our own block writer (encode/lz4_block_writer.h)
// reads them straight from the frame's rows.
#include <spice/enums.h>

#include <cstring>
#include <span>
#include <vector>

#include "encode/codecs.h"
#include "encode/image_encoder.h"
#include "encode/lz4_block_writer.h"

namespace spiced {

namespace {
// Pixels per LZ4 block. Blocks are linked (a match may reach 64 KiB back into earlier ones), so
// the size only bounds the scratch block; each block ends with a few literals the format
// requires.
constexpr uint64_t kBlockPixels = uint64_t{1} << 16;

class Lz4Encoder final : public ImageEncoder {
public:
    explicit Lz4Encoder(bool allow_simd) : writer_(allow_simd) {}
    Lz4Encoder(const Lz4Encoder&) = delete;
    Lz4Encoder& operator=(const Lz4Encoder&) = delete;

    ImageCodec codec() const override { return ImageCodec::kLz4; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
        if (!frame.rect().contains(area) || area.is_empty()) {
            return unexpected(std::string("lz4: area outside the frame"));
        }
        const size_t size_at = out.size();
        out.u32(0);  // data_size, patched below
        out.u8(1);   // top-down
        out.u8(SPICE_BITMAP_FMT_24BIT);
        writer_.start_image(contiguous_pixels(frame, area), uint32_t(area.width()));
        block_.resize(4 + Lz4PixelBlockWriter::bound(kBlockPixels));
        const uint64_t pixels = uint64_t(area.width()) * uint64_t(area.height());
        for (uint64_t start = 0; start < pixels; start += kBlockPixels) {
            const size_t written =
                writer_.write_block(std::min(start + kBlockPixels, pixels), block_.data() + 4);
            block_[0] = uint8_t(written >> 24);
            block_[1] = uint8_t(written >> 16);
            block_[2] = uint8_t(written >> 8);
            block_[3] = uint8_t(written);
            // Copying the compressed block costs less than growing the message by the bound
            // (zero-filled) and shrinking it again.
            out.bytes(std::span<const uint8_t>(block_.data(), 4 + written));
        }
        out.patch_u32(size_at, uint32_t(out.size() - size_at - 4));
        return uint8_t{SPICE_IMAGE_TYPE_LZ4};
    }

private:
    // The area's rows one after another: the frame's own memory when they already are (whole
    // frames, full-width bands), else a copy, which costs less than following rows in the
    // writer's inner loop.
    std::span<const uint32_t> contiguous_pixels(const Frame& frame, const Rect& area) {
        const size_t width = size_t(area.width());
        const size_t pixels = width * size_t(area.height());
        if (size_t(frame.stride()) == width * 4) return {frame.row(area.top()), pixels};
        rows_.resize(pixels);
        for (int32_t y = 0; y < area.height(); ++y) {
            std::memcpy(rows_.data() + size_t(y) * width, frame.row(area.top() + y) + area.left(),
                        width * 4);
        }
        return rows_;
    }

    Lz4PixelBlockWriter writer_;
    std::vector<uint32_t> rows_;
    std::vector<uint8_t> block_;  // one compressed block with its length prefix
};
}  // namespace

std::unique_ptr<ImageEncoder> make_lz4_encoder() {
    return std::make_unique<Lz4Encoder>(true);
}

std::unique_ptr<ImageEncoder> make_lz4_encoder_portable() {
    return std::make_unique<Lz4Encoder>(false);
}

}  // namespace spiced
