#include "io/connection.h"

#include <array>

namespace spiced {

Connection::Connection(Reactor& reactor, TcpStream stream, Handler* handler)
    : reactor_(reactor), stream_(std::move(stream)), handler_(handler) {
    watch_ = reactor_.watch(stream_.fd(), Reactor::kReadable,
                            [this](uint32_t ready) { on_ready(ready); });
}

Connection::~Connection() {
    if (watch_ != 0) reactor_.unwatch(watch_);
}

void Connection::send(std::vector<uint8_t> bytes) {
    if (closed_ || bytes.empty()) return;
    queued_bytes_ += bytes.size();
    output_.push_back(std::move(bytes));
    // Try right away: most messages fit in the socket buffer and never wait for EPOLLOUT.
    if (output_.size() == 1) write_queued();
    update_interest();
}

void Connection::close(std::string_view reason, bool flush_first) {
    if (closed_) return;
    if (flush_first) write_queued();
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
        input_.insert(input_.end(), chunk.begin(), chunk.begin() + long(*got));
        dispatch_input();
        if (closed_) return;
        if (input_.size() > kMaxBufferedInput) {
            close("peer sent more unconsumed data than the input limit");
            return;
        }
        if (*got < chunk.size()) return;
    }
}

void Connection::dispatch_input() {
    // Offer the input to the handler until it stops consuming or changes hands.
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
    if (!closed_ && queued_bytes_ <= low_water_ && handler_ != nullptr && !dispatching_) {
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
