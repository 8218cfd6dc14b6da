// A rotating CAD-style wireframe: an angle bracket with bolt holes and a gusset, a shaft in its
// bearing and a spur gear spinning on the shaft, over a floor grid (about 500 edges). Projected
// with perspective each frame and drawn as depth-shaded one-pixel lines.
#pragma once

#include <cstdint>
#include <vector>

#include "pixels/frame.h"

namespace spiced {

class CadModel {
public:
    CadModel();

    size_t edge_count() const { return edges_.size(); }

    // Draws frame `index` of the animation into `view` of `frame`; only line pixels are
    // written, so the caller provides the viewport background.
    void render(int64_t index, Frame& frame, const Rect& view);

private:
    struct Vec3 {
        float x, y, z;
    };
    enum Part : uint8_t { kGrid, kBracket, kShaft, kGear, kPartCount };
    struct Edge {
        uint16_t a, b;
        Part part;
    };

    uint16_t add_vertex(Vec3 v, bool spins);
    void add_edge(uint16_t a, uint16_t b, Part part) { edges_.push_back({a, b, part}); }
    void add_box(Vec3 lo, Vec3 hi, Part part);
    // A circle of `segments` points around an axis parallel to x or y, optionally a cylinder.
    void add_ring(Vec3 center, float radius, int segments, char axis, float length, Part part,
                  bool spins);
    void add_gear(Vec3 center, int teeth, float root, float tip, float width);

    std::vector<Vec3> vertices_;
    std::vector<bool> spins_;  // vertex turns with the gear about the shaft axis
    std::vector<Edge> edges_;
    Vec3 shaft_axis_point_{};
    // Per-frame scratch, kept to avoid allocation in render().
    std::vector<Vec3> view_;
};

}  // namespace spiced
