// encode/glz.cpp again, portable (see portable_codecs.h). Every name it gives external linkage
// is renamed, so this copy links beside the SIMD one in spiced_encode.
#define SPICED_PORTABLE_CODECS 1
#define make_glz_encoder portable_make_glz_encoder
#define set_glz_zlib portable_set_glz_zlib
#define glz_encoder_bytes portable_glz_encoder_bytes
#define glz_encoder_state portable_glz_encoder_state
#include "encode/glz.cpp"
#undef make_glz_encoder
#undef set_glz_zlib
#undef glz_encoder_bytes
#undef glz_encoder_state

#include "tests/fuzz/portable_codecs.h"

namespace spiced::portable {

std::unique_ptr<ImageEncoder> make_glz_encoder(const GlzOptions& options) {
    return portable_make_glz_encoder(options);
}

bool set_glz_zlib(ImageEncoder& encoder, bool zlib) {
    return portable_set_glz_zlib(encoder, zlib);
}

std::optional<GlzWindowState> glz_encoder_state(const ImageEncoder& encoder) {
    return portable_glz_encoder_state(encoder);
}

}  // namespace spiced::portable
