// MJPEG: every picture a complete baseline JPEG file, 4:2:0, standard Huffman tables, from
// the BGRX rows as they are. That is what spice-gtk's MJPEG stream decoder reads with its own
// libjpeg, and what the SPICE JPEG image codec already writes (encode/jpeg.cpp, the settings
// of spice-server), so the packet is that codec's output without the SPICE body's u32 length.
//
// Rate: JPEG has no rate control, so the target is turned into a quality once per rate: the
// bit budget per pixel of one picture, bitrate / (fps * width * height), looked up in
// kQualityForBits, clamped to kMinQuality..kMaxQuality. Below 30 blocking gets ugly while the
// files barely shrink; above 85 they grow fast for differences nobody sees in moving video.
// The table is what libjpeg-turbo spent on bench/video_scene.h's scene at 720p and 1080p;
// busier pictures cost more bits at the same quality, so this is a first guess, not a
// guarantee: a budget below what quality 30 needs (4 Mbit/s at 1080p30 is 0.064 bit a pixel,
// quality 30 took 0.24 on that scene) is overshot. Adjusting the quality from the sizes of
// the files actually written (as spice-server's mjpeg_encoder.c does) is not done yet.
#include <algorithm>
#include <array>

#include "base/bytes.h"
#include "encode/codecs.h"
#include "encode/video_encoders.h"

namespace spiced {

namespace {

constexpr int kMinQuality = 30;
constexpr int kMaxQuality = 85;

struct QualityPoint {
    double bits_per_pixel;
    int quality;
};
// Bits per pixel libjpeg-turbo spent on the benchmark scene at some qualities, ascending.
constexpr std::array<QualityPoint, 6> kQualityForBits{{
    {0.24, 30},
    {0.285, 40},
    {0.33, 50},
    {0.38, 60},
    {0.49, 70},
    {0.93, 85},
}};

int quality_for(uint32_t bitrate_bps, int fps, Size size) {
    const double pixels_per_second = double(std::max(fps, 1)) * double(size.area());
    const double bits = double(bitrate_bps) / std::max(pixels_per_second, 1.0);
    if (bits <= kQualityForBits.front().bits_per_pixel) return kMinQuality;
    for (size_t i = 1; i < kQualityForBits.size(); ++i) {
        const QualityPoint lo = kQualityForBits[i - 1], hi = kQualityForBits[i];
        if (bits <= hi.bits_per_pixel) {
            const double t = (bits - lo.bits_per_pixel) / (hi.bits_per_pixel - lo.bits_per_pixel);
            const int quality = lo.quality + int(t * double(hi.quality - lo.quality) + 0.5);
            return std::clamp(quality, kMinQuality, kMaxQuality);
        }
    }
    return kMaxQuality;
}

class MjpegEncoder final : public VideoEncoder {
public:
    explicit MjpegEncoder(const VideoEncoderSettings& settings) : settings_(settings) {
        set_rate(settings.bitrate_bps, settings.fps);
    }

    VideoCodec codec() const override { return VideoCodec::kMjpeg; }
    std::string_view name() const override { return "mjpeg"; }
    const VideoEncoderSettings& settings() const override { return settings_; }

    Expected<void, std::string> send_picture(PictureSource& picture, const Rect& area,
                                             bool /*keyframe: every picture is one*/) override {
        if (area.size() != settings_.size) {
            return unexpected(std::string("mjpeg: area size differs from the stream's"));
        }
        out_.buffer().clear();
        auto type = jpeg_->encode(picture.frame(), area, out_, 0);
        const uint64_t number = frame_number_++;
        if (!type) return unexpected("mjpeg: " + type.error());
        // The SPICE JPEG body is a u32 length and then the file.
        constexpr size_t kBodyHeader = 4;
        pending_.set(std::vector<uint8_t>(out_.buffer().begin() + kBodyHeader, out_.buffer().end()),
                     true, number);
        return {};
    }

    Expected<std::optional<VideoPacket>, std::string> receive_packet() override {
        return pending_.take();
    }

    void set_rate(uint32_t bitrate_bps, int fps) override {
        if (fps <= 0) return;
        settings_.bitrate_bps = bitrate_bps;
        settings_.fps = fps;
        const int quality = quality_for(bitrate_bps, fps, settings_.size);
        if (jpeg_ && quality == quality_) return;
        quality_ = quality;
        jpeg_ = make_jpeg_encoder(quality);
    }

private:
    VideoEncoderSettings settings_;
    int quality_ = 0;
    std::unique_ptr<ImageEncoder> jpeg_;
    ByteWriter out_;  // reused between pictures, keeps its capacity
    PendingPacket pending_;
    uint64_t frame_number_ = 0;
};

}  // namespace

VideoEncoderResult make_mjpeg_encoder(const VideoEncoderSettings& settings) {
    if (settings.size.is_empty()) return unexpected(std::string("mjpeg: empty picture size"));
    if (settings.fps <= 0) return unexpected(std::string("mjpeg: frame rate must be positive"));
    return std::unique_ptr<VideoEncoder>(std::make_unique<MjpegEncoder>(settings));
}

}  // namespace spiced
