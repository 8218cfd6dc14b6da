#include "io/cpu_placement.h"

#include <gtest/gtest.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace spiced {
namespace {

TEST(ParseCpuListTest, AcceptsLinuxCpulistSyntax) {
    const struct {
        const char* text;
        std::vector<int> cpus;
    } cases[] = {
        {"0", {0}},
        {"7", {7}},
        {"0-3", {0, 1, 2, 3}},
        {"0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}},
        {"5-5", {5}},
        {"8,2,0-1", {0, 1, 2, 8}},  // sorted
        {"1,1,0-2", {0, 1, 2}},     // without duplicates
        {"007", {7}},
        {"4095", {4095}},
        {"4094-4095", {4094, 4095}},
    };
    for (const auto& c : cases) {
        auto cpus = parse_cpu_list(c.text);
        ASSERT_TRUE(cpus) << c.text << ": " << cpus.error();
        EXPECT_EQ(*cpus, c.cpus) << c.text;
    }
}

TEST(ParseCpuListTest, RejectsBadListsQuotingTheBadPart) {
    const struct {
        const char* text;
        const char* quoted;  // what the error must mention
    } cases[] = {
        {"", "empty"},
        {",", "\",\""},
        {"0,,2", "\"0,,2\""},
        {"0,", "\"0,\""},
        {",0", "\",0\""},
        {"a", "\"a\""},
        {"0-3,x", "\"x\""},
        {"1-", "\"1-\""},
        {"-1", "\"-1\""},
        {"0-3-5", "\"0-3-5\""},
        {"+1", "\"+1\""},
        {" 1", "\" 1\""},
        {"1 ", "\"1 \""},
        {"0x10", "\"0x10\""},
        {"0-7:2", "\"0-7:2\""},
        {"3-1", "\"3-1\""},
        {"4096", "\"4096\""},
        {"0-4096", "\"4096\""},
        {"99999999999999999999", "\"99999999999999999999\""},
    };
    for (const auto& c : cases) {
        auto cpus = parse_cpu_list(c.text);
        ASSERT_FALSE(cpus) << "'" << c.text << "' was accepted";
        EXPECT_NE(cpus.error().find(c.quoted), std::string::npos)
            << "'" << c.text << "': " << cpus.error();
    }
    EXPECT_NE(parse_cpu_list("3-1").error().find("reversed"), std::string::npos);
    EXPECT_NE(parse_cpu_list("4096").error().find("4095"), std::string::npos);
}

std::vector<int> affinity_of_calling_thread() {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

TEST(CpuPlacementTest, OnlineCpusMatchesTheProcessAffinity) {
    std::vector<int> online = online_cpus();
    ASSERT_FALSE(online.empty());
    // gtest runs tests on the main thread, whose mask is the process's.
    EXPECT_EQ(online, affinity_of_calling_thread());
}

TEST(CpuPlacementTest, PinsTheCallingThreadToOneCpu) {
    std::vector<int> online = online_cpus();
    ASSERT_FALSE(online.empty());
    const int target = online.back();
    // A thread of its own, so the test runner's main thread keeps its mask.
    std::string error;
    std::vector<int> after;
    std::thread([&] {
        auto pinned = pin_current_thread(std::vector<int>{target});
        if (!pinned) error = pinned.error();
        after = affinity_of_calling_thread();
    }).join();
    ASSERT_EQ(error, "");
    EXPECT_EQ(after, std::vector<int>{target});
    EXPECT_EQ(online_cpus(), online);  // the process's mask is untouched
}

TEST(CpuPlacementTest, PinningRefusesBadCpuSets) {
    std::thread([] {
        auto none = pin_current_thread({});
        ASSERT_FALSE(none);
        auto too_big = pin_current_thread(std::vector<int>{4096});
        ASSERT_FALSE(too_big);
        EXPECT_NE(too_big.error().find("4096"), std::string::npos) << too_big.error();
        auto negative = pin_current_thread(std::vector<int>{-1});
        ASSERT_FALSE(negative);
        // In range, but offline on any machine this runs on: the kernel refuses it.
        auto offline = pin_current_thread(std::vector<int>{4000, 4001, 4002});
        ASSERT_FALSE(offline);
        EXPECT_NE(offline.error().find("4000-4002"), std::string::npos) << offline.error();
        EXPECT_NE(offline.error().find("Invalid argument"), std::string::npos) << offline.error();
    }).join();
}

TEST(CpuPlacementTest, BindsMemoryToNodeZero) {
    if (numa_available() < 0) GTEST_SKIP() << "no NUMA support on this system";
    std::thread([] {
        auto bound = bind_memory_to_node(0);
        ASSERT_TRUE(bound) << bound.error();
        int mode = -1;
        unsigned long nodes = 0;
        ASSERT_EQ(get_mempolicy(&mode, &nodes, sizeof nodes * 8, nullptr, 0), 0);
        EXPECT_EQ(mode, MPOL_PREFERRED);
        EXPECT_EQ(nodes, 1ul);
    }).join();
}

TEST(CpuPlacementTest, RefusesNodesThatDoNotExist) {
    for (int node : {4095, -1}) {
        auto bound = bind_memory_to_node(node);
        ASSERT_FALSE(bound) << node;
        EXPECT_NE(bound.error().find(std::to_string(node)), std::string::npos) << bound.error();
        EXPECT_TRUE(cpus_of_node(node).empty()) << node;
    }
}

TEST(CpuPlacementTest, NodeZeroHoldsOnlineCpus) {
    if (numa_available() < 0) GTEST_SKIP() << "no NUMA support on this system";
    std::vector<int> cpus = cpus_of_node(0);
    ASSERT_FALSE(cpus.empty());
    // Every online CPU belongs to some node; on a one-node machine, all of them to node 0.
    if (numa_max_node() == 0) {
        for (int cpu : online_cpus()) {
            EXPECT_NE(std::find(cpus.begin(), cpus.end(), cpu), cpus.end()) << cpu;
        }
    }
}

}  // namespace
}  // namespace spiced
