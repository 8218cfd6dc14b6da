// Blends a straight-alpha 0xAARRGGBB cursor over the output; the output's X byte stays.
// The arithmetic is gpu/compose_rules.h's blend_pixel, exactly.
#version 450
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer Cursor { uint cursor[]; };
layout(std430, binding = 1) buffer Target { uint target[]; };
layout(push_constant) uniform Params {
    ivec2 origin;         // output position of the cursor image's top-left pixel
    ivec2 visible_origin; // the clipped part, in output coordinates
    ivec2 visible_size;
    uint cursor_width;
    uint target_stride;
} p;

void main() {
    const ivec2 at = ivec2(gl_GlobalInvocationID.xy);
    if (at.x >= p.visible_size.x || at.y >= p.visible_size.y) return;
    const ivec2 t = p.visible_origin + at;
    const ivec2 c = t - p.origin;
    const uint argb = cursor[uint(c.y) * p.cursor_width + uint(c.x)];
    const uint index = uint(t.y) * p.target_stride + uint(t.x);
    const uint under = target[index];
    const uint a = argb >> 24;
    uint result = under & 0xff000000u;
    for (uint shift = 0u; shift < 24u; shift += 8u) {
        const uint s = (argb >> shift) & 0xffu;
        const uint d = (under >> shift) & 0xffu;
        result |= ((s * a + d * (255u - a) + 127u) / 255u) << shift;
    }
    target[index] = result;
}
