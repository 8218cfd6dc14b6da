// Scene recordings: the composition steps a display's source produced (`--record-scene FILE`,
// the library's `SPICED_RECORD_SCENE`), so what a real producer drew — Xspice's X desktop, a
// QEMU guest's QXL console — replays off-line through any compositor backend (tests compare
// the Vulkan and CPU backends on them; a compositor bug seen on a user's desktop can be
// replayed from their file).
//
// A step is the display model's: one full-size layer at the origin, its moves, its hint and
// whether damage is wanted. The file keeps, per step, only the pixels that may have changed
// (the hint and the moves' destinations; the whole frame for a display's first step or a new
// size), zlib-compressed, so a replayed frame is the previous one with those pixels written.
//
// Layout, little-endian: "SPICED-SCENE-1\n", then one record per step: u32 the record's length
// after this field, then
//   u32 display, i32 width, i32 height, u8 flags (bit 0 whole frame, bit 1 damage wanted),
//   u32 move count, per move i32 dest x, y, width, height, i32 source x, y,
//   u32 hint rect count, per rect i32 x, y, width, height,
//   u32 pixel bytes, u32 compressed bytes, the compressed pixels: row by row of each rect of
//   (hint + move destinations) clipped to the frame, in Region order (or the whole frame).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "base/unique_file.h"
#include "gpu/compositor.h"

namespace spiced::gpu {

struct RecordedStep {
    uint32_t display = 0;
    CompositionStep step;      // one layer: the frame as the source submitted it
    bool whole_frame = false;  // the record held every pixel (a display's first step, a resize)
};

class SceneRecorder {
public:
    // Creates (truncates) `path`; the error names the file and why.
    static Expected<std::unique_ptr<SceneRecorder>, std::string> create(const std::string& path);
    SceneRecorder(std::string path, UniqueFile file)
        : path_(std::move(path)), file_(std::move(file)) {}

    // Appends one step (written through at once: a killed process leaves whole steps). A
    // step that is not one full-size layer at the origin, or a failed write, is an error.
    Expected<void, std::string> record(uint32_t display, const CompositionStep& step);

    const std::string& path() const { return path_; }

private:
    std::string path_;
    UniqueFile file_;
    std::map<uint32_t, Size> sizes_;  // per display, of its last step
    std::vector<uint8_t> record_;     // reused between steps
};

// Displays and sizes a recording may hold (and the reader accepts).
inline constexpr uint32_t kMaxRecordedDisplays = 16;
inline constexpr int32_t kMaxRecordedSide = 16384;

class SceneReader {
public:
    explicit SceneReader(std::vector<uint8_t> bytes);
    static Expected<SceneReader, std::string> open(const std::string& path);

    // The next step with its frame rebuilt; nullopt after the last whole one (a record cut
    // short at the end, as a killed recorder may leave, ends the scene: truncated_tail()). An
    // error (bad magic, an inconsistent record) ends the reading.
    Expected<std::optional<RecordedStep>, std::string> next();
    // Steps read so far.
    size_t steps() const { return steps_; }
    bool truncated_tail() const { return truncated_tail_; }

private:
    std::vector<uint8_t> bytes_;
    size_t offset_ = 0;
    size_t steps_ = 0;
    bool truncated_tail_ = false;
    std::map<uint32_t, std::shared_ptr<const Frame>> frames_;
};

}  // namespace spiced::gpu
