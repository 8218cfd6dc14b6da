// One-line diagnostics to stderr. Every rejected input, closed connection and fallback is
// reported through here as exactly one line, so operators can grep for it.
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <string_view>

namespace spiced {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// The threshold comes from SPICED_LOG_LEVEL (debug|info|warning|error) once, at first use;
// it is immutable afterwards, so there is no shared mutable state between threads.
LogLevel log_threshold();

void log_write(LogLevel level, std::string_view component, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(LogLevel level, std::string_view component, const char* format, va_list args)
    __attribute__((format(printf, 3, 0)));

// While at least one BackgroundLogging lives, a line that stderr cannot take at once (a full
// pipe, a stalled journald) is handed to one writer thread instead of being waited for: an io
// or desktop thread never waits on stderr. Lines go out in order; while stderr keeps up each is
// written at once by the thread that logs it. What does not fit in a bounded
// queue (1 MiB) is dropped and counted in one line once the writer catches up. The server owns
// one for its lifetime; lines logged without one are written at once, as before. Queued lines
// are written when the last one goes away and at exit().
class BackgroundLogging {
public:
    BackgroundLogging();
    ~BackgroundLogging();
    BackgroundLogging(const BackgroundLogging&) = delete;
    BackgroundLogging& operator=(const BackgroundLogging&) = delete;

    // Waits (at most `timeout`) until every line queued so far is written; for tests and
    // orderly shutdown.
    static void flush(std::chrono::milliseconds timeout = std::chrono::seconds(2));
};

}  // namespace spiced

#define SPICED_LOG(level, component, ...)                           \
    do {                                                            \
        if ((level) >= ::spiced::log_threshold())                   \
            ::spiced::log_write((level), (component), __VA_ARGS__); \
    } while (0)
#define LOG_DEBUG(component, ...) SPICED_LOG(::spiced::LogLevel::kDebug, component, __VA_ARGS__)
#define LOG_INFO(component, ...) SPICED_LOG(::spiced::LogLevel::kInfo, component, __VA_ARGS__)
#define LOG_WARN(component, ...) SPICED_LOG(::spiced::LogLevel::kWarning, component, __VA_ARGS__)
#define LOG_ERROR(component, ...) SPICED_LOG(::spiced::LogLevel::kError, component, __VA_ARGS__)
