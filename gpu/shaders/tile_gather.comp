// Packs the listed tiles of the output one after another (tile i at i * tile * tile, its w * h
// pixels row by row) so only they travel to the host.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Output { uint pixels[]; };
layout(std430, binding = 2) readonly buffer Tiles { uint tiles[]; };  // column | row << 16
layout(std430, binding = 3) writeonly buffer Packed { uint packed_tiles[]; };
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
    const uint base = index * p.tile * p.tile;
    for (uint i = gl_LocalInvocationID.x; i < w * h; i += gl_WorkGroupSize.x)
        packed_tiles[base + i] = pixels[(y0 + i / w) * p.stride + x0 + i % w];
}
