// StderrCapture: what the code under test logs, read back through a pipe.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <string>

namespace spiced {

// Points stderr at a pipe for the life of the object, to read what was logged.
class StderrCapture {
public:
    StderrCapture() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2";
        read_end_ = fds[0];
        saved_ = dup(STDERR_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
    }
    ~StderrCapture() {
        dup2(saved_, STDERR_FILENO);
        close(saved_);
        close(read_end_);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    // Fills the pipe so that the next blocking write to stderr would wait.
    void fill() {
        const int flags = fcntl(STDERR_FILENO, F_GETFL);
        fcntl(STDERR_FILENO, F_SETFL, flags | O_NONBLOCK);
        const std::string chunk(4096, 'x');
        while (write(STDERR_FILENO, chunk.data(), chunk.size()) > 0) {
        }
        fcntl(STDERR_FILENO, F_SETFL, flags);
    }
    // Reads everything written until `marker` appears; gives up after 20 s without data, so a
    // line that never comes fails the test instead of hanging it.
    std::string read_until(const std::string& marker) {
        std::string text;
        char buffer[65536];
        while (text.find(marker) == std::string::npos) {
            pollfd ready{read_end_, POLLIN, 0};
            if (poll(&ready, 1, 20000) != 1) break;
            const ssize_t n = read(read_end_, buffer, sizeof buffer);
            if (n <= 0) break;
            text.append(buffer, static_cast<size_t>(n));
        }
        return text;
    }

private:
    int read_end_ = -1;
    int saved_ = -1;
};

}  // namespace spiced
