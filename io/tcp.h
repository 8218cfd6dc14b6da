// Non-blocking stream sockets: a listener and a connected stream. Despite the names, both also
// take AF_UNIX sockets a host process hands us (a listener it created, or a client connection
// such as one end of a socketpair). The stream's read/write never block; they report
// kWouldBlock instead, and the reactor says when to try again.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "io/unique_fd.h"

namespace spiced {

enum class IoError { kWouldBlock, kClosed, kFailed };

// Bytes written to socket `fd` that the peer has not acknowledged yet (TCP: unsent plus
// unacknowledged, SIOCOUTQ; unix: not yet read by the peer); 0 when the kernel cannot say.
size_t unacknowledged_socket_bytes(int fd);

class TcpStream {
public:
    TcpStream(UniqueFd fd, std::string peer) : fd_(std::move(fd)), peer_(std::move(peer)) {}
    // A connected stream socket handed over by a host (TCP, or AF_UNIX such as a socketpair
    // end). Fails, naming the reason, unless it is a connected SOCK_STREAM socket; makes it
    // non-blocking and close-on-exec (which also affects the host's copies of the descriptor).
    static Expected<TcpStream, std::string> adopt(UniqueFd fd);
    // A socket accept()/multishot accept just returned: no checks, it cannot be anything else.
    static TcpStream accepted(UniqueFd fd);
    int fd() const { return fd_.get(); }
    // Gives up the socket (a backend that drives it by itself).
    UniqueFd release_fd() && { return std::move(fd_); }
    // The other end for log lines: "address:port", "unix:PATH", "unix" (an unnamed client of a
    // unix listener) or "socketpair".
    const std::string& peer() const { return peer_; }

    Expected<size_t, IoError> read_some(std::span<uint8_t> into);
    // Writes never raise SIGPIPE (MSG_NOSIGNAL): a closed peer is kClosed, whatever the
    // process's SIGPIPE disposition, which belongs to the host.
    Expected<size_t, IoError> write_some(std::span<const uint8_t> from);
    // Writes several buffers with one system call (sendmsg).
    Expected<size_t, IoError> write_gather(std::span<const std::span<const uint8_t>> buffers);

private:
    UniqueFd fd_;
    std::string peer_;
};

class TcpListener {
public:
    // Binds and listens on `address` ("127.0.0.1", "::", "0.0.0.0", a host name) and `port`
    // (0 picks a free one). The error says which step failed and why.
    static Expected<TcpListener, std::string> listen(const std::string& address, uint16_t port);
    // `count` listeners on one port (SO_REUSEPORT): the kernel spreads new connections over
    // them, so each shard accepts its own. Fails like listen() when the port is in use.
    static Expected<std::vector<TcpListener>, std::string> listen_group(const std::string& address,
                                                                        uint16_t port,
                                                                        size_t count);
    // A listening socket a host created (AF_INET, AF_INET6 or AF_UNIX, SOCK_STREAM, listen()
    // already called). Made non-blocking and close-on-exec. Several reactors may accept on
    // the one listener at once.
    static Expected<TcpListener, std::string> adopt(UniqueFd fd);

    int fd() const { return fd_.get(); }
    // The bound port; 0 for a unix socket.
    uint16_t port() const { return port_; }
    // The next pending connection, non-blocking with TCP_NODELAY set; kWouldBlock when none
    // (also when another thread took it first).
    Expected<TcpStream, IoError> accept();

private:
    // kProbe binds without listening (nothing can connect to it).
    enum class Binding : uint8_t { kExclusive, kShared, kProbe };
    static Expected<TcpListener, std::string> listen_socket(const std::string& address,
                                                            uint16_t port, Binding binding);
    TcpListener(UniqueFd fd, uint16_t port) : fd_(std::move(fd)), port_(port) {}
    UniqueFd fd_;
    uint16_t port_ = 0;
};

}  // namespace spiced
