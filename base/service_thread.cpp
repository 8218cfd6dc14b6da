#include "base/service_thread.h"

#include <pthread.h>

#include <csignal>
#include <string>

namespace spiced {

namespace {
// pthread_setname_np() refuses longer names (16 bytes with the terminating NUL).
constexpr size_t kMaxThreadName = 15;

// Raised by the thread's own instructions rather than sent to the process; see the header.
constexpr int kSynchronousSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

// Puts the calling thread's signal mask back when it goes, also when std::thread throws.
class RestoreSignalMask {
public:
    explicit RestoreSignalMask(const sigset_t& previous) : previous_(previous) {}
    ~RestoreSignalMask() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    RestoreSignalMask(const RestoreSignalMask&) = delete;
    RestoreSignalMask& operator=(const RestoreSignalMask&) = delete;

private:
    sigset_t previous_;
};
}  // namespace

std::thread start_service_thread(std::string_view name, std::function<void()> body) {
    // A new thread starts with its creator's mask (pthread_create(3)); blocking in the new
    // thread itself would leave a window in which a signal could land there.
    sigset_t blocked;
    sigfillset(&blocked);
    for (int fault : kSynchronousSignals) sigdelset(&blocked, fault);
    sigset_t previous;
    pthread_sigmask(SIG_SETMASK, &blocked, &previous);
    const RestoreSignalMask restore(previous);
    return std::thread(
        [thread_name = std::string(name.substr(0, kMaxThreadName)), body = std::move(body)] {
            pthread_setname_np(pthread_self(), thread_name.c_str());
            body();
        });
}

}  // namespace spiced
