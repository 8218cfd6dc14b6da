// Video encoders: turn a sequence of pictures (one rectangle of successive Frames) into the
// packets of one video stream, in a format SPICE clients' stream decoders play.
//
// The shape is FFmpeg's send-frame / receive-packet: send_frame() queues a picture and
// receive_packet() hands back whatever the encoder has finished. Every encoder here is tuned
// for zero latency, so a packet comes out for each picture sent, before the next one.
//
// Encoders are pure: no I/O, no SPICE messages. One encoder per stream and codec; packets are
// immutable once made, so one encode serves every client showing the stream. Not
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.h"
#include "pixels/frame.h"
#include "pixels/yuv.h"

namespace spiced {

// SPICE_VIDEO_CODEC_TYPE_* values (spice/enums.h), the order clients rank them in.
enum class VideoCodec : uint8_t { kMjpeg = 1, kVp8 = 2, kH264 = 3, kVp9 = 4, kH265 = 5 };
std::string_view to_string(VideoCodec codec);

struct VideoEncoderSettings {
    // Picture size: every frame sent has an area of exactly this size. H.264 wants even
    // sizes; an odd one is refused by create().
    Size size;
    int fps = 30;
    // Target rate (x264, hardware encoders). MJPEG maps it to a JPEG quality.
    uint32_t bitrate_bps = 4'000'000;
    // Threads an encoder may use (x264's sliced threads keep latency at one frame).
    int threads = 2;
};

struct VideoPacket {
    std::vector<uint8_t> data;  // one access unit (Annex B for H.264, a whole JPEG for MJPEG)
    bool keyframe = false;
    uint64_t frame_number = 0;  // counts send_frame() calls from 0
};

class VideoEncoder {
public:
    virtual ~VideoEncoder() = default;
    virtual VideoCodec codec() const = 0;
    // Which implementation this is, for logs: "x264", "h264_nvenc", "h264_vaapi", "mjpeg".
    virtual std::string_view name() const = 0;
    virtual const VideoEncoderSettings& settings() const = 0;

    // Queues `area` of `picture` (area.size() == settings().size). `keyframe` forces an
    // intra picture (a client joined, or lost a packet). H.264 encoders take the picture's
    // 4:2:0 planes, MJPEG its BGRX frame.
    virtual Expected<void, std::string> send_picture(PictureSource& picture, const Rect& area,
                                                     bool keyframe) = 0;
    // The same for a host frame (converted on the CPU).
    Expected<void, std::string> send_frame(const Frame& frame, const Rect& area, bool keyframe) {
        HostPicture picture(frame);
        return send_picture(picture, area, keyframe);
    }
    // The next finished packet, or nullopt when the encoder needs another picture first.
    virtual Expected<std::optional<VideoPacket>, std::string> receive_packet() = 0;
    // Rate control: the next pictures aim at this bit rate and frame rate.
    virtual void set_rate(uint32_t bitrate_bps, int fps) = 0;
};

// The packet an encoder that finishes each picture inside send_frame() (x264 with zero
// latency, MJPEG) holds until receive_packet() takes it.
class PendingPacket {
public:
    void set(std::vector<uint8_t> data, bool keyframe, uint64_t frame_number) {
        packet_ = VideoPacket{std::move(data), keyframe, frame_number};
    }
    std::optional<VideoPacket> take() { return std::exchange(packet_, std::nullopt); }

private:
    std::optional<VideoPacket> packet_;
};

}  // namespace spiced
