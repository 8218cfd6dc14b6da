#include "agent/agent_stream.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>
#include <utility>

namespace spiced::vdagent {
namespace {

std::string type_label(uint32_t type) {
    const char* name = message_type_name(type);
    return name ? std::string(name) : "type " + std::to_string(type);
}

}  // namespace

Expected<void, std::string> AgentRecordAssembler::fail(std::string reason) {
    failure_ = std::move(reason);
    body_ = std::vector<uint8_t>();  // a failed stream holds no memory
    header_bytes_ = 0;
    in_body_ = false;
    return unexpected(failure_);
}

void AgentRecordAssembler::reset() {
    body_ = std::vector<uint8_t>();
    header_bytes_ = 0;
    in_body_ = false;
    failure_.clear();
}

Expected<void, std::string> AgentRecordAssembler::feed(std::span<const uint8_t> payload,
                                                       std::vector<AgentRecord>& out) {
    if (failed()) return unexpected(failure_);
    if (payload.size() > kMaxPayloadBytes) {
        return fail("AGENT_DATA payload of " + std::to_string(payload.size()) +
                    " bytes exceeds VD_AGENT_MAX_DATA_SIZE (" + std::to_string(kMaxPayloadBytes) +
                    ").");
    }
    while (!payload.empty()) {
        if (!in_body_) {
            const size_t take = std::min(kRecordHeaderBytes - header_bytes_, payload.size());
            std::memcpy(header_.data() + header_bytes_, payload.data(), take);
            header_bytes_ += take;
            payload = payload.subspan(take);
            if (header_bytes_ < kRecordHeaderBytes) break;
            auto header = parse_record_header(header_);
            if (!header) return fail(header.error());
            // Refused here, before any allocation: the size is the peer's claim, not data.
            if (header->size > max_record_bytes_) {
                return fail("VDAgent " + type_label(header->type) + " record announces " +
                            std::to_string(header->size) + " data bytes, more than the " +
                            std::to_string(max_record_bytes_) + " accepted.");
            }
            current_ = *header;
            in_body_ = true;
        }
        const size_t take = std::min<size_t>(current_.size - body_.size(), payload.size());
        if (take > 0) {
            const size_t needed = body_.size() + take;
            if (needed > body_.capacity()) {
                // Geometric growth for many small payloads, but never past the announced
                // size, so a stalled record costs at most what it said it would.
                body_.reserve(
                    std::min<size_t>(current_.size, std::max(needed, body_.capacity() * 2)));
            }
            const size_t old = body_.size();
            body_.resize(needed);
            std::memcpy(body_.data() + old, payload.data(), take);
            payload = payload.subspan(take);
        }
        if (body_.size() == current_.size) {
            out.push_back(AgentRecord{current_.type, current_.opaque, std::move(body_)});
            body_ = std::vector<uint8_t>();
            header_bytes_ = 0;
            in_body_ = false;
        }
    }
    return {};
}

AgentRecordSplitter::AgentRecordSplitter(uint32_t type, uint64_t opaque,
                                         std::span<const uint8_t> data)
    : type_(type), opaque_(opaque), data_(data) {
    assert(data.size() <= std::numeric_limits<uint32_t>::max());
}

size_t AgentRecordSplitter::payloads_left() const {
    if (done_) return 0;
    size_t left = data_.size() - data_sent_;
    size_t count = 0;
    if (!header_sent_) {
        count = 1;
        left -= std::min(left, kMaxPayloadBytes - kRecordHeaderBytes);
    }
    return count + (left + kMaxPayloadBytes - 1) / kMaxPayloadBytes;
}

void AgentRecordSplitter::write_next(ByteWriter& out) {
    assert(!done_);
    size_t room = kMaxPayloadBytes;
    if (!header_sent_) {
        out.u32(VD_AGENT_PROTOCOL);
        out.u32(type_);
        out.u64(opaque_);
        out.u32(static_cast<uint32_t>(data_.size()));
        room -= kRecordHeaderBytes;
        header_sent_ = true;
    }
    const size_t take = std::min(room, data_.size() - data_sent_);
    out.bytes(data_.subspan(data_sent_, take));
    data_sent_ += take;
    done_ = data_sent_ == data_.size();
}

void append_record_payloads(uint32_t type, uint64_t opaque, std::span<const uint8_t> data,
                            std::vector<std::vector<uint8_t>>& out) {
    AgentRecordSplitter splitter(type, opaque, data);
    out.reserve(out.size() + splitter.payloads_left());
    while (!splitter.done()) {
        ByteWriter payload(kMaxPayloadBytes);
        splitter.write_next(payload);
        out.push_back(payload.take());
    }
}

std::vector<std::vector<uint8_t>> split_record(uint32_t type, uint64_t opaque,
                                               std::span<const uint8_t> data) {
    std::vector<std::vector<uint8_t>> out;
    append_record_payloads(type, opaque, data, out);
    return out;
}

}  // namespace spiced::vdagent
