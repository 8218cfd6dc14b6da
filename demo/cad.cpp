#include "demo/cad.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "demo/draw.h"

namespace spiced {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;
constexpr uint32_t kPartColor[] = {0x3c5068, 0x58c8ff, 0xd8dce0, 0xffa040};
// One full turn of the model every 16 s, one of the gear every 3 s, at 30 fps.
constexpr float kModelTurnFrames = 480.0f;
constexpr float kGearTurnFrames = 90.0f;
constexpr float kCameraDistance = 5.2f;
constexpr float kNearPlane = 0.5f;

// Liang-Barsky: clips the segment to `r` (in pixel-centre coordinates); false if nothing is left.
bool clip_segment(float& x0, float& y0, float& x1, float& y1, const Rect& r) {
    const float dx = x1 - x0, dy = y1 - y0;
    float t0 = 0.0f, t1 = 1.0f;
    const float p[4] = {-dx, dx, -dy, dy};
    const float q[4] = {x0 - static_cast<float>(r.left()), static_cast<float>(r.right() - 1) - x0,
                        y0 - static_cast<float>(r.top()), static_cast<float>(r.bottom() - 1) - y0};
    for (int i = 0; i < 4; ++i) {
        if (p[i] == 0.0f) {
            if (q[i] < 0.0f) return false;
            continue;
        }
        const float t = q[i] / p[i];
        if (p[i] < 0.0f) {
            t0 = std::max(t0, t);
        } else {
            t1 = std::min(t1, t);
        }
        if (t0 > t1) return false;
    }
    const float ox = x0, oy = y0;
    x0 = ox + t0 * dx;
    y0 = oy + t0 * dy;
    x1 = ox + t1 * dx;
    y1 = oy + t1 * dy;
    return true;
}

}  // namespace

CadModel::CadModel() {
    // Floor grid under the part, 11 x 11 lines.
    for (int i = 0; i <= 10; ++i) {
        const float v = -2.0f + 0.4f * static_cast<float>(i);
        add_edge(add_vertex({v, -0.62f, -2.0f}, false), add_vertex({v, -0.62f, 2.0f}, false),
                 kGrid);
        add_edge(add_vertex({-2.0f, -0.62f, v}, false), add_vertex({2.0f, -0.62f, v}, false),
                 kGrid);
    }
    // Base plate with four bolt holes.
    add_box({-1.2f, -0.6f, -0.7f}, {1.0f, -0.45f, 0.7f}, kBracket);
    for (float hx : {-0.9f, 0.55f}) {
        for (float hz : {-0.42f, 0.42f}) {
            add_ring({hx, -0.45f, hz}, 0.1f, 12, 'y', -0.15f, kBracket, false);
        }
    }
    // Upright with the bearing bore, and a gusset joining it to the plate.
    add_box({-1.2f, -0.45f, -0.7f}, {-1.0f, 0.9f, 0.7f}, kBracket);
    add_ring({-1.2f, 0.35f, 0.0f}, 0.2f, 16, 'x', 0.2f, kBracket, false);
    {
        const uint16_t a = add_vertex({-1.0f, -0.45f, -0.05f}, false);
        const uint16_t b = add_vertex({-0.3f, -0.45f, -0.05f}, false);
        const uint16_t c = add_vertex({-1.0f, 0.5f, -0.05f}, false);
        const uint16_t d = add_vertex({-1.0f, -0.45f, 0.05f}, false);
        const uint16_t e = add_vertex({-0.3f, -0.45f, 0.05f}, false);
        const uint16_t f = add_vertex({-1.0f, 0.5f, 0.05f}, false);
        for (auto [p, q] :
             {std::pair{a, b}, {b, c}, {c, a}, {d, e}, {e, f}, {f, d}, {a, d}, {b, e}, {c, f}}) {
            add_edge(p, q, kBracket);
        }
    }
    // Shaft through the bore, and the gear on it.
    shaft_axis_point_ = {0.0f, 0.35f, 0.0f};
    add_ring({-1.45f, 0.35f, 0.0f}, 0.12f, 12, 'x', 1.9f, kShaft, true);
    add_gear({0.1f, 0.35f, 0.0f}, 18, 0.52f, 0.66f, 0.18f);
    view_.resize(vertices_.size());
}

uint16_t CadModel::add_vertex(Vec3 v, bool spins) {
    vertices_.push_back(v);
    spins_.push_back(spins);
    return static_cast<uint16_t>(vertices_.size() - 1);
}

void CadModel::add_box(Vec3 lo, Vec3 hi, Part part) {
    uint16_t c[8];
    for (int i = 0; i < 8; ++i) {
        c[i] = add_vertex({(i & 1) ? hi.x : lo.x, (i & 2) ? hi.y : lo.y, (i & 4) ? hi.z : lo.z},
                          false);
    }
    for (int i = 0; i < 8; ++i) {
        for (int bit = 1; bit < 8; bit <<= 1) {
            if (!(i & bit)) add_edge(c[i], c[i | bit], part);
        }
    }
}

void CadModel::add_ring(Vec3 center, float radius, int segments, char axis, float length, Part part,
                        bool spins) {
    const auto point = [&](int i, float offset) {
        const float a = 2.0f * kPi * static_cast<float>(i) / static_cast<float>(segments);
        const float u = radius * std::cos(a), v = radius * std::sin(a);
        if (axis == 'x') return Vec3{center.x + offset, center.y + u, center.z + v};
        return Vec3{center.x + u, center.y + offset, center.z + v};
    };
    const uint16_t first = static_cast<uint16_t>(vertices_.size());
    for (int i = 0; i < segments; ++i) {
        add_vertex(point(i, 0.0f), spins);
        add_vertex(point(i, length), spins);
    }
    for (int i = 0; i < segments; ++i) {
        const uint16_t a = static_cast<uint16_t>(first + 2 * i);
        const uint16_t b = static_cast<uint16_t>(first + 2 * ((i + 1) % segments));
        add_edge(a, b, part);
        add_edge(static_cast<uint16_t>(a + 1), static_cast<uint16_t>(b + 1), part);
        // Every third generator line is enough to read the cylinder without clutter.
        if (i % 3 == 0) add_edge(a, static_cast<uint16_t>(a + 1), part);
    }
}

void CadModel::add_gear(Vec3 center, int teeth, float root, float tip, float width) {
    // Each tooth is a trapezoid: root corner, tip corner, tip corner, root corner.
    const int points = teeth * 4;
    const uint16_t first = static_cast<uint16_t>(vertices_.size());
    for (int i = 0; i < points; ++i) {
        const int tooth = i / 4, k = i % 4;
        const float step = 2.0f * kPi / static_cast<float>(teeth);
        const float offsets[4] = {0.0f, 0.2f, 0.45f, 0.65f};
        const float a = step * (static_cast<float>(tooth) + offsets[k]);
        const float r = (k == 1 || k == 2) ? tip : root;
        for (float side : {-0.5f * width, 0.5f * width}) {
            add_vertex({center.x + side, center.y + r * std::cos(a), center.z + r * std::sin(a)},
                       true);
        }
    }
    for (int i = 0; i < points; ++i) {
        const uint16_t a = static_cast<uint16_t>(first + 2 * i);
        const uint16_t b = static_cast<uint16_t>(first + 2 * ((i + 1) % points));
        add_edge(a, b, kGear);
        add_edge(static_cast<uint16_t>(a + 1), static_cast<uint16_t>(b + 1), kGear);
        if (i % 4 == 1 || i % 4 == 2) add_edge(a, static_cast<uint16_t>(a + 1), kGear);
    }
    // Hub and spokes on the front face.
    const uint16_t hub = static_cast<uint16_t>(vertices_.size());
    add_ring({center.x + 0.5f * width, center.y, center.z}, 0.2f, 12, 'x', -width, kGear, true);
    for (int i = 0; i < 12; i += 3) {
        add_edge(static_cast<uint16_t>(hub + 2 * i), static_cast<uint16_t>(first + 2 * (i * 6) + 1),
                 kGear);
    }
}

void CadModel::render(int64_t index, Frame& frame, const Rect& view) {
    const Rect clip = view.intersect(frame.rect());
    if (clip.is_empty()) return;
    const float t = static_cast<float>(index % 1000000);
    const float yaw = 2.0f * kPi * t / kModelTurnFrames;
    const float pitch = 0.42f + 0.12f * std::sin(2.0f * kPi * t / 300.0f);
    const float spin = 2.0f * kPi * t / kGearTurnFrames;
    const float cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch),
                cs = std::cos(spin), ss = std::sin(spin);
    const Vec3& axis = shaft_axis_point_;

    float zmin = 1e9f, zmax = -1e9f;
    for (size_t i = 0; i < vertices_.size(); ++i) {
        Vec3 v = vertices_[i];
        if (spins_[i]) {  // gear and shaft turn about the x-parallel shaft axis
            const float y = v.y - axis.y, z = v.z - axis.z;
            v.y = axis.y + y * cs - z * ss;
            v.z = axis.z + y * ss + z * cs;
        }
        const float x1 = v.x * cy + v.z * sy, z1 = -v.x * sy + v.z * cy;
        const float y2 = v.y * cp - z1 * sp, z2 = v.y * sp + z1 * cp + kCameraDistance;
        view_[i] = {x1, y2, z2};
        zmin = std::min(zmin, z2);
        zmax = std::max(zmax, z2);
    }

    const float focal =
        1.15f * static_cast<float>(std::min(view.width(), view.height())) * kCameraDistance / 4.0f;
    const float ox = static_cast<float>(view.left()) + 0.5f * static_cast<float>(view.width());
    const float oy = static_cast<float>(view.top()) + 0.52f * static_cast<float>(view.height());
    const float zspan = std::max(zmax - zmin, 1e-3f);
    for (const Edge& e : edges_) {
        const Vec3& a = view_[e.a];
        const Vec3& b = view_[e.b];
        if (a.z < kNearPlane || b.z < kNearPlane) continue;
        float x0 = ox + focal * a.x / a.z, y0 = oy - focal * a.y / a.z;
        float x1 = ox + focal * b.x / b.z, y1 = oy - focal * b.y / b.z;
        if (!clip_segment(x0, y0, x1, y1, clip)) continue;
        // Depth cue: the far side of the model is drawn at 45% brightness.
        const float depth = (0.5f * (a.z + b.z) - zmin) / zspan;
        const uint32_t color =
            shade(kPartColor[e.part], static_cast<uint32_t>(256.0f - 140.0f * depth));
        draw_line(frame,
                  {static_cast<int32_t>(std::lround(x0)), static_cast<int32_t>(std::lround(y0))},
                  {static_cast<int32_t>(std::lround(x1)), static_cast<int32_t>(std::lround(y1))},
                  color, clip);
    }
}

}  // namespace spiced
