// Factories for every image codec, and the per-codec decode entry points that our
// ImageDecoder dispatches to. A factory returns nullptr when the codec is not available in
// this build (the display channel then falls back to LZ4 or bitmaps and says so once).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "encode/image_decoder.h"
#include "encode/image_encoder.h"

namespace spiced {

// ---- LZ4 (encode/lz4_encoder.cpp) -----------------------------------------------------------
// make_lz4_encoder() packs pixels with SSSE3 and compares them with AVX2 where the CPU has them;
// this one uses neither, and must produce the same bytes (tests compare them).
std::unique_ptr<ImageEncoder> make_lz4_encoder_portable();

// ---- QUIC (encode/quic.cpp) ------------------------------------------------------------------
std::unique_ptr<ImageEncoder> make_quic_encoder();
// `body` is a SPICE_IMAGE_TYPE_QUIC body (u32 size + QUIC stream).
Expected<std::unique_ptr<Frame>, std::string> decode_quic_body(std::span<const uint8_t> body,
                                                               Size size);

// ---- LZ (encode/lz.cpp) ----------------------------------------------------------------------
std::unique_ptr<ImageEncoder> make_lz_encoder();
// LZ_RGB and LZ_PLT bodies; LZ_PLT's palette pointer is resolved against `message`.
Expected<std::unique_ptr<Frame>, std::string> decode_lz_body(uint8_t image_type, Size size,
                                                             std::span<const uint8_t> message,
                                                             size_t body_offset);

// ---- GLZ and ZLIB_GLZ (encode/glz.cpp) -------------------------------------------------------
struct GlzOptions {
    int64_t window_pixels = 0;  // the client's glz_dictionary_window_size (DISPLAY_INIT)
    bool zlib = false;          // wrap in ZLIB_GLZ_RGB
};
// One per client display channel: it models that client's dictionary window exactly (or a
// smaller window inside it: the client frees what the encoder says it no longer uses).
std::unique_ptr<ImageEncoder> make_glz_encoder(const GlzOptions& options);
// LZ_MAX_WINDOW_SIZE in spice-common: a larger DISPLAY_INIT request is served with this much.
inline constexpr int64_t kGlzMaxWindowPixels = int64_t{1} << 25;
// Switches a GLZ encoder between GLZ_RGB and ZLIB_GLZ_RGB output without touching its
// dictionary; false when `encoder` is not one.
bool set_glz_zlib(ImageEncoder& encoder, bool zlib);
// The most memory a GLZ encoder with this window holds (what --glz-memory-limit counts).
size_t glz_encoder_bytes(int64_t window_pixels);
// A client-side GLZ window for our own decoder (tests, spiced-codec); it keeps decoded
// images while the window holds them, as spice-gtk does.
class GlzDecoderWindow {
public:
    virtual ~GlzDecoderWindow() = default;
};
std::unique_ptr<GlzDecoderWindow> make_glz_decoder_window(int64_t window_pixels);
Expected<std::unique_ptr<Frame>, std::string> decode_glz_body(GlzDecoderWindow& window,
                                                              uint8_t image_type, Size size,
                                                              std::span<const uint8_t> body);

// ---- JPEG and JPEG_ALPHA (encode/jpeg.cpp) ---------------------------------------------------
std::unique_ptr<ImageEncoder> make_jpeg_encoder(int quality);
Expected<std::unique_ptr<Frame>, std::string> decode_jpeg_body(uint8_t image_type, Size size,
                                                               std::span<const uint8_t> body);

// ---- Dispatch ----------------------------------------------------------------------------------
std::unique_ptr<ImageEncoder> make_image_encoder(ImageCodec codec);
// Decodes any image type encode/ produces (bitmap, LZ4, QUIC, LZ, GLZ, ZLIB_GLZ, JPEG).
std::unique_ptr<ImageDecoder> make_image_decoder(int64_t glz_window_pixels = 1 << 24);

}  // namespace spiced
