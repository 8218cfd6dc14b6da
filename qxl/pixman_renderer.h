// PixmanRenderer: the CPU Renderer. Surfaces are pixman images in their SPICE format; every
// drawable is drawn the way spice-common's software canvas draws it (the canvas is what
// spice-server's update_area and spice-gtk's display use), so guests, clients and our frames
// agree pixel for pixel.
//
// What is not exact, and why:
//  - Styled (dashed) strokes: the canvas hands them to X's wide-dash code at width 1; we walk
//    the same Bresenham pixels as solid lines and switch the dash on and off along them.
//  - Stroke width: the canvas always draws zero-width (one pixel) lines, whatever the width;
//    so do we.
//  - LZ_PLT images: the QXL command carries no palette for them (spice-server refuses them
//    from a guest too), so they are rejected with an error.
//  - Scaled rop3 sources: the canvas starts sampling at ROUND(left / scale) * scale; we start
//    at src_area.left exactly, as every other scaled draw does. Can differ by a column.
//  - xRGB surfaces: the X byte is not normalised everywhere (a raw 32-bit copy keeps the
//    source's fourth byte, as the canvas does); read() hands it through, Frame::pixel()
//    ignores it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "qxl/renderer.h"

namespace spiced::qxl {

struct PixmanRendererOptions {
    // No single surface may need more bytes than this (a 16384x16384 32-bit surface is 1 GiB).
    size_t max_surface_bytes = size_t{256} << 20;
    // All surfaces together.
    size_t max_total_bytes = size_t{1} << 30;
    // Decoded images kept by Image::id (QXL_IMAGE_CACHE); least recently used go first.
    size_t image_cache_bytes = size_t{64} << 20;
};

class PixmanRenderer final : public Renderer {
public:
    explicit PixmanRenderer(const PixmanRendererOptions& options = {});
    ~PixmanRenderer() override;
    PixmanRenderer(const PixmanRenderer&) = delete;
    PixmanRenderer& operator=(const PixmanRenderer&) = delete;

    Expected<void, std::string> create_surface(uint32_t id, uint32_t format, Size size,
                                               GuestBytes initial, int32_t stride) override;
    void destroy_surface(uint32_t id) override;
    void destroy_all_surfaces() override;
    bool has_surface(uint32_t id) const override;
    Size surface_size(uint32_t id) const override;

    Expected<Region, std::string> draw(const Drawable& drawable) override;

    bool read(uint32_t id, const Rect& rect, Frame& out) const override;
    bool write_back(uint32_t id, const Rect& rect, std::span<uint8_t> memory,
                    int32_t stride) const override;

    void reset_image_cache() override;

    // For tests and statistics: decoded images held, and their bytes.
    size_t cached_images() const;
    size_t cached_bytes() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::unique_ptr<Renderer> make_pixman_renderer(const PixmanRendererOptions& options = {});

}  // namespace spiced::qxl
