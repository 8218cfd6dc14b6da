// Reading a GL scanout (the dmabuf QEMU hands spice_qxl_gl_scanout for a virgl display) into
// host frames, top-down BGRX as every frame of ours is.
//
// Readers: through the buffer's CPU mapping (works everywhere; the reference), or on a Vulkan
// device that imports the buffer without a copy, as a dmabuf (a GPU's own memory: the device
// copies the changed rows out, where CPU reads of a mapping would cross the bus uncached) or
// as host memory (the mapping itself). GpuBackend::import_scanout picks the best the device
// can do; every reader gives the same bytes (tests check).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced::gpu {

// A GL scanout's buffer: 32-bit pixels in rows of `stride` bytes, `length` bytes in all.
struct ScanoutBuffer {
    int fd = -1;  // borrowed: a reader keeps a dup if it needs one
    // The buffer mapped for reading (page aligned, `length` bytes); it outlives the reader.
    const uint8_t* mapping = nullptr;
    size_t length = 0;
    Size size;
    uint32_t stride = 0;
    bool bgr = false;    // XBGR/ABGR: red in the low byte of each little-endian pixel
    bool y0_top = true;  // false: the first row in memory is the picture's bottom row
};

class ScanoutReader {
public:
    virtual ~ScanoutReader() = default;
    // Copies `area` of the picture (top-down, BGRX, the X byte as the buffer has it) to the
    // same place in `out`, which has the picture's size.
    virtual Expected<void, std::string> read(const Region& area, Frame& out) = 0;
    // How it reads, for the log: "its CPU mapping", "dmabuf import on <device>", ...
    virtual const std::string& method() const = 0;
};

std::unique_ptr<ScanoutReader> make_mapped_scanout_reader(const ScanoutBuffer& buffer);

// The memory row that holds picture row `y`.
inline size_t scanout_row_offset(const ScanoutBuffer& buffer, int32_t y) {
    const int32_t row = buffer.y0_top ? y : buffer.size.height - 1 - y;
    return size_t(row) * buffer.stride;
}

// `width` pixels of a scanout row as BGRX (red and blue swapped for `bgr` buffers).
void convert_scanout_row(const uint32_t* src, uint32_t* dst, int32_t width, bool bgr);

}  // namespace spiced::gpu
