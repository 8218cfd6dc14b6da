// libFuzzer: arbitrary bytes as a guest's QXL command and the memory around it. Layout:
//   byte 0     flags: bit 0 QXL_COMMAND_FLAG_COMPAT, bit 1 COMPAT_16BPP, bit 2 two memslots,
//              bit 3 the command lives in slot 1, bit 4 small parser limits
//   byte 1     command type for the display ring (QXL_CMD_*, taken modulo 8)
//   bytes 2-5  the command's offset in its slot (little-endian)
//   the rest   guest memory: one slot, or two slots (its halves), each at guest offset 0
// Slot n is memslot n of group 0, generation 0, so a guest pointer to offset x of slot 1 is
// (1 << 56) | x with the 8 id bits QEMU uses. The command goes through both rings' parsers;
// whatever parses must only point into the memory image, and every failure must say why.
#include <spice-server/spice.h>
#include <spice/qxl_dev.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <variant>
#include <vector>

#include "qxl/command_parser.h"
#include "qxl/memslots.h"

using namespace spiced::qxl;
using spiced::Rect;

namespace {

void check(bool condition) {
    if (!condition) std::abort();
}

struct Memory {
    const uint8_t* begin;
    const uint8_t* end;
    void check_span(GuestBytes bytes) const {
        if (bytes.empty()) return;
        check(bytes.data() >= begin && bytes.data() + bytes.size() <= end);
    }
    void check_chunks(const ChunkedBytes& data) const {
        size_t total = 0;
        for (const GuestBytes chunk : data.chunks) {
            check_span(chunk);
            total += chunk.size();
        }
        check(total == data.size);
    }
    void check_image(const std::shared_ptr<const Image>& image) const {
        if (!image) return;
        if (const auto* bitmap = std::get_if<Bitmap>(&image->content)) {
            check_chunks(bitmap->data);
            check(image->width > 0 && image->height > 0);
            check(bitmap->stride > 0);
            check(bitmap->data.size >= uint64_t{bitmap->stride} * (image->height - 1));
            if (bitmap->palette) {
                check(!bitmap->palette->entries.empty());
                check(bitmap->palette->entries.size() <= 256);
            }
        } else if (const auto* compressed = std::get_if<CompressedImage>(&image->content)) {
            check_chunks(compressed->data);
        }
    }
    void check_brush(const Brush& brush) const {
        if (brush.kind == Brush::Kind::kPattern) check(brush.pattern != nullptr);
        check_image(brush.pattern);
    }
    void check_command(const Command& command) const {
        if (const auto* draw = std::get_if<Drawable>(&command.body)) {
            check(draw->bbox.width() >= 0 && draw->bbox.height() >= 0);
            for (const Rect& r : draw->clip.rects) check(r.width() >= 0 && r.height() >= 0);
            std::visit(
                [&](const auto& op) {
                    using Op = std::decay_t<decltype(op)>;
                    if constexpr (requires { op.src; }) check_image(op.src);
                    if constexpr (requires { op.mask.bitmap; }) check_image(op.mask.bitmap);
                    if constexpr (requires { op.brush; }) check_brush(op.brush);
                    if constexpr (std::is_same_v<Op, Composite>) check_image(op.mask);
                    if constexpr (std::is_same_v<Op, Text>) {
                        check_brush(op.fore_brush);
                        check_brush(op.back_brush);
                        for (const RasterGlyph& g : op.glyphs)
                            check(g.data.size() ==
                                  size_t{g.height} * ((size_t{g.width} * op.bpp + 7) / 8));
                    }
                },
                draw->op);
        } else if (const auto* surface = std::get_if<SurfaceCommand>(&command.body)) {
            check_span(surface->memory);
        }
        const auto* release = reinterpret_cast<const uint8_t*>(command.release.release_info);
        check(release >= begin && release + sizeof(QXLReleaseInfo) <= end);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const uint8_t mode = data[0];
    const uint32_t type = data[1] % 8;
    uint32_t offset;
    std::memcpy(&offset, data + 2, sizeof(offset));
    // A copy, so the memory is ours and 8-byte aligned like guest RAM.
    std::vector<uint8_t> ram(data + 6, data + size);
    if (ram.empty()) ram.push_back(0);

    auto created = MemSlots::create(1, 2, 8, 8);
    check(created.has_value());
    MemSlots slots = std::move(*created);
    const uintptr_t base = reinterpret_cast<uintptr_t>(ram.data());
    const bool two = (mode & 4) && ram.size() >= 2;
    const size_t first = two ? ram.size() / 2 : ram.size();
    QXLDevMemSlot slot{};
    slot.slot_group_id = 0;
    slot.slot_id = 0;
    slot.virt_start = base;
    slot.virt_end = base + first;
    slot.addr_delta = base;
    check(slots.add(slot).has_value());
    if (two) {
        slot.slot_id = 1;
        slot.virt_start = base + first;
        slot.virt_end = base + ram.size();
        slot.addr_delta = base + first;
        check(slots.add(slot).has_value());
    }

    ParserLimits limits;
    if (mode & 16) {
        limits.max_width = 64;
        limits.max_height = 64;
        limits.max_image_bytes = 4096;
        limits.max_chunks = 8;
        limits.max_copied_bytes = 256;
        limits.max_cursor_size = 16;
        limits.max_cursor_bytes = 512;
        limits.max_message_bytes = 16;
    }
    const CommandParser parser(slots, limits);
    QXLCommandExt ext{};
    ext.cmd.type = type;
    ext.cmd.data = (mode & 8 ? uint64_t{1} << 56 : 0) | offset;
    ext.group_id = 0;
    ext.flags = mode & 3;

    const Memory memory{ram.data(), ram.data() + ram.size()};
    auto display = parser.parse(ext);
    if (display)
        memory.check_command(*display);
    else
        check(!display.error().empty());
    auto ticket = parser.release_ticket(ext);
    if (display) check(ticket && ticket->release_info == display->release.release_info);
    if (ticket) {
        const auto* release = reinterpret_cast<const uint8_t*>(ticket->release_info);
        check(release >= memory.begin && release + sizeof(QXLReleaseInfo) <= memory.end);
    }
    ext.cmd.type = QXL_CMD_CURSOR;
    auto cursor = parser.parse_cursor(ext);
    if (cursor) {
        memory.check_command(*cursor);
        const auto& c = std::get<CursorCommand>(cursor->body);
        if (c.kind == CursorCommand::Kind::kSet) {
            check(c.shape != nullptr);
            check(c.shape->data.size() <= limits.max_cursor_bytes);
        }
    } else {
        check(!cursor.error().empty());
    }
    return 0;
}
