// VDAgent records over the main channel's AGENT_DATA messages, in both directions.
//
// The SPICE main channel carries the agent protocol as a byte stream cut into AGENT_DATA
// payloads of at most VD_AGENT_MAX_DATA_SIZE bytes. spice-gtk starts every record at a payload
// boundary, but nothing in the protocol promises it, so the assembler accepts any cut,
// including one through a record header. Neither class knows about sockets or threads: each
// instance belongs to one connection and is used by the thread that owns it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "agent/vdagent.h"
#include "base/bytes.h"
#include "base/expected.h"

namespace spiced::vdagent {

struct AgentRecord {
    uint32_t type = 0;
    uint64_t opaque = 0;
    std::vector<uint8_t> data;  // the record's data, without its header
};

// Turns the client's AGENT_DATA payloads back into records.
//
// Memory is bounded by the caller's limit: a record whose header announces more than
// max_record_bytes of data is refused at the header, and a partial record never holds more
// than its announced size (capacity grows with the bytes that actually arrive). A failure
// is sticky: every later feed() returns the same error until reset().
class AgentRecordAssembler {
public:
    explicit AgentRecordAssembler(size_t max_record_bytes) : max_record_bytes_(max_record_bytes) {}

    // Consumes one AGENT_DATA payload and appends every record it completes to `out` (also
    // those completed before an error in the same payload). Fails on a payload over
    // VD_AGENT_MAX_DATA_SIZE, a protocol other than VD_AGENT_PROTOCOL or an oversized record.
    Expected<void, std::string> feed(std::span<const uint8_t> payload,
                                     std::vector<AgentRecord>& out);

    // Bytes of the unfinished record held (header bytes, then data bytes).
    size_t buffered_bytes() const { return header_bytes_ + body_.size(); }
    // Capacity actually allocated for the unfinished record's data.
    size_t buffered_capacity() const { return body_.capacity(); }
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }
    // Forgets the partial record and any failure (for a new agent connection).
    void reset();

private:
    Expected<void, std::string> fail(std::string reason);

    size_t max_record_bytes_;
    std::array<uint8_t, kRecordHeaderBytes> header_{};
    size_t header_bytes_ = 0;  // < kRecordHeaderBytes while reading a header
    bool in_body_ = false;
    RecordHeader current_{};
    std::vector<uint8_t> body_;
    std::string failure_;
};

// Cuts one outgoing record into AGENT_DATA payloads: the header and the first data bytes in
// the first payload, every payload at most VD_AGENT_MAX_DATA_SIZE bytes. A record with no
// data is one payload. The caller may stop between payloads (for the client's agent tokens)
// and resume later; `data` must stay alive until done().
class AgentRecordSplitter {
public:
    AgentRecordSplitter(uint32_t type, uint64_t opaque, std::span<const uint8_t> data);

    bool done() const { return done_; }
    size_t payloads_left() const;
    // Appends the next payload to `out` (the body of one AGENT_DATA message).
    void write_next(ByteWriter& out);

private:
    uint32_t type_;
    uint64_t opaque_;
    std::span<const uint8_t> data_;
    size_t data_sent_ = 0;
    bool done_ = false;
    bool header_sent_ = false;
};

// Convenience over AgentRecordSplitter: appends every payload of one record to `out`.
void append_record_payloads(uint32_t type, uint64_t opaque, std::span<const uint8_t> data,
                            std::vector<std::vector<uint8_t>>& out);
std::vector<std::vector<uint8_t>> split_record(uint32_t type, uint64_t opaque,
                                               std::span<const uint8_t> data);

}  // namespace spiced::vdagent
