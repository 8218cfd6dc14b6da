// start_service_thread(): the new thread has the host's signals blocked and its name set; the
// calling thread's mask is left exactly as it was.
#include "base/service_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <csignal>
#include <string>

namespace spiced {
namespace {

bool same_mask(const sigset_t& a, const sigset_t& b) {
    for (int signal = 1; signal < NSIG; ++signal) {
        if (sigismember(&a, signal) != sigismember(&b, signal)) return false;
    }
    return true;
}

TEST(ServiceThreadTest, BlocksHostSignalsInTheNewThreadOnly) {
    // A caller with a mask of its own (SIGUSR2 blocked, SIGINT open), as a host thread may have.
    sigset_t original;
    pthread_sigmask(SIG_SETMASK, nullptr, &original);
    sigset_t callers;
    sigemptyset(&callers);
    sigaddset(&callers, SIGUSR2);
    pthread_sigmask(SIG_SETMASK, &callers, nullptr);

    sigset_t seen;
    sigemptyset(&seen);
    char name[16] = {};
    std::thread thread = start_service_thread("spiced-shard-12345", [&] {
        pthread_sigmask(SIG_BLOCK, nullptr, &seen);
        pthread_getname_np(pthread_self(), name, sizeof name);
    });
    thread.join();

    sigset_t after;
    pthread_sigmask(SIG_SETMASK, &original, &after);
    EXPECT_TRUE(same_mask(after, callers)) << "the caller's mask changed";
    for (int signal : {SIGINT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD, SIGHUP, SIGALRM}) {
        EXPECT_EQ(sigismember(&seen, signal), 1) << "signal " << signal << " is not blocked";
    }
    // Faults the thread itself causes must reach the process's handlers.
    for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
        EXPECT_EQ(sigismember(&seen, signal), 0) << "signal " << signal << " is blocked";
    }
    EXPECT_EQ(std::string(name), "spiced-shard-12");  // 15 characters, the kernel's limit
}

TEST(ServiceThreadTest, ShortNamesAreKept) {
    char name[16] = {};
    std::thread thread = start_service_thread(
        "desktop", [&] { pthread_getname_np(pthread_self(), name, sizeof name); });
    thread.join();
    EXPECT_EQ(std::string(name), "desktop");
}

}  // namespace
}  // namespace spiced
