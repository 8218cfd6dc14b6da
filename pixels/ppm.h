// Binary PPM (P6) files for frame dumps and golden images: 8-bit RGB, maxval 255.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

// Largest width or height read_ppm accepts: bigger than any display we drive (SPICE monitors
// top out well below), small enough that a hostile header cannot request absurd allocations.
inline constexpr int32_t kMaxPpmDimension = 16384;

// Writes `frame` as P6 to `path` atomically: the data goes to `path` + ".tmp", which is then
// renamed over `path`, so a concurrent reader sees the old file or the new one, never a part.
Expected<void, std::string> write_ppm(const Frame& frame, const std::string& path);
// The same for the part of `frame` inside `area` (one head of a multi-head surface).
Expected<void, std::string> write_ppm(const Frame& frame, const Rect& area,
                                      const std::string& path);

// Reads a P6 file (maxval 255; '#' comments allowed in the header). Malformed, truncated or
// oversized files are rejected with a message naming the problem; nothing is trusted.
Expected<std::unique_ptr<Frame>, std::string> read_ppm(const std::string& path);

}  // namespace spiced
