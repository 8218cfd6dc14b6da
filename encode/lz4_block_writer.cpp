// The writer's hot loop is lz4_block_writer_impl.h, built here for any x86-64 CPU and in
// lz4_block_writer_avx2.cpp for CPUs with AVX2; the two write the same bytes.
#define LZ4_WRITER_NS lz4_writer_generic
#include "encode/lz4_block_writer.h"

#include <algorithm>

#include "encode/lz4_block_writer_impl.h"

namespace spiced {

namespace lz4_writer_avx2 {
// lz4_block_writer_avx2.cpp: the same as lz4_writer_generic::write_block(); call only on CPUs
// with AVX2.
size_t write_block(lz4_writer::BlockState& state, uint64_t end, uint8_t* out);
}  // namespace lz4_writer_avx2

size_t Lz4PixelBlockWriter::bound(size_t pixels) {
    const size_t bytes = pixels * 3;
    return bytes + bytes / 255 + 16 + 32;
}

Lz4PixelBlockWriter::Lz4PixelBlockWriter(bool allow_simd)
    : use_avx2_(allow_simd && __builtin_cpu_supports("avx2")),
      table_(size_t{1} << lz4_writer::kHashBits) {}

void Lz4PixelBlockWriter::start_image(std::span<const uint32_t> pixels, uint32_t width) {
    state_ = lz4_writer::BlockState{pixels.data(), pixels.size(), width, 0, table_.data()};
    // Stale entries would be checked before use, but an image must give the same bytes
    // whatever came before it.
    std::fill(table_.begin(), table_.end(), 0);
}

size_t Lz4PixelBlockWriter::write_block(uint64_t end, uint8_t* out) {
    end = std::min(end, state_.size);
    return use_avx2_ ? lz4_writer_avx2::write_block(state_, end, out)
                     : lz4_writer_generic::write_block(state_, end, out);
}

}  // namespace spiced
