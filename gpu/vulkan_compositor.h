// The Vulkan backend of gpu/compositor.h (compute shaders on any Vulkan 1.2 device with 8-bit
// storage buffers). Use choose_gpu_backend(); this is its device half.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "gpu/compositor.h"
#include "gpu/vulkan_context.h"

namespace spiced::gpu {

Expected<std::unique_ptr<GpuBackend>, std::string> make_vulkan_backend(const GpuChoice& choice);

}  // namespace spiced::gpu
