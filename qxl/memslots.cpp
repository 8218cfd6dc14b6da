#include "qxl/memslots.h"

#include <spice-server/spice.h>

#include <cinttypes>
#include <cstdio>

namespace spiced::qxl {
namespace {

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof(text), "0x%" PRIx64, value);
    return text;
}

std::string num(uint64_t value) {
    return std::to_string(value);
}

}  // namespace

MemSlots::MemSlots(uint32_t num_groups, uint32_t num_slots, uint8_t generation_bits,
                   uint8_t id_bits)
    : num_groups_(num_groups),
      num_slots_(num_slots),
      generation_bits_(generation_bits),
      id_bits_(id_bits),
      offset_mask_(~uint64_t{0} >> (id_bits + generation_bits)),
      slots_(size_t{num_groups} * num_slots) {}

Expected<MemSlots, std::string> MemSlots::create(uint32_t num_groups, uint32_t num_slots,
                                                 uint8_t generation_bits, uint8_t id_bits) {
    if (num_groups == 0 || num_groups > kMaxGroups)
        return unexpected("the device asks for " + num(num_groups) + " memslot groups; 1 to " +
                          num(kMaxGroups) + " are supported");
    if (num_slots == 0 || num_slots > kMaxSlots)
        return unexpected("the device asks for " + num(num_slots) + " memslots per group; 1 to " +
                          num(kMaxSlots) + " are supported");
    if (id_bits > kMaxIdBits || generation_bits > kMaxGenerationBits)
        return unexpected("the device asks for " + num(id_bits) + " slot id bits and " +
                          num(generation_bits) + " generation bits; at most " + num(kMaxIdBits) +
                          " and " + num(kMaxGenerationBits) + " are supported");
    // Slots whose id does not fit in the id bits can never be addressed; devices declare them
    // anyway (Xspice: 8 slots, 1 id bit), so they are accepted and simply never reached.
    return MemSlots(num_groups, num_slots, generation_bits, id_bits);
}

Expected<MemSlots, std::string> MemSlots::create(const QXLDevInitInfo& info) {
    return create(info.num_memslots_groups, info.num_memslots, info.memslot_gen_bits,
                  info.memslot_id_bits);
}

uint32_t MemSlots::slot_id(uint64_t addr) const {
    if (id_bits_ == 0) return 0;
    return static_cast<uint32_t>(addr >> (64 - id_bits_));
}

uint32_t MemSlots::generation(uint64_t addr) const {
    if (generation_bits_ == 0) return 0;
    const uint64_t shifted = addr >> (64 - id_bits_ - generation_bits_);
    return static_cast<uint32_t>(shifted & ((uint64_t{1} << generation_bits_) - 1));
}

Expected<void, std::string> MemSlots::add(const QXLDevMemSlot& slot) {
    if (slot.slot_group_id >= num_groups_)
        return unexpected("memslot group " + num(slot.slot_group_id) +
                          " does not exist (there are " + num(num_groups_) + ")");
    if (slot.slot_id >= num_slots_)
        return unexpected("memslot " + num(slot.slot_id) + " does not exist (there are " +
                          num(num_slots_) + ")");
    if (slot.virt_end <= slot.virt_start)
        return unexpected("memslot " + num(slot.slot_id) + " has an empty host range " +
                          hex(slot.virt_start) + "-" + hex(slot.virt_end));
    if (generation_bits_ < 32 && slot.generation >= (uint64_t{1} << generation_bits_))
        return unexpected("memslot " + num(slot.slot_id) + " has generation " +
                          num(slot.generation) + ", more than " + num(generation_bits_) +
                          " bits can carry");
    Slot& s = slots_[size_t{slot.slot_group_id} * num_slots_ + slot.slot_id];
    s.present = true;
    s.generation = slot.generation;
    s.virt_start = slot.virt_start;
    s.virt_end = slot.virt_end;
    s.addr_delta = slot.addr_delta;
    return {};
}

Expected<void, std::string> MemSlots::remove(uint32_t group_id, uint32_t slot_id) {
    if (group_id >= num_groups_ || slot_id >= num_slots_)
        return unexpected("cannot remove memslot " + num(slot_id) + " of group " + num(group_id) +
                          ": no such slot");
    slots_[size_t{group_id} * num_slots_ + slot_id] = Slot{};
    return {};
}

void MemSlots::reset() {
    for (Slot& s : slots_) s = Slot{};
}

Expected<const MemSlots::Slot*, std::string> MemSlots::find(uint32_t group_id, uint64_t addr,
                                                            uintptr_t& host) const {
    if (group_id >= num_groups_)
        return unexpected("memslot group " + num(group_id) + " does not exist (there are " +
                          num(num_groups_) + ")");
    const uint32_t id = slot_id(addr);
    if (id >= num_slots_)
        return unexpected("address " + hex(addr) + " names memslot " + num(id) +
                          ", but there are only " + num(num_slots_));
    const Slot& slot = slots_[size_t{group_id} * num_slots_ + id];
    if (!slot.present)
        return unexpected("address " + hex(addr) + " names memslot " + num(id) + " of group " +
                          num(group_id) + ", which is not registered");
    const uint32_t gen = generation(addr);
    if (gen != slot.generation)
        return unexpected("address " + hex(addr) + " carries generation " + num(gen) +
                          " but memslot " + num(id) + " is at generation " + num(slot.generation));
    uint64_t virt = 0;
    if (__builtin_add_overflow(addr & offset_mask_, slot.addr_delta, &virt) || virt > UINTPTR_MAX ||
        virt < slot.virt_start || virt >= slot.virt_end)
        return unexpected("address " + hex(addr) + " is outside memslot " + num(id) +
                          " (generation " + num(slot.generation) + ")");
    host = static_cast<uintptr_t>(virt);
    return &slot;
}

Expected<const uint8_t*, std::string> MemSlots::translate(uint32_t group_id, uint64_t addr,
                                                          size_t size) const {
    uintptr_t host = 0;
    auto slot = find(group_id, addr, host);
    if (!slot) return unexpected(slot.error());
    uintptr_t end = 0;
    if (__builtin_add_overflow(host, size, &end))
        return unexpected(num(size) + " bytes at address " + hex(addr) +
                          " wrap around the address space");
    if (end > (*slot)->virt_end)
        return unexpected(num(size) + " bytes at address " + hex(addr) +
                          " run past the end of memslot " + num(slot_id(addr)) + " (generation " +
                          num((*slot)->generation) + ")");
    return reinterpret_cast<const uint8_t*>(host);
}

Expected<std::span<const uint8_t>, std::string> MemSlots::bytes(uint32_t group_id, uint64_t addr,
                                                                size_t size) const {
    auto where = translate(group_id, addr, size);
    if (!where) return unexpected(where.error());
    return std::span<const uint8_t>(*where, size);
}

Expected<std::span<const uint8_t>, std::string> MemSlots::tail(uint32_t group_id,
                                                               uint64_t addr) const {
    uintptr_t host = 0;
    auto slot = find(group_id, addr, host);
    if (!slot) return unexpected(slot.error());
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(host),
                                    (*slot)->virt_end - host);
}

}  // namespace spiced::qxl
