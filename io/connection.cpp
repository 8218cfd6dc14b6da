#include "io/connection.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/log.h"

namespace spiced {

namespace {
// Largest file served from the web root; spice-html5's largest is 1.7 MB. Files are read
// whole on the reactor thread, so this also bounds that stall.
constexpr off_t kMaxStaticFile = off_t{32} << 20;
// Request targets in log lines are cut to this many characters.
constexpr size_t kMaxLoggedTarget = 160;
constexpr std::string_view kGet = "GET ";

std::string loggable(std::string_view target) {
    if (target.size() <= kMaxLoggedTarget) return std::string(target);
    return std::string(target.substr(0, kMaxLoggedTarget)) + "...";
}

std::vector<uint8_t> to_bytes(std::string_view text) {
    return std::vector<uint8_t>(text.begin(), text.end());
}
}  // namespace

Connection::Connection(Reactor& reactor, TcpStream stream, Handler* handler,
                       ConnectionOptions options)
    : reactor_(reactor),
      stream_(std::move(stream)),
      handler_(handler),
      options_(std::move(options)) {
    if (options_.tls) {
        auto session = TlsSession::create(*options_.tls);
        if (session) {
            tls_ = std::move(*session);
        } else {
            tls_setup_error_ = session.error();  // reported (and closed) on the first input
        }
    }
    watch_ = reactor_.watch(stream_.fd(), Reactor::kReadable,
                            [this](uint32_t ready) { on_ready(ready); });
}

Connection::~Connection() {
    if (watch_ != 0) reactor_.unwatch(watch_);
}

void Connection::send(std::vector<uint8_t> bytes) {
    if (closed_ || bytes.empty() || mode_ == Mode::kDraining) return;
    const bool was_idle = output_.empty();
    if (mode_ == Mode::kWebSocket) {
        // The header is its own queue entry so the message itself is never copied; writev
        // sends both together.
        std::vector<uint8_t> header;
        header.reserve(10);
        append_ws_frame_header(header, WsOpcode::kBinary, bytes.size());
        enqueue(std::move(header));
    }
    enqueue(std::move(bytes));
    // Try right away: most messages fit in the socket buffer and never wait for EPOLLOUT.
    if (was_idle) write_queued();
    update_interest();
}

void Connection::enqueue(std::vector<uint8_t> bytes) {
    if (!tls_) return enqueue_raw(std::move(bytes));
    std::vector<uint8_t> records;
    records.reserve(bytes.size() + bytes.size() / 512 + 64);
    auto encrypted = tls_->encrypt(bytes, records);
    if (!encrypted) {
        LOG_WARN("tls", "%s: %s; closing", peer().c_str(), encrypted.error().c_str());
        close_logged_ = true;
        close("TLS write error");
        return;
    }
    enqueue_raw(std::move(records));
}

void Connection::enqueue_raw(std::vector<uint8_t> bytes) {
    if (bytes.empty()) return;
    queued_bytes_ += bytes.size();
    output_.push_back(std::move(bytes));
}

void Connection::close(std::string_view reason, bool flush_first) {
    if (closed_) return;
    if (flush_first) {
        // A browser reports a WebSocket that ends without a close frame as an abnormal
        // closure (1006); say goodbye properly when we can.
        if (mode_ == Mode::kWebSocket && websocket_->state() == WebSocketDecoder::State::kOpen) {
            enqueue(ws_close_frame(1000));
        }
        if (tls_ && !closed_) {
            std::vector<uint8_t> notify;
            tls_->shutdown(notify);
            enqueue_raw(std::move(notify));
        }
        if (closed_) return;
        write_queued();
        if (closed_) return;  // write_queued found a write error and closed already
    }
    closed_ = true;
    if (watch_ != 0) {
        reactor_.unwatch(watch_);
        watch_ = 0;
    }
    output_.clear();
    queued_bytes_ = 0;
    if (handler_ != nullptr) handler_->on_closed(reason);
}

void Connection::on_ready(uint32_t ready) {
    if (closed_) return;
    if (ready & Reactor::kWritable) write_queued();
    if (!closed_ && (ready & (Reactor::kReadable | Reactor::kError))) read_available();
    if (!closed_) update_interest();
}

void Connection::read_available() {
    std::array<uint8_t, size_t{64} * 1024> chunk;
    // Bounded number of reads per wake-up so one busy client can't starve the others.
    for (int round = 0; round < 16 && !closed_; ++round) {
        auto got = stream_.read_some(chunk);
        if (!got) {
            if (got.error() == IoError::kWouldBlock) return;
            close(got.error() == IoError::kClosed ? "peer closed the connection"
                                                  : "socket read error");
            return;
        }
        bytes_received_ += *got;
        std::span<const uint8_t> fresh(chunk.data(), *got);
        std::vector<uint8_t> decrypted;
        if (is_tls()) {
            if (!take_tls_input(fresh, decrypted)) return;
            fresh = decrypted;
        }
        bool ready = !fresh.empty();
        if (!ready) {
            // TLS handshake records only: nothing for the layers above yet.
        } else if (mode_ == Mode::kPlain) {
            // The hot path: plain SPICE bytes go straight to the handler's buffer.
            input_.insert(input_.end(), fresh.begin(), fresh.end());
        } else {
            ready = take_framed_input(fresh);
            if (closed_) return;
        }
        if (ready) dispatch_input();
        if (closed_) return;
        if (tls_ && tls_->peer_closed()) {
            close("peer closed the TLS session");
            return;
        }
        if (input_.size() > kMaxBufferedInput) {
            close("peer sent more unconsumed data than the input limit");
            return;
        }
        if (*got < chunk.size()) return;
    }
}

bool Connection::take_tls_input(std::span<const uint8_t> fresh, std::vector<uint8_t>& plain) {
    if (!tls_) {
        LOG_WARN("tls", "%s: %s; closing", peer().c_str(), tls_setup_error_.c_str());
        close_logged_ = true;
        close("TLS setup failed");
        return false;
    }
    const bool was_established = tls_->handshake_done();
    std::vector<uint8_t> to_peer;
    auto received = tls_->receive(fresh, plain, to_peer);
    if (!to_peer.empty()) {
        const bool was_idle = output_.empty();
        enqueue_raw(std::move(to_peer));
        if (was_idle) write_queued();
        if (closed_) return false;
    }
    if (!received) {
        LOG_WARN("tls", "%s: %s; closing", peer().c_str(), received.error().c_str());
        close_logged_ = true;
        close("TLS error", /*flush_first=*/true);  // flush: the alert says why
        return false;
    }
    if (!was_established && tls_->handshake_done()) {
        LOG_DEBUG("tls", "%s: %s established", peer().c_str(), tls_->describe().c_str());
    }
    return true;
}

bool Connection::take_framed_input(std::span<const uint8_t> fresh) {
    switch (mode_) {
        case Mode::kPlain:
            input_.insert(input_.end(), fresh.begin(), fresh.end());
            return true;
        case Mode::kDetect: {
            input_.insert(input_.end(), fresh.begin(), fresh.end());
            const size_t seen = std::min(input_.size(), kGet.size());
            if (std::memcmp(input_.data(), kGet.data(), seen) != 0) {
                mode_ = Mode::kPlain;  // SPICE ("REDQ") or anything else that is not HTTP
                return true;
            }
            if (seen < kGet.size()) return false;
            mode_ = Mode::kHttp;
            handle_http_head();
            return mode_ == Mode::kWebSocket;
        }
        case Mode::kHttp:
            input_.insert(input_.end(), fresh.begin(), fresh.end());
            handle_http_head();
            return mode_ == Mode::kWebSocket;
        case Mode::kWebSocket:
            take_websocket_input(fresh);
            return !closed_;
        case Mode::kDraining:
            return false;  // the answer is on its way; the request was all we wanted
    }
    return false;
}

void Connection::handle_http_head() {
    auto head = parse_http_head(input_);
    if (!head) {
        LOG_WARN("http", "%s: malformed HTTP request (%s); answering 400 and closing",
                 peer().c_str(), head.error().c_str());
        answer_http_and_close(http_error_response(400), {}, "malformed HTTP request");
        return;
    }
    if (head->size == 0) return;  // the head is not complete yet
    // Bytes after the head belong to the next protocol (a client may send its first frame
    // together with the upgrade request).
    std::vector<uint8_t> rest(input_.begin() + long(head->size), input_.end());
    input_.clear();
    const HttpRequest& request = head->request;
    if (!is_websocket_upgrade(request)) {
        serve_static(request);
        return;
    }
    auto response = websocket_handshake_response(request);
    if (!response) {
        LOG_WARN("websocket", "%s: upgrade of GET %s refused with %d: %s", peer().c_str(),
                 loggable(request.target).c_str(), response.error().status,
                 response.error().reason.c_str());
        answer_http_and_close(http_error_response(response.error().status), {},
                              "WebSocket upgrade refused");
        return;
    }
    LOG_DEBUG("websocket", "%s: GET %s upgraded to WebSocket", peer().c_str(),
              loggable(request.target).c_str());
    websocket_ = std::make_unique<WebSocketDecoder>();
    mode_ = Mode::kWebSocket;
    const bool was_idle = output_.empty();
    enqueue(to_bytes(*response));  // raw: the 101 response precedes all framing
    if (was_idle) write_queued();
    if (closed_) return;
    if (!rest.empty()) take_websocket_input(rest);
}

void Connection::serve_static(const HttpRequest& request) {
    namespace fs = std::filesystem;
    auto refuse = [&](int status, const std::string& why) {
        LOG_INFO("http", "%s: GET %s: %d (%s)", peer().c_str(), loggable(request.target).c_str(),
                 status, why.c_str());
        answer_http_and_close(http_error_response(status), {}, "HTTP request refused");
    };
    if (options_.web_root.empty()) return refuse(404, "no --web-root configured");
    auto relative = static_file_path(request.target);
    if (!relative) return refuse(relative.error().status, relative.error().reason);
    std::error_code error;
    const fs::path root = fs::canonical(options_.web_root, error);
    if (error) return refuse(404, "web root unavailable: " + error.message());
    const fs::path file = fs::canonical(root / *relative, error);
    if (error) return refuse(404, "no such file");
    // static_file_path() keeps the name below the root, but a symlink inside the root may
    // point anywhere: the resolved path must still start with the root's components.
    if (std::mismatch(root.begin(), root.end(), file.begin(), file.end()).first != root.end()) {
        return refuse(404, "resolves outside the web root");
    }
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat info {};
    if (!fd.valid() || ::fstat(fd.get(), &info) != 0) {
        return refuse(404, std::string("cannot open: ") + std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) return refuse(404, "not a regular file");
    if (info.st_size > kMaxStaticFile) return refuse(404, "file too large to serve");
    std::vector<uint8_t> body(size_t(info.st_size));
    size_t have = 0;
    while (have < body.size()) {
        const ssize_t got = ::read(fd.get(), body.data() + have, body.size() - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return refuse(500, "read failed or file shrank");
        have += size_t(got);
    }
    LOG_DEBUG("http", "%s: GET %s: 200, %zu bytes", peer().c_str(),
              loggable(request.target).c_str(), body.size());
    std::string head = http_response_head(200, http_content_type(file.native()), body.size());
    answer_http_and_close(std::move(head), std::move(body), "HTTP request served");
}

void Connection::answer_http_and_close(std::string head, std::vector<uint8_t> body,
                                       std::string reason) {
    // The answer is logged already (one line); the owner need not log the close again.
    close_logged_ = true;
    mode_ = Mode::kDraining;
    input_.clear();
    drain_reason_ = std::move(reason);
    enqueue(to_bytes(head));
    if (!body.empty()) enqueue(std::move(body));
    // write_queued() closes the connection once everything is out.
    write_queued();
    update_interest();
}

void Connection::take_websocket_input(std::span<const uint8_t> fresh) {
    std::vector<uint8_t> replies;
    const auto state = websocket_->feed(fresh, input_, replies);
    if (!replies.empty()) {
        const bool was_idle = output_.empty();
        enqueue(std::move(replies));
        if (was_idle) write_queued();
        if (closed_) return;
    }
    switch (state) {
        case WebSocketDecoder::State::kOpen:
            return;
        case WebSocketDecoder::State::kFailed:
            LOG_WARN("websocket", "%s: %s; closing", peer().c_str(), websocket_->failure().c_str());
            close_logged_ = true;
            close("WebSocket protocol error", /*flush_first=*/true);
            return;
        case WebSocketDecoder::State::kClosed: {
            // Whatever arrived before the close frame is still the handler's.
            dispatch_input();
            if (closed_) return;
            const std::string reason =
                "peer closed the WebSocket (code " + std::to_string(websocket_->close_code()) + ")";
            close(reason, /*flush_first=*/true);
            return;
        }
    }
}

void Connection::dispatch_input() {
    // Offer the input to the handler until it stops consuming or changes hands. Only plain and
    // WebSocket connections have handler input; the others are still (or only) HTTP.
    if (mode_ != Mode::kPlain && mode_ != Mode::kWebSocket) return;
    while (!closed_ && !input_.empty() && handler_ != nullptr) {
        Handler* before = handler_;
        size_t used = handler_->on_data(input_);
        if (closed_) return;
        input_.erase(input_.begin(), input_.begin() + long(used));
        if (used == 0 && handler_ == before) break;
    }
}

void Connection::redeliver_input() {
    dispatch_input();
}

void Connection::write_queued() {
    while (!output_.empty() && !closed_) {
        std::array<std::span<const uint8_t>, 32> pieces;
        size_t count = 0;
        for (auto it = output_.begin(); it != output_.end() && count < pieces.size(); ++it) {
            std::span<const uint8_t> whole(*it);
            pieces[count] = count == 0 ? whole.subspan(output_offset_) : whole;
            ++count;
        }
        auto wrote = stream_.write_gather(std::span(pieces.data(), count));
        if (!wrote) {
            if (wrote.error() == IoError::kWouldBlock) break;
            close("socket write error");
            return;
        }
        size_t left = *wrote;
        bytes_sent_ += left;
        queued_bytes_ -= left;
        while (left > 0) {
            size_t rest = output_.front().size() - output_offset_;
            if (left < rest) {
                output_offset_ += left;
                left = 0;
            } else {
                left -= rest;
                output_.pop_front();
                output_offset_ = 0;
            }
        }
    }
    if (closed_) return;
    if (mode_ == Mode::kDraining) {
        if (output_.empty()) close(drain_reason_);
        return;
    }
    if (queued_bytes_ <= low_water_ && handler_ != nullptr && !dispatching_) {
        // Guard against re-entry: on_drained usually calls send(), which writes again.
        dispatching_ = true;
        handler_->on_drained();
        dispatching_ = false;
    }
}

void Connection::update_interest() {
    if (closed_ || watch_ == 0) return;
    uint32_t interest = Reactor::kReadable;
    if (!output_.empty()) interest |= Reactor::kWritable;
    reactor_.set_interest(watch_, interest);
}

}  // namespace spiced
