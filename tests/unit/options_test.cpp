#include "host/options.h"

#include <spice/enums.h>

#include <gtest/gtest.h>

namespace spiced {
namespace {

Expected<CommandLine, std::string> parse_args(std::vector<std::string_view> args,
                                              std::string_view env = "") {
    return parse_command_line(args, env);
}

TEST(Options, Defaults) {
    auto cl = parse_args({"--disable-ticketing"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.port, 5900);
    EXPECT_EQ(cl->config.address, "127.0.0.1");
    EXPECT_EQ(cl->demo.head_size, (Size{1920, 1080}));
    EXPECT_EQ(cl->demo.heads, 1u);
    EXPECT_EQ(cl->demo.model, MonitorModel::kOneSurface);
    EXPECT_EQ(cl->config.multi_client, MultiClient::kOff);
    EXPECT_TRUE(cl->config.client_mouse_mode);
    EXPECT_FALSE(cl->config.ticket.ticketing_enabled());
    EXPECT_EQ(cl->config.video.streaming, StreamingVideo::kFilter);
    EXPECT_EQ(cl->config.video.codecs, default_video_codecs());
    EXPECT_EQ(cl->config.video.max_fps, 60);
    EXPECT_EQ(cl->config.video.detector.min_frames, 3);
    EXPECT_EQ(cl->config.record_scene, "");
}

TEST(Options, RecordScene) {
    auto cl = parse_args({"--disable-ticketing", "--record-scene", "/tmp/desk.scene"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.record_scene, "/tmp/desk.scene");
    auto empty = parse_args({"--disable-ticketing", "--record-scene="});
    ASSERT_FALSE(empty.has_value());
    EXPECT_NE(empty.error().find("--record-scene"), std::string::npos) << empty.error();
}

TEST(Options, VideoStreams) {
    auto cl = parse_args({"--disable-ticketing", "--streaming-video", "all", "--video-codecs",
                          "gstreamer:vp8;spice:mjpeg", "--stream-min-frames=5", "--stream-min-fps",
                          "15", "--stream-min-area", "40000", "--stream-idle-ms", "1000",
                          "--stream-max-fps", "30"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.video.streaming, StreamingVideo::kAll);
    ASSERT_EQ(cl->config.video.codecs.size(), 1u);
    EXPECT_EQ(cl->config.video.codecs[0].codec, VideoCodec::kMjpeg);
    ASSERT_EQ(cl->notes.size(), 1u);  // vp8 skipped, said in the log
    EXPECT_EQ(cl->config.video.detector.min_frames, 5);
    EXPECT_EQ(cl->config.video.detector.min_fps, 15.0);
    EXPECT_EQ(cl->config.video.detector.min_area, 40000);
    EXPECT_EQ(cl->config.video.detector.idle_after, std::chrono::milliseconds(1000));
    EXPECT_EQ(cl->config.video.max_fps, 30);
    for (std::vector<std::string_view> bad :
         {std::vector<std::string_view>{"--streaming-video", "yes"},
          {"--video-codecs", "ffmpeg:h264"},
          {"--video-codecs", "gstreamer:vp9"},
          {"--stream-min-frames", "0"},
          {"--stream-min-fps", "0"},
          {"--stream-min-area", "100"},
          {"--stream-idle-ms", "10"},
          {"--stream-max-fps", "1000"}}) {
        bad.insert(bad.begin(), "--disable-ticketing");
        auto refused = parse_args(bad);
        EXPECT_FALSE(refused.has_value()) << bad[1] << " " << bad[2];
        if (!refused) {
            EXPECT_NE(refused.error().find(bad[1]), std::string::npos) << refused.error();
        }
    }
}

TEST(Options, QemuStyleValues) {
    auto cl = parse_args({"--port=5999", "--addr", "::", "--password", "pw", "--image-compression",
                          "lz4", "--demo-size", "1024x768", "--demo-seed", "9", "--demo-freeze",
                          "0", "--dump-frame", "/tmp/x.ppm", "--mouse-mode", "server", "--uuid",
                          "12345678-1234-1234-1234-123456789abc"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.port, 5999);
    EXPECT_EQ(cl->config.address, "::");
    EXPECT_EQ(cl->config.images.mode, ImageCompression::kLz4);
    EXPECT_EQ(cl->demo.head_size, (Size{1024, 768}));
    EXPECT_EQ(cl->demo.seed, 9u);
    EXPECT_EQ(cl->demo.freeze_at, 0);
    EXPECT_EQ(cl->dump_frame, "/tmp/x.ppm");
    EXPECT_FALSE(cl->config.client_mouse_mode);
    EXPECT_EQ(cl->config.uuid[0], 0x12);
    EXPECT_EQ(cl->config.uuid[15], 0xbc);
    EXPECT_TRUE(cl->config.ticket.ticketing_enabled());
}

TEST(Options, MonitorsAndClients) {
    auto cl = parse_args({"--disable-ticketing", "--demo-monitors", "16", "--demo-monitor-model",
                          "channel-per-head", "--multi-client", "view"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->demo.heads, 16u);
    EXPECT_EQ(cl->demo.model, MonitorModel::kChannelPerHead);
    EXPECT_EQ(cl->config.multi_client, MultiClient::kView);
    auto shared = parse_args({"--disable-ticketing", "--multi-client=shared"});
    ASSERT_TRUE(shared.has_value()) << shared.error();
    EXPECT_EQ(shared->config.multi_client, MultiClient::kShared);
}

TEST(Options, EveryChannelTypeHasATlsPolicy) {
    // QEMU's names for all of SPICE's channel types, usbredir, port and webdav included.
    auto cl = parse_args({"--disable-ticketing", "--port", "5900", "--tls-port", "5901",
                          "--x509-dir", "/tmp", "--tls-channel", "usbredir", "--tls-channel",
                          "webdav", "--plaintext-channel", "port", "--tls-channel", "playback"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.channel_security[SPICE_CHANNEL_USBREDIR], ChannelSecurity::kSecureOnly);
    EXPECT_EQ(cl->config.channel_security[SPICE_CHANNEL_WEBDAV], ChannelSecurity::kSecureOnly);
    EXPECT_EQ(cl->config.channel_security[SPICE_CHANNEL_PORT], ChannelSecurity::kPlainOnly);
    EXPECT_EQ(cl->config.channel_security[SPICE_CHANNEL_PLAYBACK], ChannelSecurity::kSecureOnly);
    EXPECT_FALSE(cl->config.channel_security[SPICE_CHANNEL_MAIN].has_value());
}

TEST(Options, PasswordFromEnvironment) {
    auto cl = parse_args({}, "envpw");
    ASSERT_TRUE(cl.has_value());
    EXPECT_FALSE(cl->config.ticket.check("envpw", TicketPolicy::Clock::now()).has_value());
}

TEST(Options, Sources) {
    auto demo = parse_args({"--disable-ticketing", "--source", "demo"});
    ASSERT_TRUE(demo.has_value()) << demo.error();
    EXPECT_EQ(demo->source, SourceKind::kDemo);
    auto virgl = parse_args({"--disable-ticketing", "--source", "virgl", "--demo-size", "640x480",
                             "--demo-freeze", "9"});
    ASSERT_TRUE(virgl.has_value()) << virgl.error();
    EXPECT_EQ(virgl->source, SourceKind::kVirgl);
    EXPECT_EQ(virgl->demo.head_size, (Size{640, 480}));
    EXPECT_EQ(virgl->demo.freeze_at, 9);
    auto unknown = parse_args({"--disable-ticketing", "--source", "vnc"});
    ASSERT_FALSE(unknown.has_value());
    EXPECT_NE(unknown.error().find("demo, virgl"), std::string::npos) << unknown.error();
    auto heads = parse_args({"--disable-ticketing", "--source", "virgl", "--demo-monitors", "2"});
    ASSERT_FALSE(heads.has_value());
    EXPECT_NE(heads.error().find("one head"), std::string::npos) << heads.error();
}

TEST(Options, ClearErrors) {
    struct Case {
        std::vector<std::string_view> args;
        std::string_view mentions;
    };
    const Case cases[] = {
        {{}, "no password"},
        {{"--port", "70000", "--disable-ticketing"}, "--port"},
        {{"--port", "abc", "--disable-ticketing"}, "--port"},
        {{"--port"}, "needs a value"},
        {{"--image-compression", "zip", "--disable-ticketing"}, "--image-compression"},
        {{"--jpeg-wan-compression", "sometimes", "--disable-ticketing"}, "--jpeg-wan-compression"},
        {{"--zlib-glz-wan-compression", "1", "--disable-ticketing"}, "--zlib-glz-wan"},
        {{"--demo-size", "10x10", "--disable-ticketing"}, "--demo-size"},
        {{"--demo-freeze", "-1", "--disable-ticketing"}, "--demo-freeze"},
        {{"--bogus"}, "unknown option"},
        {{"--disable-ticketing", "--password", "x"}, "pick one"},
        {{"--tls-port", "5901", "--disable-ticketing"}, "--x509-dir"},
        {{"--tls-port", "5901", "--x509-dir", "/tmp", "--tls-channel", "bogus",
          "--disable-ticketing"},
         "not a channel name"},
        {{"--tls-channel", "main", "--disable-ticketing"}, "need --tls-port"},
        {{"--password-file", "/nonexistent/file"}, "cannot be read"},
        {{"--mouse-mode", "both", "--disable-ticketing"}, "--mouse-mode"},
        {{"--disable-ticketing=yes"}, "takes no value"},
        {{"--io-backend", "kqueue", "--disable-ticketing"}, "--io-backend"},
        {{"--zero-copy-min", "100", "--disable-ticketing"}, "--zero-copy-min"},
        {{"--client-memory-limit", "1000", "--disable-ticketing"}, "--client-memory-limit"},
        {{"--client-memory-limit", "2000000", "--disable-ticketing"}, "twice --display-budget"},
        {{"--pong-timeout", "-1", "--disable-ticketing"}, "--pong-timeout"},
        {{"--partial-message-timeout", "90000", "--disable-ticketing"},
         "--partial-message-timeout"},
        {{"--cpus", "3-1", "--disable-ticketing"}, "--cpus"},
        {{"--cpus", "a", "--disable-ticketing"}, "--cpus"},
        {{"--numa-node", "-1", "--disable-ticketing"}, "--numa-node"},
        {{"--shards", "0", "--disable-ticketing"}, "--shards"},
        {{"--shards", "257", "--disable-ticketing"}, "--shards"},
        {{"--websocket-origin", "example.com", "--disable-ticketing"}, "--websocket-origin"},
        {{"--demo-monitors", "0", "--disable-ticketing"}, "--demo-monitors"},
        {{"--demo-monitors", "17", "--disable-ticketing"}, "--demo-monitors"},
        {{"--demo-monitor-model", "grid", "--disable-ticketing"}, "--demo-monitor-model"},
        {{"--multi-client", "yes", "--disable-ticketing"}, "--multi-client"},
        {{"--demo-monitors", "16", "--demo-size", "4096x2160", "--disable-ticketing"}, "more than"},
    };
    for (const auto& c : cases) {
        auto cl = parse_args(c.args);
        ASSERT_FALSE(cl.has_value()) << c.mentions;
        EXPECT_NE(cl.error().find(c.mentions), std::string::npos) << cl.error();
    }
}

TEST(Options, IoAndPlacement) {
    auto defaults = parse_args({"--disable-ticketing"});
    ASSERT_TRUE(defaults.has_value()) << defaults.error();
    EXPECT_EQ(defaults->config.io.backend, IoBackend::kIoUring);
    EXPECT_EQ(defaults->config.io.zero_copy_min_bytes, 65536u);
    EXPECT_EQ(defaults->config.client_memory_limit_bytes, size_t{16} << 20);
    EXPECT_TRUE(defaults->config.cpus.empty());
    EXPECT_EQ(defaults->config.shards, 0u);  // one per CPU
    EXPECT_FALSE(defaults->config.numa_node.has_value());
    EXPECT_TRUE(defaults->config.websocket_origins.empty());
    EXPECT_EQ(defaults->config.partial_message_timeout, std::chrono::seconds(30));
    EXPECT_EQ(defaults->config.pong_timeout, std::chrono::seconds(60));
    EXPECT_EQ(defaults->config.glz_memory_limit_bytes, size_t{1} << 30);
    EXPECT_EQ(defaults->config.write_timeout, std::chrono::seconds(60));
    EXPECT_TRUE(defaults->config.bind_channels_to_host);
    auto unbound = parse_args({"--disable-ticketing", "--channel-binding", "none"});
    ASSERT_TRUE(unbound.has_value()) << unbound.error();
    EXPECT_FALSE(unbound->config.bind_channels_to_host);
    EXPECT_FALSE(parse_args({"--disable-ticketing", "--channel-binding", "ip"}).has_value());
    auto write = parse_args({"--disable-ticketing", "--write-timeout", "7"});
    ASSERT_TRUE(write.has_value()) << write.error();
    EXPECT_EQ(write->config.write_timeout, std::chrono::seconds(7));
    auto glz = parse_args({"--disable-ticketing", "--glz-memory-limit", "0"});
    ASSERT_TRUE(glz.has_value()) << glz.error();
    EXPECT_EQ(glz->config.glz_memory_limit_bytes, 0u);
    EXPECT_FALSE(parse_args({"--disable-ticketing", "--glz-memory-limit", "lots"}).has_value());
    auto timeouts = parse_args(
        {"--disable-ticketing", "--pong-timeout", "0", "--partial-message-timeout", "5"});
    ASSERT_TRUE(timeouts.has_value()) << timeouts.error();
    EXPECT_EQ(timeouts->config.pong_timeout, std::chrono::seconds(0));
    EXPECT_EQ(timeouts->config.partial_message_timeout, std::chrono::seconds(5));

    auto cl = parse_args({"--disable-ticketing", "--io-backend", "epoll", "--zero-copy-min", "0",
                          "--client-memory-limit", "33554432", "--cpus", "0-1,3", "--numa-node",
                          "0", "--shards", "4", "--websocket-origin", "https://vdi.example.com",
                          "--websocket-origin=*"});
    ASSERT_TRUE(cl.has_value()) << cl.error();
    EXPECT_EQ(cl->config.io.backend, IoBackend::kEpoll);
    EXPECT_EQ(cl->config.io.zero_copy_min_bytes, 0u);
    EXPECT_EQ(cl->config.client_memory_limit_bytes, size_t{32} << 20);
    EXPECT_EQ(cl->config.cpus, (std::vector<int>{0, 1, 3}));
    EXPECT_EQ(cl->config.numa_node, 0);
    EXPECT_EQ(cl->config.shards, 4u);
    EXPECT_EQ(cl->config.websocket_origins,
              (std::vector<std::string>{"https://vdi.example.com", "*"}));
}

TEST(Options, Help) {
    auto cl = parse_args({"--help"});
    ASSERT_TRUE(cl.has_value());
    EXPECT_TRUE(cl->show_help);
    EXPECT_NE(usage_text().find("--demo-freeze"), std::string::npos);
}

}  // namespace
}  // namespace spiced
