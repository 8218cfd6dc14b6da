// Which image codec each picture goes out with, per client: the operator's setting (QEMU's
// -spice image-compression / jpeg-wan-compression / zlib-glz-wan-compression names and
// values), what the client can decode, its bandwidth, and the content itself.
//
// Pure policy: no I/O and no SPICE messages. One ImagePolicy per client display channel; it
// owns that client's encoders (GLZ's keeps a model of the client's dictionary).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "encode/glz_budget.h"
#include "encode/image_encoder.h"
#include "pixels/frame.h"

namespace spiced {

enum class ImageCompression { kAutoGlz, kAutoLz, kQuic, kGlz, kLz, kLz4, kOff };
enum class WanCompression { kAuto, kNever, kAlways };
std::optional<ImageCompression> parse_image_compression(std::string_view text);
std::optional<WanCompression> parse_wan_compression(std::string_view text);

struct ImagePolicyConfig {
    ImageCompression mode = ImageCompression::kAutoGlz;
    WanCompression jpeg_wan = WanCompression::kAuto;
    WanCompression zlib_glz_wan = WanCompression::kAuto;
    int jpeg_quality = 85;
};

struct ClientImageCaps {
    bool lz4 = false;               // SPICE_DISPLAY_CAP_LZ4_COMPRESSION
    int64_t glz_window_pixels = 0;  // DISPLAY_INIT; 0 = no GLZ (e.g. spice-html5)
    bool low_bandwidth = false;     // measured at connect
    // LZ_PLT (palette images) decodes: spice-gtk yes, spice-html5 no (LZ_RGB only).
    bool lz_palette = true;
};

// Content class of an area, from a cheap sample: synthetic (text, UI, line art: few colours,
// flat runs) or natural (photos, video, 3D shading: many colours, smooth gradients).
enum class ContentKind { kSynthetic, kNatural };
ContentKind classify_content(const Frame& frame, const Rect& area);

class ImagePolicy {
public:
    // GLZ windows are leased from `glz_budget` (the server's --glz-memory-limit); without
    // one, every window is served as the client asked.
    explicit ImagePolicy(const ImagePolicyConfig& config,
                         std::shared_ptr<GlzMemoryBudget> glz_budget = nullptr);
    ~ImagePolicy();

    // The client's capabilities changed (link caps, DISPLAY_INIT, bandwidth estimate, or a
    // PREFERRED_COMPRESSION request that replaces the mode).
    void set_client(const ClientImageCaps& caps);
    // The GLZ window the encoder models: the client's, or less when the budget is short
    // (0: no GLZ for this client).
    int64_t glz_window_pixels() const { return glz_window_pixels_; }
    void set_mode(ImageCompression mode);
    ImageCompression mode() const { return config_.mode; }

    // The encoder for this picture; never null (bitmaps are always possible).
    ImageEncoder& encoder_for(const Frame& frame, const Rect& area);
    // The same choice with lossy codecs replaced by their lossless counterpart (JPEG by
    // QUIC): for repainting an area that was sent lossy once it holds still.
    ImageEncoder& lossless_encoder_for(const Frame& frame, const Rect& area);
    // The codec that would be used, after fallbacks (for logs and tests).
    ImageCodec choose(const Frame& frame, const Rect& area);
    // What to use when the chosen encoder refuses a picture (e.g. GLZ: larger than the
    // client's window): LZ4 if the client has it, else bitmaps. Never fails.
    ImageEncoder& fallback();

private:
    ImageCodec preferred(const Frame& frame, const Rect& area) const;
    // `codec` if this build and client have it, else the next best.
    ImageCodec available(ImageCodec codec);
    ImageEncoder* encoder(ImageCodec codec);

    ImagePolicyConfig config_;
    ClientImageCaps caps_;
    std::shared_ptr<GlzMemoryBudget> glz_budget_;
    GlzMemoryBudget::Lease glz_lease_;
    int64_t glz_window_pixels_ = 0;
    // GLZ and ZLIB_GLZ share one encoder (slot kGlz): the client has one dictionary.
    std::unique_ptr<ImageEncoder> encoders_[7];
    bool unavailable_[7] = {};
};

}  // namespace spiced
