/* The callbacks the reference encoders expect, and one encode call per codec made the way
 * spice-server makes it (see reference_codecs.h). Built only by
 * scripts/compare-reference-codecs.sh, with Debian's CFLAGS, against the fetched sources. */
#include "reference_codecs.h"

#include <glib.h>
#include <setjmp.h>
#include <spice/enums.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lz.h"
#include "common/quic.h"
#include "glz-encoder-dict.h"
#include "glz-encoder.h"
#include "lz4-encoder.h"

/* spice-server's output buffers are 64 KiB each (RedCompressBuf); we use the same size so the
 * encoders ask for more space as often as they do there. */
enum { kRefBufBytes = 64 * 1024 };

typedef struct RefBuf {
    struct RefBuf* next;
    union {
        uint8_t bytes[kRefBufBytes];
        uint32_t words[kRefBufBytes / 4];
    } data;
} RefBuf;

struct RefCodec {
    /* First member: every callback gets a pointer to it and casts back to the RefCodec. */
    union {
        QuicUsrContext quic;
        LzUsrContext lz;
        GlzEncoderUsrContext glz;
        Lz4EncoderUsrContext lz4;
    } usr;
    enum RefCodecKind kind;
    void* encoder;
    GlzEncDictContext* dictionary;
    RefBuf* head;
    RefBuf* tail;
    /* The picture of the current encode: one chunk, handed out once. */
    uint8_t* lines;
    int height;
    int lines_given;
    jmp_buf on_error;
    char error[256];
};

static RefCodec* codec_of(void* usr) {
    return (RefCodec*)usr;
}

static void set_error(RefCodec* codec, const char* fmt, va_list args) {
    vsnprintf(codec->error, sizeof(codec->error), fmt, args);
}

static void print_warning(const char* codec, const char* fmt, va_list args) {
    fprintf(stderr, "reference %s: ", codec);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}

static int next_buffer(RefCodec* codec, uint8_t** out) {
    RefBuf* buf = malloc(sizeof(RefBuf));
    if (buf == NULL) return 0;
    buf->next = NULL;
    codec->tail->next = buf;
    codec->tail = buf;
    *out = buf->data.bytes;
    return kRefBufBytes;
}

static int next_lines(RefCodec* codec, uint8_t** lines) {
    if (codec->lines_given) return 0;
    codec->lines_given = 1;
    *lines = codec->lines;
    return codec->height;
}

/* ---- QUIC ---------------------------------------------------------------------------------- */
static G_NORETURN void quic_error(QuicUsrContext* usr, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    set_error(codec_of(usr), fmt, args);
    va_end(args);
    longjmp(codec_of(usr)->on_error, 1);
}
static void quic_warn(QuicUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    va_list args;
    va_start(args, fmt);
    print_warning("quic", fmt, args);
    va_end(args);
}
static void quic_info(QuicUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    (void)fmt;
}
static void* quic_malloc(QuicUsrContext* usr, int size) {
    (void)usr;
    return malloc((size_t)size);
}
static void quic_free(QuicUsrContext* usr, void* ptr) {
    (void)usr;
    free(ptr);
}
static int quic_more_space(QuicUsrContext* usr, uint32_t** io_ptr, int rows_completed) {
    (void)rows_completed;
    uint8_t* bytes = NULL;
    const int got = next_buffer(codec_of(usr), &bytes);
    *io_ptr = (uint32_t*)(void*)bytes;
    return got / 4;
}
static int quic_more_lines(QuicUsrContext* usr, uint8_t** lines) {
    return next_lines(codec_of(usr), lines);
}

/* ---- LZ ------------------------------------------------------------------------------------ */
static G_NORETURN void lz_error(LzUsrContext* usr, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    set_error(codec_of(usr), fmt, args);
    va_end(args);
    longjmp(codec_of(usr)->on_error, 1);
}
static void lz_warn(LzUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    va_list args;
    va_start(args, fmt);
    print_warning("lz", fmt, args);
    va_end(args);
}
static void lz_info(LzUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    (void)fmt;
}
static void* lz_malloc(LzUsrContext* usr, int size) {
    (void)usr;
    return malloc((size_t)size);
}
static void lz_free(LzUsrContext* usr, void* ptr) {
    (void)usr;
    free(ptr);
}
static int lz_more_space(LzUsrContext* usr, uint8_t** io_ptr) {
    return next_buffer(codec_of(usr), io_ptr);
}
static int lz_more_lines(LzUsrContext* usr, uint8_t** lines) {
    return next_lines(codec_of(usr), lines);
}

/* ---- GLZ ----------------------------------------------------------------------------------- */
static void glz_error(GlzEncoderUsrContext* usr, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    set_error(codec_of(usr), fmt, args);
    va_end(args);
    longjmp(codec_of(usr)->on_error, 1);
}
static void glz_warn(GlzEncoderUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    va_list args;
    va_start(args, fmt);
    print_warning("glz", fmt, args);
    va_end(args);
}
static void glz_info(GlzEncoderUsrContext* usr, const char* fmt, ...) {
    (void)usr;
    (void)fmt;
}
static void* glz_malloc(GlzEncoderUsrContext* usr, int size) {
    (void)usr;
    return malloc((size_t)size);
}
static void glz_free(GlzEncoderUsrContext* usr, void* ptr) {
    (void)usr;
    free(ptr);
}
static int glz_more_space(GlzEncoderUsrContext* usr, uint8_t** io_ptr) {
    return next_buffer(codec_of(usr), io_ptr);
}
static int glz_more_lines(GlzEncoderUsrContext* usr, uint8_t** lines) {
    return next_lines(codec_of(usr), lines);
}
/* An image left the window: spice-server frees its drawable instance; we keep none. */
static void glz_free_image(GlzEncoderUsrContext* usr, GlzUsrImageContext* image) {
    (void)usr;
    (void)image;
}

/* ---- LZ4 ----------------------------------------------------------------------------------- */
static int lz4_more_space(Lz4EncoderUsrContext* usr, uint8_t** io_ptr) {
    return next_buffer(codec_of(usr), io_ptr);
}
static int lz4_more_lines(Lz4EncoderUsrContext* usr, uint8_t** lines) {
    return next_lines(codec_of(usr), lines);
}

RefCodec* ref_codec_create(enum RefCodecKind kind, uint32_t glz_window_pixels) {
    RefCodec* codec = calloc(1, sizeof(RefCodec));
    if (codec == NULL) return NULL;
    codec->kind = kind;
    switch (kind) {
        case REF_QUIC:
            codec->usr.quic.error = quic_error;
            codec->usr.quic.warn = quic_warn;
            codec->usr.quic.info = quic_info;
            codec->usr.quic.malloc = quic_malloc;
            codec->usr.quic.free = quic_free;
            codec->usr.quic.more_space = quic_more_space;
            codec->usr.quic.more_lines = quic_more_lines;
            codec->encoder = quic_create(&codec->usr.quic);
            break;
        case REF_LZ:
            codec->usr.lz.error = lz_error;
            codec->usr.lz.warn = lz_warn;
            codec->usr.lz.info = lz_info;
            codec->usr.lz.malloc = lz_malloc;
            codec->usr.lz.free = lz_free;
            codec->usr.lz.more_space = lz_more_space;
            codec->usr.lz.more_lines = lz_more_lines;
            codec->encoder = lz_create(&codec->usr.lz);
            break;
        case REF_GLZ:
            codec->usr.glz.error = glz_error;
            codec->usr.glz.warn = glz_warn;
            codec->usr.glz.info = glz_info;
            codec->usr.glz.malloc = glz_malloc;
            codec->usr.glz.free = glz_free;
            codec->usr.glz.more_space = glz_more_space;
            codec->usr.glz.more_lines = glz_more_lines;
            codec->usr.glz.free_image = glz_free_image;
            /* spice-server allows MAX_CACHE_CLIENTS (4) encoders per dictionary. */
            codec->dictionary = glz_enc_dictionary_create(glz_window_pixels, 4, &codec->usr.glz);
            if (codec->dictionary != NULL) {
                codec->encoder = glz_encoder_create(0, codec->dictionary, &codec->usr.glz);
            }
            break;
        case REF_LZ4:
            codec->usr.lz4.more_space = lz4_more_space;
            codec->usr.lz4.more_lines = lz4_more_lines;
            codec->encoder = lz4_encoder_create(&codec->usr.lz4);
            break;
    }
    if (codec->encoder == NULL) {
        ref_codec_destroy(codec);
        return NULL;
    }
    return codec;
}

void ref_codec_release_output(RefCodec* codec) {
    RefBuf* buf = codec->head;
    while (buf != NULL) {
        RefBuf* next = buf->next;
        free(buf);
        buf = next;
    }
    codec->head = codec->tail = NULL;
}

void ref_codec_destroy(RefCodec* codec) {
    if (codec == NULL) return;
    ref_codec_release_output(codec);
    if (codec->encoder != NULL) {
        switch (codec->kind) {
            case REF_QUIC:
                quic_destroy(codec->encoder);
                break;
            case REF_LZ:
                lz_destroy(codec->encoder);
                break;
            case REF_GLZ:
                glz_encoder_destroy(codec->encoder);
                break;
            case REF_LZ4:
                lz4_encoder_destroy(codec->encoder);
                break;
        }
    }
    if (codec->dictionary != NULL) glz_enc_dictionary_destroy(codec->dictionary, &codec->usr.glz);
    free(codec);
}

long ref_codec_encode(RefCodec* codec, uint8_t* pixels, int width, int height, int stride) {
    ref_codec_release_output(codec);
    codec->error[0] = '\0';
    /* As spice-server: the first output buffer is allocated per image, before the encode. */
    codec->head = codec->tail = malloc(sizeof(RefBuf));
    if (codec->head == NULL) {
        snprintf(codec->error, sizeof(codec->error), "out of memory");
        return -1;
    }
    codec->head->next = NULL;
    codec->lines = pixels;
    codec->height = height;
    codec->lines_given = 0;
    if (setjmp(codec->on_error)) return -1;
    switch (codec->kind) {
        case REF_QUIC:
            return 4L * quic_encode(codec->encoder, QUIC_IMAGE_TYPE_RGB32, width, height, NULL, 0,
                                    stride, codec->head->data.words, kRefBufBytes / 4);
        case REF_LZ:
            return lz_encode(codec->encoder, LZ_IMAGE_TYPE_RGB32, width, height, 1, NULL, 0, stride,
                             codec->head->data.bytes, kRefBufBytes);
        case REF_GLZ: {
            GlzEncDictImageContext* in_dictionary = NULL;
            return glz_encode(codec->encoder, LZ_IMAGE_TYPE_RGB32, width, height, 1, NULL, 0,
                              stride, codec->head->data.bytes, kRefBufBytes, codec, &in_dictionary);
        }
        case REF_LZ4:
            return lz4_encode(codec->encoder, height, stride, codec->head->data.bytes, kRefBufBytes,
                              1, SPICE_BITMAP_FMT_32BIT);
    }
    snprintf(codec->error, sizeof(codec->error), "unknown codec");
    return -1;
}

void ref_codec_copy_output(const RefCodec* codec, uint8_t* dst, long size) {
    for (const RefBuf* buf = codec->head; buf != NULL && size > 0; buf = buf->next) {
        const long n = size < kRefBufBytes ? size : kRefBufBytes;
        memcpy(dst, buf->data.bytes, (size_t)n);
        dst += n;
        size -= n;
    }
}

const char* ref_codec_error(const RefCodec* codec) {
    return codec->error;
}
