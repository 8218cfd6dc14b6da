// QUIC encoder (see quic_model.h for the format) and the ImageEncoder that writes
// SPICE_IMAGE_TYPE_QUIC bodies. The row coder is quic_encode_impl.h, built here for any CPU
// and in quic_avx2.cpp for CPUs with AVX2 and BMI2; the two write the same bits.
#define QUIC_ENC_NS quic_enc_generic
#include "encode/quic.h"

#include <spice/enums.h>

#include <string>

#include "encode/codecs.h"
#include "encode/quic_encode_impl.h"

namespace spiced {

#if defined(__x86_64__)
namespace quic_enc_avx2 {
// quic_avx2.cpp: the same as quic_enc_generic::encode_rows(); call only on CPUs with AVX2
// and BMI2.
void encode_rows(quic_enc::EncoderState& state, const Frame& frame, const Rect& area,
                 quic_enc::Walkers walkers, quic_enc::BitSink& sink, bool simd);
}  // namespace quic_enc_avx2
#endif

namespace {

using EncodeRowsFn = void (*)(quic_enc::EncoderState&, const Frame&, const Rect&, quic_enc::Walkers,
                              quic_enc::BitSink&, bool);

EncodeRowsFn pick_encode_rows(QuicEncoder::Simd simd) {
#if defined(__x86_64__)
    if (simd == QuicEncoder::Simd::kBest && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("bmi2")) {
        return quic_enc_avx2::encode_rows;
    }
#endif
    (void)simd;
    return quic_enc_generic::encode_rows;
}

}  // namespace

struct QuicEncoder::Scratch {
    quic_enc::EncoderState state;
    EncodeRowsFn encode_rows = quic_enc_generic::encode_rows;
    bool simd = true;
};

QuicEncoder::QuicEncoder(Simd simd) : scratch_(std::make_unique<Scratch>()) {
    scratch_->encode_rows = pick_encode_rows(simd);
    scratch_->simd = simd != Simd::kNone;
}
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
    const size_t start = out.size();
    quic_enc::BitSink sink(out.buffer(), start);
    sink.ensure(4 * quic::kHeaderWords);
    for (uint32_t word : {quic::kMagic, quic::kVersion, uint32_t(type), uint32_t(area.width()),
                          uint32_t(area.height())}) {
        quic_enc_generic::put(sink.cursor(), word, 32);
    }
    const quic_enc::Walkers walkers = type == QuicType::kGray   ? quic_enc::Walkers::kGray
                                      : type == QuicType::kRgba ? quic_enc::Walkers::kRgba
                                                                : quic_enc::Walkers::kRgb;
    scratch_->encode_rows(scratch_->state, frame, area, walkers, sink, scratch_->simd);
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
