// What one log line costs the thread that logs it: written at once (no server alive) or handed
// to the log thread (BackgroundLogging, while a server lives). stderr goes to /dev/null, the
// cheapest possible sink, so the synchronous figure is the floor of the old way; a pipe that
// nobody reads would block it for good, where the background figure stays the same.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "base/log.h"

namespace spiced {
namespace {

// stderr to /dev/null for one benchmark.
class StderrToNull {
public:
    StderrToNull() : saved_(dup(STDERR_FILENO)) {
        const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    ~StderrToNull() {
        dup2(saved_, STDERR_FILENO);
        close(saved_);
    }
    StderrToNull(const StderrToNull&) = delete;
    StderrToNull& operator=(const StderrToNull&) = delete;

private:
    int saved_;
};

void log_lines(benchmark::State& state) {
    uint64_t n = 0;
    for (auto _ : state) {
        log_write(LogLevel::kWarning, "bench",
                  "127.0.0.1:40000: display channel: message number %llu refused; closing",
                  static_cast<unsigned long long>(++n));
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_LogLine_Synchronous(benchmark::State& state) {
    const StderrToNull quiet;
    log_lines(state);
}
BENCHMARK(BM_LogLine_Synchronous);

void BM_LogLine_Background(benchmark::State& state) {
    const StderrToNull quiet;
    const BackgroundLogging background;
    log_lines(state);
    BackgroundLogging::flush();
}
BENCHMARK(BM_LogLine_Background);

}  // namespace
}  // namespace spiced
BENCHMARK_MAIN();
