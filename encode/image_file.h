// Image files operators hand to spiced-codec: PNG (any colour type, via libpng) or binary
// PPM (P6), loaded as a 32-bit BGRX Frame. Both readers bound the dimensions, so a hostile
// header cannot make us allocate gigabytes; every failure is one sentence.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"

namespace spiced {

// PNG or PPM by the file's first bytes. PNG: palettes and grey expanded to RGB, 16-bit
// samples scaled to 8-bit, alpha dropped (the display surface has none), X = 0.
Expected<std::unique_ptr<Frame>, std::string> load_image_file(const std::string& path);

}  // namespace spiced
