#include "encode/image_policy.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>

#include "base/log.h"
#include "encode/codecs.h"
#include "encode/lz.h"

namespace spiced {

namespace {
// Below this many pixels a picture goes losslessly with LZ whatever the mode: QUIC's and
// JPEG's headers and model start-up cost more than they save on a few pixels.
constexpr int64_t kSmallImagePixels = 16 * 16;
// Sampling budget for the classifier: enough to see a picture's character, cheap at 1080p.
constexpr int kSampleRows = 32;
constexpr int kSamplesPerRow = 64;
// Fewer distinct colours than this in the sample: synthetic content.
constexpr int kSyntheticColourLimit = 48;

size_t index_of(ImageCodec codec) {
    return size_t(codec);
}
}  // namespace

std::optional<ImageCompression> parse_image_compression(std::string_view text) {
    if (text == "auto_glz") return ImageCompression::kAutoGlz;
    if (text == "auto_lz") return ImageCompression::kAutoLz;
    if (text == "quic") return ImageCompression::kQuic;
    if (text == "glz") return ImageCompression::kGlz;
    if (text == "lz") return ImageCompression::kLz;
    if (text == "lz4") return ImageCompression::kLz4;
    if (text == "off" || text == "never") return ImageCompression::kOff;
    return std::nullopt;
}

std::optional<WanCompression> parse_wan_compression(std::string_view text) {
    if (text == "auto") return WanCompression::kAuto;
    if (text == "never") return WanCompression::kNever;
    if (text == "always") return WanCompression::kAlways;
    return std::nullopt;
}

ContentKind classify_content(const Frame& frame, const Rect& area) {
    if (area.width() < 8 || area.height() < 8) return ContentKind::kSynthetic;
    // Distinct colours in a small open-addressing set, and how often horizontally adjacent
    // samples differ by a little but not zero (the signature of gradients and photos).
    std::array<uint32_t, 256> seen{};
    int distinct = 0;
    int smooth = 0, pairs = 0;
    const int rows = std::min(kSampleRows, area.height());
    const int step_x = std::max(1, area.width() / kSamplesPerRow);
    for (int r = 0; r < rows; ++r) {
        const int32_t y = area.top() + int32_t(int64_t(r) * area.height() / rows);
        const uint32_t* row = frame.row(y);
        for (int32_t x = area.left(); x + 1 < area.right(); x += step_x) {
            const uint32_t a = row[x] & 0xffffffu, b = row[x + 1] & 0xffffffu;
            if (distinct < int(seen.size()) / 2) {
                uint32_t slot = (a * 2654435761u) >> 24;
                while (seen[slot] != 0 && seen[slot] != (a | 0x1000000u)) slot = (slot + 1) & 255;
                if (seen[slot] == 0) {
                    seen[slot] = a | 0x1000000u;
                    ++distinct;
                }
            }
            if (a != b) {
                const int dr = std::abs(int(a >> 16) - int(b >> 16));
                const int dg = std::abs(int((a >> 8) & 255) - int((b >> 8) & 255));
                const int db = std::abs(int(a & 255) - int(b & 255));
                if (dr <= 24 && dg <= 24 && db <= 24) ++smooth;
            }
            ++pairs;
        }
    }
    if (distinct < kSyntheticColourLimit) return ContentKind::kSynthetic;
    return smooth * 3 >= pairs ? ContentKind::kNatural : ContentKind::kSynthetic;
}

ImagePolicy::ImagePolicy(const ImagePolicyConfig& config,
                         std::shared_ptr<GlzMemoryBudget> glz_budget)
    : config_(config), glz_budget_(std::move(glz_budget)) {}
ImagePolicy::~ImagePolicy() = default;

void ImagePolicy::set_client(const ClientImageCaps& caps) {
    // A new GLZ window means a new dictionary: the old encoder's model no longer applies.
    if (caps.glz_window_pixels != caps_.glz_window_pixels) {
        encoders_[index_of(ImageCodec::kGlz)].reset();
        glz_lease_ = {};  // before leasing the new window: the old one's memory is free now
        if (glz_budget_) {
            glz_lease_ = glz_budget_->reserve(caps.glz_window_pixels);
            glz_window_pixels_ = glz_lease_.window_pixels();
        } else {
            glz_window_pixels_ =
                std::min(std::max<int64_t>(caps.glz_window_pixels, 0), kGlzMaxWindowPixels);
        }
    }
    if (caps.lz_palette != caps_.lz_palette) encoders_[index_of(ImageCodec::kLz)].reset();
    caps_ = caps;
}

void ImagePolicy::set_mode(ImageCompression mode) {
    config_.mode = mode;
}

ImageCodec ImagePolicy::preferred(const Frame& frame, const Rect& area) const {
    const bool glz_ok = glz_window_pixels_ > 0;
    const bool zlib = config_.zlib_glz_wan == WanCompression::kAlways ||
                      (config_.zlib_glz_wan == WanCompression::kAuto && caps_.low_bandwidth);
    const bool jpeg = config_.jpeg_wan == WanCompression::kAlways ||
                      (config_.jpeg_wan == WanCompression::kAuto && caps_.low_bandwidth);
    const ImageCodec dictionary =
        glz_ok ? (zlib ? ImageCodec::kZlibGlz : ImageCodec::kGlz) : ImageCodec::kLz;
    switch (config_.mode) {
        case ImageCompression::kOff:
            return ImageCodec::kBitmap;
        case ImageCompression::kLz4:
            return ImageCodec::kLz4;
        case ImageCompression::kLz:
            return ImageCodec::kLz;
        case ImageCompression::kGlz:
            return dictionary;
        case ImageCompression::kQuic:
            return jpeg ? ImageCodec::kJpeg : ImageCodec::kQuic;
        case ImageCompression::kAutoLz:
        case ImageCompression::kAutoGlz: {
            if (area.area() < kSmallImagePixels) return ImageCodec::kLz;
            if (classify_content(frame, area) == ContentKind::kNatural) {
                return jpeg ? ImageCodec::kJpeg : ImageCodec::kQuic;
            }
            return config_.mode == ImageCompression::kAutoGlz ? dictionary : ImageCodec::kLz;
        }
    }
    return ImageCodec::kBitmap;
}

ImageEncoder* ImagePolicy::encoder(ImageCodec codec) {
    const bool glz = codec == ImageCodec::kGlz || codec == ImageCodec::kZlibGlz;
    const size_t i = index_of(glz ? ImageCodec::kGlz : codec);
    if (unavailable_[i]) return nullptr;
    if (glz && encoders_[i]) set_glz_zlib(*encoders_[i], codec == ImageCodec::kZlibGlz);
    if (!encoders_[i]) {
        switch (codec) {
            case ImageCodec::kGlz:
            case ImageCodec::kZlibGlz:
                encoders_[i] =
                    make_glz_encoder({glz_window_pixels_, codec == ImageCodec::kZlibGlz});
                break;
            case ImageCodec::kJpeg:
                encoders_[i] = make_jpeg_encoder(config_.jpeg_quality);
                break;
            case ImageCodec::kLz:
                encoders_[i] = make_lz_encoder(LzEncoderOptions{caps_.lz_palette});
                break;
            default:
                encoders_[i] = make_image_encoder(codec);
                break;
        }
        if (!encoders_[i]) {
            unavailable_[i] = true;
            LOG_INFO("display", "image codec %.*s is not available in this build; falling back",
                     int(to_string(codec).size()), to_string(codec).data());
            return nullptr;
        }
    }
    return encoders_[i].get();
}

ImageCodec ImagePolicy::available(ImageCodec codec) {
    if (codec == ImageCodec::kLz4 && !caps_.lz4) codec = ImageCodec::kLz;
    if ((codec == ImageCodec::kGlz || codec == ImageCodec::kZlibGlz) && glz_window_pixels_ <= 0) {
        codec = ImageCodec::kLz;
    }
    if (encoder(codec) != nullptr) return codec;
    // Fallback order: the lossless codecs every client has, fastest first.
    if (caps_.lz4 && encoder(ImageCodec::kLz4) != nullptr) return ImageCodec::kLz4;
    if (encoder(ImageCodec::kLz) != nullptr) return ImageCodec::kLz;
    return ImageCodec::kBitmap;
}

ImageCodec ImagePolicy::choose(const Frame& frame, const Rect& area) {
    return available(preferred(frame, area));
}

ImageEncoder& ImagePolicy::fallback() {
    ImageEncoder* lz4 = caps_.lz4 ? encoder(ImageCodec::kLz4) : nullptr;
    return lz4 != nullptr ? *lz4 : *encoder(ImageCodec::kBitmap);
}

ImageEncoder& ImagePolicy::encoder_for(const Frame& frame, const Rect& area) {
    ImageEncoder* chosen = encoder(choose(frame, area));
    return chosen != nullptr ? *chosen : *encoder(ImageCodec::kBitmap);
}

ImageEncoder& ImagePolicy::lossless_encoder_for(const Frame& frame, const Rect& area) {
    ImageCodec codec = choose(frame, area);
    if (codec == ImageCodec::kJpeg) codec = available(ImageCodec::kQuic);
    ImageEncoder* chosen = encoder(codec);
    return chosen != nullptr ? *chosen : *encoder(ImageCodec::kBitmap);
}

}  // namespace spiced
