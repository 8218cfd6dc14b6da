#include "pixels/ppm.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace spiced {
namespace {

class PpmTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "ppm_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    std::string write_raw(const std::string& name, const std::string& bytes) const {
        std::ofstream(path(name), std::ios::binary) << bytes;
        return path(name);
    }
    static bool error_mentions(const Expected<std::unique_ptr<Frame>, std::string>& result,
                               const std::string& word) {
        return !result.has_value() && result.error().find(word) != std::string::npos;
    }

    std::filesystem::path dir_;
};

std::unique_ptr<Frame> pattern_frame(Size size) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            frame->row(y)[x] =
                static_cast<uint32_t>((x * 7) << 16 | (y * 13) << 8 | (x ^ y)) & 0xffffffu;
        }
    }
    return frame;
}

TEST_F(PpmTest, RoundTripKeepsEveryPixel) {
    const auto frame = pattern_frame({37, 23});
    ASSERT_TRUE(write_ppm(*frame, path("a.ppm")).has_value());
    EXPECT_FALSE(std::filesystem::exists(path("a.ppm.tmp")));
    EXPECT_EQ(std::filesystem::file_size(path("a.ppm")), 13u + 37u * 23u * 3u);

    auto read = read_ppm(path("a.ppm"));
    ASSERT_TRUE(read.has_value()) << read.error();
    const Frame& back = **read;
    ASSERT_EQ(back.size(), frame->size());
    for (int32_t y = 0; y < frame->height(); ++y) {
        for (int32_t x = 0; x < frame->width(); ++x) {
            ASSERT_EQ(back.pixel(x, y), frame->pixel(x, y)) << x << "," << y;
        }
    }
}

TEST_F(PpmTest, WriteReplacesAnExistingFile) {
    ASSERT_TRUE(write_ppm(*pattern_frame({4, 4}), path("a.ppm")).has_value());
    ASSERT_TRUE(write_ppm(*pattern_frame({5, 3}), path("a.ppm")).has_value());
    auto read = read_ppm(path("a.ppm"));
    ASSERT_TRUE(read.has_value()) << read.error();
    EXPECT_EQ((*read)->size(), (Size{5, 3}));
}

TEST_F(PpmTest, WriteReportsAnUnwritablePath) {
    const auto result = write_ppm(*pattern_frame({4, 4}), path("no/such/dir/a.ppm"));
    ASSERT_FALSE(result.has_value());
    EXPECT_NE(result.error().find("cannot create"), std::string::npos) << result.error();
}

TEST_F(PpmTest, HeaderCommentsAndWhitespaceAreAccepted) {
    const std::string file =
        write_raw("c.ppm", std::string("P6 # made by hand\n2\t# width\n 1\r\n#x\n255\n") +
                               std::string("\x01\x02\x03\xff\xfe\xfd", 6));
    auto read = read_ppm(file);
    ASSERT_TRUE(read.has_value()) << read.error();
    EXPECT_EQ((*read)->pixel(0, 0), 0x010203u);
    EXPECT_EQ((*read)->pixel(1, 0), 0xfffefdu);
}

TEST_F(PpmTest, TruncatedRasterIsRejected) {
    ASSERT_TRUE(write_ppm(*pattern_frame({16, 16}), path("t.ppm")).has_value());
    std::filesystem::resize_file(path("t.ppm"), 13 + 16 * 16 * 3 - 1);
    EXPECT_TRUE(error_mentions(read_ppm(path("t.ppm")), "truncated"));
}

TEST_F(PpmTest, TruncatedHeaderIsRejected) {
    for (const char* head : {"P6", "P6\n", "P6\n12", "P6\n12 7", "P6\n12 7\n255"}) {
        EXPECT_TRUE(error_mentions(read_ppm(write_raw("h.ppm", head)), "header")) << head;
    }
}

TEST_F(PpmTest, BadMagicIsRejected) {
    for (const char* head : {"P3\n1 1\n255\n0 0 0\n", "P5\n1 1\n255\nx", "", "6P"}) {
        EXPECT_TRUE(error_mentions(read_ppm(write_raw("m.ppm", head)), "P6")) << head;
    }
}

TEST_F(PpmTest, HugeDimensionsAreRejectedBeforeAllocating) {
    EXPECT_TRUE(error_mentions(read_ppm(write_raw("x.ppm", "P6\n100000 100000\n255\n")), "exceed"));
    EXPECT_TRUE(
        error_mentions(read_ppm(write_raw("y.ppm", "P6\n99999999999999 1\n255\n")), "header"));
    // Within the limit but far more than the file holds: rejected from the file size alone.
    EXPECT_TRUE(
        error_mentions(read_ppm(write_raw("z.ppm", "P6\n16384 16384\n255\nabc")), "truncated"));
}

TEST_F(PpmTest, UnsupportedValuesAreRejected) {
    EXPECT_TRUE(error_mentions(read_ppm(write_raw("a.ppm", "P6\n1 1\n65535\n012345")), "maxval"));
    EXPECT_TRUE(error_mentions(read_ppm(write_raw("b.ppm", "P6\n0 5\n255\n")), "no pixels"));
    EXPECT_TRUE(error_mentions(read_ppm(write_raw("c.ppm", "P6\n-1 5\n255\n")), "header"));
    EXPECT_TRUE(error_mentions(read_ppm(write_raw("d.ppm", "P6\n1 1\n255xyz")), "header"));
}

TEST_F(PpmTest, MissingFilesAndDirectoriesAreRejected) {
    EXPECT_TRUE(error_mentions(read_ppm(path("absent.ppm")), "cannot open"));
    EXPECT_TRUE(error_mentions(read_ppm(dir_.string()), "not a regular file"));
}

TEST_F(PpmTest, GarbageNeverCrashes) {
    // Deterministic pseudo-random files, some starting with a plausible header.
    uint32_t state = 12345;
    const auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 24;
    };
    for (int i = 0; i < 300; ++i) {
        std::string bytes = (i % 3 == 0) ? "P6\n" : "";
        const int length = static_cast<int>(next() % 64);
        for (int j = 0; j < length; ++j) {
            const uint32_t r = next();
            bytes.push_back(i % 2 ? static_cast<char>(r) : " 0123456789#\n"[r % 13]);
        }
        auto result = read_ppm(write_raw("g.ppm", bytes));
        if (result.has_value()) {
            EXPECT_FALSE((*result)->size().is_empty());
        }
    }
}

}  // namespace
}  // namespace spiced
