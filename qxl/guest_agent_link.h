// GuestAgentLink: the VDAgent stream over a guest's char device (QEMU's spicevmc "vdagent"
// port, Xspice's virtio FIFO). Both ways the bytes are VDIChunkHeader-framed pieces of
// VDAgentMessage records; port VDP_CLIENT_PORT carries what clients and the agent say to
// each other, VDP_SERVER_PORT what the server itself says (a client disconnected).
//
// Flow control is the device's: write() takes what fits, and the rest waits for the next
// pump() (the host calls spice_server_char_device_wakeup when the guest read). A message's
// `taken` runs when its last byte went in, which is when the client gets its tokens back.
// The guest is hostile: a chunk over kMaxChunkBytes or a malformed record ends the link
// (one log line); the host's next registration of the device starts a fresh one.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "agent/agent_stream.h"

namespace spiced::qxl {

class GuestAgentLink {
public:
    // Larger chunks than any agent writes (spice-vdagentd uses 2048-byte ones).
    static constexpr size_t kMaxChunkBytes = 64 * 1024;
    // Largest record taken from the guest (a clipboard of 16 MiB, as from clients).
    static constexpr size_t kMaxRecordBytes = size_t{16} << 20;
    // Bytes read per pump(), so one busy agent cannot hold the host's loop.
    static constexpr size_t kReadBudget = size_t{1} << 20;

    struct Io {
        // Like SpiceCharDeviceInterface's: bytes taken / read, 0 for none now, < 0 on error.
        std::function<int(std::span<const uint8_t>)> write;
        std::function<int(std::span<uint8_t>)> read;
    };
    using Deliver = std::function<void(uint32_t type, std::vector<uint8_t> data)>;

    GuestAgentLink(Io io, Deliver deliver);
    ~GuestAgentLink();  // runs every pending `taken`
    GuestAgentLink(const GuestAgentLink&) = delete;
    GuestAgentLink& operator=(const GuestAgentLink&) = delete;

    // Queues one record for `port` and writes what the device takes now.
    void send(uint32_t port, uint32_t type, std::span<const uint8_t> data,
              std::function<void()> taken);
    // Reads what the guest wrote (delivering every complete record from the client port) and
    // writes what waits. True when the read budget ran out with more maybe waiting.
    bool pump();

    size_t queued_bytes() const { return queued_bytes_; }
    bool broken() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }

private:
    struct Pending {
        std::vector<uint8_t> bytes;
        size_t offset = 0;
        std::function<void()> taken;
    };
    void flush();
    void take(std::span<const uint8_t> bytes);
    void fail(std::string why);

    Io io_;
    Deliver deliver_;
    std::deque<Pending> queue_;
    size_t queued_bytes_ = 0;
    vdagent::AgentRecordAssembler assembler_{kMaxRecordBytes};
    // The chunk being read: its header, then its payload.
    std::vector<uint8_t> header_;
    uint32_t chunk_port_ = 0;
    size_t chunk_left_ = 0;
    std::vector<uint8_t> payload_;
    std::string failure_;
};

}  // namespace spiced::qxl
