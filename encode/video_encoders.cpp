#include "encode/video_encoders.h"

namespace spiced {

std::string_view to_string(VideoCodec codec) {
    switch (codec) {
        case VideoCodec::kMjpeg:
            return "MJPEG";
        case VideoCodec::kVp8:
            return "VP8";
        case VideoCodec::kH264:
            return "H.264";
        case VideoCodec::kVp9:
            return "VP9";
        case VideoCodec::kH265:
            return "H.265";
    }
    return "unknown codec";
}

std::vector<VideoBackend> default_video_backends() {
    auto hardware = [](std::string name) {
        return VideoBackend{name, VideoCodec::kH264, [name](const VideoEncoderSettings& settings) {
                                return make_ffmpeg_hw_encoder(name, settings);
                            }};
    };
    std::vector<VideoBackend> backends;
    backends.push_back(hardware("h264_nvenc"));
    backends.push_back(hardware("h264_vaapi"));
    backends.push_back({"x264", VideoCodec::kH264, make_x264_encoder});
    backends.push_back({"mjpeg", VideoCodec::kMjpeg, make_mjpeg_encoder});
    return backends;
}

VideoEncoderResult create_video_encoder(VideoCodec codec, const VideoEncoderSettings& settings,
                                        std::span<const VideoBackend> backends, std::string* note) {
    std::string failures;  // "name: reason; name: reason"
    for (const VideoBackend& backend : backends) {
        if (backend.codec != codec) continue;
        VideoEncoderResult made =
            backend.create ? backend.create(settings) : unexpected(std::string("no factory"));
        if (made && *made) {
            if (note != nullptr) {
                *note = std::string(to_string(codec)) + ": using " + backend.name;
                if (!failures.empty()) *note += " (" + failures + ")";
            }
            return made;
        }
        std::string reason = made ? std::string("factory returned nothing") : made.error();
        // Factories name themselves in their errors ("h264_vaapi: ..."); say it once.
        const std::string prefix = backend.name + ": ";
        if (reason.rfind(prefix, 0) == 0) reason.erase(0, prefix.size());
        if (!failures.empty()) failures += "; ";
        failures += prefix + reason;
    }
    std::string error = "no " + std::string(to_string(codec)) + " encoder";
    error += failures.empty() ? std::string(" in the backend list") : " (" + failures + ")";
    if (note != nullptr) *note = error;
    return unexpected(std::move(error));
}

}  // namespace spiced
