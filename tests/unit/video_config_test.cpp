#include "display/video_config.h"

#include <gtest/gtest.h>

namespace spiced {
namespace {

TEST(VideoConfig, StreamingVideoValues) {
    EXPECT_EQ(*parse_streaming_video("off"), StreamingVideo::kOff);
    EXPECT_EQ(*parse_streaming_video("all"), StreamingVideo::kAll);
    EXPECT_EQ(*parse_streaming_video("filter"), StreamingVideo::kFilter);
    EXPECT_FALSE(parse_streaming_video("on").has_value());
    EXPECT_FALSE(parse_streaming_video("").has_value());
}

TEST(VideoConfig, QemuSyntaxMapsToOurBackends) {
    auto parsed = parse_video_codecs("gstreamer:h264;spice:mjpeg");
    ASSERT_TRUE(parsed.has_value()) << parsed.error();
    EXPECT_EQ(parsed->choices, default_video_codecs());
    EXPECT_TRUE(parsed->notes.empty());

    parsed = parse_video_codecs("spice:mjpeg;x264enc:h264;");  // trailing ';' is fine
    ASSERT_TRUE(parsed.has_value()) << parsed.error();
    ASSERT_EQ(parsed->choices.size(), 2u);
    EXPECT_EQ(parsed->choices[0], (VideoCodecChoice{VideoCodec::kMjpeg, {"mjpeg"}}));
    EXPECT_EQ(parsed->choices[1], (VideoCodecChoice{VideoCodec::kH264, {"x264"}}));

    // A named hardware encoder still has x264 behind it.
    parsed = parse_video_codecs(" nvenc : h264 ");
    ASSERT_TRUE(parsed.has_value()) << parsed.error();
    EXPECT_EQ(parsed->choices[0].backends, (std::vector<std::string>{"h264_nvenc", "x264"}));
}

TEST(VideoConfig, CodecsWeDoNotEncodeAreSkippedWithANote) {
    auto parsed = parse_video_codecs("gstreamer:vp8;gstreamer:h264;gstreamer:h265;spice:mjpeg");
    ASSERT_TRUE(parsed.has_value()) << parsed.error();
    EXPECT_EQ(parsed->choices.size(), 2u);
    EXPECT_EQ(parsed->notes.size(), 2u);
    // Named twice: the first entry wins.
    parsed = parse_video_codecs("x264:h264;vaapi:h264");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->choices.size(), 1u);
    EXPECT_EQ(parsed->choices[0].backends, (std::vector<std::string>{"x264"}));
    EXPECT_EQ(parsed->notes.size(), 1u);
}

TEST(VideoConfig, BadListsAreRefusedNamingTheEntry) {
    for (const char* bad :
         {"", "h264", "ffmpeg:h264", "gstreamer:av1", "spice:h264", "x264:mjpeg",
          "gstreamer:h264;;spice:mjpeg", "gstreamer:vp9", ":h264", "gstreamer:"}) {
        auto parsed = parse_video_codecs(bad);
        EXPECT_FALSE(parsed.has_value()) << bad;
    }
    auto parsed = parse_video_codecs("gstreamer:h264;x264enc:mjpeg");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_NE(parsed.error().find("x264enc:mjpeg"), std::string::npos) << parsed.error();
}

TEST(VideoConfig, BackendsFollowTheChoices) {
    const auto all = default_video_backends();
    auto parsed = parse_video_codecs("spice:mjpeg;vaapi:h264");
    ASSERT_TRUE(parsed.has_value());
    const auto backends = backends_for(parsed->choices, all);
    ASSERT_EQ(backends.size(), 3u);
    EXPECT_EQ(backends[0].name, "mjpeg");
    EXPECT_EQ(backends[1].name, "h264_vaapi");
    EXPECT_EQ(backends[2].name, "x264");
    EXPECT_EQ(to_string(parsed->choices), "mjpeg (mjpeg); h264 (h264_vaapi, x264)");
}

TEST(VideoConfig, AllStreamsAnyAnimationAsSoonAsNaturalContent) {
    VideoConfig config;
    EXPECT_EQ(config.effective_detector().animation_min_frames,
              StreamPolicy{}.animation_min_frames);
    config.streaming = StreamingVideo::kAll;
    EXPECT_EQ(config.effective_detector().animation_min_frames, config.detector.min_frames);
}

}  // namespace
}  // namespace spiced
