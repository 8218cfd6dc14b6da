// What the operator chose for video streams (--streaming-video, --video-codecs, --stream-*;
// spice_server_set_streaming_video / set_video_codecs in the drop-in library), and the parser
// of QEMU's and spice-server's video-codecs syntax.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "display/stream_detector.h"
#include "encode/video_encoders.h"

namespace spiced {

// spice-server's streaming-video values: off, every region that updates often (even text and
// UI), or only those that look like video (the detector's content check; the default).
enum class StreamingVideo : uint8_t { kOff, kAll, kFilter };
Expected<StreamingVideo, std::string> parse_streaming_video(std::string_view text);
std::string_view to_string(StreamingVideo mode);

// One codec the server offers, with the encoder backends to try for it, best first (names
// as in default_video_backends()).
struct VideoCodecChoice {
    VideoCodec codec;
    std::vector<std::string> backends;
    friend bool operator==(const VideoCodecChoice&, const VideoCodecChoice&) = default;
};

struct ParsedVideoCodecs {
    std::vector<VideoCodecChoice> choices;  // in the operator's preference order
    std::vector<std::string> notes;         // entries skipped (codecs we do not encode)
};

// "encoder:codec;encoder:codec..." as QEMU's -spice video-codecs= passes it to spice-server.
// Encoders: spice (mjpeg only) and gstreamer (h264: our best H.264 chain; mjpeg) as
// spice-server names them, and ours: x264 or x264enc (h264), nvenc or h264_nvenc, vaapi or
// h264_vaapi, auto (the best chain for the codec). Codecs: mjpeg and h264; vp8, vp9 and h265
// are SPICE codecs we do not encode: skipped with a note. Unknown names, an encoder that
// cannot make the codec, empty entries (a trailing ';' is allowed) and a list with nothing
// usable are refused, naming the bad entry. A codec named twice keeps its first entry.
Expected<ParsedVideoCodecs, std::string> parse_video_codecs(std::string_view text);
// H.264 (h264_nvenc, h264_vaapi, x264), then MJPEG.
std::vector<VideoCodecChoice> default_video_codecs();
// "h264 (h264_nvenc, h264_vaapi, x264); mjpeg (mjpeg)" for logs.
std::string to_string(std::span<const VideoCodecChoice> choices);
// The backends of `all` that `choices` name, in the choices' order (for Desktop's encoders).
std::vector<VideoBackend> backends_for(std::span<const VideoCodecChoice> choices,
                                       std::span<const VideoBackend> all);

struct VideoConfig {
    StreamingVideo streaming = StreamingVideo::kFilter;
    std::vector<VideoCodecChoice> codecs = default_video_codecs();
    StreamPolicy detector;
    // A stream's pictures at most this often (spice-server caps streams at 30 fps).
    int max_fps = 60;

    // The detector's policy for the streaming mode: `all` streams any region that keeps
    // changing as soon as natural content would.
    StreamPolicy effective_detector() const;
};

}  // namespace spiced
