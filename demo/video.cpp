#include "demo/video.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "demo/draw.h"
#include "demo/rng.h"

namespace spiced {
namespace {

constexpr float kTau = 2.0f * std::numbers::pi_v<float>;
// The clip loops through a dawn -> noon -> dusk colour cycle every 20 s at 30 fps.
constexpr float kCycleFrames = 600.0f;

uint32_t lerp_color(uint32_t a, uint32_t b, float t) {
    return blend(a, b, static_cast<uint32_t>(std::clamp(t, 0.0f, 1.0f) * 256.0f));
}

}  // namespace

VideoClip::VideoClip(Size size, uint64_t seed)
    : size_(size),
      seed_(seed),
      sky_(static_cast<size_t>(std::max(size.height, 0))),
      far_top_(static_cast<size_t>(std::max(size.width, 0))),
      near_top_(static_cast<size_t>(std::max(size.width, 0))),
      far_shade_(static_cast<size_t>(std::max(size.height, 0)) + 1),
      near_shade_(static_cast<size_t>(std::max(size.height, 0)) + 1) {}

void VideoClip::render(int64_t index, Frame& frame, Point origin) {
    const Rect dest =
        Rect::MakeXYWH(origin.x, origin.y, size_.width, size_.height).intersect(frame.rect());
    if (dest.is_empty()) return;
    const int32_t w = size_.width, h = size_.height;
    const float t = static_cast<float>(index % 1000000);
    const float day = 0.5f - 0.5f * std::cos(t * kTau / kCycleFrames);  // 0 dawn .. 1 noon
    const float phase = static_cast<float>(seed_ % 1000) * 0.01f;

    // Sky: vertical gradient whose ends drift between a warm dawn and a clear noon.
    const uint32_t zenith = lerp_color(rgb(0x3a, 0x2e, 0x6e), rgb(0x2a, 0x64, 0xc0), day);
    const uint32_t horizon = lerp_color(rgb(0xf4, 0x9a, 0x6a), rgb(0xb8, 0xdc, 0xf4), day);
    for (int32_t y = 0; y < h; ++y) {
        const float v = static_cast<float>(y) / static_cast<float>(std::max(1, h - 1));
        sky_[y] = lerp_color(zenith, horizon, std::pow(v, 0.8f));
    }

    // Hills: sums of sines panned at two speeds (parallax: near moves twice as fast).
    const float fw = static_cast<float>(w), fh = static_cast<float>(h);
    const float pan_far = t * 0.6f * fw / 480.0f, pan_near = t * 1.6f * fw / 480.0f;
    for (int32_t x = 0; x < w; ++x) {
        const float u = (static_cast<float>(x) + pan_far) / fw;
        far_top_[x] = static_cast<int32_t>(
            fh * (0.52f + 0.07f * std::sin(u * 5.1f + phase) + 0.03f * std::sin(u * 13.7f + 1.3f)));
        const float n = (static_cast<float>(x) + pan_near) / fw;
        near_top_[x] = static_cast<int32_t>(
            fh * (0.74f + 0.06f * std::sin(n * 3.3f + 2.0f * phase) +
                  0.025f * std::sin(n * 11.1f + 0.7f) + 0.01f * std::sin(n * 37.0f)));
    }
    const uint32_t far_light = lerp_color(rgb(0x6a, 0x5a, 0x8a), rgb(0x6e, 0x8e, 0xa8), day);
    const uint32_t near_light = lerp_color(rgb(0x4a, 0x6a, 0x2e), rgb(0x5c, 0x9a, 0x3a), day);
    for (int32_t d = 0; d <= h; ++d) {
        const float v = static_cast<float>(d) / fh;
        far_shade_[d] = lerp_color(far_light, rgb(0x30, 0x38, 0x50), v * 2.5f);
        near_shade_[d] = lerp_color(near_light, rgb(0x1c, 0x30, 0x14), v * 3.0f);
    }

    // Main pass: one table lookup per pixel, plus a furrow texture on the near field.
    const int32_t furrow_shift = static_cast<int32_t>(pan_near);
    for (int32_t y = dest.top(); y < dest.bottom(); ++y) {
        const int32_t vy = y - origin.y;
        uint32_t* out = frame.row(y) + origin.x;
        const uint32_t sky = sky_[vy];
        for (int32_t x = dest.left() - origin.x; x < dest.right() - origin.x; ++x) {
            uint32_t c;
            if (vy < far_top_[x]) {
                c = sky;
            } else if (vy < near_top_[x]) {
                c = far_shade_[vy - far_top_[x]];
            } else {
                const int32_t depth = vy - near_top_[x];
                c = near_shade_[depth];
                // Furrows widen towards the viewer; the 0x0a0c06 bump cannot overflow because
                // near_shade_ channels stay below 0xa0.
                if ((((x + furrow_shift) * 4) / (8 + depth)) & 1) c += 0x0a0c06;
            }
            out[x] = c;
        }
    }

    // Sun and clouds are soft blobs behind the hills.
    const float sun_t = std::fmod(t, kCycleFrames) / kCycleFrames;
    draw_blob({fw * (0.15f + 0.7f * sun_t), fh * (0.45f - 0.3f * std::sin(sun_t * kTau * 0.5f)),
               fh * 0.16f, fh * 0.16f, rgb(0xff, 0xd8, 0x90), 150},
              frame, origin, dest);
    draw_blob({fw * (0.15f + 0.7f * sun_t), fh * (0.45f - 0.3f * std::sin(sun_t * kTau * 0.5f)),
               fh * 0.035f, fh * 0.035f, rgb(0xff, 0xfa, 0xe8), 256},
              frame, origin, dest);
    for (int i = 0; i < 3; ++i) {
        const uint64_t hc = hash3(seed_, 0xc10d, static_cast<uint64_t>(i));
        const float speed = 0.3f + 0.1f * static_cast<float>(pick(hc, 8));
        const float span = fw * 1.6f;
        const float cx =
            std::fmod(fw * 0.33f * static_cast<float>(i) + t * speed * fw / 480.0f, span) -
            fw * 0.3f;
        const float cy = fh * (0.12f + 0.1f * static_cast<float>(i));
        for (int part = 0; part < 3; ++part) {
            const float dx = (static_cast<float>(part) - 1.0f) * fh * 0.08f;
            const float dy = part == 1 ? -fh * 0.025f : 0.0f;
            draw_blob({cx + dx, cy + dy, fh * 0.07f, fh * 0.035f, rgb(0xf8, 0xf8, 0xff), 200},
                      frame, origin, dest);
        }
    }

    // Film grain: flip the two low bits of each channel from a per-frame xorshift stream, a
    // +-3 level noise that codecs must carry but that costs no saturation arithmetic.
    uint32_t state = static_cast<uint32_t>(hash3(seed_, 0x9a1, static_cast<uint64_t>(index))) | 1u;
    for (int32_t y = dest.top(); y < dest.bottom(); ++y) {
        uint32_t* out = frame.row(y);
        for (int32_t x = dest.left(); x < dest.right(); ++x) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            out[x] ^= state & 0x030303u;
        }
    }
}

void VideoClip::draw_blob(const Blob& blob, Frame& frame, Point origin, const Rect& dest) {
    // Gaussian profiles are separable, so the 2-D weight is a product of two 1-D tables
    // computed for the blob's 2.5-sigma box only. Box coordinates are the clip's own; `dest`
    // (the visible part on screen) limits them when the clip is partly off the frame.
    const Rect visible = dest.translated(-origin.x, -origin.y);
    const Rect box = Rect::MakeLTRB(static_cast<int32_t>(std::floor(blob.x - 2.5f * blob.sigma_x)),
                                    static_cast<int32_t>(std::floor(blob.y - 2.5f * blob.sigma_y)),
                                    static_cast<int32_t>(std::ceil(blob.x + 2.5f * blob.sigma_x)),
                                    static_cast<int32_t>(std::ceil(blob.y + 2.5f * blob.sigma_y)))
                         .intersect(visible);
    if (box.is_empty()) return;
    weight_x_.resize(static_cast<size_t>(box.width()));
    weight_y_.resize(static_cast<size_t>(box.height()));
    for (int32_t x = box.left(); x < box.right(); ++x) {
        const float d = (static_cast<float>(x) - blob.x) / blob.sigma_x;
        weight_x_[x - box.left()] = static_cast<uint32_t>(256.0f * std::exp(-0.5f * d * d));
    }
    for (int32_t y = box.top(); y < box.bottom(); ++y) {
        const float d = (static_cast<float>(y) - blob.y) / blob.sigma_y;
        weight_y_[y - box.top()] =
            static_cast<uint32_t>(static_cast<float>(blob.strength) * std::exp(-0.5f * d * d));
    }
    for (int32_t y = box.top(); y < box.bottom(); ++y) {
        const uint32_t wy = weight_y_[y - box.top()];
        if (wy == 0) continue;
        uint32_t* out = frame.row(origin.y + y) + origin.x;
        for (int32_t x = box.left(); x < box.right(); ++x) {
            if (y >= far_top_[x]) continue;  // behind the hills
            const uint32_t weight = (weight_x_[x - box.left()] * wy) >> 8;
            if (weight != 0) out[x] = blend(out[x], blob.color, weight);
        }
    }
}

}  // namespace spiced
