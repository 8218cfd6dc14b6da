// Placeholder until the GLZ codec lands: not available in this build.
#include "encode/codecs.h"

namespace spiced {

namespace {
class NoGlzWindow final : public GlzDecoderWindow {};
}  // namespace

std::unique_ptr<ImageEncoder> make_glz_encoder(const GlzOptions&) { return nullptr; }

std::unique_ptr<GlzDecoderWindow> make_glz_decoder_window(int64_t) {
    return std::make_unique<NoGlzWindow>();
}

Expected<std::unique_ptr<Frame>, std::string> decode_glz_body(GlzDecoderWindow&, uint8_t, Size,
                                                              std::span<const uint8_t>) {
    return unexpected(std::string("glz: not available in this build"));
}

}  // namespace spiced
