#include "qxl/guest_agent_link.h"

#include <spice/vd_agent.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"

namespace spiced::qxl {
namespace {

void put_le32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

GuestAgentLink::GuestAgentLink(Io io, Deliver deliver)
    : io_(std::move(io)), deliver_(std::move(deliver)) {}

GuestAgentLink::~GuestAgentLink() {
    for (Pending& pending : queue_) {
        if (pending.taken) pending.taken();
    }
}

void GuestAgentLink::send(uint32_t port, uint32_t type, std::span<const uint8_t> data,
                          std::function<void()> taken) {
    Pending pending;
    pending.taken = std::move(taken);
    // The record split into payloads of at most VD_AGENT_MAX_DATA_SIZE, each behind its chunk
    // header, all in one buffer: the device takes it in whatever pieces it likes.
    for (const std::vector<uint8_t>& payload : vdagent::split_record(type, 0, data)) {
        put_le32(pending.bytes, port);
        put_le32(pending.bytes, uint32_t(payload.size()));
        pending.bytes.insert(pending.bytes.end(), payload.begin(), payload.end());
    }
    queued_bytes_ += pending.bytes.size();
    queue_.push_back(std::move(pending));
    flush();
}

void GuestAgentLink::flush() {
    while (!queue_.empty()) {
        Pending& head = queue_.front();
        const std::span<const uint8_t> rest(head.bytes.data() + head.offset,
                                            head.bytes.size() - head.offset);
        const int written = io_.write(rest);
        if (written <= 0) return;  // full: the host wakes us when the guest read
        const size_t n = std::min<size_t>(size_t(written), rest.size());
        head.offset += n;
        queued_bytes_ -= n;
        if (head.offset == head.bytes.size()) {
            auto taken = std::move(head.taken);
            queue_.pop_front();
            if (taken) taken();
        }
    }
}

bool GuestAgentLink::pump() {
    size_t budget = kReadBudget;
    uint8_t buffer[16 * 1024];
    bool more = false;
    while (true) {
        if (budget == 0) {
            more = true;
            break;
        }
        const int got = io_.read(std::span<uint8_t>(buffer, std::min(sizeof(buffer), budget)));
        if (got <= 0) break;
        const size_t n = std::min<size_t>(size_t(got), sizeof(buffer));
        budget -= std::min(budget, n);
        // A broken link still drains the device, so the guest is never stuck writing.
        if (!broken()) take(std::span<const uint8_t>(buffer, n));
    }
    flush();
    return more;
}

void GuestAgentLink::take(std::span<const uint8_t> bytes) {
    while (!bytes.empty() && !broken()) {
        if (chunk_left_ == 0 && header_.size() < sizeof(VDIChunkHeader)) {
            const size_t want = sizeof(VDIChunkHeader) - header_.size();
            const size_t n = std::min(want, bytes.size());
            header_.insert(header_.end(), bytes.begin(), bytes.begin() + n);
            bytes = bytes.subspan(n);
            if (header_.size() < sizeof(VDIChunkHeader)) return;
            chunk_port_ = le32(header_.data());
            chunk_left_ = le32(header_.data() + 4);
            if (chunk_left_ > kMaxChunkBytes) {
                fail("a chunk of " + std::to_string(chunk_left_) + " bytes (at most " +
                     std::to_string(kMaxChunkBytes) + ")");
                return;
            }
            if (chunk_left_ == 0) header_.clear();
            continue;
        }
        const size_t n = std::min(chunk_left_, bytes.size());
        payload_.insert(payload_.end(), bytes.begin(), bytes.begin() + n);
        bytes = bytes.subspan(n);
        chunk_left_ -= n;
        if (chunk_left_ > 0) return;
        header_.clear();
        std::vector<uint8_t> payload = std::move(payload_);
        payload_.clear();
        if (chunk_port_ != VDP_CLIENT_PORT) continue;  // replies to the server: none expected
        // The assembler takes client-sized payloads.
        std::vector<vdagent::AgentRecord> records;
        for (size_t at = 0; at < payload.size(); at += VD_AGENT_MAX_DATA_SIZE) {
            const size_t len = std::min<size_t>(VD_AGENT_MAX_DATA_SIZE, payload.size() - at);
            if (auto fed =
                    assembler_.feed(std::span<const uint8_t>(payload.data() + at, len), records);
                !fed) {
                for (auto& record : records) deliver_(record.type, std::move(record.data));
                fail(fed.error());
                return;
            }
        }
        for (auto& record : records) deliver_(record.type, std::move(record.data));
    }
}

void GuestAgentLink::fail(std::string why) {
    failure_ = std::move(why);
    LOG_WARN("agent", "guest agent: %s; the agent is ignored until the guest reopens its port",
             failure_.c_str());
}

}  // namespace spiced::qxl
