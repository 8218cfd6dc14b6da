// GL scanouts read on a Vulkan device (gpu/scanout.h): the buffer imported without a copy, as
// a dmabuf where the device has VK_EXT_external_memory_dma_buf, else — on a CPU-type device
// such as lavapipe only — as host memory (its CPU mapping) where it has
// VK_EXT_external_memory_host; the device copies the changed rows into a read-back buffer.
// Errors say why neither applies (the caller reads the mapping).
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "gpu/scanout.h"
#include "gpu/vulkan_context.h"

namespace spiced::gpu {

Expected<std::unique_ptr<ScanoutReader>, std::string> import_scanout_on_device(
    const std::shared_ptr<VulkanContext>& context, const ScanoutBuffer& buffer);

}  // namespace spiced::gpu
