#include "gpu/vulkan_context.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace spiced::gpu {

namespace {

std::string vk_error(const std::string& what, VkResult result) {
    return what + " failed (VkResult " + std::to_string(int(result)) + ")";
}

// A call's result as a value: nothing, or what failed.
Expected<void, std::string> vk_ok(const char* what, VkResult result) {
    if (result == VK_SUCCESS) return {};
    return unexpected(vk_error(what, result));
}

const char* type_name(VkPhysicalDeviceType type) {
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return "discrete GPU";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return "integrated GPU";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return "virtual GPU";
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
            return "CPU";
        default:
            return "other";
    }
}

// "auto" prefers real GPUs; a CPU-type device (lavapipe, SwiftShader) is slower than our own
// CPU backend, so it runs only when named.
int auto_rank(VkPhysicalDeviceType type) {
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return 3;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return 2;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return 1;
        default:
            return 0;
    }
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return text;
}

// The loader, its instance and the physical devices it reports.
struct Instance {
    std::shared_ptr<void> library;
    VulkanFunctions vk;
    VkInstance handle = VK_NULL_HANDLE;
    std::vector<VkPhysicalDevice> devices;
    std::vector<VulkanDeviceInfo> infos;
    std::vector<uint32_t> compute_family;  // per device; UINT32_MAX: none

    Instance() = default;
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;
    ~Instance() {
        if (handle != VK_NULL_HANDLE) vk.vkDestroyInstance(handle, nullptr);
    }
};

// The device's properties, filling the extension structs chained at `chain` on the way.
VkPhysicalDeviceProperties query_properties(const VulkanFunctions& vk, VkPhysicalDevice device,
                                            void* chain) {
    VkPhysicalDeviceProperties2 properties{};
    properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    properties.pNext = chain;
    vk.vkGetPhysicalDeviceProperties2(device, &properties);
    return properties.properties;
}

VulkanDeviceInfo describe(const VulkanFunctions& vk, VkPhysicalDevice device, uint32_t index,
                          uint32_t* compute_family) {
    VkPhysicalDeviceDriverProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    const VkPhysicalDeviceProperties properties = query_properties(vk, device, &driver);

    VulkanDeviceInfo info;
    info.index = index;
    info.name = properties.deviceName;
    info.type = properties.deviceType;
    info.driver = driver.driverName;
    *compute_family = UINT32_MAX;
    if (properties.apiVersion < VK_API_VERSION_1_2) {
        info.unusable = "Vulkan 1.2 not supported";
        return info;
    }
    uint32_t count = 0;
    vk.vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
    std::vector<VkQueueFamilyProperties> families(count);
    vk.vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
    for (uint32_t i = 0; i < count; ++i) {
        if (families[i].queueCount > 0 && (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) {
            *compute_family = i;
            break;
        }
    }
    if (*compute_family == UINT32_MAX) {
        info.unusable = "no compute queue";
        return info;
    }
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &features12;
    vk.vkGetPhysicalDeviceFeatures2(device, &features);
    if (!features12.storageBuffer8BitAccess) info.unusable = "no 8-bit storage buffers";
    return info;
}

Expected<std::unique_ptr<Instance>, std::string> open_instance(const std::string& loader) {
    auto instance = std::make_unique<Instance>();
    void* library = dlopen(loader.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* why = dlerror();
        return unexpected("no Vulkan loader (" + std::string(why ? why : loader) + ")");
    }
    instance->library = std::shared_ptr<void>(library, [](void* handle) { dlclose(handle); });
    VulkanFunctions& vk = instance->vk;
    vk.vkGetInstanceProcAddr =
        reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(library, "vkGetInstanceProcAddr"));
    if (vk.vkGetInstanceProcAddr == nullptr)
        return unexpected(loader + " has no vkGetInstanceProcAddr");
#define SPICED_VK_LOAD_GLOBAL(name) \
    vk.name = reinterpret_cast<PFN_##name>(vk.vkGetInstanceProcAddr(nullptr, #name));
    SPICED_VK_GLOBAL_FUNCTIONS(SPICED_VK_LOAD_GLOBAL)
#undef SPICED_VK_LOAD_GLOBAL
    uint32_t version = VK_API_VERSION_1_0;
    if (vk.vkEnumerateInstanceVersion != nullptr) vk.vkEnumerateInstanceVersion(&version);
    if (vk.vkCreateInstance == nullptr || version < VK_API_VERSION_1_2)
        return unexpected(std::string("the Vulkan loader does not offer Vulkan 1.2"));

    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "spiced-gpu";
    app.pEngineName = "spiced-gpu compositor";
    app.apiVersion = VK_API_VERSION_1_2;
    VkInstanceCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    create.pApplicationInfo = &app;
    if (VkResult r = vk.vkCreateInstance(&create, nullptr, &instance->handle); r != VK_SUCCESS) {
        instance->handle = VK_NULL_HANDLE;
        return unexpected(r == VK_ERROR_INCOMPATIBLE_DRIVER ? std::string("no Vulkan driver")
                                                            : vk_error("vkCreateInstance", r));
    }
#define SPICED_VK_LOAD_INSTANCE(name) \
    vk.name = reinterpret_cast<PFN_##name>(vk.vkGetInstanceProcAddr(instance->handle, #name));
    SPICED_VK_INSTANCE_FUNCTIONS(SPICED_VK_LOAD_INSTANCE)
#undef SPICED_VK_LOAD_INSTANCE
#define SPICED_VK_CHECK_LOADED(name) \
    if (vk.name == nullptr) return unexpected(std::string("the Vulkan loader lacks " #name));
    SPICED_VK_INSTANCE_FUNCTIONS(SPICED_VK_CHECK_LOADED)
#undef SPICED_VK_CHECK_LOADED

    uint32_t count = 0;
    vk.vkEnumeratePhysicalDevices(instance->handle, &count, nullptr);
    instance->devices.resize(count);
    vk.vkEnumeratePhysicalDevices(instance->handle, &count, instance->devices.data());
    instance->devices.resize(count);
    if (count == 0) return unexpected(std::string("no Vulkan device"));
    for (uint32_t i = 0; i < count; ++i) {
        uint32_t family = UINT32_MAX;
        instance->infos.push_back(describe(vk, instance->devices[i], i, &family));
        instance->compute_family.push_back(family);
    }
    return instance;
}

std::string list_of(const std::vector<VulkanDeviceInfo>& infos) {
    std::string text;
    for (const VulkanDeviceInfo& info : infos) {
        if (!text.empty()) text += "; ";
        text += std::to_string(info.index) + ": " + info.name + " (" + type_name(info.type) +
                (info.unusable.empty() ? "" : ", unusable: " + info.unusable) + ")";
    }
    return text;
}

// The index `wanted` names, or an error.
Expected<uint32_t, std::string> pick(const Instance& instance, const std::string& wanted) {
    const auto& infos = instance.infos;
    if (wanted == "auto") {
        int best_rank = 0;
        uint32_t best = UINT32_MAX;
        for (const VulkanDeviceInfo& info : infos) {
            const int rank = auto_rank(info.type);
            if (info.unusable.empty() && rank > best_rank) {
                best_rank = rank;
                best = info.index;
            }
        }
        if (best == UINT32_MAX)
            return unexpected("no usable GPU among the Vulkan devices (" + list_of(infos) + ")");
        return best;
    }
    std::vector<uint32_t> matches;
    const bool numeric = !wanted.empty() && std::all_of(wanted.begin(), wanted.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
    });
    for (const VulkanDeviceInfo& info : infos) {
        if (numeric ? std::to_string(info.index) == wanted
                    : lower(info.name).find(lower(wanted)) != std::string::npos)
            matches.push_back(info.index);
    }
    if (matches.empty())
        return unexpected("no Vulkan device \"" + wanted + "\" (there are: " + list_of(infos) +
                          ")");
    if (matches.size() > 1)
        return unexpected("\"" + wanted + "\" names more than one Vulkan device (" +
                          list_of(infos) + "); give its index");
    const VulkanDeviceInfo& chosen = infos[matches.front()];
    if (!chosen.unusable.empty())
        return unexpected("Vulkan device " + chosen.name + " is unusable: " + chosen.unusable);
    return chosen.index;
}

uint32_t find_memory(const VkPhysicalDeviceMemoryProperties& memory, uint32_t allowed,
                     VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) {
    uint32_t fallback = UINT32_MAX;
    for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
        if (!(allowed & (1u << i))) continue;
        const VkMemoryPropertyFlags flags = memory.memoryTypes[i].propertyFlags;
        if ((flags & required) != required) continue;
        if ((flags & preferred) == preferred) return i;
        if (fallback == UINT32_MAX) fallback = i;
    }
    return fallback;
}

}  // namespace

Expected<std::vector<VulkanDeviceInfo>, std::string> VulkanContext::list_devices(
    const std::string& loader) {
    auto instance = open_instance(loader);
    if (!instance) return unexpected(instance.error());
    return (*instance)->infos;
}

Expected<std::unique_ptr<VulkanContext>, std::string> VulkanContext::open(
    const std::string& loader, const std::string& device) {
    auto instance = open_instance(loader);
    if (!instance) return unexpected(instance.error());
    auto index = pick(**instance, device);
    if (!index) return unexpected(index.error());

    auto context = std::make_unique<VulkanContext>(Key{});
    Instance& opened = **instance;
    context->library_ = opened.library;
    context->vk_ = opened.vk;
    context->instance_ = std::exchange(opened.handle, VK_NULL_HANDLE);
    context->physical_ = opened.devices[*index];
    context->info_ = opened.infos[*index];
    if (auto ok = context->init_device(opened.compute_family[*index]); !ok)
        return unexpected(ok.error());
    return context;
}

Expected<void, std::string> VulkanContext::init_device(uint32_t queue_family) {
    VulkanFunctions& vk = vk_;
    vk.vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue{};
    queue.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue.queueFamilyIndex = queue_family;
    queue.queueCount = 1;
    queue.pQueuePriorities = &priority;
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.storageBuffer8BitAccess = VK_TRUE;
    // Importing scanouts without a copy is optional: the extensions are enabled where the
    // device has them, and a scanout is read through its CPU mapping where it has none.
    const std::vector<const char*> extensions = enable_external_memory();
    VkDeviceCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    create.pNext = &features12;
    create.queueCreateInfoCount = 1;
    create.pQueueCreateInfos = &queue;
    create.enabledExtensionCount = uint32_t(extensions.size());
    create.ppEnabledExtensionNames = extensions.data();
    if (VkResult r = vk.vkCreateDevice(physical_, &create, nullptr, &device_); r != VK_SUCCESS) {
        device_ = VK_NULL_HANDLE;
        return unexpected(vk_error("vkCreateDevice", r));
    }
    queue_family_ = queue_family;
#define SPICED_VK_LOAD_DEVICE(name) \
    vk.name = reinterpret_cast<PFN_##name>(vk.vkGetDeviceProcAddr(device_, #name));
    SPICED_VK_DEVICE_FUNCTIONS(SPICED_VK_LOAD_DEVICE)
    SPICED_VK_OPTIONAL_DEVICE_FUNCTIONS(SPICED_VK_LOAD_DEVICE)
#undef SPICED_VK_LOAD_DEVICE
    external_.dmabuf = external_.dmabuf && vk.vkGetMemoryFdPropertiesKHR != nullptr;
    external_.host_pointer =
        external_.host_pointer && vk.vkGetMemoryHostPointerPropertiesEXT != nullptr;
#define SPICED_VK_CHECK_LOADED(name) \
    if (vk.name == nullptr) return unexpected(std::string("the Vulkan device lacks " #name));
    SPICED_VK_DEVICE_FUNCTIONS(SPICED_VK_CHECK_LOADED)
#undef SPICED_VK_CHECK_LOADED
    vk.vkGetDeviceQueue(device_, queue_family, 0, &queue_);

    VkCommandPoolCreateInfo pool{};
    pool.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
    pool.queueFamilyIndex = queue_family;
    if (auto ok = vk_ok("vkCreateCommandPool",
                        vk.vkCreateCommandPool(device_, &pool, nullptr, &command_pool_));
        !ok)
        return unexpected(ok.error());
    VkCommandBufferAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    allocate.commandPool = command_pool_;
    allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    allocate.commandBufferCount = 1;
    if (auto ok = vk_ok("vkAllocateCommandBuffers",
                        vk.vkAllocateCommandBuffers(device_, &allocate, &command_buffer_));
        !ok)
        return unexpected(ok.error());
    VkFenceCreateInfo fence{};
    fence.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    if (auto ok = vk_ok("vkCreateFence", vk.vkCreateFence(device_, &fence, nullptr, &fence_)); !ok)
        return unexpected(ok.error());

    VkDescriptorSetLayoutBinding bindings[kShaderBuffers]{};
    for (uint32_t i = 0; i < kShaderBuffers; ++i) {
        bindings[i].binding = i;
        bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        bindings[i].descriptorCount = 1;
        bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo set{};
    set.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    set.bindingCount = kShaderBuffers;
    set.pBindings = bindings;
    if (auto ok = vk_ok("vkCreateDescriptorSetLayout",
                        vk.vkCreateDescriptorSetLayout(device_, &set, nullptr, &set_layout_));
        !ok)
        return unexpected(ok.error());
    VkPushConstantRange push{};
    push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push.size = kPushConstantBytes;
    VkPipelineLayoutCreateInfo layout{};
    layout.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    layout.setLayoutCount = 1;
    layout.pSetLayouts = &set_layout_;
    layout.pushConstantRangeCount = 1;
    layout.pPushConstantRanges = &push;
    if (auto ok = vk_ok("vkCreatePipelineLayout",
                        vk.vkCreatePipelineLayout(device_, &layout, nullptr, &pipeline_layout_));
        !ok)
        return unexpected(ok.error());
    return {};
}

std::vector<const char*> VulkanContext::enable_external_memory() {
    uint32_t count = 0;
    vk_.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &count, nullptr);
    std::vector<VkExtensionProperties> offered(count);
    vk_.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &count, offered.data());
    offered.resize(count);
    auto has = [&offered](const char* name) {
        return std::any_of(offered.begin(), offered.end(), [name](const VkExtensionProperties& e) {
            return std::strcmp(e.extensionName, name) == 0;
        });
    };
    std::vector<const char*> enabled;
    if (has(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME) &&
        has(VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME)) {
        enabled.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
        enabled.push_back(VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME);
        external_.dmabuf = true;
    }
    if (has(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME)) {
        VkPhysicalDeviceExternalMemoryHostPropertiesEXT host{};
        host.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT;
        (void)query_properties(vk_, physical_, &host);
        if (host.minImportedHostPointerAlignment > 0) {
            enabled.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
            external_.host_pointer = true;
            external_.host_alignment = host.minImportedHostPointerAlignment;
        }
    }
    return enabled;
}

VulkanContext::~VulkanContext() {
    const VulkanFunctions& vk = vk_;
    if (device_ != VK_NULL_HANDLE) {
        vk.vkDeviceWaitIdle(device_);
        if (pipeline_layout_ != VK_NULL_HANDLE)
            vk.vkDestroyPipelineLayout(device_, pipeline_layout_, nullptr);
        if (set_layout_ != VK_NULL_HANDLE)
            vk.vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
        if (fence_ != VK_NULL_HANDLE) vk.vkDestroyFence(device_, fence_, nullptr);
        if (command_pool_ != VK_NULL_HANDLE)
            vk.vkDestroyCommandPool(device_, command_pool_, nullptr);
        vk.vkDestroyDevice(device_, nullptr);
    }
    if (instance_ != VK_NULL_HANDLE) vk.vkDestroyInstance(instance_, nullptr);
}

Expected<DeviceBuffer, std::string> VulkanContext::create_buffer(VkDeviceSize size,
                                                                 BufferUse use) const {
    DeviceBuffer buffer;
    auto made = make_buffer(buffer, size,
                            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            nullptr);
    if (!made) return unexpected(made.error());
    const VkMemoryRequirements needs = *made;
    VkMemoryPropertyFlags required = 0, preferred = 0;
    switch (use) {
        case BufferUse::kDevice:
            preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
            break;
        case BufferUse::kUpload:
            required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
            preferred = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
            break;
        case BufferUse::kReadback:
            required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
            preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
            break;
    }
    const uint32_t type = find_memory(memory_, needs.memoryTypeBits, required, preferred);
    if (type == UINT32_MAX) return unexpected(std::string("no Vulkan memory type for a buffer"));
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.allocationSize = needs.size;
    allocate.memoryTypeIndex = type;
    if (auto bound = allocate_and_bind(buffer, allocate); !bound) return unexpected(bound.error());
    if (use != BufferUse::kDevice) {
        void* mapped = nullptr;
        if (auto ok = vk_ok("vkMapMemory",
                            vk_.vkMapMemory(device_, buffer.memory_, 0, VK_WHOLE_SIZE, 0, &mapped));
            !ok)
            return unexpected(ok.error());
        buffer.mapped_ = static_cast<uint8_t*>(mapped);
        buffer.coherent_ =
            memory_.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    }
    return buffer;
}

Expected<VkMemoryRequirements, std::string> VulkanContext::make_buffer(DeviceBuffer& buffer,
                                                                       VkDeviceSize size,
                                                                       VkBufferUsageFlags usage,
                                                                       const void* next) const {
    buffer.context_ = this;
    buffer.size_ = size;
    VkBufferCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    create.pNext = next;
    create.size = std::max<VkDeviceSize>(size, 16);
    create.usage = usage;
    create.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    if (auto ok =
            vk_ok("vkCreateBuffer", vk_.vkCreateBuffer(device_, &create, nullptr, &buffer.buffer_));
        !ok)
        return unexpected(ok.error());
    VkMemoryRequirements needs{};
    vk_.vkGetBufferMemoryRequirements(device_, buffer.buffer_, &needs);
    return needs;
}

Expected<void, std::string> VulkanContext::allocate_and_bind(
    DeviceBuffer& buffer, const VkMemoryAllocateInfo& allocate) const {
    if (VkResult r = vk_.vkAllocateMemory(device_, &allocate, nullptr, &buffer.memory_);
        r != VK_SUCCESS) {
        buffer.memory_ = VK_NULL_HANDLE;
        return unexpected(vk_error(
            "vkAllocateMemory (" + std::to_string(allocate.allocationSize) + " bytes)", r));
    }
    return vk_ok("vkBindBufferMemory",
                 vk_.vkBindBufferMemory(device_, buffer.buffer_, buffer.memory_, 0));
}

Expected<DeviceBuffer, std::string> VulkanContext::import_dmabuf(int fd, VkDeviceSize size) const {
    if (!external_.dmabuf)
        return unexpected(std::string("the device cannot import dmabufs (no ") +
                          VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME + ")");
    VkMemoryFdPropertiesKHR properties{};
    properties.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR;
    if (auto ok =
            vk_ok("vkGetMemoryFdPropertiesKHR",
                  vk_.vkGetMemoryFdPropertiesKHR(
                      device_, VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT, fd, &properties));
        !ok)
        return unexpected(ok.error());
    // A successful import owns the descriptor it is given: that is a dup, the caller keeps
    // its own.
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return unexpected("dup of the dmabuf: " + std::string(std::strerror(errno)));
    VkImportMemoryFdInfoKHR import{};
    import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR;
    import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
    import.fd = copy;
    auto buffer = import_buffer(size, VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
                                properties.memoryTypeBits, &import);
    // A failed vkAllocateMemory leaves the descriptor with us.
    if (!buffer) close(copy);
    return buffer;
}

Expected<DeviceBuffer, std::string> VulkanContext::import_host_memory(const void* address,
                                                                      VkDeviceSize size) const {
    if (!external_.host_pointer)
        return unexpected(std::string("the device cannot import host memory (no ") +
                          VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME + ")");
    const VkDeviceSize align = external_.host_alignment;
    if (reinterpret_cast<uintptr_t>(address) % align != 0 || size % align != 0)
        return unexpected("host memory at " + std::to_string(reinterpret_cast<uintptr_t>(address)) +
                          " (" + std::to_string(size) + " bytes) is not aligned to " +
                          std::to_string(align) + " bytes");
    VkMemoryHostPointerPropertiesEXT properties{};
    properties.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT;
    if (auto ok = vk_ok("vkGetMemoryHostPointerPropertiesEXT",
                        vk_.vkGetMemoryHostPointerPropertiesEXT(
                            device_, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                            address, &properties));
        !ok)
        return unexpected(ok.error());
    VkImportMemoryHostPointerInfoEXT import{};
    import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT;
    import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    // The device only reads it: the API takes a non-const pointer for both directions.
    import.pHostPointer = const_cast<void*>(address);
    return import_buffer(size, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                         properties.memoryTypeBits, &import);
}

Expected<DeviceBuffer, std::string> VulkanContext::import_buffer(
    VkDeviceSize size, VkExternalMemoryHandleTypeFlagBits type, uint32_t allowed_types,
    const void* import_info) const {
    DeviceBuffer buffer;
    VkExternalMemoryBufferCreateInfo external{};
    external.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO;
    external.handleTypes = VkExternalMemoryHandleTypeFlags(type);
    auto made = make_buffer(buffer, size,
                            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                            &external);
    if (!made) return unexpected(made.error());
    const VkMemoryRequirements needs = *made;
    const uint32_t memory_type = find_memory(memory_, needs.memoryTypeBits & allowed_types, 0, 0);
    if (memory_type == UINT32_MAX)
        return unexpected(std::string("no Vulkan memory type can hold the imported memory"));
    // Drivers may insist on a dedicated allocation for imported dmabufs; it is always allowed.
    VkMemoryDedicatedAllocateInfo dedicated{};
    dedicated.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO;
    dedicated.pNext = import_info;
    dedicated.buffer = buffer.buffer_;
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.pNext = type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT
                         ? static_cast<const void*>(&dedicated)
                         : import_info;
    // Host memory is imported exactly as given; a dmabuf as the buffer needs it.
    VkDeviceSize allocation = needs.size;
    if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT) {
        if (needs.size > size)
            return unexpected("the device wants " + std::to_string(needs.size) +
                              " bytes for a buffer over " + std::to_string(size) +
                              " bytes of host memory");
        allocation = size;
    }
    allocate.allocationSize = allocation;
    allocate.memoryTypeIndex = memory_type;
    if (auto bound = allocate_and_bind(buffer, allocate); !bound) return unexpected(bound.error());
    return buffer;
}

Expected<ComputePipeline, std::string> VulkanContext::create_pipeline(
    std::span<const uint32_t> spirv) const {
    VkShaderModuleCreateInfo module_info{};
    module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    module_info.codeSize = spirv.size_bytes();
    module_info.pCode = spirv.data();
    VkShaderModule module = VK_NULL_HANDLE;
    if (auto ok = vk_ok("vkCreateShaderModule",
                        vk_.vkCreateShaderModule(device_, &module_info, nullptr, &module));
        !ok)
        return unexpected(ok.error());
    VkComputePipelineCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    create.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    create.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    create.stage.module = module;
    create.stage.pName = "main";
    create.layout = pipeline_layout_;
    ComputePipeline pipeline;
    pipeline.context_ = this;
    const VkResult r = vk_.vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &create, nullptr,
                                                    &pipeline.pipeline_);
    vk_.vkDestroyShaderModule(device_, module, nullptr);
    if (r != VK_SUCCESS) {
        pipeline.pipeline_ = VK_NULL_HANDLE;
        return unexpected(vk_error("vkCreateComputePipelines", r));
    }
    return pipeline;
}

Expected<void, std::string> VulkanContext::begin() {
    vk_.vkResetCommandPool(device_, command_pool_, 0);
    VkCommandBufferBeginInfo info{};
    info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    if (auto ok = vk_ok("vkBeginCommandBuffer", vk_.vkBeginCommandBuffer(command_buffer_, &info));
        !ok)
        return unexpected(ok.error());
    return {};
}

Expected<void, std::string> VulkanContext::submit_and_wait() {
    if (auto ok = vk_ok("vkEndCommandBuffer", vk_.vkEndCommandBuffer(command_buffer_)); !ok)
        return unexpected(ok.error());
    VkSubmitInfo submit{};
    submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &command_buffer_;
    vk_.vkResetFences(device_, 1, &fence_);
    if (auto ok = vk_ok("vkQueueSubmit", vk_.vkQueueSubmit(queue_, 1, &submit, fence_)); !ok)
        return unexpected(ok.error());
    // A device that hangs for 5 s is lost to us; the caller falls back.
    constexpr uint64_t kTimeoutNs = 5'000'000'000;
    if (auto ok =
            vk_ok("vkWaitForFences", vk_.vkWaitForFences(device_, 1, &fence_, VK_TRUE, kTimeoutNs));
        !ok)
        return unexpected(ok.error());
    return {};
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
        reset();
        context_ = std::exchange(other.context_, nullptr);
        buffer_ = std::exchange(other.buffer_, VkBuffer(VK_NULL_HANDLE));
        memory_ = std::exchange(other.memory_, VkDeviceMemory(VK_NULL_HANDLE));
        size_ = std::exchange(other.size_, 0);
        mapped_ = std::exchange(other.mapped_, nullptr);
        coherent_ = other.coherent_;
    }
    return *this;
}

void DeviceBuffer::reset() {
    if (context_ == nullptr) return;
    const VulkanFunctions& vk = context_->vk();
    if (mapped_ != nullptr) vk.vkUnmapMemory(context_->device(), memory_);
    if (buffer_ != VK_NULL_HANDLE) vk.vkDestroyBuffer(context_->device(), buffer_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vk.vkFreeMemory(context_->device(), memory_, nullptr);
    context_ = nullptr;
    buffer_ = VK_NULL_HANDLE;
    memory_ = VK_NULL_HANDLE;
    mapped_ = nullptr;
}

void DeviceBuffer::flush() const {
    sync_mapping(context_ ? context_->vk().vkFlushMappedMemoryRanges : nullptr);
}

void DeviceBuffer::invalidate() const {
    sync_mapping(context_ ? context_->vk().vkInvalidateMappedMemoryRanges : nullptr);
}

// Flush and invalidate take the same arguments; coherent memory needs neither.
void DeviceBuffer::sync_mapping(PFN_vkFlushMappedMemoryRanges sync) const {
    if (coherent_ || mapped_ == nullptr || sync == nullptr) return;
    VkMappedMemoryRange range{};
    range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
    range.memory = memory_;
    range.size = VK_WHOLE_SIZE;
    sync(context_->device(), 1, &range);
}

ComputePipeline& ComputePipeline::operator=(ComputePipeline&& other) noexcept {
    if (this != &other) {
        reset();
        context_ = std::exchange(other.context_, nullptr);
        pipeline_ = std::exchange(other.pipeline_, VkPipeline(VK_NULL_HANDLE));
    }
    return *this;
}

void ComputePipeline::reset() {
    if (context_ != nullptr && pipeline_ != VK_NULL_HANDLE)
        context_->vk().vkDestroyPipeline(context_->device(), pipeline_, nullptr);
    context_ = nullptr;
    pipeline_ = VK_NULL_HANDLE;
}

}  // namespace spiced::gpu
