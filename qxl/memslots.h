// Guest memory as the QXL device exposes it: memslots. A QXLPHYSICAL address carries, from the
// top down, the slot id, the slot's generation, and an offset; the slot (registered by QEMU
// or Xspice through spice_qxl_add_memslot) maps offsets onto host virtual memory.
//
// Every guest pointer we follow goes through translate(), which checks the whole range
// [addr, addr + size) against the slot before handing out a host pointer. The guest keeps
// write access to that memory, so anything used to decide a later read (a count, a size, a
// next pointer) must be copied out first: read<T>() does that for fixed structs.
//
// Not thread-safe: slots change on the thread that parses commands (spice-server's worker
// thread does the same), so a change can never race a translation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/expected.h"

struct QXLDevInitInfo;
struct QXLDevMemSlot;

namespace spiced::qxl {

class MemSlots {
public:
    // Bounds on QXLDevInitInfo. QEMU asks for 2 groups of 8 slots with 8 id and 8 generation
    // bits; anything far beyond that is a broken or hostile device model.
    static constexpr uint32_t kMaxGroups = 256;
    static constexpr uint32_t kMaxSlots = 256;
    static constexpr uint8_t kMaxIdBits = 16;
    static constexpr uint8_t kMaxGenerationBits = 16;

    static Expected<MemSlots, std::string> create(uint32_t num_groups, uint32_t num_slots,
                                                  uint8_t generation_bits, uint8_t id_bits);
    static Expected<MemSlots, std::string> create(const QXLDevInitInfo& info);

    // Registers (or replaces) a slot. Fails for a group or slot id out of range, an empty or
    // inverted host range, or a generation that no address can carry.
    Expected<void, std::string> add(const QXLDevMemSlot& slot);
    Expected<void, std::string> remove(uint32_t group_id, uint32_t slot_id);
    // Forgets every slot (spice_qxl_reset_memslots).
    void reset();

    uint32_t num_groups() const { return num_groups_; }
    uint32_t num_slots() const { return num_slots_; }
    uint32_t slot_id(uint64_t addr) const;
    uint32_t generation(uint64_t addr) const;

    // The host address of guest `addr` in `group_id`, after checking that all `size` bytes
    // from it lie inside one registered slot of the matching generation.
    Expected<const uint8_t*, std::string> translate(uint32_t group_id, uint64_t addr,
                                                    size_t size) const;
    // The same as a span of `size` bytes.
    Expected<std::span<const uint8_t>, std::string> bytes(uint32_t group_id, uint64_t addr,
                                                          size_t size) const;
    // Everything from `addr` to the end of its slot (at least one byte).
    Expected<std::span<const uint8_t>, std::string> tail(uint32_t group_id, uint64_t addr) const;

    // A copy of the struct at `addr`: checked once, then immune to the guest rewriting it.
    template <class T>
    Expected<T, std::string> read(uint32_t group_id, uint64_t addr) const {
        static_assert(std::is_trivially_copyable_v<T>);
        auto where = translate(group_id, addr, sizeof(T));
        if (!where) return unexpected(where.error());
        T value;
        std::memcpy(&value, *where, sizeof(T));
        return value;
    }

private:
    struct Slot {
        bool present = false;
        uint32_t generation = 0;
        uintptr_t virt_start = 0;
        uintptr_t virt_end = 0;
        uint64_t addr_delta = 0;
    };

    MemSlots(uint32_t num_groups, uint32_t num_slots, uint8_t generation_bits, uint8_t id_bits);
    // Checks the slot part of `addr` and returns its host address and slot.
    Expected<const Slot*, std::string> find(uint32_t group_id, uint64_t addr,
                                            uintptr_t& host) const;

    uint32_t num_groups_;
    uint32_t num_slots_;
    uint8_t generation_bits_;
    uint8_t id_bits_;
    uint64_t offset_mask_;
    std::vector<Slot> slots_;  // num_groups_ * num_slots_, group-major
};

}  // namespace spiced::qxl
