// start_service_thread(): how the server starts its own threads (shards, the desktop, key
// workers) inside a process it may not own. The new thread starts with every asynchronous
// signal blocked, whatever the mask of the thread that starts it, so the host's signals
// (SIGINT, SIGTERM, SIGCHLD, SIGUSR1, ...) are delivered to the host's threads, never to ours.
// Synchronous fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) stay unblocked:
// the kernel kills the whole process when one arrives blocked, and resets the host's handler
// for it (or a sanitizer's) first. The calling thread's mask is exactly as it was afterwards.
#pragma once

#include <functional>
#include <string_view>
#include <thread>

namespace spiced {

// Runs `body` on a new thread named `name` (the first 15 characters, the kernel's limit; shown
// by top -H, gdb and /proc/PID/task/*/comm). Throws std::system_error, as std::thread does,
// when no thread can be created.
std::thread start_service_thread(std::string_view name, std::function<void()> body);

}  // namespace spiced
