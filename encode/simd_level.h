// Which SIMD code the LZ and GLZ encoders compile. SPICED_PORTABLE_CODECS (set only for a test
// binary) leaves the portable paths alone, so that test can check they write the same bytes as
// the SIMD ones the CPU would run (tests/unit/codec_streams_test.cpp).
#pragma once

#if defined(__SSE2__) && !defined(SPICED_PORTABLE_CODECS)
#define SPICED_CODEC_SSE2 1
#else
#define SPICED_CODEC_SSE2 0
#endif

// Wider paths picked at run time (__builtin_cpu_supports) on x86-64.
#if defined(__x86_64__) && !defined(SPICED_PORTABLE_CODECS)
#define SPICED_CODEC_X86_DISPATCH 1
#else
#define SPICED_CODEC_X86_DISPATCH 0
#endif

// SPICED_TARGET_PUSH("avx2,...") ... SPICED_TARGET_POP() compile every function defined between
// them for those instruction sets, for code built once per SIMD level from one header
// (quic_encode_impl.h, lz4_block_writer_impl.h). clang ignores GCC's target pragma; its
// attribute pragma does the same.
#define SPICED_PRAGMA(text) _Pragma(#text)
#if defined(__clang__)
#define SPICED_TARGET_PUSH(targets) \
    SPICED_PRAGMA(clang attribute push(__attribute__((target(targets))), apply_to = function))
#define SPICED_TARGET_POP() SPICED_PRAGMA(clang attribute pop)
#else
#define SPICED_TARGET_PUSH(targets) \
    SPICED_PRAGMA(GCC push_options) SPICED_PRAGMA(GCC target(targets))
#define SPICED_TARGET_POP() SPICED_PRAGMA(GCC pop_options)
#endif
