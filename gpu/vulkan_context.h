// VulkanContext: one Vulkan device with a compute queue, opened through a loader we dlopen (so
// a host without libvulkan still starts, on the CPU backend), and the RAII pieces the
// compositor builds from: buffers with their memory, shader pipelines, one-shot command
// submission.
//
// Everything is destroyed in reverse order of creation: objects made from a context hold a
// pointer to it and must die first (the compositor owns both in that order).
#pragma once

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"

namespace spiced::gpu {

// The entry points we use, loaded by name (global, instance, device level).
#define SPICED_VK_GLOBAL_FUNCTIONS(X) \
    X(vkCreateInstance)               \
    X(vkEnumerateInstanceVersion)

#define SPICED_VK_INSTANCE_FUNCTIONS(X)         \
    X(vkDestroyInstance)                        \
    X(vkEnumeratePhysicalDevices)               \
    X(vkGetPhysicalDeviceProperties)            \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkGetPhysicalDeviceMemoryProperties)      \
    X(vkGetPhysicalDeviceFeatures2)             \
    X(vkGetPhysicalDeviceProperties2)           \
    X(vkEnumerateDeviceExtensionProperties)     \
    X(vkCreateDevice)                           \
    X(vkGetDeviceProcAddr)

#define SPICED_VK_DEVICE_FUNCTIONS(X) \
    X(vkDestroyDevice)                \
    X(vkGetDeviceQueue)               \
    X(vkCreateBuffer)                 \
    X(vkDestroyBuffer)                \
    X(vkGetBufferMemoryRequirements)  \
    X(vkAllocateMemory)               \
    X(vkFreeMemory)                   \
    X(vkBindBufferMemory)             \
    X(vkMapMemory)                    \
    X(vkUnmapMemory)                  \
    X(vkFlushMappedMemoryRanges)      \
    X(vkInvalidateMappedMemoryRanges) \
    X(vkCreateShaderModule)           \
    X(vkDestroyShaderModule)          \
    X(vkCreateDescriptorSetLayout)    \
    X(vkDestroyDescriptorSetLayout)   \
    X(vkCreatePipelineLayout)         \
    X(vkDestroyPipelineLayout)        \
    X(vkCreateComputePipelines)       \
    X(vkDestroyPipeline)              \
    X(vkCreateDescriptorPool)         \
    X(vkDestroyDescriptorPool)        \
    X(vkResetDescriptorPool)          \
    X(vkAllocateDescriptorSets)       \
    X(vkUpdateDescriptorSets)         \
    X(vkCreateCommandPool)            \
    X(vkDestroyCommandPool)           \
    X(vkAllocateCommandBuffers)       \
    X(vkResetCommandPool)             \
    X(vkBeginCommandBuffer)           \
    X(vkEndCommandBuffer)             \
    X(vkCmdBindPipeline)              \
    X(vkCmdBindDescriptorSets)        \
    X(vkCmdPushConstants)             \
    X(vkCmdDispatch)                  \
    X(vkCmdPipelineBarrier)           \
    X(vkCmdFillBuffer)                \
    X(vkCmdCopyBuffer)                \
    X(vkCreateFence)                  \
    X(vkDestroyFence)                 \
    X(vkResetFences)                  \
    X(vkWaitForFences)                \
    X(vkQueueSubmit)                  \
    X(vkDeviceWaitIdle)

// Entry points of optional device extensions (null when the device lacks them).
#define SPICED_VK_OPTIONAL_DEVICE_FUNCTIONS(X) \
    X(vkGetMemoryFdPropertiesKHR)              \
    X(vkGetMemoryHostPointerPropertiesEXT)

struct VulkanFunctions {
#define SPICED_VK_MEMBER(name) PFN_##name name = nullptr;
    SPICED_VK_GLOBAL_FUNCTIONS(SPICED_VK_MEMBER)
    SPICED_VK_INSTANCE_FUNCTIONS(SPICED_VK_MEMBER)
    SPICED_VK_DEVICE_FUNCTIONS(SPICED_VK_MEMBER)
    SPICED_VK_OPTIONAL_DEVICE_FUNCTIONS(SPICED_VK_MEMBER)
#undef SPICED_VK_MEMBER
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
};

// A device the loader reports, as --gpu lists them.
struct VulkanDeviceInfo {
    uint32_t index = 0;
    std::string name;
    VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    std::string driver;
    // Empty when we can use it; else why not (API version, no compute queue, no 8-bit storage).
    std::string unusable;
};

class VulkanContext;

// What memory made elsewhere the device can take in without a copy (device extensions enabled
// when the device offers them).
struct ExternalMemorySupport {
    // VK_EXT_external_memory_dma_buf: a dmabuf fd (a GL scanout) becomes device memory.
    bool dmabuf = false;
    // VK_EXT_external_memory_host: a host mapping becomes device memory; its address and size
    // must be multiples of `host_alignment`.
    bool host_pointer = false;
    VkDeviceSize host_alignment = 0;
};

// How a buffer is used decides its memory: kDevice for what stays on the device, kUpload for
// what the host writes, kReadback for what the host reads (cached where the device offers it).
enum class BufferUse { kDevice, kUpload, kReadback };

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { reset(); }

    VkBuffer handle() const { return buffer_; }
    VkDeviceSize size() const { return size_; }
    // Host address of a kUpload or kReadback buffer (mapped for its whole life).
    uint8_t* mapped() const { return mapped_; }
    // After the host wrote (kUpload) / before it reads (kReadback) non-coherent memory.
    void flush() const;
    void invalidate() const;
    explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }

private:
    friend class VulkanContext;
    void reset();
    void sync_mapping(PFN_vkFlushMappedMemoryRanges sync) const;

    const VulkanContext* context_ = nullptr;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    VkDeviceSize size_ = 0;
    uint8_t* mapped_ = nullptr;
    bool coherent_ = true;
};

// A compute pipeline with the layout every compositor shader shares: four storage buffers
// (bindings 0-3) and up to 128 bytes of push constants.
class ComputePipeline {
public:
    ComputePipeline() = default;
    ComputePipeline(ComputePipeline&& other) noexcept { *this = std::move(other); }
    ComputePipeline& operator=(ComputePipeline&& other) noexcept;
    ComputePipeline(const ComputePipeline&) = delete;
    ComputePipeline& operator=(const ComputePipeline&) = delete;
    ~ComputePipeline() { reset(); }
    VkPipeline handle() const { return pipeline_; }

private:
    friend class VulkanContext;
    void reset();
    const VulkanContext* context_ = nullptr;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
};

inline constexpr uint32_t kShaderBuffers = 4;
inline constexpr uint32_t kPushConstantBytes = 128;

class VulkanContext {
public:
    // Opens `loader` and the device `device` names ("auto": the best GPU, CPU-type devices
    // such as lavapipe only when named). Errors say what was missing.
    static Expected<std::unique_ptr<VulkanContext>, std::string> open(const std::string& loader,
                                                                      const std::string& device);
    // Devices the loader reports (for error messages and --gpu help); an error if none.
    static Expected<std::vector<VulkanDeviceInfo>, std::string> list_devices(
        const std::string& loader);

    ~VulkanContext();
    VulkanContext(const VulkanContext&) = delete;
    VulkanContext& operator=(const VulkanContext&) = delete;

    const VulkanFunctions& vk() const { return vk_; }
    VkDevice device() const { return device_; }
    const VulkanDeviceInfo& info() const { return info_; }
    VkPipelineLayout pipeline_layout() const { return pipeline_layout_; }
    VkDescriptorSetLayout set_layout() const { return set_layout_; }

    Expected<DeviceBuffer, std::string> create_buffer(VkDeviceSize size, BufferUse use) const;
    const ExternalMemorySupport& external_memory() const { return external_; }
    uint32_t queue_family() const { return queue_family_; }
    // A buffer over memory made elsewhere (no copy), for transfers from it: a dmabuf (`fd` is
    // borrowed: the device keeps a dup of its own) or a host mapping (aligned as
    // external_memory() says; it must outlive the buffer). Errors say why not.
    Expected<DeviceBuffer, std::string> import_dmabuf(int fd, VkDeviceSize size) const;
    Expected<DeviceBuffer, std::string> import_host_memory(const void* address,
                                                           VkDeviceSize size) const;
    Expected<ComputePipeline, std::string> create_pipeline(std::span<const uint32_t> spirv) const;

    // Records with `record` into a fresh command buffer, submits it and waits for it. Any
    // thread: the desktop thread's compositors and the QXL workers' scanout readers share the
    // one queue and command buffer.
    template <typename Record>
    Expected<void, std::string> run(Record&& record) {
        std::lock_guard lock(submit_mutex_);
        if (auto begun = begin(); !begun) return begun;
        record(command_buffer_);
        return submit_and_wait();
    }

    // Only open() makes contexts (make_unique needs a public constructor: the key keeps it ours).
    class Key {
        friend class VulkanContext;
        Key() = default;
    };
    explicit VulkanContext(Key) {}

private:
    Expected<void, std::string> init_device(uint32_t queue_family);
    // Notes in external_ what the device can import and returns the extensions to enable.
    std::vector<const char*> enable_external_memory();
    Expected<void, std::string> begin();
    Expected<void, std::string> submit_and_wait();
    // The steps every buffer takes: made with `usage` (`next` chained), then memory bound.
    Expected<VkMemoryRequirements, std::string> make_buffer(DeviceBuffer& buffer, VkDeviceSize size,
                                                            VkBufferUsageFlags usage,
                                                            const void* next) const;
    Expected<void, std::string> allocate_and_bind(DeviceBuffer& buffer,
                                                  const VkMemoryAllocateInfo& allocate) const;
    Expected<DeviceBuffer, std::string> import_buffer(VkDeviceSize size,
                                                      VkExternalMemoryHandleTypeFlagBits type,
                                                      uint32_t allowed_types,
                                                      const void* import_info) const;

    std::shared_ptr<void> library_;
    VulkanFunctions vk_;
    VkInstance instance_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties memory_{};
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    ExternalMemorySupport external_;
    std::mutex submit_mutex_;
    VkCommandPool command_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer command_buffer_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;
    VulkanDeviceInfo info_;
};

}  // namespace spiced::gpu
