// libFuzzer: arbitrary files through the PPM reader (used for --dump-frame checks and, later,
// spiced-codec inputs).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "pixels/ppm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/spiced-ppm-fuzz-" + std::to_string(getpid()) + ".ppm";
    FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return 0;
    std::fwrite(data, 1, size, file);
    std::fclose(file);
    (void)spiced::read_ppm(path);
    return 0;
}
