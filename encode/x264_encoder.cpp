// H.264 with libx264, tuned for a remote desktop: every picture comes out as one packet before
// the next goes in (tune zerolatency: no lookahead, no B-frames, no frame threads; sliced
// threads instead), and keyframes come only when asked for.
//
// The stream is what spice-gtk's GStreamer pipeline (h264parse ! avdec_h264, or a hardware
// decoder) plays: Annex B byte stream, profile Main at the level x264 derives, SPS and PPS
// before every IDR so a client that joins at a keyframe can start there, 4:2:0 8-bit BT.709
// limited range (pixels/yuv.h), said so in the VUI.
// x264.h needs the fixed-width integer types declared first.
#include <cstdint>
// clang-format off
#include <x264.h>
// clang-format on

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>

#include "base/log.h"
#include "encode/video_encoders.h"
#include "pixels/yuv.h"

namespace spiced {

namespace {

// Measured on bench/video_scene.h's scene, one thread (docs/video_encode_figures.md):
// superfast takes about 1.65x the CPU of ultrafast (1080p: 11.5 against 7.1 ms a picture) and
// gives 1.2 to 3 dB more PSNR at the same bit rate (CABAC, deblocking, sub-pixel motion
// search). On a WAN link the quality is worth more than the CPU, and superfast still encodes
// 1080p at over 80 pictures a second on one core.
constexpr const char* kPreset = "superfast";
// Main rather than constrained baseline: with superfast it gave 1 to 5 dB more PSNR at equal
// rate on the same scene (CABAC and weighted prediction, which baseline lacks; it also overshot
// the low rates), and every decoder spice-gtk may pick (avdec_h264, vaapih264dec, ...) plays
// it.
constexpr const char* kProfile = "main";
// Keyframes are requested explicitly (a client joins or loses a packet), so the periodic ones
// only bound how long a decoder that somehow missed a request can stay broken.
constexpr int kKeyintSeconds = 10;
// VBV buffer, in milliseconds of the target rate. A forced keyframe is several times an
// average frame; half a second of budget lets it through at a decent quality while bounding
// the burst to what the link drains in half a second.
constexpr uint32_t kVbvBufferMs = 500;

struct CloseX264 {
    void operator()(x264_t* encoder) const { x264_encoder_close(encoder); }
};
using X264Ptr = std::unique_ptr<x264_t, CloseX264>;

// x264's messages go to our log at debug level: its informational lines (the chosen profile,
// per-frame statistics at close) are no business of an operator.
// The library hands us a printf format with its arguments; the attribute lets the compiler
// check the vsnprintf below as a pass-through.
[[gnu::format(printf, 3, 0)]] void log_from_x264(void*, int /*level*/, const char* format,
                                                 va_list args) {
    if (log_threshold() > LogLevel::kDebug) return;
    char line[512];
    std::vsnprintf(line, sizeof line, format, args);
    size_t length = std::strlen(line);
    while (length > 0 && line[length - 1] == '\n') line[--length] = '\0';
    LOG_DEBUG("x264", "%s", line);
}

// kbit/s for x264 from a bit rate in bit/s that was meant for `fps` pictures a second. x264's
// ABR spends bitrate / i_fps per picture and i_fps cannot be reconfigured, so a later frame
// rate is folded into the rate instead.
int kbps_for(uint32_t bitrate_bps, int fps, int configured_fps) {
    const double scaled = double(bitrate_bps) * double(configured_fps) / double(std::max(fps, 1));
    return std::max(1, int(std::min(scaled / 1000.0, 2'000'000.0)));
}

void apply_rate(x264_param_t& param, uint32_t bitrate_bps, int fps) {
    const int kbps = kbps_for(bitrate_bps, fps, int(param.i_fps_num));
    // CBR-style VBV (max rate = average rate): x264 can change the rate of a running encoder
    // only in this mode (x264_encoder_reconfig).
    param.rc.i_rc_method = X264_RC_ABR;
    param.rc.i_bitrate = kbps;
    param.rc.i_vbv_max_bitrate = kbps;
    param.rc.i_vbv_buffer_size = std::max(1, int(int64_t{kbps} * kVbvBufferMs / 1000));
}

class X264Encoder final : public VideoEncoder {
public:
    X264Encoder(const VideoEncoderSettings& settings, const x264_param_t& param, X264Ptr encoder)
        : settings_(settings), param_(param), encoder_(std::move(encoder)) {
        const size_t luma = size_t(settings.size.width) * size_t(settings.size.height);
        planes_.resize(luma + luma / 2);
    }

    VideoCodec codec() const override { return VideoCodec::kH264; }
    std::string_view name() const override { return "x264"; }
    const VideoEncoderSettings& settings() const override { return settings_; }

    Expected<void, std::string> send_picture(PictureSource& picture, const Rect& area,
                                             bool keyframe) override {
        if (area.size() != settings_.size) {
            return unexpected(std::string("x264: area size differs from the stream's"));
        }
        const int32_t w = settings_.size.width, h = settings_.size.height;
        const size_t luma = size_t(w) * size_t(h);
        std::span<uint8_t> all(planes_);
        const I420Planes planes{all.first(luma),
                                w,
                                all.subspan(luma, luma / 4),
                                w / 2,
                                all.subspan(luma + luma / 4),
                                w / 2};
        if (auto ok = picture.to_i420(area, planes); !ok) return unexpected("x264: " + ok.error());

        x264_picture_t in;
        x264_picture_init(&in);
        in.img.i_csp = X264_CSP_I420;
        in.img.i_plane = 3;
        in.img.plane[0] = planes.y.data();
        in.img.plane[1] = planes.u.data();
        in.img.plane[2] = planes.v.data();
        in.img.i_stride[0] = w;
        in.img.i_stride[1] = w / 2;
        in.img.i_stride[2] = w / 2;
        in.i_type = keyframe ? X264_TYPE_IDR : X264_TYPE_AUTO;
        in.i_pts = int64_t(frame_number_);

        x264_nal_t* nals = nullptr;
        int nal_count = 0;
        x264_picture_t out;
        const int bytes = x264_encoder_encode(encoder_.get(), &nals, &nal_count, &in, &out);
        const uint64_t number = frame_number_++;
        if (bytes < 0) return unexpected(std::string("x264: encoding failed"));
        if (bytes == 0 || nal_count == 0) return {};  // x264 dropped the picture
        // x264 writes a picture's NAL units back to back, so the whole access unit is one
        // range from the first payload.
        const uint8_t* start = nals[0].p_payload;
        pending_.set(std::vector<uint8_t>(start, start + bytes), out.b_keyframe != 0, number);
        return {};
    }

    Expected<std::optional<VideoPacket>, std::string> receive_packet() override {
        return pending_.take();
    }

    void set_rate(uint32_t bitrate_bps, int fps) override {
        x264_param_t next = param_;
        apply_rate(next, bitrate_bps, fps);
        if (x264_encoder_reconfig(encoder_.get(), &next) < 0) {
            LOG_DEBUG("x264", "rate change to %u bit/s at %d fps refused", bitrate_bps, fps);
            return;
        }
        param_ = next;
        settings_.bitrate_bps = bitrate_bps;
        settings_.fps = fps;
    }

private:
    VideoEncoderSettings settings_;
    x264_param_t param_;  // what the encoder runs with, the base for reconfiguration
    X264Ptr encoder_;
    std::vector<uint8_t> planes_;  // I420, tightly packed
    PendingPacket pending_;
    uint64_t frame_number_ = 0;
};

}  // namespace

VideoEncoderResult make_x264_encoder(const VideoEncoderSettings& settings) {
    const Size size = settings.size;
    if (size.is_empty() || size.width % 2 != 0 || size.height % 2 != 0) {
        return unexpected("x264: size must be even and not empty, not " +
                          std::to_string(size.width) + "x" + std::to_string(size.height));
    }
    if (settings.fps <= 0) return unexpected(std::string("x264: frame rate must be positive"));
    x264_param_t param;
    if (x264_param_default_preset(&param, kPreset, "zerolatency") < 0) {
        return unexpected(std::string("x264: preset not known to this libx264"));
    }
    param.pf_log = log_from_x264;
    param.i_log_level = X264_LOG_WARNING;
    param.i_width = size.width;
    param.i_height = size.height;
    param.i_csp = X264_CSP_I420;
    param.i_bitdepth = 8;
    param.i_fps_num = uint32_t(settings.fps);
    param.i_fps_den = 1;
    param.b_vfr_input = 0;  // rate control counts pictures, not timestamps (see kbps_for)
    param.i_threads = std::max(1, settings.threads);
    param.b_sliced_threads = 1;
    param.i_bframe = 0;
    param.i_keyint_max = settings.fps * kKeyintSeconds;
    param.b_repeat_headers = 1;
    param.b_annexb = 1;
    // BT.709 primaries, transfer and matrix (H.264 Table E-3: 1), limited range: how
    // pixels/yuv.h converts. Without it decoders may guess BT.601 for small pictures.
    param.vui.i_colorprim = 1;
    param.vui.i_transfer = 1;
    param.vui.i_colmatrix = 1;
    param.vui.b_fullrange = 0;
    apply_rate(param, settings.bitrate_bps, settings.fps);
    if (x264_param_apply_profile(&param, kProfile) < 0) {
        return unexpected(std::string("x264: profile not applicable"));
    }
    X264Ptr encoder(x264_encoder_open(&param));
    if (!encoder) return unexpected(std::string("x264: x264_encoder_open failed"));
    // The encoder may have adjusted parameters (level limits); reconfigure from its copy.
    x264_encoder_parameters(encoder.get(), &param);
    return std::unique_ptr<VideoEncoder>(
        std::make_unique<X264Encoder>(settings, param, std::move(encoder)));
}

}  // namespace spiced
