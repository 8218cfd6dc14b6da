// GPU H.264 encoders through libavcodec: NVIDIA's NVENC (h264_nvenc) and VAAPI (h264_vaapi:
// Intel, AMD). Both are driven with FFmpeg's send-frame / receive-packet calls, set up for the
// lowest latency each offers (no B-frames, no lookahead, one picture in flight) and a CBR
// rate, in-band SPS/PPS (no AV_CODEC_FLAG_GLOBAL_HEADER, so both repeat them on every IDR),
// Main profile.
//
// Pictures: NVENC takes NV12 system-memory frames and uploads them itself; VAAPI needs its
// own surfaces, so NV12 frames are uploaded through a hardware frames context on the render
// node. Without the GPU, driver or device, creation fails with the reason and nothing leaks.
//
// FFmpeg logs through one process-wide callback. We install ours (once): its lines go to our
// log at debug level, so a machine without a GPU does not get FFmpeg's complaints on stderr,
// and the last error line is kept so a failure can say why ("Cannot load libcuda.so.1")
// instead of just "Operation not permitted".
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
}

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "base/log.h"
#include "encode/video_encoders.h"
#include "pixels/yuv.h"

namespace spiced {

namespace {

// The first render node: the GPU a single-GPU host has. Hosts with several GPUs would want
// this configurable; nothing asks for that yet.
constexpr const char* kRenderNode = "/dev/dri/renderD128";
// See x264_encoder.cpp: keyframes come on request; the periodic ones are a safety net.
constexpr int kKeyintSeconds = 10;
// Half a second of VBV buffer, as for x264 (x264_encoder.cpp says why).
constexpr int64_t kVbvBufferMs = 500;

struct FreeCodecContext {
    void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct FreeFrame {
    void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct FreePacket {
    void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct UnrefBuffer {
    void operator()(AVBufferRef* buffer) const { av_buffer_unref(&buffer); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, FreeCodecContext>;
using FramePtr = std::unique_ptr<AVFrame, FreeFrame>;
using PacketPtr = std::unique_ptr<AVPacket, FreePacket>;
using BufferPtr = std::unique_ptr<AVBufferRef, UnrefBuffer>;

// The last error-level line FFmpeg logged on this thread (creation and encoding happen on the
// caller's thread, so this is the line about our call).
thread_local std::string last_ffmpeg_error;

// The library hands us a printf format with its arguments; the attribute lets the compiler
// check the vsnprintf below as a pass-through.
[[gnu::format(printf, 3, 0)]] void log_from_ffmpeg(void*, int level, const char* format,
                                                   va_list args) {
    if (level > AV_LOG_ERROR && log_threshold() > LogLevel::kDebug) return;
    if (level > av_log_get_level()) return;
    char line[512];
    std::vsnprintf(line, sizeof line, format, args);
    size_t length = std::strlen(line);
    while (length > 0 && line[length - 1] == '\n') line[--length] = '\0';
    if (level <= AV_LOG_ERROR) last_ffmpeg_error = line;
    LOG_DEBUG("ffmpeg", "%s", line);
}

void route_ffmpeg_logs() {
    static std::once_flag once;
    std::call_once(once, [] {
        av_log_set_level(AV_LOG_INFO);
        av_log_set_callback(log_from_ffmpeg);
    });
}

// "<what>: <FFmpeg's last error line, else the error code's text>".
std::string failure(std::string_view name, std::string_view what, int code) {
    std::string reason = last_ffmpeg_error;
    if (reason.empty()) {
        char text[AV_ERROR_MAX_STRING_SIZE] = {};
        av_strerror(code, text, sizeof text);
        reason = text;
    }
    return std::string(name) + ": " + std::string(what) + ": " + reason;
}

class FfmpegHwEncoder final : public VideoEncoder {
public:
    static VideoEncoderResult create(std::string_view name, const VideoEncoderSettings& settings) {
        route_ffmpeg_logs();
        last_ffmpeg_error.clear();
        const bool vaapi = name == "h264_vaapi";
        if (!vaapi && name != "h264_nvenc") {
            return unexpected(std::string(name) + ": not a hardware encoder we drive");
        }
        const Size size = settings.size;
        if (size.is_empty() || size.width % 2 != 0 || size.height % 2 != 0) {
            return unexpected(std::string(name) + ": size must be even and not empty");
        }
        if (settings.fps <= 0) {
            return unexpected(std::string(name) + ": frame rate must be positive");
        }
        const AVCodec* codec = avcodec_find_encoder_by_name(std::string(name).c_str());
        if (codec == nullptr) return unexpected(std::string(name) + ": not in this libavcodec");

        auto encoder = std::unique_ptr<FfmpegHwEncoder>(new FfmpegHwEncoder(name, settings));
        if (vaapi) {
            // libva's own message for a missing node is a generic one; ours names the node.
            if (access(kRenderNode, R_OK | W_OK) != 0) {
                return unexpected(std::string(name) + ": cannot open " + kRenderNode + " (" +
                                  std::strerror(errno) + ")");
            }
            AVBufferRef* device = nullptr;
            const int made =
                av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_VAAPI, kRenderNode, nullptr, 0);
            encoder->device_.reset(device);
            if (made < 0) return unexpected(failure(name, "no VAAPI device", made));
        }
        if (auto ok = encoder->open(codec); !ok) return unexpected(ok.error());
        return std::unique_ptr<VideoEncoder>(std::move(encoder));
    }

    VideoCodec codec() const override { return VideoCodec::kH264; }
    std::string_view name() const override { return name_; }
    const VideoEncoderSettings& settings() const override { return settings_; }

    Expected<void, std::string> send_picture(PictureSource& picture, const Rect& area,
                                             bool keyframe) override {
        if (area.size() != settings_.size) {
            return unexpected(name_ + ": area size differs from the stream's");
        }
        if (reopen_) {
            // VAAPI cannot change the rate of an open encoder: start over, with a keyframe.
            if (auto ok = open(context_->codec); !ok) return ok;
            keyframe = true;
        }
        // The encoder may still hold the previous picture (NVENC keeps a reference).
        if (int err = av_frame_make_writable(upload_.get()); err < 0) {
            return unexpected(failure(name_, "frame buffer", err));
        }
        const int32_t h = settings_.size.height;
        const Nv12Planes planes{{upload_->data[0], size_t(upload_->linesize[0]) * size_t(h)},
                                upload_->linesize[0],
                                {upload_->data[1], size_t(upload_->linesize[1]) * size_t(h / 2)},
                                upload_->linesize[1]};
        if (auto ok = picture.to_nv12(area, planes); !ok) {
            return unexpected(name_ + ": " + ok.error());
        }
        upload_->pts = int64_t(frame_number_++);
        upload_->pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;

        AVFrame* input = upload_.get();
        FramePtr surface;
        if (frames_) {
            surface.reset(av_frame_alloc());
            if (!surface) return unexpected(name_ + ": out of memory");
            if (int err = av_hwframe_get_buffer(frames_.get(), surface.get(), 0); err < 0) {
                return unexpected(failure(name_, "no GPU surface", err));
            }
            if (int err = av_hwframe_transfer_data(surface.get(), upload_.get(), 0); err < 0) {
                return unexpected(failure(name_, "upload", err));
            }
            surface->pts = upload_->pts;
            surface->pict_type = upload_->pict_type;
            input = surface.get();
        }
        last_ffmpeg_error.clear();
        if (int err = avcodec_send_frame(context_.get(), input); err < 0) {
            return unexpected(failure(name_, "encoding", err));
        }
        return {};
    }

    Expected<std::optional<VideoPacket>, std::string> receive_packet() override {
        last_ffmpeg_error.clear();
        const int err = avcodec_receive_packet(context_.get(), packet_.get());
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return std::optional<VideoPacket>();
        if (err < 0) return unexpected(failure(name_, "encoding", err));
        VideoPacket packet;
        packet.data.assign(packet_->data, packet_->data + packet_->size);
        packet.keyframe = (packet_->flags & AV_PKT_FLAG_KEY) != 0;
        packet.frame_number = uint64_t(std::max<int64_t>(packet_->pts, 0));
        av_packet_unref(packet_.get());
        return std::optional<VideoPacket>(std::move(packet));
    }

    void set_rate(uint32_t bitrate_bps, int fps) override {
        if (fps <= 0) return;
        settings_.bitrate_bps = bitrate_bps;
        settings_.fps = fps;
        if (device_) {
            reopen_ = true;
            return;
        }
        // FFmpeg's NVENC wrapper compares these with what it configured before each picture
        // and reconfigures the running session when they changed.
        apply_rate(*context_);
    }

private:
    FfmpegHwEncoder(std::string_view name, const VideoEncoderSettings& settings)
        : name_(name), settings_(settings) {}

    void apply_rate(AVCodecContext& context) const {
        context.bit_rate = int64_t(settings_.bitrate_bps);
        context.rc_max_rate = int64_t(settings_.bitrate_bps);
        context.rc_buffer_size = int(std::min<int64_t>(
            int64_t(settings_.bitrate_bps) * kVbvBufferMs / 1000, int64_t{INT32_MAX}));
    }

    // (Re)creates the codec context, and for VAAPI the surface pool, from settings_. On
    // failure the encoder keeps what it had.
    Expected<void, std::string> open(const AVCodec* codec) {
        CodecContextPtr context(avcodec_alloc_context3(codec));
        FramePtr upload(av_frame_alloc());
        PacketPtr packet(av_packet_alloc());
        if (!context || !upload || !packet) return unexpected(name_ + ": out of memory");
        const int32_t w = settings_.size.width, h = settings_.size.height;
        context->width = w;
        context->height = h;
        context->time_base = AVRational{1, settings_.fps};
        context->framerate = AVRational{settings_.fps, 1};
        context->gop_size = settings_.fps * kKeyintSeconds;
        context->max_b_frames = 0;
        context->profile = FF_PROFILE_H264_MAIN;
        context->color_range = AVCOL_RANGE_MPEG;  // pixels/yuv.h: BT.709 limited range
        context->colorspace = AVCOL_SPC_BT709;
        context->color_primaries = AVCOL_PRI_BT709;
        context->color_trc = AVCOL_TRC_BT709;
        apply_rate(*context);
        BufferPtr frames;
        if (device_) {
            frames.reset(av_hwframe_ctx_alloc(device_.get()));
            if (!frames) return unexpected(name_ + ": out of memory");
            auto* pool = reinterpret_cast<AVHWFramesContext*>(frames->data);
            pool->format = AV_PIX_FMT_VAAPI;
            pool->sw_format = AV_PIX_FMT_NV12;
            pool->width = w;
            pool->height = h;
            // The encoder holds its reference picture and the one being encoded.
            pool->initial_pool_size = 4;
            if (int err = av_hwframe_ctx_init(frames.get()); err < 0) {
                return unexpected(failure(name_, "no NV12 surfaces", err));
            }
            context->pix_fmt = AV_PIX_FMT_VAAPI;
            context->hw_frames_ctx = av_buffer_ref(frames.get());
            if (context->hw_frames_ctx == nullptr) return unexpected(name_ + ": out of memory");
            av_opt_set(context->priv_data, "rc_mode", "CBR", 0);
            // One picture in flight: a packet for each picture before the next.
            av_opt_set_int(context->priv_data, "async_depth", 1, 0);
        } else {
            context->pix_fmt = AV_PIX_FMT_NV12;
            av_opt_set(context->priv_data, "preset", "p1", 0);  // fastest
            av_opt_set(context->priv_data, "tune", "ull", 0);   // ultra low latency
            av_opt_set(context->priv_data, "rc", "cbr", 0);
            av_opt_set_int(context->priv_data, "zerolatency", 1, 0);
            av_opt_set_int(context->priv_data, "delay", 0, 0);
            // A picture sent as AV_PICTURE_TYPE_I becomes an IDR, not just an intra picture.
            av_opt_set_int(context->priv_data, "forced-idr", 1, 0);
        }
        last_ffmpeg_error.clear();
        if (int err = avcodec_open2(context.get(), codec, nullptr); err < 0) {
            return unexpected(failure(name_, "cannot open the encoder", err));
        }
        upload->format = AV_PIX_FMT_NV12;
        upload->width = w;
        upload->height = h;
        if (int err = av_frame_get_buffer(upload.get(), 0); err < 0) {
            return unexpected(failure(name_, "frame buffer", err));
        }
        context_ = std::move(context);
        upload_ = std::move(upload);
        packet_ = std::move(packet);
        frames_ = std::move(frames);
        reopen_ = false;
        return {};
    }

    std::string name_;
    VideoEncoderSettings settings_;
    BufferPtr device_;  // VAAPI only
    BufferPtr frames_;  // VAAPI only: the NV12 surface pool
    CodecContextPtr context_;
    FramePtr upload_;  // NV12 in system memory
    PacketPtr packet_;
    uint64_t frame_number_ = 0;
    bool reopen_ = false;
};

}  // namespace

VideoEncoderResult make_ffmpeg_hw_encoder(std::string_view name,
                                          const VideoEncoderSettings& settings) {
    return FfmpegHwEncoder::create(name, settings);
}

}  // namespace spiced
