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
