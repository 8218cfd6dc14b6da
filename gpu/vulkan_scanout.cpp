#include "gpu/vulkan_scanout.h"

#include <unistd.h>

#include <vector>

namespace spiced::gpu {

namespace {

VkDeviceSize round_up(VkDeviceSize value, VkDeviceSize to) {
    return (value + to - 1) / to * to;
}

class DeviceScanoutReader final : public ScanoutReader {
public:
    DeviceScanoutReader(std::shared_ptr<VulkanContext> context, const ScanoutBuffer& buffer,
                        DeviceBuffer source, bool foreign, std::string method)
        : context_(std::move(context)),
          buffer_(buffer),
          source_(std::move(source)),
          foreign_(foreign),
          method_(std::move(method)) {}

    Expected<void, std::string> read(const Region& area, Frame& out) override {
        const Rect picture = Rect::MakeSize(buffer_.size);
        std::vector<Rect> rects;
        VkDeviceSize total = 0;
        for (const Rect& whole : area.rects()) {
            const Rect rect = whole.intersect(picture);
            if (rect.is_empty()) continue;
            rects.push_back(rect);
            total += VkDeviceSize(rect.width()) * rect.height() * 4;
        }
        if (rects.empty()) return {};
        if (!staging_ || staging_.size() < total) {
            // Grown to the largest area seen: a full picture after the first scanout.
            auto made = context_->create_buffer(total, BufferUse::kReadback);
            if (!made) return unexpected(made.error());
            staging_ = std::move(*made);
        }
        // One copy region per picture row: the device gathers the rows packed, top-down.
        regions_.clear();
        VkDeviceSize packed = 0;
        for (const Rect& rect : rects) {
            const VkDeviceSize row_bytes = VkDeviceSize(rect.width()) * 4;
            for (int32_t y = rect.top(); y < rect.bottom(); ++y) {
                regions_.push_back(
                    VkBufferCopy{scanout_row_offset(buffer_, y) + VkDeviceSize(rect.left()) * 4,
                                 packed, row_bytes});
                packed += row_bytes;
            }
        }
        const VulkanFunctions& vk = context_->vk();
        auto ran = context_->run([&](VkCommandBuffer commands) {
            if (foreign_) {
                // Memory another driver (the guest's GL through virglrenderer) wrote: taken
                // over from the external queue family before the copy reads it.
                VkBufferMemoryBarrier acquire{};
                acquire.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER;
                acquire.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
                acquire.srcQueueFamilyIndex = VK_QUEUE_FAMILY_EXTERNAL;
                acquire.dstQueueFamilyIndex = context_->queue_family();
                acquire.buffer = source_.handle();
                acquire.size = VK_WHOLE_SIZE;
                vk.vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
                                        VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 1, &acquire,
                                        0, nullptr);
            }
            vk.vkCmdCopyBuffer(commands, source_.handle(), staging_.handle(),
                               uint32_t(regions_.size()), regions_.data());
            VkMemoryBarrier to_host{};
            to_host.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
            to_host.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
            to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
            vk.vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                    VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0,
                                    nullptr);
        });
        if (!ran) return unexpected(ran.error());
        staging_.invalidate();
        const uint8_t* from = staging_.mapped();
        for (const Rect& rect : rects) {
            for (int32_t y = rect.top(); y < rect.bottom(); ++y) {
                convert_scanout_row(reinterpret_cast<const uint32_t*>(from),
                                    out.row(y) + rect.left(), rect.width(), buffer_.bgr);
                from += size_t(rect.width()) * 4;
            }
        }
        return {};
    }

    const std::string& method() const override { return method_; }

private:
    // Declared first, destroyed last: the buffers are the context's.
    std::shared_ptr<VulkanContext> context_;
    ScanoutBuffer buffer_;
    DeviceBuffer source_;
    DeviceBuffer staging_;
    std::vector<VkBufferCopy> regions_;
    bool foreign_;
    std::string method_;
};

}  // namespace

Expected<std::unique_ptr<ScanoutReader>, std::string> import_scanout_on_device(
    const std::shared_ptr<VulkanContext>& context, const ScanoutBuffer& buffer) {
    const std::string& device = context->info().name;
    const ExternalMemorySupport& external = context->external_memory();
    std::string why;
    if (external.dmabuf && buffer.fd >= 0) {
        auto imported = context->import_dmabuf(buffer.fd, buffer.length);
        if (imported)
            return std::unique_ptr<ScanoutReader>(std::make_unique<DeviceScanoutReader>(
                context, buffer, std::move(*imported), true, "dmabuf import on " + device));
        // A memfd (tests, or a host without a GPU) is no dmabuf: host memory is next.
        why = "dmabuf import: " + imported.error();
    } else {
        why = "no dmabuf import";
    }
    if (context->info().type != VK_PHYSICAL_DEVICE_TYPE_CPU) {
        // A GPU would copy host memory to host memory across the bus: the CPU reads the
        // mapping faster. A CPU-type device (lavapipe, named with --gpu) does its own work.
        why += "; host memory is read faster by the CPU";
    } else if (external.host_pointer && buffer.mapping != nullptr) {
        // The import covers whole alignment units; the mapping covers whole pages, and reading
        // past a page the mapping lacks would fault in the device's copy.
        const VkDeviceSize page = VkDeviceSize(sysconf(_SC_PAGESIZE));
        const VkDeviceSize size = round_up(buffer.length, external.host_alignment);
        if (size <= round_up(buffer.length, page)) {
            auto imported = context->import_host_memory(buffer.mapping, size);
            if (imported)
                return std::unique_ptr<ScanoutReader>(std::make_unique<DeviceScanoutReader>(
                    context, buffer, std::move(*imported), false,
                    "host-memory import on " + device));
            why += "; host-memory import: " + imported.error();
        } else {
            why += "; host-memory import: the mapping is shorter than the device's " +
                   std::to_string(external.host_alignment) + "-byte import unit";
        }
    } else {
        why += "; no host-memory import";
    }
    return unexpected(device + ": " + why);
}

}  // namespace spiced::gpu
