// libFuzzer: arbitrary bytes as a client's AGENT_DATA stream. The first byte picks how the
// rest is cut into payloads (fixed sizes, or sizes read from the data itself); every record
// the assembler completes goes through every parser with every clipboard framing, and the
// module's promises are checked: bounded memory, parse/build idempotence, safe file names,
// and split_record + assembler giving a record back unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "agent/agent_stream.h"
#include "agent/vdagent.h"

using namespace spiced::vdagent;

namespace {

constexpr size_t kMaxRecord = 16384;
constexpr ClipboardFraming kFramings[] = {
    {false, false}, {true, false}, {false, true}, {true, true}};

void check(bool condition) {
    if (!condition) std::abort();
}

// What parses once must build to bytes that parse and build to the same bytes again.
void check_idempotent(uint32_t type, const Message& message, ClipboardFraming f) {
    const std::vector<uint8_t> built = build(message, f);
    auto again = parse_message(type, built, f);
    check(again.has_value());
    check(build(*again, f) == built);
}

void check_file_name(const FileXferInfo& info) {
    check(!info.name.empty() && info.name.size() <= kMaxFileNameBytes);
    check(info.name != "." && info.name != "..");
    for (const char c : info.name) check(c != '/' && c != '\\' && c != '\0');
}

void exercise(uint32_t type, std::span<const uint8_t> data) {
    for (const ClipboardFraming f : kFramings) {
        auto parsed = parse_message(type, data, f);
        if (!parsed) {
            check(!parsed.error().empty());
            continue;
        }
        check(message_type(*parsed) == type);
        check_idempotent(type, *parsed, f);
        if (const auto* start = std::get_if<FileXferStart>(&*parsed)) {
            auto info = parse_file_xfer_keyfile(start->keyfile);
            if (info) check_file_name(*info);
        }
    }
}

void check_split_round_trip(const AgentRecord& record) {
    const auto payloads = split_record(record.type, record.opaque, record.data);
    AgentRecordAssembler assembler(record.data.size());
    std::vector<AgentRecord> out;
    for (const auto& payload : payloads) {
        check(payload.size() <= kMaxPayloadBytes);
        check(assembler.feed(payload, out).has_value());
    }
    check(out.size() == 1 && out[0].type == record.type && out[0].opaque == record.opaque &&
          out[0].data == record.data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    std::span<const uint8_t> rest(data + 1, size - 1);

    // The raw bytes as a record of each known type, too: reaches parsers without needing a
    // valid header first.
    if (!rest.empty()) exercise(rest[0] % (VD_AGENT_END_MESSAGE + 1), rest.subspan(1));

    AgentRecordAssembler assembler(kMaxRecord);
    std::vector<AgentRecord> records;
    while (!rest.empty() && !assembler.failed()) {
        size_t piece;
        if (mode & 0x80) {
            // Piece sizes from the stream: two bytes, up to just over the payload limit.
            if (rest.size() < 2) break;
            piece = (size_t{rest[0]} | size_t{rest[1]} << 8) % (kMaxPayloadBytes + 2);
            rest = rest.subspan(2);
        } else {
            piece = size_t(mode % 64) + 1;
        }
        piece = std::min(piece, rest.size());
        auto result = assembler.feed(rest.first(piece), records);
        check(result.has_value() != assembler.failed());
        if (!result) check(!assembler.failure().empty() && assembler.buffered_bytes() == 0);
        check(assembler.buffered_bytes() <= kMaxRecord + kRecordHeaderBytes);
        check(assembler.buffered_capacity() <= kMaxRecord);
        rest = rest.subspan(piece);
    }
    for (const auto& record : records) {
        check(record.data.size() <= kMaxRecord);
        exercise(record.type, record.data);
        check_split_round_trip(record);
    }
    return 0;
}
