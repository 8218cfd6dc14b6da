// JPEG_ALPHA, the part of the JPEG codec that codecs.h does not expose: a lossy JPEG of the
// colour plus the alpha plane (the fourth byte of each Frame pixel) as a lossless LZ XXXA
// stream. For RGBA surfaces only; everything else goes through make_jpeg_encoder(quality).
#pragma once

#include <memory>

#include "encode/image_encoder.h"

namespace spiced {

// Writes SPICE_IMAGE_TYPE_JPEG_ALPHA bodies (always TOP_DOWN). `quality` is libjpeg's 1..100
// (clamped), as for make_jpeg_encoder.
std::unique_ptr<ImageEncoder> make_jpeg_alpha_encoder(int quality);

}  // namespace spiced
