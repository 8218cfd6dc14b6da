#include "base/log.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "base/service_thread.h"

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

// Writes all of `bytes` to `fd`, waiting for a non-blocking descriptor; gives up on any other
// error (there is nowhere left to report it).
void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n > 0) {
            bytes.remove_prefix(static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd wait{fd, POLLOUT, 0};
            ::poll(&wait, 1, 100);
        } else {
            return;
        }
    }
}

// One whole line, newline included: "HH:MM:SS.mmm spiced LEVEL [component] message".
struct FormattedLine {
    char text[1200];
    size_t size = 0;
    std::string_view view() const { return {text, size}; }
};

FormattedLine format_line(LogLevel level, std::string_view component, std::string_view message) {
    FormattedLine line;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm local{};
    localtime_r(&now.tv_sec, &local);
    const int n =
        std::snprintf(line.text, sizeof line.text, "%02d:%02d:%02d.%03ld spiced %s [%.*s] %.*s\n",
                      local.tm_hour, local.tm_min, local.tm_sec, now.tv_nsec / 1000000,
                      level_name(level), static_cast<int>(component.size()), component.data(),
                      static_cast<int>(message.size()), message.data());
    if (n < 0) return line;
    line.size = std::min(static_cast<size_t>(n), sizeof line.text - 1);
    line.text[line.size - 1] = '\n';  // a truncated line still ends one
    return line;
}

// The writer thread: while stderr takes lines, producers write them themselves; when it does
// not (a full pipe, a stalled reader) they append them to one buffer under a mutex held for a
// memcpy, and the thread swaps the buffer out and writes it with one write() per batch.
class LogWriterThread {
public:
    static constexpr size_t kMaxPending = size_t{1} << 20;

    LogWriterThread() : thread_(start_service_thread("spiced-log", [this] { run(); })) {}
    ~LogWriterThread() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    LogWriterThread(const LogWriterThread&) = delete;
    LogWriterThread& operator=(const LogWriterThread&) = delete;

    void push(std::string_view line) {
        {
            std::lock_guard lock(mutex_);
            // Nothing waits and stderr has room: the line goes out now, from this thread, so it
            // is in the log before anything the caller does next (a close, a reply). The lock
            // keeps it in order with the writer; a line under PIPE_BUF into a writable pipe
            // or socket does not block.
            if (pending_.empty() && dropped_ == 0 && !writing_ && stderr_has_room()) {
                const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
                if (n >= 0 && static_cast<size_t>(n) == line.size()) return;
                if (n > 0) line.remove_prefix(static_cast<size_t>(n));
            }
            if (pending_.size() + line.size() > kMaxPending) {
                ++dropped_;
                return;
            }
            pending_.append(line);
        }
        wake_.notify_one();
    }

    void flush(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        drained_.wait_for(lock, timeout,
                          [this] { return pending_.empty() && dropped_ == 0 && !writing_; });
    }

private:
    static bool stderr_has_room() {
        pollfd ready{STDERR_FILENO, POLLOUT, 0};
        return ::poll(&ready, 1, 0) == 1 && (ready.revents & POLLOUT) != 0;
    }

    void run() {
        std::string batch;
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stopping_ || !pending_.empty() || dropped_ > 0; });
            if (pending_.empty() && dropped_ == 0 && stopping_) break;
            batch.clear();
            batch.swap(pending_);
            const uint64_t dropped = std::exchange(dropped_, 0);
            writing_ = true;
            lock.unlock();
            write_all(STDERR_FILENO, batch);
            if (dropped > 0) {
                const std::string message =
                    std::to_string(dropped) + " lines dropped: stderr did not keep up with them";
                write_all(STDERR_FILENO, format_line(LogLevel::kWarning, "log", message).view());
            }
            lock.lock();
            writing_ = false;
            if (pending_.empty() && dropped_ == 0) drained_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable drained_;
    std::string pending_;
    uint64_t dropped_ = 0;
    bool writing_ = false;
    bool stopping_ = false;
    std::thread thread_;  // last: starts after everything it reads is built
};

// Which writer lines go to. Process-wide by nature (there is one stderr); built in place and
// never destroyed, because threads the server does not own (QEMU's) may log during exit.
struct LogRouting {
    std::mutex mutex;
    size_t users = 0;  // live BackgroundLogging objects
    std::atomic<std::shared_ptr<LogWriterThread>> active;
};

LogRouting& routing() {
    alignas(LogRouting) static unsigned char storage[sizeof(LogRouting)];
    static LogRouting* const instance = ::new (storage) LogRouting();
    return *instance;
}

// A static object rather than atexit(): its destructor is registered for the module that
// holds this code, so it also runs when the drop-in library is unloaded (dlclose), never after.
struct FlushAtExit {
    FlushAtExit() = default;
    FlushAtExit(const FlushAtExit&) = delete;
    FlushAtExit& operator=(const FlushAtExit&) = delete;
    ~FlushAtExit() { BackgroundLogging::flush(std::chrono::seconds(2)); }
};
}  // namespace

LogLevel log_threshold() {
    static const LogLevel threshold = threshold_from_env();
    return threshold;
}

void log_vwrite(LogLevel level, std::string_view component, const char* format, va_list args) {
    char message[1024];
    std::vsnprintf(message, sizeof message, format, args);
    const FormattedLine line = format_line(level, component, message);
    if (auto writer = routing().active.load(std::memory_order_acquire)) {
        writer->push(line.view());
        return;
    }
    // One write() per line: lines from threads never interleave.
    write_all(STDERR_FILENO, line.view());
}

void log_write(LogLevel level, std::string_view component, const char* format, ...) {
    va_list args;
    va_start(args, format);
    log_vwrite(level, component, format, args);
    va_end(args);
}

BackgroundLogging::BackgroundLogging() {
    LogRouting& r = routing();
    std::lock_guard lock(r.mutex);
    if (r.users++ > 0) return;
    static const FlushAtExit flush_at_exit;
    r.active.store(std::make_shared<LogWriterThread>(), std::memory_order_release);
}

BackgroundLogging::~BackgroundLogging() {
    std::shared_ptr<LogWriterThread> last;
    {
        LogRouting& r = routing();
        std::lock_guard lock(r.mutex);
        if (--r.users > 0) return;
        last = r.active.exchange(nullptr, std::memory_order_acq_rel);
    }
    // Joined here, or by the last thread still pushing a line through it.
}

void BackgroundLogging::flush(std::chrono::milliseconds timeout) {
    if (auto writer = routing().active.load(std::memory_order_acquire)) writer->flush(timeout);
}

}  // namespace spiced
