// Marks each listed tile whose pixels differ between the previous and the next output in
// B, G or R (the X byte is ignored, as pixels/damage.h). flags[] is zeroed by the host.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Previous { uint previous[]; };
layout(std430, binding = 1) readonly buffer Next { uint next[]; };
layout(std430, binding = 2) readonly buffer Tiles { uint tiles[]; };  // column | row << 16
layout(std430, binding = 3) writeonly buffer Flags { uint flags[]; };
layout(push_constant) uniform Params {
    uint width;
    uint height;
    uint stride;
    uint tile;
    uint count;
} p;
#include "tile_index.glsl"

void main() {
    const uint index = listed_tile();
    if (index >= p.count) return;
    const uint x0 = (tiles[index] & 0xffffu) * p.tile;
    const uint y0 = (tiles[index] >> 16) * p.tile;
    const uint w = min(p.tile, p.width - x0);
    const uint h = min(p.tile, p.height - y0);
    for (uint i = gl_LocalInvocationID.x; i < w * h; i += gl_WorkGroupSize.x) {
        const uint offset = (y0 + i / w) * p.stride + x0 + i % w;
        if (((previous[offset] ^ next[offset]) & 0x00ffffffu) != 0u) {
            flags[index] = 1u;
            return;
        }
    }
}
