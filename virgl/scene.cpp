#include "virgl/scene.h"

#include <algorithm>

#include "virgl/command_encoder.h"

namespace spiced::virgl {

namespace {
// Handles: resource and surface 1 is the render target, 2.. the rectangles' colour textures.
constexpr uint32_t kTargetSurface = 1;
constexpr uint32_t kFirstSolid = 2;

Size rect_size(Size size) {
    return {std::max(size.width / 6, 1), std::max(size.height / 6, 1)};
}

// 0..range and back, in steps of 1 as `t` counts up.
int32_t bounce(int64_t t, int32_t range) {
    if (range <= 0) return 0;
    const int64_t period = 2 * int64_t{range};
    const int64_t phase = ((t % period) + period) % period;
    return int32_t(phase <= range ? phase : period - phase);
}

float channel(uint32_t color, int shift) {
    return float((color >> shift) & 0xff) / 255.0f;
}
}  // namespace

std::array<Rect, Scene::kRects> Scene::rects_at(Size size, int64_t index) {
    const Size rect = rect_size(size);
    const int32_t range_x = size.width - rect.width;
    const int32_t range_y = size.height - rect.height;
    std::array<Rect, kRects> rects;
    for (size_t i = 0; i < kRects; ++i) {
        // Each rectangle starts elsewhere and moves at its own speed (pixels per frame, scaled
        // with the screen so the animation looks alike at every size).
        const int64_t n = int64_t(i);
        const int64_t speed_x = std::max<int64_t>(1, size.width * (3 + n) / 400);
        const int64_t speed_y = std::max<int64_t>(1, size.height * (5 - n % 3) / 400);
        const int64_t start_x = int64_t{range_x} * n / int64_t(kRects);
        const int64_t start_y = int64_t{range_y} * ((n * 3) % int64_t(kRects)) / int64_t(kRects);
        rects[i] =
            Rect::MakeXYWH(bounce(start_x + index * speed_x, range_x),
                           bounce(start_y + index * speed_y, range_y), rect.width, rect.height);
    }
    return rects;
}

Expected<std::unique_ptr<Scene>, std::string> Scene::create(Size size) {
    auto renderer = Renderer::create(size);
    if (!renderer) return unexpected(renderer.error());
    std::unique_ptr<Scene> scene(new Scene(std::move(*renderer)));
    const Size solid = rect_size(size);
    Encoder encoder;
    encoder.create_surface(kTargetSurface, scene->renderer_->target(), kFormatB8G8R8X8Unorm);
    for (size_t i = 0; i < kRects; ++i) {
        const uint32_t handle = kFirstSolid + uint32_t(i);
        if (auto made = scene->renderer_->create_texture(handle, solid); !made)
            return unexpected(made.error());
        // Each colour texture is cleared once through its own surface.
        encoder.create_surface(handle, handle, kFormatB8G8R8X8Unorm);
        encoder.set_framebuffer_state(handle);
        encoder.clear_color(channel(kColors[i], 16), channel(kColors[i], 8), channel(kColors[i], 0),
                            1.0f);
    }
    encoder.set_framebuffer_state(kTargetSurface);
    if (auto done = scene->renderer_->submit(encoder.words()); !done)
        return unexpected(done.error());
    return scene;
}

Expected<void, std::string> Scene::render(int64_t index, Frame& frame, Region& changed) {
    const std::array<Rect, kRects> rects = rects_at(size(), index);
    Encoder encoder;
    encoder.clear_color(channel(kBackground, 16), channel(kBackground, 8), channel(kBackground, 0),
                        1.0f);
    for (size_t i = 0; i < kRects; ++i) {
        const Rect& rect = rects[i];
        encoder.copy_region(renderer_->target(), uint32_t(rect.left()), uint32_t(rect.top()),
                            kFirstSolid + uint32_t(i),
                            Box{0, 0, 0, uint32_t(rect.width()), uint32_t(rect.height()), 1});
    }
    if (auto done = renderer_->submit(encoder.words()); !done) return done;
    if (auto read = renderer_->read(frame); !read) return read;
    changed = Region();
    if (!rendered_) {
        changed.add_rect(Rect::MakeSize(size()));
    } else {
        // The rectangles' old places (background again, or another rectangle) and new ones.
        for (size_t i = 0; i < kRects; ++i) {
            if (last_[i] == rects[i]) continue;
            changed.add_rect(last_[i]);
            changed.add_rect(rects[i]);
        }
    }
    rendered_ = true;
    last_ = rects;
    return {};
}

}  // namespace spiced::virgl
