#include "encode/stream_rate_control.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace spiced {
namespace {

StreamReportFigures report(uint32_t frames, uint32_t drops, int32_t delay = 40) {
    StreamReportFigures r;
    r.start_frame_mm_time = 1000;
    r.end_frame_mm_time = 1000 + frames * 33;
    r.num_frames = frames;
    r.num_drops = drops;
    r.last_frame_delay = delay;
    return r;
}

using Verdict = StreamRateControl::Verdict;

TEST(StreamRateControl, DropsLowerTheBitrateThenTheFrameRate) {
    StreamRateControl rate(4'000'000, 30);
    EXPECT_EQ(rate.on_report(report(10, 4)), Verdict::kLowered);
    EXPECT_EQ(rate.bitrate_bps(), 2'800'000u);
    EXPECT_EQ(rate.fps(), 30);  // one bad report: the frame rate stays
    EXPECT_EQ(rate.on_report(report(10, 3)), Verdict::kLowered);
    EXPECT_LT(rate.bitrate_bps(), 2'800'000u);
    EXPECT_EQ(rate.fps(), 22);
    // A late last frame is as bad as drops.
    const uint32_t before = rate.bitrate_bps();
    EXPECT_EQ(rate.on_report(report(10, 0, -15)), Verdict::kLowered);
    EXPECT_LT(rate.bitrate_bps(), before);
}

TEST(StreamRateControl, CleanReportsRaiseItBackToTheStart) {
    StreamRateControl rate(4'000'000, 30);
    for (int i = 0; i < 6; ++i) rate.on_report(report(10, 5));
    const uint32_t low = rate.bitrate_bps();
    const int low_fps = rate.fps();
    EXPECT_LT(low, 1'000'000u);
    EXPECT_LT(low_fps, 30);
    int raises = 0;
    for (int i = 0; i < 200; ++i) {
        if (rate.on_report(report(10, 0)) == Verdict::kRaised) ++raises;
    }
    EXPECT_GT(raises, 5);
    EXPECT_EQ(rate.bitrate_bps(), 4'000'000u);  // the ceiling, never above
    EXPECT_EQ(rate.fps(), 30);
    // Two clean reports are not yet a trend.
    StreamRateControl fresh(4'000'000, 30);
    fresh.on_report(report(10, 5));
    EXPECT_EQ(fresh.on_report(report(10, 0)), Verdict::kUnchanged);
    EXPECT_EQ(fresh.on_report(report(10, 0)), Verdict::kUnchanged);
    EXPECT_EQ(fresh.on_report(report(10, 0)), Verdict::kRaised);
}

TEST(StreamRateControl, FloorsHold) {
    StreamRateControl rate(4'000'000, 30);
    for (int i = 0; i < 100; ++i) rate.on_report(report(10, 10));
    EXPECT_EQ(rate.bitrate_bps(), 250'000u);  // 1/16 of the start
    EXPECT_EQ(rate.fps(), StreamRateControl::kMinFps);
    StreamRateControl small(300'000, 5);
    for (int i = 0; i < 100; ++i) small.on_report(report(10, 10));
    EXPECT_EQ(small.bitrate_bps(), StreamRateControl::kMinBitrate);
    EXPECT_EQ(small.fps(), 5) << "a stream slower than the floor stays at its own rate";
}

TEST(StreamRateControl, AStreamSlowerThanTheFloorIsNeverToldMore) {
    // --stream-max-fps 6, or a stream detected at 6 fps: the encoder gets 6 fps worth of
    // pictures, and a higher rate would spread each one's bits thinner.
    StreamRateControl rate(1'000'000, 6);
    EXPECT_EQ(rate.fps(), 6);
    for (int i = 0; i < 3; ++i) rate.on_report(report(10, 5));
    EXPECT_EQ(rate.fps(), 6);
    for (int i = 0; i < 100; ++i) rate.on_report(report(10, 0));
    EXPECT_EQ(rate.fps(), 6);
    EXPECT_EQ(rate.bitrate_bps(), 1'000'000u);
    StreamRateControl zero(1'000'000, 0);
    EXPECT_EQ(zero.fps(), 1);
}

TEST(StreamRateControl, AFullLinkLowersAndFlowingPicturesRaise) {
    StreamRateControl rate(4'000'000, 30);
    EXPECT_EQ(rate.on_congestion(), Verdict::kLowered);
    EXPECT_EQ(rate.on_congestion(), Verdict::kLowered);
    EXPECT_EQ(rate.fps(), 22);
    const uint32_t low = rate.bitrate_bps();
    // 3 x 30 pictures without a skip make one raise.
    EXPECT_EQ(rate.on_pictures_sent(29), Verdict::kUnchanged);
    EXPECT_EQ(rate.on_pictures_sent(30), Verdict::kUnchanged);
    EXPECT_EQ(rate.on_pictures_sent(31), Verdict::kRaised);
    EXPECT_GT(rate.bitrate_bps(), low);
    // A skip restarts the count.
    rate.on_pictures_sent(80);
    rate.on_congestion();
    const uint32_t after = rate.bitrate_bps();
    EXPECT_EQ(rate.on_pictures_sent(60), Verdict::kUnchanged);
    EXPECT_EQ(rate.bitrate_bps(), after);
}

TEST(StreamRateControl, AbsurdReportsAreRejectedAndChangeNothing) {
    StreamRateControl rate(4'000'000, 30);
    EXPECT_EQ(rate.on_report(report(10, 11)), Verdict::kRejected);  // more drops than frames
    EXPECT_EQ(rate.on_report(report(0, 0)), Verdict::kRejected);    // no frames
    StreamReportFigures backwards = report(10, 0);
    backwards.end_frame_mm_time = backwards.start_frame_mm_time - 5000;
    EXPECT_EQ(rate.on_report(backwards), Verdict::kRejected);
    StreamReportFigures spiced_up = report(10, 9);
    spiced_up.num_frames = 0xffffffffu;
    spiced_up.end_frame_mm_time = spiced_up.start_frame_mm_time + 3'600'000;  // an hour
    EXPECT_EQ(rate.on_report(spiced_up), Verdict::kRejected);
    // A client whose media clock is not ours: its lateness would cut every client's rate.
    EXPECT_EQ(rate.on_report(report(10, 0, -10'000'000)), Verdict::kRejected);
    EXPECT_EQ(rate.on_report(report(10, 0, std::numeric_limits<int32_t>::min())),
              Verdict::kRejected);
    EXPECT_EQ(rate.on_report(report(10, 0, 40'000)), Verdict::kRejected);
    EXPECT_EQ(rate.bitrate_bps(), 4'000'000u);
    EXPECT_EQ(rate.fps(), 30);
    // The window may wrap around 2^32 ms.
    StreamReportFigures wrapped = report(10, 0);
    wrapped.start_frame_mm_time = 0xffffff00u;
    wrapped.end_frame_mm_time = 0x100u;
    EXPECT_NE(rate.on_report(wrapped), Verdict::kRejected);
    // A slow client, late by seconds, is real lateness.
    EXPECT_EQ(rate.on_report(report(10, 0, -2'500)), Verdict::kLowered);
}

}  // namespace
}  // namespace spiced
