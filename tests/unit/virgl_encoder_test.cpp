// The virgl command encoder's byte layout, word for word as virglrenderer decodes it.
#include <gtest/gtest.h>

#include <bit>
#include <vector>

#include "virgl/command_encoder.h"

namespace spiced::virgl {
namespace {

std::vector<uint32_t> words(const Encoder& encoder) {
    return {encoder.words().begin(), encoder.words().end()};
}

TEST(VirglEncoderTest, HeaderPacksCommandObjectAndLength) {
    EXPECT_EQ(header(Command::kCreateObject, ObjectType::kSurface, 5), 0x00050801u);
    EXPECT_EQ(header(Command::kClear, ObjectType::kNone, 8), 0x00080007u);
    EXPECT_EQ(header(Command::kResourceCopyRegion, ObjectType::kNone, 13), 0x000d0011u);
}

TEST(VirglEncoderTest, CreateSurface) {
    Encoder encoder;
    encoder.create_surface(7, 3, kFormatB8G8R8X8Unorm);
    EXPECT_EQ(words(encoder), (std::vector<uint32_t>{0x00050801u, 7, 3, 2, 0, 0}));
}

TEST(VirglEncoderTest, DestroySurface) {
    Encoder encoder;
    encoder.destroy_object(ObjectType::kSurface, 7);
    EXPECT_EQ(words(encoder), (std::vector<uint32_t>{0x00010803u, 7}));
}

TEST(VirglEncoderTest, SetFramebufferStateWithOneColourBuffer) {
    Encoder encoder;
    encoder.set_framebuffer_state(4);
    // One colour buffer, no depth/stencil surface, surface 4.
    EXPECT_EQ(words(encoder), (std::vector<uint32_t>{0x00030005u, 1, 0, 4}));
}

TEST(VirglEncoderTest, ClearColour) {
    Encoder encoder;
    encoder.clear_color(1.0f, 0.0f, 0.5f, 1.0f);
    const uint64_t depth = std::bit_cast<uint64_t>(1.0);
    EXPECT_EQ(words(encoder), (std::vector<uint32_t>{0x00080007u, 4 /* PIPE_CLEAR_COLOR0 */,
                                                     0x3f800000u, 0, 0x3f000000u, 0x3f800000u,
                                                     uint32_t(depth), uint32_t(depth >> 32), 0}));
}

TEST(VirglEncoderTest, ResourceCopyRegion) {
    Encoder encoder;
    encoder.copy_region(1, 100, 200, 5, Box{1, 2, 0, 30, 40, 1});
    EXPECT_EQ(words(encoder),
              (std::vector<uint32_t>{0x000d0011u, 1, 0, 100, 200, 0, 5, 0, 1, 2, 0, 30, 40, 1}));
}

TEST(VirglEncoderTest, CommandsFollowEachOtherAndResetEmpties) {
    Encoder encoder;
    encoder.set_framebuffer_state(1);
    encoder.destroy_object(ObjectType::kSurface, 1);
    EXPECT_EQ(encoder.words().size(), 4u + 2u);
    encoder.reset();
    EXPECT_TRUE(encoder.words().empty());
}

}  // namespace
}  // namespace spiced::virgl
