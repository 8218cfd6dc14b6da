#include "gpu/compositor.h"
#include "gpu/vulkan_compositor.h"

namespace spiced::gpu {

Expected<ChosenBackend, std::string> choose_gpu_backend(const GpuChoice& choice) {
    if (choice.device == "none") return ChosenBackend{make_cpu_backend(), "cpu (--gpu none)"};
    auto vulkan = make_vulkan_backend(choice);
    if (vulkan) {
        std::string note = (*vulkan)->describe();
        return ChosenBackend{std::move(*vulkan), std::move(note)};
    }
    if (choice.device != "auto")
        return unexpected("--gpu " + choice.device + ": " + vulkan.error());
    return ChosenBackend{make_cpu_backend(), "cpu (" + vulkan.error() + ")"};
}

}  // namespace spiced::gpu
