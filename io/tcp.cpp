#include "io/tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>

namespace spiced {

namespace {
IoError classify(int error) {
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) return IoError::kWouldBlock;
    if (error == ECONNRESET || error == EPIPE || error == ENOTCONN) return IoError::kClosed;
    return IoError::kFailed;
}

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

Expected<int, std::string> int_option(int fd, int name, const char* label) {
    int value = 0;
    socklen_t length = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, name, &value, &length) != 0) {
        return unexpected(errno_text(label));
    }
    return value;
}

// What both adopt()s check first. A host could hand us any descriptor; a datagram or
// seqpacket socket would half-work and fail in confusing ways later.
Expected<void, std::string> check_stream_socket(const UniqueFd& fd) {
    if (!fd.valid()) return unexpected(std::string("not a file descriptor"));
    auto type = int_option(fd.get(), SO_TYPE, "not a socket (getsockopt SO_TYPE)");
    if (!type) return unexpected(type.error());
    if (*type != SOCK_STREAM) {
        return unexpected("not a stream socket (SO_TYPE " + std::to_string(*type) + ")");
    }
    return {};
}

// Host descriptors come with the host's flags. Both backends need non-blocking sockets (epoll
// reads and writes until EAGAIN), and a child the host forks and executes must not inherit
// our clients. Both flags live in the host's copies of the descriptor too.
Expected<void, std::string> make_nonblocking_cloexec(int fd) {
    const int status = fcntl(fd, F_GETFL);
    if (status < 0 || fcntl(fd, F_SETFL, status | O_NONBLOCK) != 0) {
        return unexpected(errno_text("fcntl(O_NONBLOCK)"));
    }
    const int descriptor = fcntl(fd, F_GETFD);
    if (descriptor < 0 || fcntl(fd, F_SETFD, descriptor | FD_CLOEXEC) != 0) {
        return unexpected(errno_text("fcntl(FD_CLOEXEC)"));
    }
    return {};
}

uint16_t port_of(const sockaddr_storage& address) {
    if (address.ss_family == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    }
    if (address.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    }
    return 0;  // unix sockets have no port
}

// A unix socket's path; empty when unnamed. Abstract names (leading NUL) show as "@name".
std::string unix_path(const sockaddr_storage& address, socklen_t length) {
    constexpr size_t kPathOffset = offsetof(sockaddr_un, sun_path);
    if (address.ss_family != AF_UNIX || length <= kPathOffset) return {};
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
    std::string path(un->sun_path, length - kPathOffset);
    if (path.front() == '\0') {
        path.front() = '@';
        return path;
    }
    return std::string(path.c_str());  // up to the terminating NUL
}

std::string describe(int fd, const sockaddr_storage& address, socklen_t length) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        std::string text(host);
        text.append(":").append(std::to_string(port_of(address)));
        return text;
    }
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        std::string text = "[";
        text.append(host).append("]:").append(std::to_string(port_of(address)));
        return text;
    }
    if (address.ss_family == AF_UNIX) {
        if (auto path = unix_path(address, length); !path.empty()) return "unix:" + path;
        // Unnamed peers: a client of a unix listener has the listener's name on our end; a
        // socketpair (what a host hands over most often) has no name on either end.
        sockaddr_storage local{};
        socklen_t local_length = sizeof local;
        const bool named =
            getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) == 0 &&
            !unix_path(local, local_length).empty();
        return named ? "unix" : "socketpair";
    }
    return "unknown";
}

// What accepted and adopted streams share once the peer's address is known.
TcpStream configure(UniqueFd fd, const sockaddr_storage& peer, socklen_t length) {
    if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
        int one = 1;
        // Display updates and input acks are latency-sensitive; we batch writes ourselves.
        setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    std::string name = describe(fd.get(), peer, length);
    return TcpStream(std::move(fd), std::move(name));
}
}  // namespace

size_t unacknowledged_socket_bytes(int fd) {
    int bytes = 0;
    if (::ioctl(fd, SIOCOUTQ, &bytes) != 0 || bytes < 0) return 0;
    return static_cast<size_t>(bytes);
}

Expected<size_t, IoError> TcpStream::read_some(std::span<uint8_t> into) {
    ssize_t n = ::recv(fd_.get(), into.data(), into.size(), 0);
    if (n > 0) return size_t(n);
    if (n == 0) return unexpected(IoError::kClosed);
    return unexpected(classify(errno));
}

Expected<size_t, IoError> TcpStream::write_some(std::span<const uint8_t> from) {
    ssize_t n = ::send(fd_.get(), from.data(), from.size(), MSG_NOSIGNAL);
    if (n >= 0) return size_t(n);
    return unexpected(classify(errno));
}

Expected<size_t, IoError> TcpStream::write_gather(
    std::span<const std::span<const uint8_t>> buffers) {
    std::array<iovec, 64> iov{};
    size_t count = std::min(buffers.size(), iov.size());
    for (size_t i = 0; i < count; ++i) {
        iov[i].iov_base = const_cast<uint8_t*>(buffers[i].data());
        iov[i].iov_len = buffers[i].size();
    }
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
    if (n >= 0) return size_t(n);
    return unexpected(classify(errno));
}

Expected<TcpListener, std::string> TcpListener::listen(const std::string& address, uint16_t port) {
    return listen_socket(address, port, Binding::kExclusive);
}

Expected<std::vector<TcpListener>, std::string> TcpListener::listen_group(
    const std::string& address, uint16_t port, size_t count) {
    std::vector<TcpListener> group;
    if (count <= 1) {
        auto single = listen(address, port);
        if (!single) return unexpected(single.error());
        group.push_back(std::move(*single));
        return group;
    }
    if (port != 0) {
        // SO_REUSEPORT would let us join a group another process of ours already listens
        // with (a stale server), silently splitting its clients. An exclusive bind first
        // fails as "address in use" in that case, as a single listener would. It only binds:
        // a listening probe could take a client's connection and reset it when closed.
        auto probe = listen_socket(address, port, Binding::kProbe);
        if (!probe) return unexpected(probe.error());
    }
    for (size_t i = 0; i < count; ++i) {
        // The first one picks the port when 0 was asked for; the rest join it.
        auto member =
            listen_socket(address, group.empty() ? port : group.front().port(), Binding::kShared);
        if (!member) return unexpected(member.error());
        group.push_back(std::move(*member));
    }
    return group;
}

Expected<TcpListener, std::string> TcpListener::listen_socket(const std::string& address,
                                                              uint16_t port, Binding binding) {
    const bool share_port = binding == Binding::kShared;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    int rc =
        getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
        return unexpected("cannot resolve listen address '" + address + "': " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
    std::string last_error = "no usable address";
    for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd.valid()) {
            last_error = std::string("socket: ") + std::strerror(errno);
            continue;
        }
        int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (share_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            last_error = std::string("SO_REUSEPORT: ") + std::strerror(errno);
            continue;
        }
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            last_error = "bind ";
            last_error.append(address).append(":").append(service).append(": ");
            last_error.append(std::strerror(errno));
            continue;
        }
        if (binding == Binding::kProbe) return TcpListener(std::move(fd), port);
        // Room for a burst of connections (a pool's clients reconnecting at once); the kernel
        // caps it at net.core.somaxconn.
        if (::listen(fd.get(), 4096) != 0) {
            last_error = std::string("listen: ") + std::strerror(errno);
            continue;
        }
        sockaddr_storage bound{};
        socklen_t length = sizeof bound;
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
        return TcpListener(std::move(fd), port_of(bound));
    }
    return unexpected(last_error);
}

Expected<TcpListener, std::string> TcpListener::adopt(UniqueFd fd) {
    if (auto checked = check_stream_socket(fd); !checked) return unexpected(checked.error());
    auto listening = int_option(fd.get(), SO_ACCEPTCONN, "getsockopt(SO_ACCEPTCONN)");
    if (!listening) return unexpected(listening.error());
    if (*listening != 1) return unexpected(std::string("not listening (no listen() call)"));
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
        return unexpected(errno_text("getsockname"));
    }
    if (bound.ss_family != AF_INET && bound.ss_family != AF_INET6 && bound.ss_family != AF_UNIX) {
        return unexpected("address family " + std::to_string(bound.ss_family) +
                          " is not AF_INET, AF_INET6 or AF_UNIX");
    }
    if (auto flags = make_nonblocking_cloexec(fd.get()); !flags) {
        return unexpected(flags.error());
    }
    return TcpListener(std::move(fd), port_of(bound));
}

Expected<TcpStream, IoError> TcpListener::accept() {
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return unexpected(classify(errno));
    return TcpStream::accepted(std::move(fd));
}

TcpStream TcpStream::accepted(UniqueFd fd) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        peer.ss_family = AF_UNSPEC;  // reset already: the first read reports it
    }
    return configure(std::move(fd), peer, length);
}

Expected<TcpStream, std::string> TcpStream::adopt(UniqueFd fd) {
    if (auto checked = check_stream_socket(fd); !checked) return unexpected(checked.error());
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        return unexpected(errno_text("not a connected socket (getpeername)"));
    }
    if (auto flags = make_nonblocking_cloexec(fd.get()); !flags) {
        return unexpected(flags.error());
    }
    return configure(std::move(fd), peer, length);
}

}  // namespace spiced
