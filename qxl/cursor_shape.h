// The pointer shapes a QXL driver sends (SPICE_CURSOR_TYPE_*), as the display model's
// straight-alpha ARGB PointerShape.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "display/types.h"
#include "qxl/commands.h"

namespace spiced::qxl {

// Fails (one sentence) for an unknown type, a size over 512x512, or data shorter than the
// type's layout needs.
Expected<std::shared_ptr<const PointerShape>, std::string> pointer_shape_of(
    const CursorShape& shape);

}  // namespace spiced::qxl
