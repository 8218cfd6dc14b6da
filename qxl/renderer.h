// Renderer: draws parsed QXL commands (qxl/commands.h) into server-side surfaces. The CPU
// implementation is qxl/pixman_renderer.h; the GPU compositor implements the same interface,
// and both must produce the same pixels.
//
// Surfaces are numbered as the guest numbers them (0 is the primary). The renderer owns their
// pixels; a source reads what it needs (a frame's damaged rows, an update_area for the guest)
// through read(). Every call runs on one thread (the desktop thread).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"
#include "pixels/region.h"
#include "qxl/commands.h"

namespace spiced::qxl {

class Renderer {
public:
    virtual ~Renderer() = default;

    // Creates surface `id` (SPICE_SURFACE_FMT_* `format`, `size`). With `initial` (the guest's
    // memory for it, rows `stride` bytes apart, bottom-up when stride < 0) the surface starts
    // with those pixels, otherwise black/transparent. Fails (changing nothing) for an id in
    // use, an unknown format, an empty or oversized surface, or too little memory.
    virtual Expected<void, std::string> create_surface(uint32_t id, uint32_t format, Size size,
                                                       GuestBytes initial, int32_t stride) = 0;
    virtual void destroy_surface(uint32_t id) = 0;
    virtual void destroy_all_surfaces() = 0;
    virtual bool has_surface(uint32_t id) const = 0;
    virtual Size surface_size(uint32_t id) const = 0;

    // Draws `drawable` on its surface. Returns the surface area whose pixels may have changed
    // (bbox within the clip and the surface): exact damage. A drawable that cannot be drawn
    // (bad surface id, bbox outside the surface, an image that does not decode, an unknown
    // rop) changes nothing and returns one sentence saying why.
    virtual Expected<Region, std::string> draw(const Drawable& drawable) = 0;

    // Copies `rect` of surface `id` (clipped to it) into `out` at the same position, as
    // 32-bit xRGB (out's format). False when there is no such surface.
    virtual bool read(uint32_t id, const Rect& rect, Frame& out) const = 0;
    // Copies `rect` of surface `id` into guest memory laid out as the surface was created
    // (`memory`, `stride`, the surface's own format): what update_area promises the guest.
    virtual bool write_back(uint32_t id, const Rect& rect, std::span<uint8_t> memory,
                            int32_t stride) const = 0;

    // Forgets decoded images kept by image id (spice_qxl_reset_image_cache).
    virtual void reset_image_cache() = 0;
};

}  // namespace spiced::qxl
