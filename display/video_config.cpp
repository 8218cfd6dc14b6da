#include "display/video_config.h"

#include <algorithm>

namespace spiced {

namespace {
const std::vector<std::string> kBestH264 = {"h264_nvenc", "h264_vaapi", "x264"};

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The backends an encoder name stands for when making `codec`; empty: it cannot.
std::vector<std::string> backends_of(std::string_view encoder, VideoCodec codec) {
    const bool h264 = codec == VideoCodec::kH264;
    const bool mjpeg = codec == VideoCodec::kMjpeg;
    if (encoder == "auto" || encoder == "gstreamer") {
        if (h264) return kBestH264;
        if (mjpeg) return {"mjpeg"};
    } else if (encoder == "spice") {
        if (mjpeg) return {"mjpeg"};
    } else if (encoder == "x264" || encoder == "x264enc") {
        if (h264) return {"x264"};
    } else if (encoder == "nvenc" || encoder == "h264_nvenc") {
        // A named hardware encoder still falls back to x264 where there is no device.
        if (h264) return {"h264_nvenc", "x264"};
    } else if (encoder == "vaapi" || encoder == "h264_vaapi") {
        if (h264) return {"h264_vaapi", "x264"};
    }
    return {};
}

// Joins pieces into one string (GCC 12 warns falsely on long chains of operator+).
template <typename... Pieces>
std::string cat(const Pieces&... pieces) {
    std::string out;
    (out.append(std::string_view(pieces)), ...);
    return out;
}

bool known_encoder(std::string_view encoder) {
    for (std::string_view name : {"auto", "gstreamer", "spice", "x264", "x264enc", "nvenc",
                                  "h264_nvenc", "vaapi", "h264_vaapi"}) {
        if (encoder == name) return true;
    }
    return false;
}
}  // namespace

Expected<StreamingVideo, std::string> parse_streaming_video(std::string_view text) {
    if (text == "off") return StreamingVideo::kOff;
    if (text == "all") return StreamingVideo::kAll;
    if (text == "filter") return StreamingVideo::kFilter;
    return unexpected(std::string("is not off, all or filter"));
}

std::string_view to_string(StreamingVideo mode) {
    switch (mode) {
        case StreamingVideo::kOff:
            return "off";
        case StreamingVideo::kAll:
            return "all";
        case StreamingVideo::kFilter:
            return "filter";
    }
    return "?";
}

Expected<ParsedVideoCodecs, std::string> parse_video_codecs(std::string_view text) {
    ParsedVideoCodecs parsed;
    std::string_view rest = text;
    size_t index = 0;
    while (!rest.empty()) {
        const size_t semi = rest.find(';');
        std::string_view entry = trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        ++index;
        if (entry.empty()) {
            if (rest.empty() && semi != std::string_view::npos) break;  // trailing ';'
            return unexpected(cat("entry ", std::to_string(index), " is empty"));
        }
        const size_t colon = entry.find(':');
        if (colon == std::string_view::npos)
            return unexpected(cat("'", entry, "' is not ENCODER:CODEC"));
        const std::string_view encoder = trim(entry.substr(0, colon));
        const std::string_view codec_name = trim(entry.substr(colon + 1));
        if (!known_encoder(encoder)) {
            return unexpected(cat("'", encoder,
                                  "' is not a video encoder (spice, gstreamer, x264, x264enc, "
                                  "nvenc, h264_nvenc, vaapi, h264_vaapi, auto)"));
        }
        VideoCodec codec;
        if (codec_name == "mjpeg") {
            codec = VideoCodec::kMjpeg;
        } else if (codec_name == "h264") {
            codec = VideoCodec::kH264;
        } else if (codec_name == "vp8" || codec_name == "vp9" || codec_name == "h265") {
            parsed.notes.push_back(
                cat("'", entry, "' skipped: ", codec_name, " is not encoded by spiced-gpu"));
            continue;
        } else {
            return unexpected(
                cat("'", codec_name, "' is not a video codec (mjpeg, h264, vp8, vp9, h265)"));
        }
        std::vector<std::string> backends = backends_of(encoder, codec);
        if (backends.empty()) {
            return unexpected(cat("'", entry, "': ", encoder, " does not make ", codec_name));
        }
        const bool seen = std::any_of(parsed.choices.begin(), parsed.choices.end(),
                                      [&](const VideoCodecChoice& c) { return c.codec == codec; });
        if (seen) {
            parsed.notes.push_back(cat("'", entry, "' skipped: ", codec_name, " was named before"));
            continue;
        }
        parsed.choices.push_back({codec, std::move(backends)});
    }
    if (parsed.choices.empty())
        return unexpected(cat("'", text, "' names no codec spiced-gpu encodes (mjpeg, h264)"));
    return parsed;
}

std::vector<VideoCodecChoice> default_video_codecs() {
    return {{VideoCodec::kH264, kBestH264}, {VideoCodec::kMjpeg, {"mjpeg"}}};
}

std::string to_string(std::span<const VideoCodecChoice> choices) {
    std::string out;
    for (const VideoCodecChoice& choice : choices) {
        if (!out.empty()) out += "; ";
        out += choice.codec == VideoCodec::kH264 ? "h264" : "mjpeg";
        out += " (";
        for (size_t i = 0; i < choice.backends.size(); ++i) {
            if (i > 0) out += ", ";
            out += choice.backends[i];
        }
        out += ")";
    }
    return out;
}

std::vector<VideoBackend> backends_for(std::span<const VideoCodecChoice> choices,
                                       std::span<const VideoBackend> all) {
    std::vector<VideoBackend> out;
    for (const VideoCodecChoice& choice : choices) {
        for (const std::string& name : choice.backends) {
            auto it = std::find_if(all.begin(), all.end(), [&](const VideoBackend& backend) {
                return backend.name == name && backend.codec == choice.codec;
            });
            if (it != all.end()) out.push_back(*it);
        }
    }
    return out;
}

StreamPolicy VideoConfig::effective_detector() const {
    StreamPolicy policy = detector;
    if (streaming == StreamingVideo::kAll) policy.animation_min_frames = policy.min_frames;
    return policy;
}

}  // namespace spiced
