// libFuzzer: arbitrary guest memory through the command parser AND the renderer, as the QXL
// worker runs them. Input layout (as qxl_parser_fuzz, whose seeds fit):
//   byte 0     flags: bit 0 QXL_COMMAND_FLAG_COMPAT, bit 1 COMPAT_16BPP, bit 2 two memslots,
//              bit 3 the command lives in slot 1
//   byte 1     command type for the display ring (QXL_CMD_*, taken modulo 8)
//   bytes 2-5  the command's offset in its slot (little-endian)
//   the rest   guest memory: one slot, or two slots (its halves)
// The renderer starts with a 64x64 xRGB primary (surface 0), a 32x32 A8 surface 1 and a 16x16
// ARGB surface 2, so drawables that read and write surfaces have something to work on. Sizes
// are capped small so a claimed 16384x16384 image cannot make the fuzzer run out of memory.
#include <spice-server/spice.h>
#include <spice/enums.h>
#include <spice/qxl_dev.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <variant>
#include <vector>

#include "qxl/command_parser.h"
#include "qxl/cursor_shape.h"
#include "qxl/memslots.h"
#include "qxl/pixman_renderer.h"

using namespace spiced::qxl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const uint8_t mode = data[0];
    uint32_t offset;
    std::memcpy(&offset, data + 2, sizeof(offset));
    std::vector<uint8_t> ram(data + 6, data + size);
    if (ram.empty()) ram.push_back(0);

    auto created = MemSlots::create(1, 2, 8, 8);
    if (!created) std::abort();
    MemSlots slots = std::move(*created);
    const uintptr_t base = reinterpret_cast<uintptr_t>(ram.data());
    const bool two = (mode & 4) && ram.size() >= 2;
    const size_t first = two ? ram.size() / 2 : ram.size();
    QXLDevMemSlot slot{};
    slot.virt_start = base;
    slot.virt_end = base + first;
    slot.addr_delta = base;
    if (!slots.add(slot)) std::abort();
    if (two) {
        slot.slot_id = 1;
        slot.virt_start = base + first;
        slot.virt_end = base + ram.size();
        slot.addr_delta = base + first;
        if (!slots.add(slot)) std::abort();
    }
    ParserLimits limits;
    limits.max_width = 256;
    limits.max_height = 256;
    limits.max_image_bytes = 256 * 1024;
    limits.max_copied_bytes = 64 * 1024;
    const CommandParser parser(slots, limits);

    auto renderer = make_pixman_renderer();
    if (!renderer->create_surface(0, SPICE_SURFACE_FMT_32_xRGB, {64, 64}, {}, 0) ||
        !renderer->create_surface(1, SPICE_SURFACE_FMT_8_A, {32, 32}, {}, 0) ||
        !renderer->create_surface(2, SPICE_SURFACE_FMT_32_ARGB, {16, 16}, {}, 0))
        std::abort();

    QXLCommandExt ext{};
    ext.cmd.type = data[1] % 8;
    ext.cmd.data = (mode & 8 ? uint64_t{1} << 56 : 0) | offset;
    ext.flags = mode & 3;
    if (auto command = parser.parse(ext)) {
        if (const auto* drawable = std::get_if<Drawable>(&command->body)) {
            if (auto damage = renderer->draw(*drawable)) {
                // Damage never leaves the surface it was drawn on.
                const spiced::Rect bounds = damage->bounds();
                const spiced::Size surface = renderer->surface_size(drawable->surface_id);
                if (!damage->is_empty() && !spiced::Rect::MakeSize(surface).contains(bounds))
                    std::abort();
            }
        } else if (const auto* surface = std::get_if<SurfaceCommand>(&command->body)) {
            if (surface->kind == SurfaceCommand::Kind::kCreate) {
                (void)renderer->create_surface(surface->surface_id, surface->format,
                                               {int32_t(surface->width), int32_t(surface->height)},
                                               surface->memory, surface->stride);
            } else {
                renderer->destroy_surface(surface->surface_id);
            }
        }
    }
    ext.cmd.type = QXL_CMD_CURSOR;
    if (auto command = parser.parse_cursor(ext)) {
        if (const auto* cursor = std::get_if<CursorCommand>(&command->body);
            cursor && cursor->shape)
            (void)pointer_shape_of(*cursor->shape);
    }
    // Reading back and writing back what was drawn stays inside the buffers.
    auto frame = spiced::Frame::create({64, 64});
    (void)renderer->read(0, spiced::Rect::MakeXYWH(-8, -8, 100, 100), *frame);
    std::vector<uint8_t> guest(64 * 64 * 4);
    (void)renderer->write_back(0, spiced::Rect::MakeXYWH(10, 10, 60, 60), guest, 64 * 4);
    return 0;
}
