// Both compositor backends side by side for tests: the Vulkan one on the device
// SPICED_TEST_GPU names (default Mesa's lavapipe) and the CPU one; every step goes through both
// and everything they produce (damage, the whole output, I420 and NV12 planes) must be equal.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gpu/compositor.h"
#include "gpu/vulkan_compositor.h"
#include "tests/unit/client_picture.h"

namespace spiced::gpu {

// lavapipe's name; a machine with a GPU can run these against it with SPICED_TEST_GPU.
inline std::string test_device() {
    const char* named = std::getenv("SPICED_TEST_GPU");
    return named != nullptr ? named : "llvmpipe";
}

class CompositorPair {
public:
    void open(int32_t tile_size) {
        auto vulkan = make_vulkan_backend(GpuChoice{test_device(), "libvulkan.so.1"});
        if (!vulkan) {
            skip_reason_ = vulkan.error();
            return;
        }
        vulkan_backend_ = std::move(*vulkan);
        cpu_backend_ = make_cpu_backend();
        auto cpu = cpu_backend_->create_compositor(tile_size);
        auto device = vulkan_backend_->create_compositor(tile_size);
        ASSERT_TRUE(cpu) << cpu.error();
        ASSERT_TRUE(device) << device.error();
        cpu_ = std::move(*cpu);
        device_ = std::move(*device);
    }
    const std::string& skip_reason() const { return skip_reason_; }

    // One step on both; everything they produce must be equal. Returns the damage.
    Region step(const CompositionStep& step, const std::string& what) {
        SCOPED_TRACE(what);
        auto cpu_damage = cpu_->compose(step);
        auto device_damage = device_->compose(step);
        EXPECT_TRUE(cpu_damage) << cpu_damage.error();
        EXPECT_TRUE(device_damage) << device_damage.error();
        if (!cpu_damage || !device_damage) return {};
        EXPECT_EQ(cpu_damage->rects(), device_damage->rects());
        expect_same_output(step.output_size);
        expect_same_yuv(
            Rect::MakeSize(Size{step.output_size.width & ~1, step.output_size.height & ~1}));
        return *cpu_damage;
    }

    // A client's copy that applies the moves and reads back only the damage must equal the
    // last output (in B, G, R: damage ignores the X byte).
    void expect_partial_read_back(std::span<const MoveHint> moves, const Region& damage,
                                  Frame& shadow) {
        testing_support::apply_moves(shadow, moves);
        ASSERT_TRUE(device_->read_back(damage, shadow));
        auto whole = Frame::create(shadow.size());
        ASSERT_TRUE(cpu_->read_back(Region(whole->rect()), *whole));
        for (int32_t y = 0; y < whole->height(); ++y) {
            for (int32_t x = 0; x < whole->width(); ++x) {
                ASSERT_EQ(whole->pixel(x, y), shadow.pixel(x, y)) << x << "," << y;
            }
        }
    }

    void expect_same_yuv(const Rect& area) {
        if (area.is_empty()) return;
        const size_t w = size_t(area.width()), h = size_t(area.height());
        // Strides wider than the rows prove both honour them.
        std::vector<uint8_t> a(w * h * 3), b(w * h * 3);
        const auto i420 = [&](std::vector<uint8_t>& mem) {
            return I420Planes{{mem.data(), (w + 8) * h},
                              int32_t(w + 8),
                              {mem.data() + (w + 8) * h, (w / 2 + 4) * h / 2},
                              int32_t(w / 2 + 4),
                              {mem.data() + 2 * w * h, (w / 2 + 4) * h / 2},
                              int32_t(w / 2 + 4)};
        };
        ASSERT_TRUE(cpu_->to_i420(area, i420(a)));
        ASSERT_TRUE(device_->to_i420(area, i420(b)));
        EXPECT_TRUE(a == b) << "I420 planes differ";
        std::fill(a.begin(), a.end(), 0);
        std::fill(b.begin(), b.end(), 0);
        const auto nv12 = [&](std::vector<uint8_t>& mem) {
            return Nv12Planes{
                {mem.data(), w * h}, int32_t(w), {mem.data() + w * h, w * h / 2}, int32_t(w)};
        };
        ASSERT_TRUE(cpu_->to_nv12(area, nv12(a)));
        ASSERT_TRUE(device_->to_nv12(area, nv12(b)));
        EXPECT_TRUE(a == b) << "NV12 planes differ";
    }

    DisplayCompositor& cpu() { return *cpu_; }
    DisplayCompositor& device() { return *device_; }

private:
    void expect_same_output(Size size) {
        auto a = Frame::create(size);
        auto b = Frame::create_padded(size, size.width * 4 + 64);
        ASSERT_TRUE(cpu_->read_back(Region(a->rect()), *a));
        ASSERT_TRUE(device_->read_back(Region(b->rect()), *b));
        for (int32_t y = 0; y < size.height; ++y) {
            for (int32_t x = 0; x < size.width; ++x) {
                if (a->row(y)[x] != b->row(y)[x]) {
                    FAIL() << "output differs at " << x << "," << y << ": cpu 0x" << std::hex
                           << a->row(y)[x] << " vulkan 0x" << b->row(y)[x];
                }
            }
        }
    }

    std::string skip_reason_;
    std::unique_ptr<GpuBackend> cpu_backend_;
    std::unique_ptr<GpuBackend> vulkan_backend_;
    std::unique_ptr<DisplayCompositor> cpu_;
    std::unique_ptr<DisplayCompositor> device_;
};

#define OPEN_PAIR_OR_SKIP(pair, tile) \
    pair.open(tile);                  \
    if (!pair.skip_reason().empty()) GTEST_SKIP() << "no Vulkan device: " << pair.skip_reason()

}  // namespace spiced::gpu
