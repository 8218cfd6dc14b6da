#include "virgl/command_encoder.h"

#include <bit>
#include <cstring>

namespace spiced::virgl {

void Encoder::create_surface(uint32_t handle, uint32_t resource, uint32_t format) {
    // handle, resource, format, then for a texture: level, and first | last layer << 16.
    put(header(Command::kCreateObject, ObjectType::kSurface, 5));
    put(handle);
    put(resource);
    put(format);
    put(0);  // level 0
    put(0);  // layers 0..0
}

void Encoder::destroy_object(ObjectType type, uint32_t handle) {
    put(header(Command::kDestroyObject, type, 1));
    put(handle);
}

void Encoder::set_framebuffer_state(uint32_t color_surface) {
    // Number of colour buffers, the depth/stencil surface (0: none), the colour surfaces.
    put(header(Command::kSetFramebufferState, ObjectType::kNone, 3));
    put(1);
    put(0);
    put(color_surface);
}

void Encoder::clear_color(float r, float g, float b, float a) {
    // Buffers, the colour as four 32-bit values, the depth as a double (two dwords), stencil.
    put(header(Command::kClear, ObjectType::kNone, 8));
    put(kClearColor0);
    for (float channel : {r, g, b, a}) put(std::bit_cast<uint32_t>(channel));
    const uint64_t depth = std::bit_cast<uint64_t>(1.0);
    put(uint32_t(depth));
    put(uint32_t(depth >> 32));
    put(0);
}

void Encoder::copy_region(uint32_t destination, uint32_t x, uint32_t y, uint32_t source,
                          const Box& box) {
    // Destination resource, level, x, y, z; source resource, level, box.
    put(header(Command::kResourceCopyRegion, ObjectType::kNone, 13));
    put(destination);
    put(0);
    put(x);
    put(y);
    put(0);
    put(source);
    put(0);
    put(box.x);
    put(box.y);
    put(box.z);
    put(box.width);
    put(box.height);
    put(box.depth);
}

}  // namespace spiced::virgl
