// VirglEncoder: our encoder of the virgl command stream (the Gallium-shaped wire protocol that
// Mesa's virgl driver sends a virglrenderer host through virtio-gpu's SUBMIT_3D), for the few
// commands VirglSource needs. Written from the protocol as virglrenderer decodes it: every
// command is one 32-bit header (command in bits 0-7, object type in bits 8-15, the number of
// payload dwords in bits 16-31) followed by that many little-endian dwords.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace spiced::virgl {

// Command numbers (virgl_context_cmd) and object types (virgl_object_type) of the protocol.
enum class Command : uint8_t {
    kNop = 0,
    kCreateObject = 1,
    kBindObject = 2,
    kDestroyObject = 3,
    kSetFramebufferState = 5,
    kClear = 7,
    kResourceCopyRegion = 17,
};
enum class ObjectType : uint8_t {
    kNone = 0,
    kSurface = 8,
};

// Formats (virgl_formats, the Gallium numbering) and texture targets (pipe_texture_target).
constexpr uint32_t kFormatB8G8R8X8Unorm = 2;
constexpr uint32_t kTargetTexture2D = 2;
// Resource bind flags (VIRGL_BIND_*).
constexpr uint32_t kBindRenderTarget = 1u << 1;
constexpr uint32_t kBindSamplerView = 1u << 3;
// CLEAR's buffer mask (PIPE_CLEAR_COLOR0).
constexpr uint32_t kClearColor0 = 1u << 2;

constexpr uint32_t header(Command command, ObjectType object, uint32_t length) {
    return uint32_t(command) | uint32_t(object) << 8 | length << 16;
}

struct Box {
    uint32_t x = 0, y = 0, z = 0;
    uint32_t width = 0, height = 0, depth = 1;
};

class Encoder {
public:
    // A surface (render target view) `handle` of level 0, layer 0 of resource `resource`.
    void create_surface(uint32_t handle, uint32_t resource, uint32_t format);
    void destroy_object(ObjectType type, uint32_t handle);
    // One colour buffer, no depth/stencil surface.
    void set_framebuffer_state(uint32_t color_surface);
    // Clears the bound colour buffer (the whole of it: CLEAR ignores the scissor) to an RGBA
    // colour given as floats.
    void clear_color(float r, float g, float b, float a);
    // Copies `box` of `source` (level 0) to (x, y) of `destination` (level 0); the formats
    // must match.
    void copy_region(uint32_t destination, uint32_t x, uint32_t y, uint32_t source, const Box& box);

    std::span<const uint32_t> words() const { return words_; }
    void reset() { words_.clear(); }

private:
    void put(uint32_t word) { words_.push_back(word); }
    std::vector<uint32_t> words_;
};

}  // namespace spiced::virgl
