// libFuzzer: arbitrary files through spiced-codec's loader (PNG via libpng, or PPM), which
// operators point at files of unknown origin.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "encode/image_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/spiced-image-fuzz-" + std::to_string(getpid());
    FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return 0;
    std::fwrite(data, 1, size, file);
    std::fclose(file);
    (void)spiced::load_image_file(path);
    return 0;
}
