// A stdio stream closed when its owner goes: the one FILE* owner every module uses.
#pragma once

#include <cstdio>
#include <memory>

namespace spiced {

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace spiced
