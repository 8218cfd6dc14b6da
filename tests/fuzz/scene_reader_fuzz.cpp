// libFuzzer: scene recordings (gpu/scene_recording.h) as a user might hand one in, damaged or
// hostile. Input: the file's bytes after its header (the header is prepended, so every input
// reaches the records). Checks: the reader ends each input with steps, a truncated tail or an
// error and never reads outside it; every step it gives is one full-size layer whose frame has
// the step's size, bounded by the header's limits; and the steps re-recorded by SceneRecorder
// read back as the same frames, moves, hints and flags.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gpu/scene_recording.h"

using namespace spiced;
using namespace spiced::gpu;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool same_pixels(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) return false;
    for (int32_t y = 0; y < a.height(); ++y)
        if (std::memcmp(a.row(y), b.row(y), size_t(a.width()) * 4) != 0) return false;
    return true;
}

std::string scratch_path() {
    return "/tmp/scene_reader_fuzz." + std::to_string(getpid()) + ".scene";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string kHeader = "SPICED-SCENE-1\n";
    std::vector<uint8_t> bytes(kHeader.begin(), kHeader.end());
    bytes.insert(bytes.end(), data, data + size);
    SceneReader reader(std::move(bytes));
    std::vector<RecordedStep> steps;
    while (true) {
        auto next = reader.next();
        if (!next) {
            check(next.error().rfind("step ", 0) == 0);
            break;
        }
        if (!*next) break;
        const RecordedStep& step = **next;
        check(step.display < kMaxRecordedDisplays);
        check(step.step.layers.size() == 1);
        const Frame& frame = *step.step.layers.front().frame;
        check(frame.size() == step.step.output_size);
        check(frame.width() >= 1 && frame.width() <= kMaxRecordedSide);
        steps.push_back(**next);
    }
    if (steps.empty()) return 0;
    // What was read records and reads back the same, pixels included where the file kept
    // whole frames exactly where a recorder does (a display's first step, a new size): a
    // whole frame elsewhere may change pixels outside the hint, which a recorder of a source
    // that keeps its contract never sees.
    bool recorder_layout = true;
    {
        std::map<uint32_t, Size> sizes;
        for (const RecordedStep& step : steps) {
            auto known = sizes.find(step.display);
            const bool whole = known == sizes.end() || known->second != step.step.output_size;
            recorder_layout &= whole == step.whole_frame;
            sizes[step.display] = step.step.output_size;
        }
    }
    const std::string path = scratch_path();
    {
        auto recorder = SceneRecorder::create(path);
        check(recorder.has_value());
        for (const RecordedStep& step : steps)
            check((*recorder)->record(step.display, step.step).has_value());
    }
    auto again = SceneReader::open(path);
    std::remove(path.c_str());
    check(again.has_value());
    for (const RecordedStep& step : steps) {
        auto next = again->next();
        check(next.has_value() && next->has_value());
        const RecordedStep& copy = **next;
        check(copy.display == step.display && copy.step.output_size == step.step.output_size);
        check(copy.step.moves == step.step.moves && copy.step.hint == step.step.hint);
        check(copy.step.want_damage == step.step.want_damage);
        if (recorder_layout)
            check(same_pixels(*copy.step.layers.front().frame, *step.step.layers.front().frame));
    }
    auto end = again->next();
    check(end.has_value() && !end->has_value() && !again->truncated_tail());
    return 0;
}
