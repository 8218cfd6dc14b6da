// libFuzzer: --cpus values through the CPU-list parser; a list it accepts must be sorted,
// unique and in range.
#include <cstdlib>
#include <string_view>

#include "io/cpu_placement.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto cpus = spiced::parse_cpu_list(text);
    if (!cpus) return 0;
    for (size_t i = 0; i < cpus->size(); ++i) {
        const int cpu = (*cpus)[i];
        if (cpu < 0 || cpu >= spiced::kMaxCpus || (i > 0 && (*cpus)[i - 1] >= cpu)) std::abort();
    }
    return 0;
}
