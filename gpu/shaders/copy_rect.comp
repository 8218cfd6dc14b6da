// Copies a rectangle of 32-bit pixels between two pixel buffers (a layer onto the output, one
// step of a move). The host clipped the rectangle to both buffers.
#version 450
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer Source { uint source[]; };
layout(std430, binding = 1) writeonly buffer Target { uint target[]; };
layout(push_constant) uniform Params {
    ivec2 source_origin;
    ivec2 target_origin;
    ivec2 size;
    uint source_stride;  // in pixels
    uint target_stride;
} p;

void main() {
    const ivec2 at = ivec2(gl_GlobalInvocationID.xy);
    if (at.x >= p.size.x || at.y >= p.size.y) return;
    const ivec2 s = p.source_origin + at;
    const ivec2 t = p.target_origin + at;
    target[uint(t.y) * p.target_stride + uint(t.x)] = source[uint(s.y) * p.source_stride + uint(s.x)];
}
