// StreamRateControl: the bit rate and frame rate of one video stream, driven by what the
// client reports (SPICE's STREAM_REPORT: frames shown and dropped over a window, how late the
// last one was). Drops or lateness lower the bit rate at once, and after a second bad report
// in a row the frame rate too; a run of clean reports raises them again step by step, up to
// where the stream started.
//
// Pure arithmetic: no clock, no I/O; one per encoder, on the desktop thread.
#pragma once

#include <cstdint>

namespace spiced {

// The figures of one SPICE_MSGC_DISPLAY_STREAM_REPORT.
struct StreamReportFigures {
    uint32_t start_frame_mm_time = 0;
    uint32_t end_frame_mm_time = 0;
    uint32_t num_frames = 0;
    uint32_t num_drops = 0;
    int32_t last_frame_delay = 0;  // ms the last frame arrived before (+) or after (-) its time
};

class StreamRateControl {
public:
    // The encoder's starting bit rate is the ceiling; `max_fps` the frame rate ceiling.
    StreamRateControl(uint32_t start_bitrate_bps, int max_fps);

    enum class Verdict : uint8_t { kUnchanged, kLowered, kRaised, kRejected };
    // kRejected: figures no client sends (more drops than frames, a window that ends before
    // it starts or spans over a minute, no frames, a last frame over 30 s early or late): the
    // caller logs and ignores it.
    Verdict on_report(const StreamReportFigures& report);

    // The client's link could not take the stream's pictures (its socket queue was over budget
    // and pictures were skipped): measured bandwidth says the rate is too high. Counts as a bad
    // report. `sent_ok` pictures went out since without that: every kCleanPicturesToRaise of
    // them count as a clean report (clients that send no reports recover too).
    Verdict on_congestion();
    Verdict on_pictures_sent(uint32_t sent_ok);

    uint32_t bitrate_bps() const { return bitrate_; }
    int fps() const { return fps_; }
    uint32_t ceiling_bps() const { return ceiling_; }
    uint32_t floor_bps() const { return floor_; }

    // A report is bad when more than this share of its frames was dropped (one frame in 20:
    // an occasional late frame on a busy client is noise) or its last frame came late.
    static constexpr double kBadDropShare = 0.05;
    // Multiplicative decrease, slow increase (TCP-like): a drop costs 30 % at once; three clean
    // reports in a row (~1.5 s with 500 ms reports) give back 15 %.
    static constexpr double kDecrease = 0.7;
    static constexpr double kIncrease = 1.15;
    static constexpr int kCleanReportsToRaise = 3;
    // Pictures without congestion that count as one clean report (~1 s at 30 fps).
    static constexpr uint32_t kCleanPicturesToRaise = 30;
    // The frame rate goes down by a quarter after two bad reports in a row (fewer, better
    // pictures beat many blocky ones), never below 10 fps (or the stream's own rate, if lower).
    static constexpr int kMinFps = 10;
    // The floor: 1/16 of the start, at least 100 kbit/s (below that a picture is mush).
    static constexpr uint32_t kMinBitrate = 100'000;

private:
    Verdict apply(bool bad);

    uint32_t ceiling_;
    uint32_t floor_;
    uint32_t bitrate_;
    int max_fps_;
    int min_fps_;
    int fps_;
    int bad_in_a_row_ = 0;
    int clean_in_a_row_ = 0;
    uint32_t pictures_since_clean_ = 0;
};

}  // namespace spiced
