// The QXL command parser: a QXLCommandExt from the display or cursor ring in, a checked
// qxl::Command (qxl/commands.h) out, or one sentence saying why the guest's command is bad.
//
// The guest is hostile. Every guest pointer goes through MemSlots, every struct that steers a
// later read is copied before it is used, every size product is computed in 64 bits and
// bounded by ParserLimits, and chunk chains are bounded in length and bytes and may not loop.
// What is checked, beyond what qxl/commands.h promises:
//   - bitmaps: a known format, 1..max_width x 1..max_height, stride >= the row's bytes, the
//     data holding every row; chunked rows never straddle a chunk boundary; indexed formats
//     carry a palette (1..256 entries, padded with black to all indexes of the format) unless
//     the image is a mask;
//   - copy-like ops (opaque, copy, blend, transparent, alpha blend, rop3): a source image and a
//     source area with non-negative, non-inverted edges inside a bitmap source;
//   - bbox, clip rects and update areas are not inverted (empty is fine);
//   - surfaces: a known format, 1..max_width x 1..max_height, |stride| >= the row's bytes, and
//     |stride| * height bytes inside one slot;
//   - cursors: a known type, at most max_cursor_size a side, and for ALPHA and MONO shapes
//     enough bytes for every pixel (the other, legacy types are sized by the consumer).
//
// QXL_COMMAND_FLAG_COMPAT (old Windows drivers' QXLCompatDrawable and QXLCompatUpdateCmd) is
// supported and maps onto the same values; QXL_COMMAND_FLAG_COMPAT_16BPP turns solid brush
// colours and palette entries from x555 into x888 as spice-server does.
//
// A CommandParser holds only a reference to the memslots and its limits: parse() is const and
// may run wherever the memslots may be read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/expected.h"
#include "qxl/commands.h"
#include "qxl/memslots.h"

struct QXLCommandExt;

namespace spiced::qxl {

struct ParserLimits {
    uint32_t max_width = 16384;  // images and surfaces
    uint32_t max_height = 16384;
    size_t max_image_bytes = size_t{1} << 30;  // one bitmap, compressed body or surface
    size_t max_chunks = size_t{1} << 18;       // per chunk chain, empty chunks included
    // What we copy out per structure: clip rects, a path, a glyph string, a stroke style.
    size_t max_copied_bytes = size_t{4} << 20;
    uint32_t max_cursor_size = 512;             // pixels a side
    size_t max_cursor_bytes = size_t{4} << 20;  // the shape's data
    size_t max_message_bytes = 100000;          // QXL_CMD_MESSAGE, NUL included
};

class CommandParser {
public:
    explicit CommandParser(const MemSlots& slots, ParserLimits limits = {})
        : slots_(slots), limits_(limits) {}

    // A command from the display ring: QXL_CMD_DRAW, UPDATE, MESSAGE or SURFACE.
    Expected<Command, std::string> parse(const QXLCommandExt& ext) const;
    // A command from the cursor ring: QXL_CMD_CURSOR.
    Expected<Command, std::string> parse_cursor(const QXLCommandExt& ext) const;
    // The release info of a command that failed to parse: it still goes back to the guest
    // (as spice-server does) when its fixed struct lies in a slot, else the guest's memory
    // for it is lost, which is the guest's own doing.
    Expected<ReleaseTicket, std::string> release_ticket(const QXLCommandExt& ext) const;

    const ParserLimits& limits() const { return limits_; }

private:
    const MemSlots& slots_;
    ParserLimits limits_;
};

}  // namespace spiced::qxl
