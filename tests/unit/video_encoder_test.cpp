// Video encoders: x264 packets decoded by libavcodec's H.264 decoder (what avdec_h264 in
// spice-gtk runs), MJPEG packets by libjpeg; quality, keyframes a joining client can start
// from, rate changes, odd sizes, areas of padded frames; the hardware encoders failing cleanly
// on a machine without a GPU; and the backend choice with fake backends and the real list.
extern "C" {
#include <libavcodec/avcodec.h>
}

#include <gtest/gtest.h>
#include <spice/enums.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "bench/video_scene.h"
#include "encode/codecs.h"
#include "encode/video_encoders.h"
#include "pixels/yuv.h"

namespace spiced {
namespace {

constexpr Size kSize{480, 272};
constexpr int kFrames = 30;

VideoEncoderSettings settings_for(Size size) {
    VideoEncoderSettings settings;
    settings.size = size;
    return settings;
}

struct FreeCodecContext {
    void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct FreeFrame {
    void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct FreePacket {
    void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};

struct Picture {
    int width = 0, height = 0;
    std::vector<uint8_t> y, u, v;  // tightly packed I420
};

// One H.264 decoder in low-delay mode: a picture out for each access unit in.
class H264Decoder {
public:
    H264Decoder() {
        const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
        context_.reset(avcodec_alloc_context3(codec));
        context_->flags |= AV_CODEC_FLAG_LOW_DELAY;
        context_->thread_count = 1;
        ok_ = avcodec_open2(context_.get(), codec, nullptr) == 0;
        frame_.reset(av_frame_alloc());
        packet_.reset(av_packet_alloc());
    }

    // The picture `data` decodes to, or nullopt.
    std::optional<Picture> decode(const std::vector<uint8_t>& data) {
        if (!ok_ || av_new_packet(packet_.get(), int(data.size())) < 0) return std::nullopt;
        std::memcpy(packet_->data, data.data(), data.size());
        const int sent = avcodec_send_packet(context_.get(), packet_.get());
        av_packet_unref(packet_.get());
        if (sent < 0) return std::nullopt;
        if (avcodec_receive_frame(context_.get(), frame_.get()) < 0) return std::nullopt;
        Picture picture;
        picture.width = frame_->width;
        picture.height = frame_->height;
        if (frame_->format != AV_PIX_FMT_YUV420P) return std::nullopt;
        auto copy = [&](int plane, int w, int h, std::vector<uint8_t>& out) {
            out.resize(size_t(w) * size_t(h));
            for (int row = 0; row < h; ++row) {
                std::memcpy(out.data() + size_t(row) * size_t(w),
                            frame_->data[plane] + ptrdiff_t(row) * frame_->linesize[plane],
                            size_t(w));
            }
        };
        copy(0, picture.width, picture.height, picture.y);
        copy(1, picture.width / 2, picture.height / 2, picture.u);
        copy(2, picture.width / 2, picture.height / 2, picture.v);
        av_frame_unref(frame_.get());
        return picture;
    }

private:
    std::unique_ptr<AVCodecContext, FreeCodecContext> context_;
    std::unique_ptr<AVFrame, FreeFrame> frame_;
    std::unique_ptr<AVPacket, FreePacket> packet_;
    bool ok_ = false;
};

Picture to_i420(const Frame& frame, const Rect& area) {
    Picture picture;
    picture.width = area.width();
    picture.height = area.height();
    const size_t luma = size_t(area.area());
    picture.y.resize(luma);
    picture.u.resize(luma / 4);
    picture.v.resize(luma / 4);
    const I420Planes planes{picture.y,        area.width(), picture.u,
                            area.width() / 2, picture.v,    area.width() / 2};
    EXPECT_TRUE(bgrx_to_i420(frame, area, planes));
    return picture;
}

// Over every Y, U and V sample.
double psnr(const Picture& a, const Picture& b) {
    double sum = 0;
    size_t count = 0;
    auto add = [&](const std::vector<uint8_t>& p, const std::vector<uint8_t>& q) {
        for (size_t i = 0; i < p.size() && i < q.size(); ++i) {
            const double d = double(p[i]) - double(q[i]);
            sum += d * d;
        }
        count += p.size();
    };
    add(a.y, b.y);
    add(a.u, b.u);
    add(a.v, b.v);
    const double mse = sum / double(std::max<size_t>(count, 1));
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// On 0x00RRGGBB pixels.
double rgb_psnr(const Frame& a, const Frame& b) {
    double sum = 0;
    for (int32_t y = 0; y < a.height(); ++y) {
        for (int32_t x = 0; x < a.width(); ++x) {
            const uint32_t p = a.pixel(x, y), q = b.pixel(x, y);
            for (int shift = 0; shift < 24; shift += 8) {
                const double d = double((p >> shift) & 0xff) - double((q >> shift) & 0xff);
                sum += d * d;
            }
        }
    }
    const double mse = sum / (3.0 * double(a.size().area()));
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// Sends one picture and takes the packet that must come out for it.
VideoPacket encode_one(VideoEncoder& encoder, const Frame& frame, const Rect& area,
                       bool keyframe = false) {
    auto sent = encoder.send_frame(frame, area, keyframe);
    EXPECT_TRUE(sent) << sent.error();
    auto packet = encoder.receive_packet();
    EXPECT_TRUE(packet) << packet.error();
    if (!packet || !*packet) {
        ADD_FAILURE() << "no packet for a picture";
        return {};
    }
    auto none = encoder.receive_packet();
    EXPECT_TRUE(none && !*none) << "a second packet for one picture";
    return std::move(**packet);
}

std::unique_ptr<VideoEncoder> make_x264(const VideoEncoderSettings& settings) {
    auto made = make_x264_encoder(settings);
    EXPECT_TRUE(made) << made.error();
    return made ? std::move(*made) : nullptr;
}

// ---- x264 -----------------------------------------------------------------------------------

TEST(X264EncoderTest, DecodesWithGoodQuality) {
    auto encoder = make_x264(settings_for(kSize));
    ASSERT_NE(encoder, nullptr);
    EXPECT_EQ(encoder->codec(), VideoCodec::kH264);
    EXPECT_EQ(encoder->name(), "x264");
    VideoScene scene(kSize);
    H264Decoder decoder;
    double worst = 99;
    size_t bytes = 0;
    for (int i = 0; i < kFrames; ++i) {
        auto frame = scene.render(i);
        VideoPacket packet = encode_one(*encoder, *frame, frame->rect());
        EXPECT_EQ(packet.frame_number, uint64_t(i));
        EXPECT_EQ(packet.keyframe, i == 0) << i;
        // Annex B: a start code first.
        ASSERT_GE(packet.data.size(), 4u);
        EXPECT_EQ(std::vector<uint8_t>(packet.data.begin(), packet.data.begin() + 4),
                  (std::vector<uint8_t>{0, 0, 0, 1}));
        bytes += packet.data.size();
        auto picture = decoder.decode(packet.data);
        ASSERT_TRUE(picture) << "picture " << i << " does not decode";
        EXPECT_EQ(picture->width, kSize.width);
        EXPECT_EQ(picture->height, kSize.height);
        worst = std::min(worst, psnr(*picture, to_i420(*frame, frame->rect())));
    }
    EXPECT_GE(worst, 30.0);
    // 4 Mbit/s at 30 fps is about 16.7 kB a picture; ABR should land within a factor of two.
    const double average = double(bytes) / kFrames;
    EXPECT_LT(average, 2 * 4e6 / 8 / 30);
    RecordProperty("worst_psnr_db", std::to_string(worst));
}

TEST(X264EncoderTest, ForcedKeyframeStartsAFreshDecoder) {
    auto encoder = make_x264(settings_for(kSize));
    ASSERT_NE(encoder, nullptr);
    VideoScene scene(kSize);
    H264Decoder joining;
    bool joined = false;
    for (int i = 0; i < 20; ++i) {
        auto frame = scene.render(i);
        const bool force = i == 12;
        VideoPacket packet = encode_one(*encoder, *frame, frame->rect(), force);
        EXPECT_EQ(packet.keyframe, i == 0 || force) << i;
        if (force) joined = true;
        if (!joined) continue;
        // The client joins at the forced keyframe: it and every later picture decode.
        auto picture = joining.decode(packet.data);
        ASSERT_TRUE(picture) << "picture " << i << " does not decode after joining";
        EXPECT_GE(psnr(*picture, to_i420(*frame, frame->rect())), 30.0) << i;
    }
}

TEST(X264EncoderTest, LowerRateGivesSmallerPackets) {
    auto encoder = make_x264(settings_for(kSize));
    ASSERT_NE(encoder, nullptr);
    VideoScene scene(kSize);
    auto average = [&](int from, int to) {
        size_t bytes = 0;
        for (int i = from; i < to; ++i) {
            auto frame = scene.render(i);
            bytes += encode_one(*encoder, *frame, frame->rect()).data.size();
        }
        return double(bytes) / double(to - from);
    };
    const double high = average(0, 30);
    encoder->set_rate(500'000, 30);
    EXPECT_EQ(encoder->settings().bitrate_bps, 500'000u);
    average(30, 40);  // let the rate control settle
    const double low = average(40, 70);
    EXPECT_LT(low, high * 0.5) << "high " << high << " low " << low;
    // 500 kbit/s at 30 fps: about 2.1 kB a picture.
    EXPECT_LT(low, 2 * 500e3 / 8 / 30);
}

TEST(X264EncoderTest, RefusesOddSizes) {
    for (Size size : {Size{481, 272}, Size{480, 271}, Size{0, 0}}) {
        auto made = make_x264_encoder(settings_for(size));
        ASSERT_FALSE(made) << size.width << "x" << size.height;
        EXPECT_NE(made.error().find("x264"), std::string::npos);
    }
    auto encoder = make_x264(settings_for(kSize));
    ASSERT_NE(encoder, nullptr);
    auto frame = Frame::create({500, 300});
    EXPECT_FALSE(encoder->send_frame(*frame, Rect::MakeXYWH(0, 0, 478, 272), false));
    EXPECT_FALSE(encoder->send_frame(*frame, Rect::MakeXYWH(30, 30, 480, 272), false));
}

TEST(X264EncoderTest, AreaOfAPaddedFrame) {
    // One thread: with sliced threads x264's row-level VBV depends on how the slices' threads
    // interleave, so two runs on the same pictures may differ in a few bits.
    VideoEncoderSettings settings = settings_for(kSize);
    settings.threads = 1;
    auto plain = make_x264(settings);
    auto padded = make_x264(settings);
    ASSERT_NE(plain, nullptr);
    ASSERT_NE(padded, nullptr);
    VideoScene scene(kSize);
    auto big = Frame::create_padded({kSize.width + 61, kSize.height + 40}, (kSize.width + 70) * 4);
    big->fill(big->rect(), 0xff00ff);
    const Rect area = Rect::MakeXYWH(37, 21, kSize.width, kSize.height);  // odd offsets
    H264Decoder decoder;
    for (int i = 0; i < 8; ++i) {
        auto frame = scene.render(i);
        scene.render(i, *big, area);
        const VideoPacket a = encode_one(*plain, *frame, frame->rect());
        const VideoPacket b = encode_one(*padded, *big, area);
        // The same pictures give the same stream.
        EXPECT_EQ(a.data, b.data) << i;
        auto picture = decoder.decode(b.data);
        ASSERT_TRUE(picture);
        EXPECT_GE(psnr(*picture, to_i420(*big, area)), 30.0);
    }
}

// ---- MJPEG ----------------------------------------------------------------------------------

TEST(MjpegEncoderTest, EveryPacketIsAJpegKeyframe) {
    auto made = make_mjpeg_encoder(settings_for(kSize));
    ASSERT_TRUE(made) << made.error();
    VideoEncoder& encoder = **made;
    EXPECT_EQ(encoder.codec(), VideoCodec::kMjpeg);
    VideoScene scene(kSize);
    double worst = 99;
    for (int i = 0; i < kFrames; ++i) {
        auto frame = scene.render(i);
        VideoPacket packet = encode_one(encoder, *frame, frame->rect(), false);
        EXPECT_TRUE(packet.keyframe);
        EXPECT_EQ(packet.frame_number, uint64_t(i));
        ASSERT_GE(packet.data.size(), 4u);
        EXPECT_EQ(packet.data[0], 0xff);  // SOI
        EXPECT_EQ(packet.data[1], 0xd8);
        // Decoded by libjpeg, as a SPICE JPEG image body (u32 length, then the file).
        const uint32_t size = uint32_t(packet.data.size());
        std::vector<uint8_t> body{uint8_t(size), uint8_t(size >> 8), uint8_t(size >> 16),
                                  uint8_t(size >> 24)};
        body.insert(body.end(), packet.data.begin(), packet.data.end());
        auto decoded = decode_jpeg_body(SPICE_IMAGE_TYPE_JPEG, kSize, body);
        ASSERT_TRUE(decoded) << decoded.error();
        worst = std::min(worst, rgb_psnr(*frame, **decoded));
    }
    EXPECT_GE(worst, 30.0);
    RecordProperty("worst_psnr_db", std::to_string(worst));
}

TEST(MjpegEncoderTest, LowerRateGivesSmallerFiles) {
    auto made = make_mjpeg_encoder(settings_for(kSize));
    ASSERT_TRUE(made) << made.error();
    VideoScene scene(kSize);
    auto frame = scene.render(5);
    const size_t high = encode_one(**made, *frame, frame->rect()).data.size();
    (*made)->set_rate(500'000, 30);
    const size_t low = encode_one(**made, *frame, frame->rect()).data.size();
    EXPECT_LT(low, high);
}

// ---- Hardware -------------------------------------------------------------------------------

void expect_clean_failure(const char* name) {
    auto made = make_ffmpeg_hw_encoder(name, settings_for(kSize));
    if (made) GTEST_SKIP() << name << " opened: this machine has the hardware";
    EXPECT_EQ(made.error().rfind(name, 0), 0u) << made.error();
    EXPECT_GT(made.error().size(), std::strlen(name) + 2) << made.error();
}

TEST(HardwareEncoderTest, NvencFailsCleanlyWithoutAGpu) {
    expect_clean_failure("h264_nvenc");
}

TEST(HardwareEncoderTest, VaapiFailsCleanlyWithoutAGpu) {
    expect_clean_failure("h264_vaapi");
}

TEST(HardwareEncoderTest, UnknownNameRefused) {
    auto made = make_ffmpeg_hw_encoder("h264_made_up", settings_for(kSize));
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().find("h264_made_up"), std::string::npos);
}

// ---- Choosing a backend ---------------------------------------------------------------------

class FakeEncoder final : public VideoEncoder {
public:
    FakeEncoder(std::string name, VideoCodec codec, const VideoEncoderSettings& settings)
        : name_(std::move(name)), codec_(codec), settings_(settings) {}
    VideoCodec codec() const override { return codec_; }
    std::string_view name() const override { return name_; }
    const VideoEncoderSettings& settings() const override { return settings_; }
    Expected<void, std::string> send_picture(PictureSource&, const Rect&, bool) override {
        return {};
    }
    Expected<std::optional<VideoPacket>, std::string> receive_packet() override {
        return std::optional<VideoPacket>();
    }
    void set_rate(uint32_t, int) override {}

private:
    std::string name_;
    VideoCodec codec_;
    VideoEncoderSettings settings_;
};

VideoBackend working(std::string name, VideoCodec codec, int* calls = nullptr) {
    return {name, codec, [name, codec, calls](const VideoEncoderSettings& settings) {
                if (calls != nullptr) ++*calls;
                return VideoEncoderResult(std::unique_ptr<VideoEncoder>(
                    std::make_unique<FakeEncoder>(name, codec, settings)));
            }};
}

VideoBackend failing(std::string name, VideoCodec codec, std::string reason) {
    return {name, codec, [reason](const VideoEncoderSettings&) {
                return VideoEncoderResult(unexpected(reason));
            }};
}

TEST(VideoBackendTest, FirstFailsSecondChosen) {
    const std::vector<VideoBackend> backends{
        failing("gpu", VideoCodec::kH264, "no device"),
        working("soft", VideoCodec::kH264),
    };
    std::string note;
    auto made = create_video_encoder(VideoCodec::kH264, settings_for(kSize), backends, &note);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ((*made)->name(), "soft");
    EXPECT_EQ(note, "H.264: using soft (gpu: no device)");
}

TEST(VideoBackendTest, FirstWorkingWinsAndLaterOnesAreNotTried) {
    int later_calls = 0;
    const std::vector<VideoBackend> backends{
        working("gpu", VideoCodec::kH264),
        working("soft", VideoCodec::kH264, &later_calls),
    };
    std::string note;
    auto made = create_video_encoder(VideoCodec::kH264, settings_for(kSize), backends, &note);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ((*made)->name(), "gpu");
    EXPECT_EQ(note, "H.264: using gpu");
    EXPECT_EQ(later_calls, 0);
}

TEST(VideoBackendTest, NoneWorksNamesEveryFailure) {
    const std::vector<VideoBackend> backends{
        failing("a", VideoCodec::kH264, "reason one"),
        failing("b", VideoCodec::kH264, "reason two"),
    };
    std::string note;
    auto made = create_video_encoder(VideoCodec::kH264, settings_for(kSize), backends, &note);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "no H.264 encoder (a: reason one; b: reason two)");
    EXPECT_EQ(note, made.error());
}

TEST(VideoBackendTest, OtherCodecsAreSkipped) {
    int mjpeg_calls = 0;
    const std::vector<VideoBackend> backends{
        working("jpeg", VideoCodec::kMjpeg, &mjpeg_calls),
        failing("gpu", VideoCodec::kH264, "no device"),
        working("soft", VideoCodec::kH264),
    };
    auto made = create_video_encoder(VideoCodec::kH264, settings_for(kSize), backends);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ((*made)->name(), "soft");
    EXPECT_EQ(mjpeg_calls, 0);
    auto vp8 = create_video_encoder(VideoCodec::kVp8, settings_for(kSize), backends);
    ASSERT_FALSE(vp8);
    EXPECT_EQ(vp8.error(), "no VP8 encoder in the backend list");
}

TEST(VideoBackendTest, DefaultListOrder) {
    std::vector<std::string> names;
    for (const VideoBackend& backend : default_video_backends()) names.push_back(backend.name);
    EXPECT_EQ(names, (std::vector<std::string>{"h264_nvenc", "h264_vaapi", "x264", "mjpeg"}));
}

TEST(VideoBackendTest, DefaultListFallsBackToX264WithoutAGpu) {
    const auto backends = default_video_backends();
    std::string note;
    auto made = create_video_encoder(VideoCodec::kH264, settings_for(kSize), backends, &note);
    ASSERT_TRUE(made) << made.error();
    if ((*made)->name() != "x264") GTEST_SKIP() << "a GPU encoder opened: " << note;
    EXPECT_EQ(note.rfind("H.264: using x264 (h264_nvenc: ", 0), 0u) << note;
    EXPECT_NE(note.find("; h264_vaapi: "), std::string::npos) << note;
    RecordProperty("note", note);
    std::cout << note << "\n";

    auto mjpeg = create_video_encoder(VideoCodec::kMjpeg, settings_for(kSize), backends, &note);
    ASSERT_TRUE(mjpeg) << mjpeg.error();
    EXPECT_EQ(note, "MJPEG: using mjpeg");
}

}  // namespace
}  // namespace spiced
