// DefaultSigpipe: for the scope of a test, SIGPIPE at its default action (the process dies) and
// deliverable to the calling thread, as a host embedding us may leave it; the previous
// disposition and mask come back afterwards. Tests of "no write of ours raises SIGPIPE" run
// under it.
#pragma once

#include <pthread.h>

#include <csignal>

namespace spiced::testing_support {

class DefaultSigpipe {
public:
    DefaultSigpipe() {
        struct sigaction action {};
        action.sa_handler = SIG_DFL;
        sigemptyset(&action.sa_mask);
        sigaction(SIGPIPE, &action, &previous_action_);
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        pthread_sigmask(SIG_UNBLOCK, &pipe, &previous_mask_);
    }
    ~DefaultSigpipe() {
        sigaction(SIGPIPE, &previous_action_, nullptr);
        pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
    }
    DefaultSigpipe(const DefaultSigpipe&) = delete;
    DefaultSigpipe& operator=(const DefaultSigpipe&) = delete;

private:
    struct sigaction previous_action_ {};
    sigset_t previous_mask_{};
};

}  // namespace spiced::testing_support
