#include "io/tcp.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace spiced {

namespace {
IoError classify(int error) {
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) return IoError::kWouldBlock;
    if (error == ECONNRESET || error == EPIPE || error == ENOTCONN) return IoError::kClosed;
    return IoError::kFailed;
}

std::string describe(const sockaddr_storage& address) {
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (address.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        std::string text(host);
        text += ':';
        text += std::to_string(port);
        return text;
    }
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        std::string text = "[";
        text += host;
        text += "]:";
        text += std::to_string(port);
        return text;
    }
    return "unknown";
}
}  // namespace

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
        auto member = listen_socket(address, group.empty() ? port : group.front().port(),
                                    Binding::kShared);
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
        uint16_t bound_port = bound.ss_family == AF_INET6
                                  ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        return TcpListener(std::move(fd), bound_port);
    }
    return unexpected(last_error);
}

Expected<TcpStream, IoError> TcpListener::accept() {
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return unexpected(classify(errno));
    return TcpStream::adopt(std::move(fd));
}

TcpStream TcpStream::adopt(UniqueFd fd) {
    int one = 1;
    // Display updates and input acks are latency-sensitive; we batch writes ourselves.
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        peer.ss_family = AF_UNSPEC;  // reset already: the first read reports it
    }
    return TcpStream(std::move(fd), describe(peer));
}

}  // namespace spiced
