// Introspection of GLZ dictionary windows, for tests and diagnostics: what a GLZ encoder
// believes its client holds, and what a GlzDecoderWindow (our model of spice-gtk) holds.
// A correct encoder's state equals its client window's state after every image.
#pragma once

#include <cstdint>
#include <optional>

#include "encode/codecs.h"

namespace spiced {

struct GlzWindowState {
    uint64_t next_id = 0;    // id the next image will carry (encoder) / one past the newest
    uint64_t oldest_id = 0;  // oldest image still held (== next_id when empty)
    uint64_t images = 0;     // images held
    int64_t pixels = 0;      // their pixels
    friend bool operator==(const GlzWindowState&, const GlzWindowState&) = default;
};

// nullopt when `encoder` is not a GLZ encoder from make_glz_encoder.
std::optional<GlzWindowState> glz_encoder_state(const ImageEncoder& encoder);
// nullopt when `window` does not come from make_glz_decoder_window.
std::optional<GlzWindowState> glz_window_state(const GlzDecoderWindow& window);

}  // namespace spiced
