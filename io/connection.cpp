#include "io/connection.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
// The HTTP requests the SPICE port answers: GET (files, WebSocket upgrades) and HEAD (load
// balancers' health checks), told apart from SPICE's "REDQ" by their first bytes.
constexpr std::string_view kGet = "GET ";
constexpr std::string_view kHead = "HEAD ";

// Whether `input` can still be, or is, the start of `method`.
bool may_start_with(std::span<const uint8_t> input, std::string_view method) {
    const size_t seen = std::min(input.size(), method.size());
    return std::memcmp(input.data(), method.data(), seen) == 0;
}

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
    : handler_(handler), options_(std::move(options)) {
    if (options_.tls) {
        auto session = TlsSession::create(*options_.tls);
        if (session) {
            tls_ = std::move(*session);
        } else {
            tls_setup_error_ = session.error();  // reported (and closed) on the first input
        }
    }
    io_ = reactor.open_stream(std::move(stream), *this);
}

Connection::~Connection() {
    io_->shut(/*flush=*/false);
}

void Connection::send(std::vector<uint8_t> bytes) {
    if (closed_ || bytes.empty() || mode_ == Mode::kDraining) return;
    if (mode_ == Mode::kWebSocket) {
        // The header is its own queue entry so the message itself is never copied; the
        // backend gathers both into one write.
        std::vector<uint8_t> header;
        header.reserve(10);
        append_ws_frame_header(header, WsOpcode::kBinary, bytes.size());
        enqueue(std::move(header));
    }
    enqueue(std::move(bytes));
}

void Connection::enqueue(std::vector<uint8_t> bytes) {
    if (!tls_) return enqueue_raw(std::move(bytes));
    std::vector<uint8_t> records;
    records.reserve(bytes.size() + bytes.size() / 512 + 64);
    auto encrypted = tls_->encrypt(bytes, records);
    if (!encrypted) {
        log(LogLevel::kWarning, "tls", "%s; closing", encrypted.error().c_str());
        close_logged_ = true;
        close("TLS write error");
        return;
    }
    enqueue_raw(std::move(records));
}

namespace {
// What counts as small (replies, acks, pings, cursor moves), and the chunk they are staged in.
constexpr size_t kSmallMessage = 1024;
constexpr size_t kStageChunk = size_t{16} << 10;
}  // namespace

void Connection::enqueue_raw(std::vector<uint8_t> bytes) {
    if (bytes.empty() || closed_) return;
    if (queued_bytes() == 0) output_progress_at_ = std::chrono::steady_clock::now();
    const size_t queued = queued_bytes() + bytes.size();
    if (options_.output_limit != 0 && queued > options_.output_limit) {
        log(LogLevel::kWarning, "io",
            "peer is not reading: %zu bytes would be queued, over the limit of %zu "
            "(--client-memory-limit); closing",
            queued, options_.output_limit);
        close_logged_ = true;
        close("not reading (client memory limit reached)");
        return;
    }
    peak_queued_bytes_ = std::max(peak_queued_bytes_, queued);
    const bool small = bytes.size() <= kSmallMessage;
    if (small && (!staged_.empty() || io_->queued_bytes() > 0)) {
        if (staged_.capacity() < kStageChunk) staged_.reserve(kStageChunk);
        staged_.insert(staged_.end(), bytes.begin(), bytes.end());
        if (staged_.size() >= kStageChunk) flush_staged();
        return;
    }
    flush_staged();  // what was staged goes first
    io_->write(std::move(bytes));
}

void Connection::flush_staged() {
    if (staged_.empty() || closed_) return;
    std::vector<uint8_t> chunk = std::move(staged_);
    staged_ = {};
    io_->write(std::move(chunk));
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
        if (closed_) return;  // a write error closed it already
    }
    if (flush_first) flush_staged();
    closed_ = true;
    staged_ = {};
    io_->shut(flush_first);
    if (const uint64_t held_back = log_limiter_.held_back(); held_back > 0) {
        log_write(LogLevel::kWarning, "io",
                  "%s: closed (%.*s); %llu more lines about this connection were held back "
                  "(log limit)",
                  peer().c_str(), static_cast<int>(reason.size()), reason.data(),
                  static_cast<unsigned long long>(held_back));
    }
    if (handler_ != nullptr) handler_->on_closed(reason);
}

void Connection::log(LogLevel level, std::string_view component, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vlog(level, component, format, args);
    va_end(args);
}

void Connection::vlog(LogLevel level, std::string_view component, const char* format,
                      va_list args) {
    if (level < log_threshold()) return;
    uint64_t held_back = 0;
    if (!log_limiter_.allow(held_back)) return;
    if (shared_log_limiter_ != nullptr) {
        uint64_t shared_held_back = 0;
        if (!shared_log_limiter_->allow(shared_held_back)) {
            shared_log_limiter_->add_held_back(held_back);
            return;
        }
        held_back += shared_held_back;
    }
    char message[1024];
    std::vsnprintf(message, sizeof message, format, args);
    if (held_back == 0) {
        log_write(level, component, "%s: %s", peer().c_str(), message);
    } else {
        log_write(level, component, "%s: %s (%llu lines held back: log limit)", peer().c_str(),
                  message, static_cast<unsigned long long>(held_back));
    }
}

void Connection::on_failed(std::string_view reason) {
    close(reason);
}

void Connection::on_received(std::span<const uint8_t> fresh) {
    if (closed_) return;
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
    }
}

void Connection::on_sent(size_t queued) {
    if (closed_) return;
    output_progress_at_ = std::chrono::steady_clock::now();
    if (queued == 0 && !staged_.empty()) {
        flush_staged();
        if (closed_) return;
        queued = io_->queued_bytes();
    }
    if (mode_ == Mode::kDraining) {
        if (queued == 0) close(drain_reason_);
        return;
    }
    if (queued <= low_water_ && handler_ != nullptr && !dispatching_) {
        // Guard against re-entry: on_drained usually calls send(), which may write at once.
        dispatching_ = true;
        handler_->on_drained();
        dispatching_ = false;
    }
}

bool Connection::take_tls_input(std::span<const uint8_t> fresh, std::vector<uint8_t>& plain) {
    if (!tls_) {
        log(LogLevel::kWarning, "tls", "%s; closing", tls_setup_error_.c_str());
        close_logged_ = true;
        close("TLS setup failed");
        return false;
    }
    const bool was_established = tls_->handshake_done();
    std::vector<uint8_t> to_peer;
    auto received = tls_->receive(fresh, plain, to_peer);
    if (!to_peer.empty()) {
        enqueue_raw(std::move(to_peer));
        if (closed_) return false;
    }
    if (!received) {
        log(LogLevel::kWarning, "tls", "%s; closing", received.error().c_str());
        close_logged_ = true;
        close("TLS error", /*flush_first=*/true);  // flush: the alert says why
        return false;
    }
    if (!was_established && tls_->handshake_done()) {
        log(LogLevel::kDebug, "tls", "%s established", tls_->describe().c_str());
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
            const bool get = may_start_with(input_, kGet), head = may_start_with(input_, kHead);
            if (!get && !head) {
                mode_ = Mode::kPlain;  // SPICE ("REDQ") or anything else that is not HTTP
                return true;
            }
            if (input_.size() < (get ? kGet.size() : kHead.size())) return false;
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
        log(LogLevel::kWarning, "http", "malformed HTTP request (%s); answering 400 and closing",
            head.error().c_str());
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
    if (!websocket_origin_allowed(request, options_.websocket_origins)) {
        const std::string* origin = request.header("origin");
        log(LogLevel::kWarning, "websocket",
            "upgrade from origin %s refused with 403: not this server's pages (allow "
            "it with --websocket-origin)",
            loggable(origin ? *origin : "?").c_str());
        answer_http_and_close(http_error_response(403), {}, "WebSocket origin refused");
        return;
    }
    auto response = websocket_handshake_response(request);
    if (!response) {
        log(LogLevel::kWarning, "websocket", "upgrade of GET %s refused with %d: %s",
            loggable(request.target).c_str(), response.error().status,
            response.error().reason.c_str());
        answer_http_and_close(http_error_response(response.error().status), {},
                              "WebSocket upgrade refused");
        return;
    }
    log(LogLevel::kDebug, "websocket", "GET %s upgraded to WebSocket",
        loggable(request.target).c_str());
    websocket_ = std::make_unique<WebSocketDecoder>();
    mode_ = Mode::kWebSocket;
    enqueue(to_bytes(*response));  // raw: the 101 response precedes all framing
    if (closed_) return;
    if (!rest.empty()) take_websocket_input(rest);
}

void Connection::serve_static(const HttpRequest& request) {
    namespace fs = std::filesystem;
    // HEAD is answered like GET without the body (RFC 9110 9.3.2).
    const bool head_only = request.method == "HEAD";
    auto refuse = [&](int status, const std::string& why) {
        log(LogLevel::kInfo, "http", "%s %s: %d (%s)", request.method.c_str(),
            loggable(request.target).c_str(), status, why.c_str());
        std::string answer = http_error_response(status);
        if (head_only) answer.resize(answer.find("\r\n\r\n") + 4);
        answer_http_and_close(std::move(answer), {}, "HTTP request refused");
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
    // O_NONBLOCK: a FIFO put in the web root must not block this thread in open() (the
    // regular-file check below refuses it); reads of regular files ignore the flag.
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat info {};
    if (!fd.valid() || ::fstat(fd.get(), &info) != 0) {
        return refuse(404, std::string("cannot open: ") + std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) return refuse(404, "not a regular file");
    if (info.st_size > kMaxStaticFile) return refuse(404, "file too large to serve");
    const std::string content_type(http_content_type(file.native()));
    if (head_only) {
        log(LogLevel::kDebug, "http", "HEAD %s: 200", loggable(request.target).c_str());
        answer_http_and_close(http_response_head(200, content_type, size_t(info.st_size)), {},
                              "HTTP request served");
        return;
    }
    std::vector<uint8_t> body(size_t(info.st_size));
    size_t have = 0;
    while (have < body.size()) {
        const ssize_t got = ::read(fd.get(), body.data() + have, body.size() - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return refuse(500, "read failed or file shrank");
        have += size_t(got);
    }
    log(LogLevel::kDebug, "http", "GET %s: 200, %zu bytes", loggable(request.target).c_str(),
        body.size());
    std::string head = http_response_head(200, content_type, body.size());
    answer_http_and_close(std::move(head), body, "HTTP request served");
}

void Connection::answer_http_and_close(std::string head, std::span<const uint8_t> body,
                                       std::string reason) {
    // The answer is logged already (one line); the owner need not log the close again.
    close_logged_ = true;
    mode_ = Mode::kDraining;
    input_.clear();
    drain_reason_ = std::move(reason);
    // One buffer: the connection closes as soon as the queue is empty, which must not happen
    // between the head and the body.
    std::vector<uint8_t> answer = to_bytes(head);
    answer.insert(answer.end(), body.begin(), body.end());
    enqueue(std::move(answer));
    if (!closed_ && queued_bytes() == 0) close(drain_reason_);
}

void Connection::take_websocket_input(std::span<const uint8_t> fresh) {
    std::vector<uint8_t> replies;
    const auto state = websocket_->feed(fresh, input_, replies);
    if (!replies.empty()) {
        enqueue(std::move(replies));
        if (closed_) return;
    }
    switch (state) {
        case WebSocketDecoder::State::kOpen:
            return;
        case WebSocketDecoder::State::kFailed:
            log(LogLevel::kWarning, "websocket", "%s; closing", websocket_->failure().c_str());
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

}  // namespace spiced
