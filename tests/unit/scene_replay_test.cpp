// Recorded scenes (gpu/scene_recording.h) replayed through both compositor backends: what real
// QXL producers drew — Xspice's X desktop and a QEMU guest's qxl console, recorded with
// scripts/record-qxl-scenes.sh into tests/corpus/qxl-scenes/ — must give byte-identical
// damage, outputs and I420/NV12 planes on the Vulkan device (lavapipe here) and on the CPU, at
// two tile sizes, and a client's copy kept from moves and read-back damage must stay exact.
// SPICED_TEST_SCENES (files separated by ':') replays other recordings instead: the
// integration tests record one live from Xspice and replay it here. SKIPs without a Vulkan
// device, fails without scenes.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "gpu/scene_recording.h"
#include "tests/unit/compositor_pair.h"

namespace spiced::gpu {
namespace {

std::vector<std::string> scene_files() {
    std::vector<std::string> files;
    if (const char* named = std::getenv("SPICED_TEST_SCENES"); named && *named) {
        std::string list = named;
        size_t start = 0;
        while (start <= list.size()) {
            const size_t colon = std::min(list.find(':', start), list.size());
            if (colon > start) files.push_back(list.substr(start, colon - start));
            start = colon + 1;
        }
        return files;
    }
    const std::string dir = std::string(SPICED_SOURCE_DIR) + "/tests/corpus/qxl-scenes";
    if (DIR* listing = opendir(dir.c_str())) {
        while (const dirent* entry = readdir(listing)) {
            const std::string name = entry->d_name;
            if (name.size() > 6 && name.ends_with(".scene")) files.push_back(dir + "/" + name);
        }
        closedir(listing);
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::shared_ptr<Frame> numbered_frame(Size size, uint32_t seed) {
    std::shared_ptr<Frame> frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x)
            frame->row(y)[x] = seed * 1000003u + uint32_t(y * 977 + x);
    return frame;
}

CompositionStep frame_step(std::shared_ptr<const Frame> frame, Region hint,
                           std::vector<MoveHint> moves, bool want_damage) {
    CompositionStep step;
    step.output_size = frame->size();
    step.layers.push_back(Layer{frame, frame->rect(), Point{0, 0}});
    step.hint = std::move(hint);
    step.moves = std::move(moves);
    step.want_damage = want_damage;
    return step;
}

bool same_pixels(const Frame& a, const Frame& b) {
    if (a.size() != b.size()) return false;
    for (int32_t y = 0; y < a.height(); ++y)
        if (std::memcmp(a.row(y), b.row(y), size_t(a.width()) * 4) != 0) return false;
    return true;
}

std::string temp_scene(const char* name) {
    return testing::TempDir() + name + std::to_string(getpid()) + ".scene";
}

std::vector<uint8_t> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Three steps of display 0 (whole, then pixels changed in the hint and under a move, then a
// resize) and one of display 1, as a source keeping its contract submits them.
std::vector<RecordedStep> contract_keeping_steps() {
    std::vector<RecordedStep> steps;
    auto first = numbered_frame(Size{40, 30}, 1);
    steps.push_back({0, frame_step(first, Region(first->rect()), {}, false), true});
    std::shared_ptr<Frame> second = Frame::create(first->size());
    second->copy_from(*first, first->rect(), Point{0, 0});
    second->copy_from(*first, Rect::MakeXYWH(0, 0, 10, 8), Point{20, 15});  // the move
    auto patch = numbered_frame(Size{7, 5}, 2);
    second->copy_from(*patch, patch->rect(), Point{3, 21});  // inside the hint
    Region hint(Rect::MakeXYWH(3, 21, 7, 5));
    hint.add_rect(Rect::MakeXYWH(38, 0, 10, 10));  // reaching past the frame
    steps.push_back(
        {0, frame_step(second, hint, {MoveHint{Rect::MakeXYWH(20, 15, 10, 8), Point{0, 0}}}, true),
         false});
    auto other = numbered_frame(Size{16, 16}, 3);
    steps.push_back({1, frame_step(other, Region(), {}, true), true});
    auto resized = numbered_frame(Size{24, 20}, 4);
    steps.push_back({0, frame_step(resized, Region(Rect::MakeXYWH(0, 0, 2, 2)), {}, true), true});
    return steps;
}

void expect_same_step(const RecordedStep& want, const RecordedStep& got) {
    EXPECT_EQ(want.display, got.display);
    EXPECT_EQ(want.whole_frame, got.whole_frame);
    EXPECT_EQ(want.step.output_size, got.step.output_size);
    EXPECT_EQ(want.step.moves, got.step.moves);
    EXPECT_EQ(want.step.hint, got.step.hint);
    EXPECT_EQ(want.step.want_damage, got.step.want_damage);
    ASSERT_EQ(1u, got.step.layers.size());
    EXPECT_TRUE(same_pixels(*want.step.layers.front().frame, *got.step.layers.front().frame));
}

// Reads to the end: how many steps, or the first error.
Expected<size_t, std::string> read_all(SceneReader& reader) {
    while (true) {
        auto next = reader.next();
        if (!next) return unexpected(next.error());
        if (!*next) return reader.steps();
    }
}

void write_scene(const std::string& path, const std::vector<RecordedStep>& steps) {
    auto recorder = SceneRecorder::create(path);
    ASSERT_TRUE(recorder) << recorder.error();
    for (const RecordedStep& step : steps)
        ASSERT_TRUE((*recorder)->record(step.display, step.step));
}

TEST(SceneRecordingTest, StepsOfSeveralDisplaysReadBackAsRecorded) {
    const std::string path = temp_scene("steps");
    const auto steps = contract_keeping_steps();
    write_scene(path, steps);
    auto reader = SceneReader::open(path);
    ASSERT_TRUE(reader) << reader.error();
    for (const RecordedStep& want : steps) {
        auto got = reader->next();
        ASSERT_TRUE(got) << got.error();
        ASSERT_TRUE(got->has_value());
        expect_same_step(want, **got);
    }
    auto end = reader->next();
    ASSERT_TRUE(end);
    EXPECT_FALSE(end->has_value());
    EXPECT_FALSE(reader->truncated_tail());
    std::remove(path.c_str());
}

TEST(SceneRecordingTest, ARecordCutShortAtTheEndEndsTheScene) {
    const std::string path = temp_scene("cut");
    const auto steps = contract_keeping_steps();
    write_scene(path, steps);
    auto bytes = file_bytes(path);
    ASSERT_GT(bytes.size(), 3u);
    bytes.erase(bytes.end() - 3, bytes.end());  // as a recorder killed in its last write leaves it
    SceneReader reader(std::move(bytes));
    auto read = read_all(reader);
    ASSERT_TRUE(read) << read.error();
    EXPECT_EQ(steps.size() - 1, *read);
    EXPECT_TRUE(reader.truncated_tail());
    std::remove(path.c_str());
}

TEST(SceneRecordingTest, DamagedOrForeignFilesAreErrorsThatSayWhy) {
    const std::string path = temp_scene("damaged");
    write_scene(path, contract_keeping_steps());
    const auto good = file_bytes(path);
    std::remove(path.c_str());
    auto first_error = [](std::vector<uint8_t> bytes) {
        SceneReader reader(std::move(bytes));
        auto read = read_all(reader);
        return read ? std::string("no error") : read.error();
    };
    EXPECT_EQ("not a scene recording (no SPICED-SCENE-1 header)",
              first_error(std::vector<uint8_t>{'P', '6', '\n'}));
    auto wrong_count = good;
    // The first record's pixel byte count: 15 (magic) + 4 (length) + 13 (display, size,
    // flags) + 4 (no moves) + 4 + 16 (one hint rect).
    wrong_count[15 + 4 + 13 + 4 + 4 + 16] ^= 4;
    EXPECT_EQ("step 0: pixel count does not match the hint and moves", first_error(wrong_count));
    auto partial_first = good;
    partial_first[15 + 4 + 12] = 0;  // the first step's flags: not a whole frame
    EXPECT_EQ("step 0: a partial step without a whole frame of that size before it",
              first_error(partial_first));
    auto huge = good;
    huge[15 + 4 + 4 + 3] = 0x7f;  // width far past 16384
    EXPECT_EQ("step 0: bad or truncated header", first_error(huge));
}

TEST(SceneRecordingTest, OnlyOneFullSizeLayerAtTheOriginIsRecorded) {
    const std::string path = temp_scene("layers");
    auto recorder = SceneRecorder::create(path);
    ASSERT_TRUE(recorder);
    auto frame = numbered_frame(Size{8, 8}, 5);
    auto step = frame_step(frame, Region(), {}, true);
    step.layers.front().dest = Point{1, 0};
    EXPECT_FALSE((*recorder)->record(0, step));
    step.layers.push_back(step.layers.front());
    EXPECT_FALSE((*recorder)->record(0, step));
    EXPECT_FALSE(SceneRecorder::create("/nonexistent-dir/x.scene"));
    std::remove(path.c_str());
}

// The fuzzer's seed is a valid scene (the fuzzer prepends the header): keep it honest.
TEST(SceneRecordingTest, TheFuzzSeedReadsAsFourSteps) {
    const std::string seed = std::string(SPICED_SOURCE_DIR) +
                             "/tests/fuzz/corpus/scene_reader_fuzz/three_displays_steps";
    std::vector<uint8_t> bytes = {'S', 'P', 'I', 'C', 'E', 'D', '-', 'S',
                                  'C', 'E', 'N', 'E', '-', '1', '\n'};
    const auto body = file_bytes(seed);
    ASSERT_FALSE(body.empty());
    bytes.insert(bytes.end(), body.begin(), body.end());
    SceneReader reader(std::move(bytes));
    auto read = read_all(reader);
    ASSERT_TRUE(read) << read.error();
    EXPECT_EQ(4u, *read);
    EXPECT_FALSE(reader.truncated_tail());
}

class SceneReplayTest : public testing::TestWithParam<int32_t> {};

TEST_P(SceneReplayTest, RecordedQxlScenesIdenticalOnBothBackends) {
    const std::vector<std::string> files = scene_files();
    ASSERT_FALSE(files.empty()) << "no recorded scenes";
    for (const std::string& file : files) {
        SCOPED_TRACE(file);
        auto reader = SceneReader::open(file);
        ASSERT_TRUE(reader) << reader.error();
        // One pair (and one client copy) per display, as the desktop has one compositor each.
        std::map<uint32_t, std::unique_ptr<CompositorPair>> pairs;
        std::map<uint32_t, std::unique_ptr<Frame>> shadows;
        int64_t damaged = 0;
        size_t moves = 0;
        while (true) {
            auto next = reader->next();
            ASSERT_TRUE(next) << next.error();
            if (!*next) break;
            const RecordedStep& recorded = **next;
            auto& pair = pairs[recorded.display];
            if (!pair) {
                pair = std::make_unique<CompositorPair>();
                pair->open(GetParam());
                if (!pair->skip_reason().empty())
                    GTEST_SKIP() << "no Vulkan device: " << pair->skip_reason();
            }
            auto& shadow = shadows[recorded.display];
            const Size size = recorded.step.output_size;
            const bool fresh = !shadow || shadow->size() != size;
            if (fresh) shadow = Frame::create(size);
            const Region damage =
                pair->step(recorded.step, "step " + std::to_string(reader->steps()));
            // What the desktop sends for an exact step is the hint itself; for the others the
            // damage found. A client repaints only that (after the moves).
            const Region sent = fresh                       ? Region(Rect::MakeSize(size))
                                : recorded.step.want_damage ? damage
                                                            : recorded.step.hint;
            pair->expect_partial_read_back(fresh ? std::span<const MoveHint>()
                                                 : std::span<const MoveHint>(recorded.step.moves),
                                           sent, *shadow);
            if (HasFatalFailure() || HasFailure()) return;
            damaged += sent.area();
            moves += recorded.step.moves.size();
        }
        std::printf("%s: %zu steps, %zu moves, %lld pixels sent, tile %d: identical\n",
                    file.c_str(), reader->steps(), moves, static_cast<long long>(damaged),
                    GetParam());
        EXPECT_GT(reader->steps(), 1u);
    }
}

INSTANTIATE_TEST_SUITE_P(Tiles, SceneReplayTest, testing::Values(16, 64));

}  // namespace
}  // namespace spiced::gpu
