// A deterministic moving scene for video encoder benchmarks and tests: what a video player or
// a 3D view in a remote desktop shows. A smooth colour field with a little grain (camera
// noise) pans slowly, and a textured disc (rings and a checker) crosses it on a Lissajous
// path, so an encoder meets gradients, global motion, a moving object with sharp detail and
// the background it uncovers. Picture i is the same on every run and machine.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "pixels/frame.h"

namespace spiced {

class VideoScene {
public:
    explicit VideoScene(Size size)
        : size_(size), background_(Frame::create({size.width + kPanX, size.height + kPanY})) {
        uint32_t noise = 12345;
        for (int32_t y = 0; y < background_->height(); ++y) {
            uint32_t* row = background_->row(y);
            for (int32_t x = 0; x < background_->width(); ++x) {
                noise = noise * 1664525u + 1013904223u;  // LCG: cheap, same everywhere
                const int grain = int(noise >> 29) - 4;  // -4..3
                const double fx = double(x) / 97.0, fy = double(y) / 71.0;
                const int r = int(120 + 80 * std::sin(fx) * std::cos(fy * 0.8)) + grain;
                const int g = int(110 + 70 * std::sin(fx * 0.6 + fy * 0.9)) + grain;
                const int b = int(100 + 60 * std::cos(fx * 0.35 - fy * 0.5)) + grain;
                row[x] = channel(r) << 16 | channel(g) << 8 | channel(b);
            }
        }
    }

    Size size() const { return size_; }

    // Draws picture `index` into `area` of `out` (area.size() == size()).
    void render(int64_t index, Frame& out, const Rect& area) const {
        const int32_t pan_x = int32_t(index * 2 % kPanX), pan_y = int32_t(index % kPanY);
        out.copy_from(*background_, Rect::MakeXYWH(pan_x, pan_y, size_.width, size_.height),
                      area.origin());
        const double t = double(index) / 30.0;
        const int32_t radius = std::max(8, size_.height / 6);
        const int32_t cx =
            size_.width / 2 + int32_t(double(size_.width / 2 - radius) * std::sin(t * 1.3));
        const int32_t cy =
            size_.height / 2 + int32_t(double(size_.height / 2 - radius) * std::sin(t * 1.9 + 0.5));
        for (int32_t dy = -radius; dy < radius; ++dy) {
            const int32_t y = cy + dy;
            if (y < 0 || y >= size_.height) continue;
            uint32_t* row = out.row(area.top() + y) + area.left();
            for (int32_t dx = -radius; dx < radius; ++dx) {
                const int32_t x = cx + dx;
                const int32_t d2 = dx * dx + dy * dy;
                if (x < 0 || x >= size_.width || d2 >= radius * radius) continue;
                const int ring = int(std::sqrt(double(d2))) / 6 % 2;
                const int check = ((dx + radius) / 8 + (dy + radius) / 8) % 2;
                const int shade = 255 - d2 * 120 / (radius * radius);
                const int r = ring ? shade : shade / 3;
                const int g = check ? shade * 3 / 4 : shade / 4;
                const int b = ring ^ check ? shade / 2 : 40;
                row[x] = channel(r) << 16 | channel(g) << 8 | channel(b);
            }
        }
    }

    std::unique_ptr<Frame> render(int64_t index) const {
        auto frame = Frame::create(size_);
        render(index, *frame, frame->rect());
        return frame;
    }

private:
    // How far the background pans before it wraps (pixels).
    static constexpr int32_t kPanX = 256;
    static constexpr int32_t kPanY = 128;

    static uint32_t channel(int v) { return uint32_t(std::clamp(v, 0, 255)); }

    Size size_;
    std::unique_ptr<Frame> background_;
};

}  // namespace spiced
