#include "base/log.h"

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace spiced {

namespace {
LogLevel threshold_from_env() {
    const char* value = std::getenv("SPICED_LOG_LEVEL");
    if (value == nullptr) return LogLevel::kInfo;
    if (std::strcmp(value, "debug") == 0) return LogLevel::kDebug;
    if (std::strcmp(value, "warning") == 0) return LogLevel::kWarning;
    if (std::strcmp(value, "error") == 0) return LogLevel::kError;
    return LogLevel::kInfo;
}

const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::kDebug:
            return "debug";
        case LogLevel::kInfo:
            return "info";
        case LogLevel::kWarning:
            return "warning";
        case LogLevel::kError:
            return "error";
    }
    return "?";
}
}  // namespace

LogLevel log_threshold() {
    static const LogLevel threshold = threshold_from_env();
    return threshold;
}

void log_write(LogLevel level, std::string_view component, const char* format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof message, format, args);
    va_end(args);

    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm local{};
    localtime_r(&now.tv_sec, &local);
    // One fprintf call per line: stdio locks the stream, so lines from threads never interleave.
    std::fprintf(stderr, "%02d:%02d:%02d.%03ld spiced %s [%.*s] %s\n", local.tm_hour, local.tm_min,
                 local.tm_sec, now.tv_nsec / 1000000, level_name(level),
                 static_cast<int>(component.size()), component.data(), message);
}

}  // namespace spiced
