// The video encoders this build has, and the choice between them: for one codec, the first
// backend in a preference list that opens on this machine (a GPU encoder when there is a GPU,
// else software).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "encode/video_encoder.h"

namespace spiced {

using VideoEncoderResult = Expected<std::unique_ptr<VideoEncoder>, std::string>;

// H.264 through libx264: software, always available.
VideoEncoderResult make_x264_encoder(const VideoEncoderSettings& settings);
// MJPEG through libjpeg-turbo: software, always available.
VideoEncoderResult make_mjpeg_encoder(const VideoEncoderSettings& settings);
// An FFmpeg hardware H.264 encoder by its libavcodec name: "h264_nvenc" or "h264_vaapi".
// Fails with the reason (no device, no driver, encoder not in this libavcodec) when it cannot
// open one.
VideoEncoderResult make_ffmpeg_hw_encoder(std::string_view name,
                                          const VideoEncoderSettings& settings);

struct VideoBackend {
    std::string name;
    VideoCodec codec;
    std::function<VideoEncoderResult(const VideoEncoderSettings&)> create;
};

// Every backend, best first: h264_nvenc, h264_vaapi, x264, mjpeg.
std::vector<VideoBackend> default_video_backends();

// Tries the backends of `codec` in list order and returns the first encoder that opens. When
// `note` is not null it receives one line for the log saying which one was chosen and why each
// earlier one was not, e.g. "H.264: using x264 (h264_nvenc: ...; h264_vaapi: ...)". Fails,
// naming every backend's reason, when none opens or none is for `codec`.
VideoEncoderResult create_video_encoder(VideoCodec codec, const VideoEncoderSettings& settings,
                                        std::span<const VideoBackend> backends,
                                        std::string* note = nullptr);

}  // namespace spiced
