// The AVX2 build of the LZ4 block writer's hot loop (lz4_block_writer_impl.h);
// Lz4PixelBlockWriter calls it only on CPUs that have AVX2. Nothing else belongs in this file:
// everything the header defines after its #pragma is compiled for those CPUs.
#if defined(__x86_64__)
#define LZ4_WRITER_NS lz4_writer_avx2
#define LZ4_WRITER_AVX2 1
#include "encode/lz4_block_writer_impl.h"
#endif
