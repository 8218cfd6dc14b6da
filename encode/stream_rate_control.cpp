#include "encode/stream_rate_control.h"

#include <algorithm>

namespace spiced {

namespace {
// A report window longer than this is not one a client sends (spice-gtk reports at least every
// timeout_ms of the activation, which we set to 500 ms).
constexpr uint32_t kMaxWindowMs = 60'000;
// A last frame this early or late means the client's media clock is not ours (a broken or
// hostile client); taken as lateness, it would cut the rate for every client of the encoder.
constexpr int32_t kMaxFrameDelayMs = 30'000;

bool plausible(const StreamReportFigures& report) {
    // mm times wrap at 2^32 ms: the window is the unsigned difference.
    const uint32_t window = report.end_frame_mm_time - report.start_frame_mm_time;
    return report.num_frames > 0 && report.num_drops <= report.num_frames &&
           window <= kMaxWindowMs && report.last_frame_delay >= -kMaxFrameDelayMs &&
           report.last_frame_delay <= kMaxFrameDelayMs;
}
}  // namespace

StreamRateControl::StreamRateControl(uint32_t start_bitrate_bps, int max_fps)
    : ceiling_(std::max(start_bitrate_bps, kMinBitrate)),
      floor_(std::max(ceiling_ / 16, kMinBitrate)),
      bitrate_(ceiling_),
      // The stream's own rate is the ceiling even below kMinFps: the encoder is told this
      // rate, and telling it more than the pictures it gets shrinks each picture's bits.
      max_fps_(std::max(max_fps, 1)),
      min_fps_(std::min(kMinFps, max_fps_)),
      fps_(max_fps_) {}

StreamRateControl::Verdict StreamRateControl::on_report(const StreamReportFigures& report) {
    if (!plausible(report)) return Verdict::kRejected;
    const bool bad = double(report.num_drops) > kBadDropShare * double(report.num_frames) ||
                     report.last_frame_delay < 0;
    return apply(bad);
}

StreamRateControl::Verdict StreamRateControl::on_congestion() {
    pictures_since_clean_ = 0;
    return apply(true);
}

StreamRateControl::Verdict StreamRateControl::on_pictures_sent(uint32_t sent_ok) {
    pictures_since_clean_ += sent_ok;
    Verdict verdict = Verdict::kUnchanged;
    while (pictures_since_clean_ >= kCleanPicturesToRaise) {
        pictures_since_clean_ -= kCleanPicturesToRaise;
        if (const Verdict step = apply(false); step != Verdict::kUnchanged) verdict = step;
    }
    return verdict;
}

StreamRateControl::Verdict StreamRateControl::apply(bool bad) {
    const uint32_t old_bitrate = bitrate_;
    const int old_fps = fps_;
    if (bad) {
        clean_in_a_row_ = 0;
        ++bad_in_a_row_;
        bitrate_ = std::max(floor_, uint32_t(double(bitrate_) * kDecrease));
        if (bad_in_a_row_ >= 2) fps_ = std::max(min_fps_, fps_ * 3 / 4);
    } else {
        bad_in_a_row_ = 0;
        if (++clean_in_a_row_ >= kCleanReportsToRaise) {
            clean_in_a_row_ = 0;
            bitrate_ = std::min(ceiling_, uint32_t(double(bitrate_) * kIncrease) + 1);
            fps_ = std::min(max_fps_, fps_ + std::max(1, fps_ / 4));
        }
    }
    if (bitrate_ < old_bitrate || fps_ < old_fps) return Verdict::kLowered;
    if (bitrate_ > old_bitrate || fps_ > old_fps) return Verdict::kRaised;
    return Verdict::kUnchanged;
}

}  // namespace spiced
