// Generated screen-like test images for the codec tests: the content kinds a VDI display
// carries (text, UI, gradients, noise, CAD lines, natural pictures) at any size, 1x1 included.
// Every generator fills the X byte too, so RGB types prove they ignore it and RGBA types that
// it survives.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>

#include "pixels/frame.h"

namespace spiced::test_images {

// Glyph-like strokes: short dark runs in a few inks on a light background, in lines of "text".
inline std::unique_ptr<Frame> text_image(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto f = Frame::create(size);
    f->fill(f->rect(), 0xf4f4f4);
    for (int32_t y = 2; y + 9 < size.height; y += 12) {
        for (int32_t x = 1; x + 6 < size.width; x += 7) {
            if (rng() % 6 == 0) continue;  // a space
            for (int32_t dy = 0; dy < 9; ++dy) {
                const uint32_t bits = rng();
                for (int32_t dx = 0; dx < 5; ++dx) {
                    if (bits >> dx & 1) f->row(y + dy)[x + dx] = 0x202020 + (rng() % 3) * 0x101010;
                }
            }
        }
    }
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) f->row(y)[x] |= 0xff000000u;
    }
    return f;
}

// Overlapping flat panels of random colours: windows, buttons, toolbars.
inline std::unique_ptr<Frame> ui_image(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto f = Frame::create(size);
    f->fill(f->rect(), 0x80eeeeee);
    for (int i = 0; i < 12; ++i) {
        const int32_t w = 1 + int32_t(rng() % uint32_t(std::max(1, size.width / 2)));
        const int32_t h = 1 + int32_t(rng() % uint32_t(std::max(1, size.height / 2)));
        const int32_t x = int32_t(rng() % uint32_t(size.width));
        const int32_t y = int32_t(rng() % uint32_t(size.height));
        f->fill(Rect::MakeXYWH(x, y, w, h).intersect(f->rect()), rng());
    }
    return f;
}

// Smooth ramps in two directions over two-tone panels, alpha ramping too: far more than 256
// colours once the image is larger than a few dozen pixels each way.
inline std::unique_ptr<Frame> gradient_image(Size size, uint32_t /*seed*/) {
    auto f = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            const uint32_t r = uint32_t(40 + 150 * y / std::max(1, size.height));
            const uint32_t g = uint32_t(90 + 100 * x / std::max(1, size.width));
            const uint32_t b = (x / 64 + y / 32) % 2 ? 200u : 180u;  // panels
            const uint32_t a = uint32_t(255 * x / std::max(1, size.width));
            f->row(y)[x] = a << 24 | r << 16 | g << 8 | b;
        }
    }
    return f;
}

// Random colours and random alpha: incompressible.
inline std::unique_ptr<Frame> noise_image(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto f = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) f->row(y)[x] = uint32_t(rng());
    }
    return f;
}

// Axis-parallel and diagonal lines in a few dozen colours on a dark background.
inline std::unique_ptr<Frame> cad_image(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto f = Frame::create(size);
    f->fill(f->rect(), 0x101828);
    for (int i = 0; i < 40; ++i) {
        const int32_t x0 = int32_t(rng() % uint32_t(size.width));
        const int32_t y0 = int32_t(rng() % uint32_t(size.height));
        const uint32_t colour = 0x40ff80 + uint32_t(i) * 0x030507;
        if (i % 2) {
            for (int32_t x = x0; x < size.width; ++x) f->row(y0)[x] = colour;
        } else {
            for (int32_t y = y0; y < size.height; ++y) f->row(y)[x0] = colour;
        }
        const int32_t n = std::min(size.width - x0, size.height - y0);
        for (int32_t d = 0; d < n; ++d) f->row(y0 + d)[x0 + d] = 0xe0e0e0;  // diagonal
    }
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) f->row(y)[x] |= uint32_t(x & 1) << 24;
    }
    return f;
}

// A smooth picture with sensor-like noise in every channel.
inline std::unique_ptr<Frame> natural_image(Size size, uint32_t seed) {
    std::mt19937 rng(seed);
    auto f = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            const double v = std::sin(x * 0.031 + y * 0.017) * std::cos(y * 0.043 - x * 0.011);
            const uint32_t r = uint32_t(std::clamp(128 + 90 * v + int(rng() % 7), 0.0, 255.0));
            const uint32_t g = uint32_t(std::clamp(110 + 70 * v + int(rng() % 5), 0.0, 255.0));
            const uint32_t b = uint32_t(std::clamp(100 - 60 * v + int(rng() % 9), 0.0, 255.0));
            f->row(y)[x] = uint32_t(rng() % 4) << 24 | r << 16 | g << 8 | b;
        }
    }
    return f;
}

// Replaces every pixel's alpha with a pattern that is constant on the left half and varied on
// the right, so alpha streams have both runs and literals to carry.
inline void add_alpha(Frame& frame) {
    for (int32_t y = 0; y < frame.height(); ++y) {
        for (int32_t x = 0; x < frame.width(); ++x) {
            const uint32_t alpha = x < frame.width() / 2 ? 0xff : uint32_t(x * 3 + y) & 0xff;
            frame.row(y)[x] = (frame.row(y)[x] & 0x00ffffffu) | alpha << 24;
        }
    }
}

using Generator = std::unique_ptr<Frame> (*)(Size, uint32_t);
inline constexpr std::pair<const char*, Generator> kGenerators[] = {
    {"text", text_image},   {"ui", ui_image},   {"gradient", gradient_image},
    {"noise", noise_image}, {"cad", cad_image}, {"natural", natural_image},
};

}  // namespace spiced::test_images
