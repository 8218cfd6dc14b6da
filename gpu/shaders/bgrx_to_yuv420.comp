// BGRX to 4:2:0, one 2x2 block per invocation, with pixels/yuv.h's integer arithmetic exactly:
// luma per pixel, chroma from the rounded 2x2 average. Writes I420 (separate U and V planes)
// or NV12 (interleaved UV) into one byte buffer at the offsets the host gives.
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(std430, binding = 0) readonly buffer Source { uint source[]; };
layout(std430, binding = 1) writeonly buffer Planes { uint8_t planes[]; };
layout(push_constant) uniform Params {
    ivec2 origin;      // the area's top-left in the output
    ivec2 blocks;      // the area's size / 2
    uint source_stride;
    uint y_offset;
    uint y_stride;
    uint u_offset;
    uint u_stride;
    uint v_offset;     // unused for NV12
    uint v_stride;
    uint nv12;
    ivec4 y_coeff;     // r, g, b, offset
    ivec4 u_coeff;
    ivec4 v_coeff;
} p;

int weigh(ivec4 c, ivec3 rgb) {
    return ((c.x * rgb.x + c.y * rgb.y + c.z * rgb.z + 128) >> 8) + c.w;
}

ivec3 rgb_of(uint bgrx) {
    return ivec3(int((bgrx >> 16) & 0xffu), int((bgrx >> 8) & 0xffu), int(bgrx & 0xffu));
}

void main() {
    const ivec2 block = ivec2(gl_GlobalInvocationID.xy);
    if (block.x >= p.blocks.x || block.y >= p.blocks.y) return;
    const ivec2 at = p.origin + 2 * block;
    ivec3 sum = ivec3(0);
    for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
            const ivec3 rgb = rgb_of(source[uint(at.y + dy) * p.source_stride + uint(at.x + dx)]);
            sum += rgb;
            planes[p.y_offset + uint(2 * block.y + dy) * p.y_stride + uint(2 * block.x + dx)] =
                uint8_t(weigh(p.y_coeff, rgb));
        }
    }
    const ivec3 average = (sum + 2) >> 2;
    const int u = weigh(p.u_coeff, average);
    const int v = weigh(p.v_coeff, average);
    if (p.nv12 != 0u) {
        const uint at_uv = p.u_offset + uint(block.y) * p.u_stride + uint(2 * block.x);
        planes[at_uv] = uint8_t(u);
        planes[at_uv + 1u] = uint8_t(v);
    } else {
        planes[p.u_offset + uint(block.y) * p.u_stride + uint(block.x)] = uint8_t(u);
        planes[p.v_offset + uint(block.y) * p.v_stride + uint(block.x)] = uint8_t(v);
    }
}
