#include "pixels/yuv.h"

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__))
#include <emmintrin.h>
#define SPICED_YUV_SSE2 1
#endif

namespace spiced {

namespace {

// ---- The reference: the formulas of yuv.h, one pixel (or one 2x2 block) at a time ----------

inline uint8_t weigh(const YuvWeights& w, int b, int g, int r) {
    return uint8_t(((w.r * r + w.g * g + w.b * b + 128) >> 8) + w.offset);
}
inline uint8_t luma(int b, int g, int r) {
    return weigh(kYuvFormula.y, b, g, r);
}
inline uint8_t chroma_u(int b, int g, int r) {
    return weigh(kYuvFormula.u, b, g, r);
}
inline uint8_t chroma_v(int b, int g, int r) {
    return weigh(kYuvFormula.v, b, g, r);
}

// `bgrx` holds `count` pixels; writes `count` luma samples.
void luma_row_portable(const uint8_t* bgrx, int32_t count, uint8_t* y) {
    for (int32_t x = 0; x < count; ++x, bgrx += 4) y[x] = luma(bgrx[0], bgrx[1], bgrx[2]);
}

// `top` and `bottom` hold 2 * count pixels; writes `count` chroma pairs, to u[] and v[] or,
// when `uv` is not null, interleaved to uv[].
void chroma_row_portable(const uint8_t* top, const uint8_t* bottom, int32_t count, uint8_t* u,
                         uint8_t* v, uint8_t* uv) {
    for (int32_t x = 0; x < count; ++x, top += 8, bottom += 8) {
        const int b = (top[0] + top[4] + bottom[0] + bottom[4] + 2) >> 2;
        const int g = (top[1] + top[5] + bottom[1] + bottom[5] + 2) >> 2;
        const int r = (top[2] + top[6] + bottom[2] + bottom[6] + 2) >> 2;
        if (uv != nullptr) {
            uv[2 * x] = chroma_u(b, g, r);
            uv[2 * x + 1] = chroma_v(b, g, r);
        } else {
            u[x] = chroma_u(b, g, r);
            v[x] = chroma_v(b, g, r);
        }
    }
}

// ---- SSE2: the same integer arithmetic, 16 pixels a step ------------------------------------

#ifdef SPICED_YUV_SSE2
// Coefficients for B, G, R, X of two pixels, for _mm_madd_epi16 on pixels widened to 16 bits.
inline __m128i coefficients(int16_t b, int16_t g, int16_t r) {
    return _mm_setr_epi16(b, g, r, 0, b, g, r, 0);
}

// (c_b B + c_g G + c_r R + 128) >> 8 of four pixels, given as two vectors of two widened
// pixels each: madd leaves [c_b B + c_g G, c_r R] per pixel, and adding the even lanes to the
// odd ones finishes the sums in pixel order.
inline __m128i weighted4(__m128i pixels01, __m128i pixels23, __m128i coeff) {
    const __m128 a = _mm_castsi128_ps(_mm_madd_epi16(pixels01, coeff));
    const __m128 b = _mm_castsi128_ps(_mm_madd_epi16(pixels23, coeff));
    const __m128i even = _mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    const __m128i odd = _mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(even, odd), _mm_set1_epi32(128)), 8);
}

// Eight int32 results (two vectors) plus `offset`, to eight bytes in the low half.
inline __m128i to_bytes8(__m128i lo, __m128i hi, __m128i offset) {
    const __m128i words = _mm_add_epi16(_mm_packs_epi32(lo, hi), offset);
    return _mm_packus_epi16(words, words);
}

inline __m128i load4(const uint8_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

void luma_row_sse2(const uint8_t* bgrx, int32_t count, uint8_t* y) {
    const __m128i zero = _mm_setzero_si128();
    const __m128i coeff = coefficients(kYuvFormula.y.b, kYuvFormula.y.g, kYuvFormula.y.r);
    const __m128i offset = _mm_set1_epi16(16);
    int32_t x = 0;
    for (; x + 16 <= count; x += 16, bgrx += 64) {
        __m128i sums[4];
        for (int i = 0; i < 4; ++i) {
            const __m128i px = load4(bgrx + 16 * i);
            sums[i] = weighted4(_mm_unpacklo_epi8(px, zero), _mm_unpackhi_epi8(px, zero), coeff);
        }
        const __m128i lo = to_bytes8(sums[0], sums[1], offset);
        const __m128i hi = to_bytes8(sums[2], sums[3], offset);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + x), _mm_unpacklo_epi64(lo, hi));
    }
    luma_row_portable(bgrx, count - x, y + x);
}

// Rounded 2x2 averages of eight pixels (four from each row) as two blocks of widened B, G, R,
// X: vertical sums first, then each pixel added to its right neighbour.
inline __m128i block_average2(const uint8_t* top, const uint8_t* bottom) {
    const __m128i zero = _mm_setzero_si128();
    const __m128i t = load4(top), b = load4(bottom);
    const __m128i col01 = _mm_add_epi16(_mm_unpacklo_epi8(t, zero), _mm_unpacklo_epi8(b, zero));
    const __m128i col23 = _mm_add_epi16(_mm_unpackhi_epi8(t, zero), _mm_unpackhi_epi8(b, zero));
    const __m128i sums =
        _mm_add_epi16(_mm_unpacklo_epi64(col01, col23), _mm_unpackhi_epi64(col01, col23));
    return _mm_srli_epi16(_mm_add_epi16(sums, _mm_set1_epi16(2)), 2);
}

void chroma_row_sse2(const uint8_t* top, const uint8_t* bottom, int32_t count, uint8_t* u,
                     uint8_t* v, uint8_t* uv) {
    const __m128i u_coeff = coefficients(kYuvFormula.u.b, kYuvFormula.u.g, kYuvFormula.u.r);
    const __m128i v_coeff = coefficients(kYuvFormula.v.b, kYuvFormula.v.g, kYuvFormula.v.r);
    const __m128i offset = _mm_set1_epi16(128);
    int32_t x = 0;
    // Eight blocks (16 pixels of each row) a step.
    for (; x + 8 <= count; x += 8, top += 64, bottom += 64) {
        __m128i blocks[4];
        for (int i = 0; i < 4; ++i) blocks[i] = block_average2(top + 16 * i, bottom + 16 * i);
        const __m128i u8 = to_bytes8(weighted4(blocks[0], blocks[1], u_coeff),
                                     weighted4(blocks[2], blocks[3], u_coeff), offset);
        const __m128i v8 = to_bytes8(weighted4(blocks[0], blocks[1], v_coeff),
                                     weighted4(blocks[2], blocks[3], v_coeff), offset);
        if (uv != nullptr) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(uv + 2 * x), _mm_unpacklo_epi8(u8, v8));
        } else {
            _mm_storel_epi64(reinterpret_cast<__m128i*>(u + x), u8);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(v + x), v8);
        }
    }
    chroma_row_portable(top, bottom, count - x, uv != nullptr ? nullptr : u + x,
                        uv != nullptr ? nullptr : v + x, uv != nullptr ? uv + 2 * x : nullptr);
}
#endif

struct Kernels {
    void (*luma_row)(const uint8_t*, int32_t, uint8_t*);
    void (*chroma_row)(const uint8_t*, const uint8_t*, int32_t, uint8_t*, uint8_t*, uint8_t*);
};

// Null when `isa` cannot run here.
const Kernels* pick(YuvIsa isa) {
    static constexpr Kernels kPortable{luma_row_portable, chroma_row_portable};
#ifdef SPICED_YUV_SSE2
    static constexpr Kernels kSse2{luma_row_sse2, chroma_row_sse2};
    const bool has_sse2 = __builtin_cpu_supports("sse2");
#else
    const bool has_sse2 = false;
#endif
    switch (isa) {
        case YuvIsa::kPortable:
            return &kPortable;
        case YuvIsa::kBest:
        case YuvIsa::kSse2:
#ifdef SPICED_YUV_SSE2
            if (has_sse2) return &kSse2;
#endif
            return isa == YuvIsa::kBest ? &kPortable : nullptr;
    }
    (void)has_sse2;
    return nullptr;
}

// Enough bytes for `rows` rows of `row_bytes` each, `stride` apart.
bool plane_fits(std::span<uint8_t> plane, int32_t stride, int32_t row_bytes, int32_t rows) {
    if (stride < row_bytes) return false;
    return plane.size() >= size_t(rows - 1) * size_t(stride) + size_t(row_bytes);
}

Expected<void, std::string> check_area(Size frame_size, const Rect& area) {
    if (area.is_empty() || !Rect::MakeSize(frame_size).contains(area)) {
        return unexpected(std::string("yuv: area empty or outside the frame"));
    }
    if (area.width() % 2 != 0 || area.height() % 2 != 0) {
        return unexpected("yuv: 4:2:0 needs an even size, not " + std::to_string(area.width()) +
                          "x" + std::to_string(area.height()));
    }
    return {};
}

const uint8_t* pixel_at(const Frame& frame, int32_t x, int32_t y) {
    return reinterpret_cast<const uint8_t*>(frame.row(y) + x);
}

}  // namespace

bool yuv_isa_available(YuvIsa isa) {
    return pick(isa) != nullptr;
}

namespace {
// Every output row pair: luma for both rows, then `chroma(kernels, top, bottom, pair)`.
template <typename Chroma>
Expected<void, std::string> convert_rows(const Frame& frame, const Rect& area, YuvIsa isa,
                                         uint8_t* y, int32_t y_stride, Chroma&& chroma) {
    const Kernels* kernels = pick(isa);
    if (kernels == nullptr) return unexpected(std::string("yuv: instruction set not available"));
    for (int32_t row = 0; row < area.height(); row += 2) {
        const uint8_t* top = pixel_at(frame, area.left(), area.top() + row);
        const uint8_t* bottom = pixel_at(frame, area.left(), area.top() + row + 1);
        kernels->luma_row(top, area.width(), y + size_t(row) * size_t(y_stride));
        kernels->luma_row(bottom, area.width(), y + size_t(row + 1) * size_t(y_stride));
        chroma(*kernels, top, bottom, size_t(row / 2));
    }
    return {};
}
}  // namespace

Expected<void, std::string> check_i420_target(Size frame_size, const Rect& area,
                                              const I420Planes& out) {
    if (auto ok = check_area(frame_size, area); !ok) return ok;
    const int32_t w = area.width(), h = area.height();
    if (!plane_fits(out.y, out.y_stride, w, h) || !plane_fits(out.u, out.u_stride, w / 2, h / 2) ||
        !plane_fits(out.v, out.v_stride, w / 2, h / 2)) {
        return unexpected(std::string("yuv: I420 planes too small for the area"));
    }
    return {};
}

Expected<void, std::string> check_nv12_target(Size frame_size, const Rect& area,
                                              const Nv12Planes& out) {
    if (auto ok = check_area(frame_size, area); !ok) return ok;
    if (!plane_fits(out.y, out.y_stride, area.width(), area.height()) ||
        !plane_fits(out.uv, out.uv_stride, area.width(), area.height() / 2)) {
        return unexpected(std::string("yuv: NV12 planes too small for the area"));
    }
    return {};
}

Expected<void, std::string> bgrx_to_i420(const Frame& frame, const Rect& area,
                                         const I420Planes& out, YuvIsa isa) {
    if (auto ok = check_i420_target(frame.size(), area, out); !ok) return ok;
    const int32_t w = area.width();
    return convert_rows(frame, area, isa, out.y.data(), out.y_stride,
                        [&](const Kernels& k, const uint8_t* top, const uint8_t* bottom, size_t c) {
                            k.chroma_row(top, bottom, w / 2,
                                         out.u.data() + c * size_t(out.u_stride),
                                         out.v.data() + c * size_t(out.v_stride), nullptr);
                        });
}

Expected<void, std::string> bgrx_to_nv12(const Frame& frame, const Rect& area,
                                         const Nv12Planes& out, YuvIsa isa) {
    if (auto ok = check_nv12_target(frame.size(), area, out); !ok) return ok;
    const int32_t w = area.width();
    return convert_rows(frame, area, isa, out.y.data(), out.y_stride,
                        [&](const Kernels& k, const uint8_t* top, const uint8_t* bottom, size_t c) {
                            k.chroma_row(top, bottom, w / 2, nullptr, nullptr,
                                         out.uv.data() + c * size_t(out.uv_stride));
                        });
}

}  // namespace spiced
