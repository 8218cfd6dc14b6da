#include "io/cpu_placement.h"

#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace spiced {

namespace {

struct CpuSetDeleter {
    void operator()(cpu_set_t* set) const { CPU_FREE(set); }
};
// A dynamically sized mask for kMaxCpus CPUs: the fixed cpu_set_t stops at 1024.
struct CpuSet {
    std::unique_ptr<cpu_set_t, CpuSetDeleter> set{CPU_ALLOC(kMaxCpus)};
    size_t bytes = CPU_ALLOC_SIZE(kMaxCpus);

    CpuSet() { CPU_ZERO_S(bytes, set.get()); }
    std::vector<int> members() const {
        std::vector<int> cpus;
        for (int cpu = 0; cpu < kMaxCpus; ++cpu) {
            if (CPU_ISSET_S(cpu, bytes, set.get())) cpus.push_back(cpu);
        }
        return cpus;
    }
};

struct BitmaskDeleter {
    void operator()(bitmask* mask) const { numa_bitmask_free(mask); }
};
using BitmaskPtr = std::unique_ptr<bitmask, BitmaskDeleter>;

std::string quoted(std::string_view text) {
    // Built by appending: GCC 12's -Wrestrict misfires on `"\"" + std::string(...)`.
    std::string result;
    result.reserve(text.size() + 2);
    result.push_back('"');
    result.append(text);
    result.push_back('"');
    return result;
}

}  // namespace

std::string format_cpu_list(std::span<const int> cpus) {
    std::vector<int> sorted(cpus.begin(), cpus.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    std::string text;
    for (size_t i = 0; i < sorted.size();) {
        size_t last = i;
        while (last + 1 < sorted.size() && sorted[last + 1] == sorted[last] + 1) ++last;
        if (!text.empty()) text += ',';
        text += std::to_string(sorted[i]);
        if (last > i) text += '-' + std::to_string(sorted[last]);
        i = last + 1;
    }
    return text;
}

namespace {

// A CPU number: digits only (no sign, no spaces), below kMaxCpus. `item` is the list item it
// came from, quoted in the error.
Expected<int, std::string> parse_cpu(std::string_view digits, std::string_view item) {
    bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    if (!all_digits) {
        return unexpected(quoted(item) +
                          " in the CPU list is not a CPU number or range (want e.g. 0-3,8)");
    }
    unsigned value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() ||
        value >= static_cast<unsigned>(kMaxCpus)) {
        return unexpected("CPU " + quoted(digits) + " in the CPU list is out of range (at most " +
                          std::to_string(kMaxCpus - 1) + ")");
    }
    return static_cast<int>(value);
}

}  // namespace

Expected<std::vector<int>, std::string> parse_cpu_list(std::string_view text) {
    if (text.empty()) return unexpected(std::string("the CPU list is empty"));
    std::vector<int> cpus;
    for (size_t start = 0;;) {
        size_t comma = text.find(',', start);
        std::string_view item = text.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (item.empty()) return unexpected("the CPU list " + quoted(text) + " has an empty item");
        size_t dash = item.find('-');
        auto first = parse_cpu(item.substr(0, dash), item);
        if (!first) return unexpected(first.error());
        int last = *first;
        if (dash != std::string_view::npos) {
            auto end = parse_cpu(item.substr(dash + 1), item);
            if (!end) return unexpected(end.error());
            if (*end < *first) {
                return unexpected("the CPU range " + quoted(item) + " is reversed");
            }
            last = *end;
        }
        for (int cpu = *first; cpu <= last; ++cpu) cpus.push_back(cpu);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

std::vector<int> online_cpus() {
    CpuSet allowed;
    // getpid() names the main thread, whose mask is the process's; 0 would name the calling
    // thread, which may have been pinned already.
    if (sched_getaffinity(getpid(), allowed.bytes, allowed.set.get()) == 0) {
        return allowed.members();
    }
    // Only fails when the kernel's mask is wider than kMaxCpus; then every online CPU counts.
    std::vector<int> cpus;
    long count = sysconf(_SC_NPROCESSORS_ONLN);
    for (int cpu = 0; cpu < count && cpu < kMaxCpus; ++cpu) cpus.push_back(cpu);
    return cpus;
}

Expected<void, std::string> pin_current_thread(std::span<const int> cpus) {
    if (cpus.empty()) return unexpected(std::string("cannot pin a thread to no CPUs"));
    CpuSet wanted;
    for (int cpu : cpus) {
        if (cpu < 0 || cpu >= kMaxCpus) {
            return unexpected("cannot pin a thread to CPU " + std::to_string(cpu) +
                              ": CPU numbers must be below " + std::to_string(kMaxCpus));
        }
        CPU_SET_S(static_cast<size_t>(cpu), wanted.bytes, wanted.set.get());
    }
    // pthread_* functions return the error number instead of setting errno.
    int error = pthread_setaffinity_np(pthread_self(), wanted.bytes, wanted.set.get());
    if (error != 0) {
        return unexpected("cannot pin a thread to CPUs " + format_cpu_list(cpus) + ": " +
                          std::strerror(error));
    }
    return {};
}

Expected<void, std::string> bind_memory_to_node(int node) {
    if (numa_available() < 0) {
        return unexpected("cannot bind memory to NUMA node " + std::to_string(node) +
                          ": this system has no NUMA support");
    }
    int max_node = numa_max_node();
    if (node < 0 || node > max_node) {
        return unexpected(
            "NUMA node " + std::to_string(node) + " does not exist (this system has " +
            (max_node == 0 ? std::string("only node 0") : "nodes 0-" + std::to_string(max_node)) +
            ")");
    }
    // numa_all_nodes_ptr: the nodes this process may allocate from (its cpuset's mems).
    if (!numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(node))) {
        return unexpected("NUMA node " + std::to_string(node) +
                          " has no memory this process may use");
    }
    BitmaskPtr nodes(numa_allocate_nodemask());
    numa_bitmask_setbit(nodes.get(), static_cast<unsigned>(node));
    // set_mempolicy() directly rather than numa_set_preferred(): the latter reports failures
    // only by printing to stderr through libnuma's numa_error() hook.
    if (set_mempolicy(MPOL_PREFERRED, nodes->maskp, nodes->size + 1) != 0) {
        return unexpected("cannot bind memory to NUMA node " + std::to_string(node) + ": " +
                          std::strerror(errno));
    }
    return {};
}

std::vector<int> cpus_of_node(int node) {
    if (numa_available() < 0 || node < 0 || node > numa_max_node()) return {};
    BitmaskPtr mask(numa_allocate_cpumask());
    if (numa_node_to_cpus(node, mask.get()) != 0) return {};
    std::vector<int> cpus;
    for (unsigned cpu = 0; cpu < mask->size && cpu < static_cast<unsigned>(kMaxCpus); ++cpu) {
        if (numa_bitmask_isbitset(mask.get(), cpu)) cpus.push_back(static_cast<int>(cpu));
    }
    return cpus;
}

Expected<std::string, std::string> place_server_threads(std::span<const int> cpus,
                                                        std::optional<int> node) {
    std::vector<int> pinned(cpus.begin(), cpus.end());
    if (pinned.empty() && node) {
        pinned = cpus_of_node(*node);
        if (pinned.empty()) {
            return unexpected("NUMA node " + std::to_string(*node) + " has no CPUs we can use");
        }
    }
    std::string description;
    if (!pinned.empty()) {
        if (auto pin = pin_current_thread(pinned); !pin) return unexpected(pin.error());
        description = "threads on CPUs " + format_cpu_list(pinned);
    } else {
        description = "threads on any of CPUs " + format_cpu_list(online_cpus());
    }
    if (node) {
        if (auto bind = bind_memory_to_node(*node); !bind) return unexpected(bind.error());
        description += ", memory on NUMA node " + std::to_string(*node);
    }
    return description;
}

}  // namespace spiced
