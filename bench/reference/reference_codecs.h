/* The reference image encoders (spice-common's QUIC and LZ, spice-server's GLZ and LZ4),
 * behind a small C interface for bench/reference/compare_codecs.cpp.
 *
 * reference_codecs.c is ours; it is compiled by scripts/compare-reference-codecs.sh against
 * the spice sources that script fetches with `apt-get source spice`, outside this repository,
 * and linked with them. Nothing of spice is committed here.
 *
 * Each encode feeds the picture the way spice-server's image-encoders.cpp does for a 32-bit
 * top-down bitmap held in one chunk: the rows in place through the encoder's more_lines
 * callback, and the output written into a chain of 64 KiB buffers obtained through
 * more_space. The returned size is what the SpiceImage's data_size field would carry. */
#ifndef SPICED_BENCH_REFERENCE_CODECS_H
#define SPICED_BENCH_REFERENCE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum RefCodecKind { REF_QUIC, REF_LZ, REF_GLZ, REF_LZ4 };

typedef struct RefCodec RefCodec;

/* A reference encoder of `kind`; for REF_GLZ a dictionary of `glz_window_pixels` pixels
 * shared by this one encoder (id 0). NULL on failure. */
RefCodec* ref_codec_create(enum RefCodecKind kind, uint32_t glz_window_pixels);
void ref_codec_destroy(RefCodec* codec);

/* Encodes `height` rows of `width` BGRX pixels, `stride` bytes apart, top-down. Returns the
 * encoded size in bytes, or -1 (then ref_codec_error() says why). The output stays in the
 * codec's buffer chain until ref_codec_release_output() or the next encode. */
long ref_codec_encode(RefCodec* codec, uint8_t* pixels, int width, int height, int stride);
/* Copies the `size` bytes of the last output to `dst` (contiguous). */
void ref_codec_copy_output(const RefCodec* codec, uint8_t* dst, long size);
/* Frees the last output's buffer chain (spice-server does once the image is sent). */
void ref_codec_release_output(RefCodec* codec);
const char* ref_codec_error(const RefCodec* codec);

#ifdef __cplusplus
}
#endif

#endif
