// The compositor's two backends — Vulkan compute (on Mesa's lavapipe here) and the CPU — must
// give byte-identical output frames, damage regions and I420/NV12 planes, step after step: on
// the demo desktop (moves, animation), on a QXL scene drawn by our pixman renderer (fills and
// COPY_BITS with exact damage as the hint), and on multi-layer steps with a cursor, clipping,
// resizes and several tile sizes. The CPU backend itself is checked against the rules in
// gpu/compositor.h (FrameDiffer's damage, Frame::copy_from, the blend formula).
//
// The Vulkan cases SKIP (never pass) when no Vulkan device can be opened here.
#include <gtest/gtest.h>

#include <spice/enums.h>

#include <cstring>
#include <random>

#include "demo/demo_desktop.h"
#include "gpu/compose_rules.h"
#include "gpu/compositor.h"
#include "gpu/frame_differ.h"
#include "gpu/vulkan_compositor.h"
#include "qxl/pixman_renderer.h"
#include "tests/unit/client_picture.h"
#include "tests/unit/compositor_pair.h"

namespace spiced::gpu {
namespace {

std::shared_ptr<Frame> pattern_frame(Size size, uint32_t seed) {
    auto frame = Frame::create(size);
    std::mt19937 random(seed);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x)
            frame->row(y)[x] =
                (x * 3 + y * 5 + seed) % 7 == 0 ? random() : 0x00203040u + x + y * 256;
    }
    return frame;
}

std::shared_ptr<const PointerShape> test_cursor() {
    auto shape = std::make_shared<PointerShape>();
    shape->id = 7;
    shape->image.width = 23;
    shape->image.height = 17;
    shape->image.hotspot = {3, 2};
    for (int32_t i = 0; i < 23 * 17; ++i) {
        const uint32_t alpha = uint32_t(i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : (i * 37) % 256);
        shape->image.argb.push_back(alpha << 24 | uint32_t(i * 2654435761u) >> 8);
    }
    return shape;
}

CompositionStep whole_frame_step(std::shared_ptr<const Frame> frame, std::vector<MoveHint> moves,
                                 Region hint) {
    CompositionStep step;
    step.output_size = frame->size();
    step.layers.push_back(Layer{frame, frame->rect(), {0, 0}});
    step.moves = std::move(moves);
    step.hint = std::move(hint);
    return step;
}

TEST(CompositorTest, DemoDesktopIdenticalOnBothBackends) {
    CompositorPair pair;
    OPEN_PAIR_OR_SKIP(pair, kDamageTileSize);
    const Size size{1024, 768};
    DemoDesktop desktop(DemoConfig{size, 1});
    FrameDiffer reference;
    std::shared_ptr<const Frame> previous;
    auto shadow = Frame::create(size);
    int64_t damaged = 0;
    for (int i = 0; i < 24; ++i) {
        auto frame = std::shared_ptr<Frame>(Frame::create(size));
        std::vector<MoveHint> moves;
        desktop.render(i, *frame, moves);
        const Region damage = pair.step(whole_frame_step(frame, moves, Region(frame->rect())),
                                        "demo frame " + std::to_string(i));
        // The CPU backend's damage is the pipeline's: FrameDiffer's.
        if (previous) {
            EXPECT_EQ(reference.diff(*previous, moves, *frame, Region(frame->rect())).rects(),
                      damage.rects());
            damaged += damage.area();
        }
        pair.expect_partial_read_back(moves, damage, *shadow);
        previous = frame;
    }
    EXPECT_GT(damaged, 0);  // the demo animates: the comparison saw changes
}

// A source under load skips frames: the demo then renders frame indexes several apart, so one
// step carries several lines of terminal scroll and a long editor glide at once.
TEST(CompositorTest, DemoWithSkippedFramesIdenticalOnBothBackends) {
    for (const int32_t tile : {kDamageTileSize, 64}) {
        CompositorPair pair;
        OPEN_PAIR_OR_SKIP(pair, tile);
        const Size size{1280, 800};
        DemoDesktop desktop(DemoConfig{size, 11});
        auto shadow = Frame::create(size);
        uint32_t jumps = 12345;
        int64_t index = 0;
        for (int i = 0; i < 32; ++i) {
            auto frame = std::shared_ptr<Frame>(Frame::create(size));
            std::vector<MoveHint> moves;
            desktop.render(index, *frame, moves);
            const Region damage =
                pair.step(whole_frame_step(frame, moves, Region(frame->rect())),
                          "tile " + std::to_string(tile) + " demo frame " + std::to_string(index));
            pair.expect_partial_read_back(moves, damage, *shadow);
            if (HasFatalFailure()) return;
            jumps = jumps * 1103515245u + 12345u;
            index += 1 + int64_t(jumps >> 16) % 9;
        }
    }
}

// A QXL guest's drawing, as our renderer executes it: fills and COPY_BITS on the primary
// surface, exact damage as the hint, COPY_BITS as moves.
TEST(CompositorTest, QxlSceneIdenticalOnBothBackends) {
    CompositorPair pair;
    OPEN_PAIR_OR_SKIP(pair, 32);
    const Size size{800, 600};
    qxl::PixmanRenderer renderer;
    ASSERT_TRUE(renderer.create_surface(0, SPICE_SURFACE_FMT_32_xRGB, size, {}, 0));
    std::mt19937 random(42);
    auto shadow = Frame::create(size);
    for (int step_index = 0; step_index < 30; ++step_index) {
        std::vector<MoveHint> moves;
        Region hint;
        if (step_index % 3 == 1) {
            const Rect dest =
                Rect::MakeXYWH(int32_t(random() % 400), int32_t(random() % 300),
                               int32_t(50 + random() % 300), int32_t(40 + random() % 250));
            const Point src{int32_t(random() % 400), int32_t(random() % 300)};
            qxl::Drawable copy;
            copy.bbox = dest.intersect(Rect::MakeSize(size));
            copy.op = qxl::CopyBits{src};
            auto drawn = renderer.draw(copy);
            ASSERT_TRUE(drawn) << drawn.error();
            moves.push_back(MoveHint{copy.bbox, src});
        }
        for (int fills = 0; fills < 4; ++fills) {
            qxl::Drawable fill;
            fill.bbox = Rect::MakeXYWH(int32_t(random() % 780), int32_t(random() % 580),
                                       int32_t(1 + random() % 200), int32_t(1 + random() % 150))
                            .intersect(Rect::MakeSize(size));
            qxl::Fill op;
            op.brush.kind = qxl::Brush::Kind::kSolid;
            op.brush.color = random() & 0x00ffffffu;
            op.rop_descriptor = SPICE_ROPD_OP_PUT;
            fill.op = op;
            auto drawn = renderer.draw(fill);
            ASSERT_TRUE(drawn) << drawn.error();
            hint.add_region(*drawn);
        }
        auto frame = std::shared_ptr<Frame>(Frame::create(size));
        ASSERT_TRUE(renderer.read(0, frame->rect(), *frame));
        const Region damage = pair.step(whole_frame_step(frame, moves, hint),
                                        "qxl step " + std::to_string(step_index));
        pair.expect_partial_read_back(moves, damage, *shadow);
    }
}

// Two heads side by side, a third layer over both and partly off the output, a cursor with
// every kind of alpha, across tile sizes and a resize.
TEST(CompositorTest, LayersCursorTilesAndResizeIdentical) {
    for (int32_t tile : {4, 16, 64, 256}) {
        CompositorPair pair;
        OPEN_PAIR_OR_SKIP(pair, tile);
        const auto cursor = test_cursor();
        for (int round = 0; round < 4; ++round) {
            const Size output = round < 2 ? Size{1000, 700} : Size{997, 601};  // odd: partial tiles
            auto left = pattern_frame({500, 700}, uint32_t(round * 3 + 1));
            auto right = pattern_frame({520, 710}, uint32_t(round * 3 + 2));
            auto over = pattern_frame({300, 200}, uint32_t(round * 3 + 3));
            CompositionStep step;
            step.output_size = output;
            step.layers = {Layer{left, left->rect(), {0, 0}},
                           Layer{right, Rect::MakeXYWH(10, 5, 500, 700), {500, 0}},
                           Layer{over, over->rect(), {850 - round * 7, -40 + round * 3}}};
            step.cursor = CursorOverlay{cursor, {round * 300 + 1, 690}};
            step.hint = Region(Rect::MakeSize(output));
            if (round == 1)
                step.moves.push_back(MoveHint{Rect::MakeXYWH(100, 100, 300, 200), {120, 90}});
            pair.step(step, "tile " + std::to_string(tile) + " round " + std::to_string(round));
        }
    }
}

// Under the hint contract (nothing changes outside hint and moves), the device uploads only
// the rows the hint touches; the result must still match the CPU, which reads whole layers.
TEST(CompositorTest, SmallHintsAfterAFullFrameIdentical) {
    CompositorPair pair;
    OPEN_PAIR_OR_SKIP(pair, kDamageTileSize);
    const Size size{640, 480};
    auto frame = pattern_frame(size, 5);
    pair.step(whole_frame_step(frame, {}, Region(frame->rect())), "first");
    std::mt19937 random(9);
    for (int i = 0; i < 20; ++i) {
        auto next = std::shared_ptr<Frame>(Frame::create(size));
        next->copy_from(*frame, frame->rect(), {0, 0});
        const Rect changed = Rect::MakeXYWH(int32_t(random() % 600), int32_t(random() % 440),
                                            int32_t(1 + random() % 40), int32_t(1 + random() % 40));
        next->fill(changed, random() & 0xffffff);
        const Region damage =
            pair.step(whole_frame_step(next, {}, Region(changed)), "hint " + std::to_string(i));
        // The damage is exactly the tiles the change touches (it differs from what was there).
        EXPECT_TRUE(damage.intersects(changed));
        frame = next;
    }
}

TEST(CompositorTest, CpuBackendFollowsTheRules) {
    auto backend = make_cpu_backend();
    EXPECT_EQ("cpu", backend->describe());
    EXPECT_FALSE(backend->create_compositor(3));
    EXPECT_FALSE(backend->create_compositor(512));
    auto compositor = std::move(*backend->create_compositor(16));
    const Size size{64, 48};
    auto base = pattern_frame(size, 1);
    CompositionStep step;
    step.output_size = size;
    step.layers = {Layer{base, base->rect(), {0, 0}}};
    const auto cursor = test_cursor();
    step.cursor = CursorOverlay{cursor, {10, 10}};
    auto damage = compositor->compose(step);
    ASSERT_TRUE(damage);
    EXPECT_EQ(Region(Rect::MakeSize(size)), *damage);  // the first output is all damage
    auto out = Frame::create(size);
    ASSERT_TRUE(compositor->read_back(Region(out->rect()), *out));
    // Blended by the formula; the X byte of the output kept.
    const CursorPlacement at = place_cursor(*step.cursor, size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            uint32_t expected = base->row(y)[x];
            if (at.visible.contains(Point{x, y})) {
                expected = blend_pixel(
                    cursor->image.argb[size_t(y - at.origin.y) * 23 + size_t(x - at.origin.x)],
                    expected);
            }
            ASSERT_EQ(expected, out->row(y)[x]) << x << "," << y;
        }
    }
    EXPECT_EQ(0x11808080u, blend_pixel(0x80ffffffu, 0x11000000u));  // (255 * 128 + 127) / 255
    EXPECT_EQ(0x000000ffu, blend_pixel(0xff0000ffu, 0x00ff0000u));
    EXPECT_EQ(0xaaff0000u, blend_pixel(0x000000ffu, 0xaaff0000u));
    // An odd YUV area and a cursor whose pixels do not match its size are refused.
    std::vector<uint8_t> planes(64 * 48 * 2);
    const I420Planes i420{{planes.data(), 64 * 48}, 64, {planes.data(), 32 * 24}, 32,
                          {planes.data(), 32 * 24}, 32};
    EXPECT_FALSE(compositor->to_i420(Rect::MakeXYWH(0, 0, 3, 2), i420));
    auto bad = std::make_shared<PointerShape>(*cursor);
    bad->image.argb.pop_back();
    step.cursor = CursorOverlay{bad, {0, 0}};
    EXPECT_FALSE(compositor->compose(step));
}

TEST(CompositorTest, BackendChoice) {
    auto none = choose_gpu_backend(GpuChoice{"none", "libvulkan.so.1"});
    ASSERT_TRUE(none);
    EXPECT_EQ(GpuBackendKind::kCpu, none->backend->kind());
    // No loader: auto falls back to the CPU and says why; a named device is an error.
    auto no_loader = choose_gpu_backend(GpuChoice{"auto", "/nonexistent/libvulkan.so.1"});
    ASSERT_TRUE(no_loader);
    EXPECT_EQ(GpuBackendKind::kCpu, no_loader->backend->kind());
    EXPECT_NE(std::string::npos, no_loader->note.find("no Vulkan loader")) << no_loader->note;
    EXPECT_FALSE(choose_gpu_backend(GpuChoice{"0", "/nonexistent/libvulkan.so.1"}));

    auto devices = VulkanContext::list_devices("libvulkan.so.1");
    if (!devices) GTEST_SKIP() << "no Vulkan device: " << devices.error();
    // auto never picks a CPU-type device (lavapipe): our CPU backend is faster than it.
    auto automatic = choose_gpu_backend(GpuChoice{"auto", "libvulkan.so.1"});
    ASSERT_TRUE(automatic);
    bool any_gpu = false;
    for (const auto& device : *devices)
        any_gpu |= device.type != VK_PHYSICAL_DEVICE_TYPE_CPU && device.unusable.empty();
    EXPECT_EQ(any_gpu ? GpuBackendKind::kVulkan : GpuBackendKind::kCpu, automatic->backend->kind())
        << automatic->note;
    auto missing = choose_gpu_backend(GpuChoice{"no-such-device-anywhere", "libvulkan.so.1"});
    ASSERT_FALSE(missing);
    EXPECT_NE(std::string::npos, missing.error().find("there are:")) << missing.error();
    auto named = choose_gpu_backend(GpuChoice{test_device(), "libvulkan.so.1"});
    ASSERT_TRUE(named) << named.error();
    EXPECT_EQ(GpuBackendKind::kVulkan, named->backend->kind());
    EXPECT_NE(std::string::npos, named->note.find("vulkan: ")) << named->note;
}

}  // namespace
}  // namespace spiced::gpu
