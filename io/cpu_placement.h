// CPU and NUMA placement for --cpus LIST and --numa-node N: parse Linux cpulist syntax, pin
// the calling thread to CPUs, and prefer one NUMA node's memory for it. Every function acts on
// the calling thread only (threads created afterwards inherit its affinity and memory policy),
// and failures come back as one-sentence errors for the caller to log or refuse at start.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"

namespace spiced {

// CPU numbers must be below this. It bounds the affinity masks we allocate and catches typos
// ("0-40000") at start; it is above the CPU count of any machine this server targets.
inline constexpr int kMaxCpus = 4096;

// Linux cpulist syntax as in /sys/devices/system/cpu/online and taskset -c: comma-separated
// CPU numbers and inclusive ranges, e.g. "0-3,8,10-11". Returns the CPUs sorted, without
// duplicates. Rejects empty lists and items, anything but digits, '-' and ',', reversed
// ranges and CPUs >= kMaxCpus, with an error that quotes the offending part.
Expected<std::vector<int>, std::string> parse_cpu_list(std::string_view text);

// The CPUs this process may run on (the main thread's affinity mask, which is what the process
// started with unless the main thread re-pinned itself), sorted.
std::vector<int> online_cpus();

// Restricts the calling thread to `cpus`. Fails when the list is empty, names a CPU outside
// [0, kMaxCpus), or the kernel refuses (e.g. none of them is online or in our cpuset).
Expected<void, std::string> pin_current_thread(std::span<const int> cpus);

// Makes the calling thread allocate memory from NUMA node `node` first (MPOL_PREFERRED: when
// the node runs out, the kernel falls back to other nodes rather than killing the process).
// Fails when the kernel has no NUMA support or the node does not exist or has no memory we may
// use.
Expected<void, std::string> bind_memory_to_node(int node);

// The CPUs the kernel places on NUMA node `node`, sorted (not filtered by our affinity: pass
// them through online_cpus() for that); empty when NUMA is unavailable or the node does not
// exist.
std::vector<int> cpus_of_node(int node);

// "0-3,8" for {0, 1, 2, 3, 8}: how the kernel and taskset print CPU lists.
std::string format_cpu_list(std::span<const int> cpus);

// The server's placement, applied to the calling (main) thread before it starts any other
// thread, so the reactor, the ticket-key worker and later threads all inherit it: `cpus` pins
// (an empty list with a node pins to that node's CPUs; both empty leaves the scheduler free)
// and `node` prefers that node's memory. Returns a description for the start-up log line.
Expected<std::string, std::string> place_server_threads(std::span<const int> cpus,
                                                        std::optional<int> node);

}  // namespace spiced
