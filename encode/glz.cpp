// GLZ encoder: LZ over 24-bit pixels whose dictionary is every image the client still holds,
// written so spice-gtk's decode-glz.c decodes it (format in encode/glz_format.h).
//
// The client keeps decoded images in a window and frees them only when a later image's
// win_head_dist says so; it never looks at the window size itself. So the encoder alone
// decides what the client holds, and this class is that decision: `held_` lists the images
// (oldest first) the client has after decoding the last one we produced, and references go
// only to those. Memory stays within the client's DISPLAY_INIT window, evicting oldest first
// as the client's release loop does.
//
// Our copy of the held pixels lives in one ring of X-masked 32-bit pixels. An image never
// straddles the ring's end (it starts over at 0, leaving a gap), so every image is contiguous
// and a match compares plain words. The hash table maps pixel pairs to ring positions; entries
// go stale freely, because a candidate is used only after checking that its pixels are equal
// and that it lies in an image the client holds.
#include <spice/enums.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <vector>

#include "encode/simd_level.h"

#if SPICED_CODEC_X86_DISPATCH
#include <immintrin.h>
#elif SPICED_CODEC_SSE2
#include <emmintrin.h>
#endif

#include "encode/codecs.h"
#include "encode/glz_format.h"
#include "encode/glz_window.h"

namespace spiced {

namespace {

static_assert(std::endian::native == std::endian::little, "pixel compares assume LE words");

// Two hash tables of (ring position, tag) entries: short keys (2 pixels) find the small
// repeats of text and UI, long keys (8 pixels) the rows an earlier image already holds.
// 2^16 four-byte entries each (see Entry). The tag (other hash bits) rejects most stale or
// colliding entries without touching the candidate's pixels, which are a cache miss away.
// One entry a key: keeping each short key's two newest positions and taking the longer match
// made every corpus kind another 1-3% smaller, but cost a quarter of the speed on text.
constexpr int kShortBits = 16;
constexpr int kLongBits = 16;
constexpr uint32_t kLongKey = 8;
// Inside long matches, every 8th position goes into the long table: enough that a later image
// lands on one within a key's length, an eighth of the hashing cost.
constexpr uint32_t kLongInsertStep = 8;
// A match copied from earlier in the same image is indexed only from this length on, and only
// at its first kIntraIndexKeys steps (see the indexing in compress()). Measured on the screen
// corpus: 64 and 2 made every kind smaller than indexing the whole match.
constexpr uint32_t kIntraIndexMin = 64;
constexpr uint32_t kIntraIndexKeys = 2;
// The client keeps a slot and a pixman image per held image; bounding the count keeps its
// bookkeeping small when a stream of tiny images (cursor-sized damage) would fit thousands
// into the pixel budget, and keeps image distances far below kMaxImageDistance.
constexpr size_t kMaxHeldImages = 1 << 16;
// Pixels copied into the ring ahead of the compressor at a time: 16 KiB, well inside L1/L2.
constexpr uint32_t kCopyChunk = 4096;
// Below this a zlib wrap cannot pay for its own header and Adler-32 (spice-server uses 100).
constexpr size_t kMinGlzBytesForZlib = 100;
// zlib level 1 (deflate_fast): GLZ has already removed the repetition, so zlib's gain is
// Huffman-coding the literal bytes and length runs; level 1 gets nearly all of it at a
// fraction of level 3's (spice-server's default) time, and ZLIB_GLZ exists for slow links
// where a busy encoder would add latency too.
constexpr int kZlibLevel = 1;
constexpr int64_t kMaxWindowPixels = kGlzMaxWindowPixels;

inline uint64_t load_pair(const uint32_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// An entry is one word: the ring position in the low 26 bits (the ring holds at most 5/4 of
// kMaxWindowPixels, plus 2) and 6 more hash bits as a tag in the high ones. Four bytes an
// entry keep both tables (512 KiB) in L2 beside the image; the tag only saves a look at the
// candidate's pixels, and a match is taken only after comparing those, so a weaker tag never
// changes what is found.
using Entry = uint32_t;
constexpr uint32_t kPosBits = 26;
constexpr uint32_t kPosMask = (1u << kPosBits) - 1;
inline Entry make_entry(uint32_t pos, uint64_t h) {
    return pos | (uint32_t(h >> 8) & ~kPosMask);
}
inline bool tag_matches(Entry e, uint64_t h) {
    return ((e ^ uint32_t(h >> 8)) & ~kPosMask) == 0;
}

// Whether the kLongKey (8) pixels at a and b are equal, without a branch per pair.
inline bool equal_key(const uint32_t* a, const uint32_t* b) {
    return ((load_pair(a) ^ load_pair(b)) | (load_pair(a + 2) ^ load_pair(b + 2)) |
            (load_pair(a + 4) ^ load_pair(b + 4)) | (load_pair(a + 6) ^ load_pair(b + 6))) == 0;
}

inline uint64_t mix(uint64_t v) {
    return v * 0x9E3779B97F4A7C15ull;
}

inline uint64_t long_hash(const uint32_t* p) {
    return mix(load_pair(p)) ^ (load_pair(p + 2) * 0xC2B2AE3D27D4EB4Full) ^
           (load_pair(p + 4) * 0x165667B19E3779F9ull) ^ (load_pair(p + 6) * 0xD6E8FEB86659FD93ull);
}

// Pixel compares and the ring copy, in an SSE2 build every x86-64 CPU runs and an AVX2 build
// (32 bytes a step) picked at run time; both give the same results.
// equal_run: from n on, 8 pixels a step: the first index with a[i] != b[i], or where fewer than
// 8 pixels are left before `limit` (the caller compares those).
// copy_row: dest[i] = src[i] with the X byte cleared.
uint32_t equal_run_generic(const uint32_t* a, const uint32_t* b, uint32_t n, uint32_t limit) {
#if SPICED_CODEC_SSE2
    while (n + 8 <= limit) {
        const auto* pa = reinterpret_cast<const __m128i*>(a + n);
        const auto* pb = reinterpret_cast<const __m128i*>(b + n);
        const __m128i lo = _mm_cmpeq_epi32(_mm_loadu_si128(pa), _mm_loadu_si128(pb));
        const __m128i hi = _mm_cmpeq_epi32(_mm_loadu_si128(pa + 1), _mm_loadu_si128(pb + 1));
        const uint32_t equal = uint32_t(_mm_movemask_ps(_mm_castsi128_ps(lo))) |
                               uint32_t(_mm_movemask_ps(_mm_castsi128_ps(hi))) << 4;
        if (equal != 0xff) return n + uint32_t(std::countr_one(equal));
        n += 8;
    }
#else
    for (; n + 8 <= limit; n += 8) {
        for (uint32_t i = n; i < n + 8; i += 2) {
            const uint64_t diff = load_pair(a + i) ^ load_pair(b + i);
            if (diff != 0) return i + uint32_t(std::countr_zero(diff) >> 5);
        }
    }
#endif
    return n;
}

void copy_row_generic(uint32_t* dest, const uint32_t* src, uint32_t count) {
    for (uint32_t x = 0; x < count; ++x) dest[x] = src[x] & 0x00ffffffu;
}

#if SPICED_CODEC_X86_DISPATCH
__attribute__((target("avx2"))) uint32_t equal_run_avx2(const uint32_t* a, const uint32_t* b,
                                                        uint32_t n, uint32_t limit) {
    // 32 pixels a step (long runs, scrolled rows) with one test of the four compares, then 8.
    for (; n + 32 <= limit; n += 32) {
        const auto* pa = reinterpret_cast<const __m256i*>(a + n);
        const auto* pb = reinterpret_cast<const __m256i*>(b + n);
        const __m256i e0 = _mm256_cmpeq_epi32(_mm256_loadu_si256(pa), _mm256_loadu_si256(pb));
        const __m256i e1 =
            _mm256_cmpeq_epi32(_mm256_loadu_si256(pa + 1), _mm256_loadu_si256(pb + 1));
        const __m256i e2 =
            _mm256_cmpeq_epi32(_mm256_loadu_si256(pa + 2), _mm256_loadu_si256(pb + 2));
        const __m256i e3 =
            _mm256_cmpeq_epi32(_mm256_loadu_si256(pa + 3), _mm256_loadu_si256(pb + 3));
        const __m256i all = _mm256_and_si256(_mm256_and_si256(e0, e1), _mm256_and_si256(e2, e3));
        if (_mm256_movemask_ps(_mm256_castsi256_ps(all)) == 0xff) continue;
        const uint32_t equal = uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(e0))) |
                               uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(e1))) << 8 |
                               uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(e2))) << 16 |
                               uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(e3))) << 24;
        return n + uint32_t(std::countr_one(equal));
    }
    for (; n + 8 <= limit; n += 8) {
        const auto* pa = reinterpret_cast<const __m256i*>(a + n);
        const auto* pb = reinterpret_cast<const __m256i*>(b + n);
        const __m256i eq = _mm256_cmpeq_epi32(_mm256_loadu_si256(pa), _mm256_loadu_si256(pb));
        const uint32_t equal = uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
        if (equal != 0xff) return n + uint32_t(std::countr_one(equal));
    }
    return n;
}

__attribute__((target("avx2"))) void copy_row_avx2(uint32_t* dest, const uint32_t* src,
                                                   uint32_t count) {
    for (uint32_t x = 0; x < count; ++x) dest[x] = src[x] & 0x00ffffffu;
}
#endif

template <bool kAvx2>
uint32_t equal_run(const uint32_t* a, const uint32_t* b, uint32_t n, uint32_t limit) {
#if SPICED_CODEC_X86_DISPATCH
    if constexpr (kAvx2) return equal_run_avx2(a, b, n, limit);
#endif
    return equal_run_generic(a, b, n, limit);
}

template <bool kAvx2>
void copy_row(uint32_t* dest, const uint32_t* src, uint32_t count) {
#if SPICED_CODEC_X86_DISPATCH
    if constexpr (kAvx2) return copy_row_avx2(dest, src, count);
#endif
    copy_row_generic(dest, src, count);
}

// Equal pixels at a[i] == b[i] from 0, at most `limit`. X bytes are zero in the ring, so
// two pixels compare as one word; a may overlap b (LZ77 self-reference). One 8-byte compare
// first (most matches found by a short key end there), then 8 pixels a step: runs and rows an
// earlier image already held go on for hundreds of pixels.
template <bool kAvx2>
inline uint32_t common_length(const uint32_t* a, const uint32_t* b, uint32_t limit) {
    if (limit < 2) return limit == 1 && a[0] == b[0] ? 1 : 0;
    const uint64_t diff = load_pair(a) ^ load_pair(b);
    if (diff != 0) return uint32_t(std::countr_zero(diff) >> 5);
    uint32_t n = limit >= 10 ? equal_run<kAvx2>(a, b, 2, limit) : 2;
    if (n + 8 <= limit) return n;  // equal_run stopped at a difference
    while (n + 2 <= limit) {
        const uint64_t pair_diff = load_pair(a + n) ^ load_pair(b + n);
        if (pair_diff != 0) return n + uint32_t(std::countr_zero(pair_diff) >> 5);
        n += 2;
    }
    if (n < limit && a[n] == b[n]) ++n;
    return n;
}

uint8_t* put_literals(uint8_t* o, const uint32_t* pixels, uint32_t count) {
    while (count > 0) {
        const uint32_t chunk = std::min(count, glz::kMaxLiterals);
        *o++ = uint8_t(chunk - 1);
        // 4-byte stores, 3-byte steps: the X byte is overwritten by the next pixel (the
        // scratch buffer has slack for the last one).
        for (uint32_t i = 0; i < chunk; ++i, o += 3) std::memcpy(o, pixels + i, 4);
        pixels += chunk;
        count -= chunk;
    }
    return o;
}

// deflate state with its own lifetime; z_stream points at itself, so it never moves.
class Deflater {
public:
    Deflater() { ok_ = deflateInit(&stream_, kZlibLevel) == Z_OK; }
    ~Deflater() {
        if (ok_) deflateEnd(&stream_);
    }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    // Compresses `in` (one zlib stream with header, as inflate() in decode-zlib.c expects)
    // to the end of `out`; returns the bytes written, 0 on failure.
    size_t compress(std::span<const uint8_t> in, ByteWriter& out) {
        if (!ok_ || deflateReset(&stream_) != Z_OK) return 0;
        const size_t at = out.size();
        const uLong bound = deflateBound(&stream_, uLong(in.size()));
        uint8_t* dest = out.extend(bound);
        stream_.next_in = const_cast<Bytef*>(in.data());  // zlib's API is not const-correct
        stream_.avail_in = uInt(in.size());
        stream_.next_out = dest;
        stream_.avail_out = uInt(bound);
        const int result = deflate(&stream_, Z_FINISH);
        const size_t written = bound - stream_.avail_out;
        out.buffer().resize(at + (result == Z_STREAM_END ? written : 0));
        return result == Z_STREAM_END ? written : 0;
    }

private:
    z_stream stream_{};
    bool ok_ = false;
};

// The ring: tens of MiB written once per image. Aligned to 2 MiB and, on Linux, marked for
// transparent huge pages, so filling it first costs one fault per 2 MiB instead of one per
// 4 KiB page (the faults were a fifth of encoding a fresh client's first images).
constexpr size_t kHugePage = size_t{2} << 20;
size_t ring_bytes(size_t pixels) {
    return (pixels * sizeof(uint32_t) + kHugePage - 1) / kHugePage * kHugePage;
}
uint32_t ring_size_for(int64_t window_pixels) {
    return uint32_t(window_pixels + window_pixels / 4);
}
struct FreeDeleter {
    void operator()(uint32_t* p) const { std::free(p); }
};
using RingPtr = std::unique_ptr<uint32_t[], FreeDeleter>;
RingPtr allocate_ring(size_t pixels) {
    const size_t bytes = ring_bytes(pixels);
    auto* ring = static_cast<uint32_t*>(std::aligned_alloc(kHugePage, bytes));
    if (ring == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    madvise(ring, bytes, MADV_HUGEPAGE);  // advice only: without THP the ring still works
#endif
    return RingPtr(ring);
}

struct HeldImage {
    uint64_t id;
    uint64_t start;   // virtual position (ring position + laps * ring size)
    uint32_t ring;    // ring position of the first pixel
    uint32_t pixels;  // width * height
};

class GlzEncoder final : public ImageEncoder {
public:
    explicit GlzEncoder(const GlzOptions& options)
        : zlib_(options.zlib),
          window_pixels_(std::min(options.window_pixels, kMaxWindowPixels)),
          // A quarter more ring than window, so the gap left when an image starts over at
          // the ring's start rarely forces evicting more than the client's window would.
          ring_size_(ring_size_for(window_pixels_)),
          ring_(allocate_ring(size_t{ring_size_} + 2)),
          short_table_(size_t{1} << kShortBits, 0),
          long_table_(size_t{1} << kLongBits, 0) {
        // Pair loads at the last pixel read one past it.
        ring_[ring_size_] = ring_[ring_size_ + 1] = 0;
    }

    // The dictionary is the client's; the zlib wrap is per image (a session's bandwidth
    // figure can change while its display channel lives).
    void set_zlib(bool zlib) { zlib_ = zlib; }

    ImageCodec codec() const override { return zlib_ ? ImageCodec::kZlibGlz : ImageCodec::kGlz; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
        if (!frame.rect().contains(area) || area.is_empty()) {
            return unexpected(std::string("glz: area outside the frame"));
        }
        const int64_t pixels = int64_t{area.width()} * area.height();
        // As spice-server: an image the window cannot hold goes through another codec.
        if (pixels > window_pixels_) {
            return unexpected(std::string("glz: image larger than the client's window"));
        }
        const uint32_t n = uint32_t(pixels);
        const uint64_t id = next_id_;
        const uint32_t start = place(n);
        begin_copy(frame, area, start);

        // Worst case: all literals, 3 bytes per pixel plus a ctrl byte per 32, and one byte
        // of slack for put_literals' 4-byte stores.
        scratch_.resize(std::max<size_t>(
            scratch_.size(), glz::kHeaderBytes + size_t{n} * 3 + n / glz::kMaxLiterals + 8));
        uint8_t* o = scratch_.data();
        o = glz::put_be32(o, glz::kMagic);
        o = glz::put_be32(o, glz::kVersion);
        *o++ = glz::kTypeRgb32 | glz::kTopDown;
        o = glz::put_be32(o, uint32_t(area.width()));
        o = glz::put_be32(o, uint32_t(area.height()));
        o = glz::put_be32(o, uint32_t(area.width()) * 4);
        o = glz::put_be32(o, uint32_t(id >> 32));
        o = glz::put_be32(o, uint32_t(id));
        // The client frees everything older than held_.front() once it has decoded this.
        o = glz::put_be32(o, uint32_t(held_.empty() ? 0 : id - held_.front().id));
        o = compress_on_this_cpu(o, start, n);
        const size_t glz_size = size_t(o - scratch_.data());

        held_.push_back({id, head_ - n, start, n});
        // The longest match's displacement is worth trying first in the next image: a
        // scrolled or moved area keeps it for its whole height.
        if (best_length_ >= kLongKey) reps_[1] = best_displacement_;
        held_pixels_ += n;
        ++next_id_;

        const std::span<const uint8_t> stream(scratch_.data(), glz_size);
        if (zlib_ && glz_size >= kMinGlzBytesForZlib) {
            if (!deflater_) deflater_ = std::make_unique<Deflater>();
            const size_t at = out.size();
            out.u32(uint32_t(glz_size));
            out.u32(0);  // data_size, patched below
            const size_t zsize = deflater_->compress(stream, out);
            if (zsize > 0 && zsize < glz_size) {
                out.patch_u32(at + 4, uint32_t(zsize));
                return uint8_t{SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB};
            }
            out.buffer().resize(at);  // zlib did not help: plain GLZ carries the same image
        }
        out.u32(uint32_t(glz_size));
        out.bytes(stream);
        return uint8_t{SPICE_IMAGE_TYPE_GLZ_RGB};
    }

    GlzWindowState state() const {
        return {next_id_, held_.empty() ? next_id_ : held_.front().id, held_.size(), held_pixels_};
    }

private:
    void evict_oldest() {
        held_pixels_ -= held_.front().pixels;
        held_.pop_front();
    }

    // Makes room for an image of n pixels (n <= window) and returns its ring position: first
    // what the client's window must drop, then whatever the ring position would overwrite.
    uint32_t place(uint32_t n) {
        while (!held_.empty() &&
               (held_pixels_ + n > window_pixels_ || held_.size() >= kMaxHeldImages)) {
            evict_oldest();
        }
        uint64_t start = head_;
        const uint64_t offset = start % ring_size_;
        if (offset + n > ring_size_) start += ring_size_ - offset;  // start over at 0
        // Ring positions [start, start + n) last held virtual [start - size, start + n - size).
        while (!held_.empty() && held_.front().start + ring_size_ < start + n) evict_oldest();
        head_ = start + n;
        cur_start_virtual_ = start;
        cur_start_ = uint32_t(start % ring_size_);
        high_water_ = std::max(high_water_, cur_start_ + n);
        return cur_start_;
    }

    // The image enters the ring a few rows ahead of the compressor rather than in a pass of
    // its own, so the pixels it compares are still in L1/L2 from the copy.
    void begin_copy(const Frame& frame, const Rect& area, uint32_t start) {
        copy_frame_ = &frame;
        copy_area_ = area;
        copy_row_ = area.top();
        copied_ = start;
    }

    // Copies rows (X bytes masked) until ring position `upto` (or the image's end) is written.
    template <bool kAvx2>
    void copy_until(uint32_t upto) {
        const int32_t width = copy_area_.width();
        uint32_t* dest = ring_.get() + copied_;
        while (copied_ < upto && copy_row_ < copy_area_.bottom()) {
            const uint32_t* src = copy_frame_->row(copy_row_) + copy_area_.left();
            copy_row<kAvx2>(dest, src, uint32_t(width));
            dest += width;
            copied_ += uint32_t(width);
            ++copy_row_;
        }
    }

    // Equal pixels from current-image position `a` and an earlier position `b`, at most
    // `limit`, copying more of the image whenever the compare reaches what is written.
    template <bool kAvx2>
    uint32_t match_length(uint32_t a, uint32_t b, uint32_t limit) {
        const uint32_t* w = ring_.get();
        uint32_t n = 0;
        for (;;) {
            const uint32_t ready = std::min(limit, copied_ - a);
            n += common_length<kAvx2>(w + a + n, w + b + n, ready - n);
            if (n < ready || ready == limit) return n;
            copy_until<kAvx2>(copied_ + kCopyChunk);
        }
    }

    // The virtual position ring position `pos` held before the current image's start.
    uint64_t virtual_of(uint32_t pos) const {
        const uint64_t back =
            pos < cur_start_ ? cur_start_ - pos : uint64_t{cur_start_} + ring_size_ - pos;
        return cur_start_virtual_ - back;
    }

    // The held image containing ring position `pos` (outside the current image), or null.
    const HeldImage* find_held(uint32_t pos) const {
        const uint64_t back =
            pos < cur_start_ ? cur_start_ - pos : uint64_t{cur_start_} + ring_size_ - pos;
        if (back > cur_start_virtual_) return nullptr;
        return held_at(cur_start_virtual_ - back);
    }

    // The held image containing virtual position `virt` (before the current image), or null.
    const HeldImage* held_at(uint64_t virt) const {
        // held_ excludes the current image while it is being compressed.
        if (held_.empty() || virt < held_.front().start) return nullptr;
        auto it = std::upper_bound(held_.begin(), held_.end(), virt,
                                   [](uint64_t v, const HeldImage& h) { return v < h.start; });
        --it;
        if (virt - it->start >= it->pixels) return nullptr;  // in a gap or an evicted image
        return &*it;
    }

    // Where a candidate ring position may be copied from, seen from `ip` of the current image.
    struct Source {
        uint32_t image_distance;  // 0: this image
        uint32_t offset;          // as the stream encodes it (biased distance, or pixel index)
        uint32_t forward;         // pixels the match may run from ip on
        uint32_t backward;        // pixels it may grow back from ip (same source image)
    };
    bool resolve(uint32_t cand, uint32_t ip, uint32_t start, uint32_t end, Source& source) const {
        if (cand >= start && cand < ip) {
            if (ip - cand > glz::kMaxOffset) return false;
            source = {0, ip - cand - 1, end - ip, cand - start};
            return true;
        }
        const HeldImage* held = find_held(cand);
        if (held == nullptr) return false;
        const uint64_t at = virtual_of(cand) - held->start;
        if (at >= glz::kMaxOffset) return false;
        // A match ends with its image: the client copies from that image's own buffer.
        source = {uint32_t(next_id_ - held->id), uint32_t(at),
                  std::min(end - ip, held->pixels - uint32_t(at)), uint32_t(at)};
        return true;
    }

    // Tries the remembered displacements at ip; returns the match length (0: none). `known_miss`
    // is a displacement whose pixel at ip is known to differ (the match that just ended there
    // stopped on it), so looking again would only find the same mismatch.
    template <bool kAvx2>
    uint32_t try_reps(uint32_t ip, uint32_t start, uint32_t end, uint64_t known_miss,
                      Source& source, uint64_t& displacement) {
        // A rep pays only from kLongKey pixels on, so fewer left means none can.
        if (ip + kLongKey > end) return 0;
        const uint32_t* w = ring_.get();
        const uint64_t ip_virtual = cur_start_virtual_ + (ip - start);
        for (uint64_t rep : reps_) {
            if (rep == 0 || rep > ip_virtual || rep == known_miss) continue;
            const uint64_t from = ip_virtual - rep;
            if (from >= cur_start_virtual_) {
                const uint32_t cand = start + uint32_t(from - cur_start_virtual_);
                // Most tries fail at once: a key's compare is cheaper than resolve().
                if (!equal_key(w + ip, w + cand) || !resolve(cand, ip, start, end, source)) {
                    continue;
                }
                if (const uint32_t length = match_length<kAvx2>(ip, cand, source.forward);
                    length >= kLongKey) {
                    displacement = rep;
                    return length;
                }
            } else if (!held_.empty() && from >= held_.front().start) {
                // As resolve() would find it, without searching held_ a second time.
                const HeldImage* held = held_at(from);
                if (held == nullptr || from - held->start >= glz::kMaxOffset) continue;
                const uint32_t at = uint32_t(from - held->start);
                const uint32_t cand = held->ring + at;
                source = {uint32_t(next_id_ - held->id), at, std::min(end - ip, held->pixels - at),
                          at};
                if (const uint32_t length = match_length<kAvx2>(ip, cand, source.forward);
                    length >= kLongKey) {
                    displacement = rep;
                    return length;
                }
            }
        }
        return 0;
    }

    template <bool kAvx2>
    uint8_t* compress(uint8_t* o, uint32_t start, uint32_t n) {
        const uint32_t* w = ring_.get();
        Entry* short_table = short_table_.data();
        Entry* long_table = long_table_.data();
        const uint32_t end = start + n;
        uint32_t ip = start;
        uint32_t literals = start;  // first pixel not yet written
        best_length_ = 0;
        // Displacement of the long match that ended at `literals` on a differing pixel, or 0.
        uint64_t stopped = 0;
        // The long-key hash of `hashed_ip`, computed one step early so that both table slots
        // are on their way from L2 while the rest of the step runs.
        uint32_t hashed_ip = ~0u;
        bool scanning = false;  // the last step found no match
        uint64_t next_long_hash = 0;
        auto prepare = [&](uint32_t next) {
            if (next + kLongKey + 2 > copied_) copy_until<kAvx2>(next + kCopyChunk);
            if (next + kLongKey > end) return;
            hashed_ip = next;
            next_long_hash = long_hash(w + next);
            __builtin_prefetch(&long_table[next_long_hash >> (64 - kLongBits)]);
            __builtin_prefetch(&short_table[mix(load_pair(w + next)) >> (64 - kShortBits)]);
        };
        while (ip + 1 < end) {
            // Everything the search reads at ip (a long key) is in the ring.
            if (ip + kLongKey + 2 > copied_) copy_until<kAvx2>(ip + kCopyChunk);
            const uint64_t pair = load_pair(w + ip);
            uint32_t length = 0;
            Source source{0, 0, 0, 0};
            uint64_t displacement = 0;  // virtual distance back to the source, if known
            bool limited = false;       // the match stopped at its source's or image's end
            if (ip > start && uint32_t(pair) == w[ip - 1] && uint32_t(pair >> 32) == w[ip - 1]) {
                // A run: a match one pixel back, cheapest to find and to encode.
                length = 2 + match_length<kAvx2>(ip + 2, ip + 1, end - ip - 2);
            } else if (ip - literals <= 1 &&
                       (length = try_reps<kAvx2>(ip, start, end, ip == literals ? stopped : 0,
                                                 source, displacement)) != 0) {
                limited = length == source.forward;
                // At the image start or just after a match: the displacement of a recent
                // long match (same content moved the same way) found by a direct look.
            } else {
                const uint64_t lh =
                    hashed_ip == ip || ip + kLongKey > end ? next_long_hash : long_hash(w + ip);
                // Scanning literals (the last step matched nothing either): fetch the table
                // lines of the next step now, a whole step before they are needed.
                if (scanning) prepare(ip + 1);
                // Long keys first: they find the rows an earlier image already had (scrolled
                // text, moved windows), where short keys would settle for a nearby glyph.
                if (ip + kLongKey <= end) {
                    Entry& slot = long_table[lh >> (64 - kLongBits)];
                    const Entry e = slot;
                    const uint32_t cand = e & kPosMask;
                    slot = make_entry(ip, lh);
                    if (tag_matches(e, lh) && cand + kLongKey <= high_water_ &&
                        resolve(cand, ip, start, end, source)) {
                        length = match_length<kAvx2>(ip, cand, source.forward);
                        limited = length == source.forward;
                        if (length >= kLongKey) {
                            // virtual_of() places a ring position before this image, so
                            // a copy from this image is measured directly.
                            displacement =
                                source.image_distance == 0
                                    ? ip - cand
                                    : cur_start_virtual_ + (ip - start) - virtual_of(cand);
                            // Grow back over pending literals the long key started after.
                            uint32_t back = 0;
                            while (back < source.backward && ip - back > literals &&
                                   w[ip - back - 1] == w[cand - back - 1]) {
                                ++back;
                            }
                            ip -= back;
                            length += back;
                            if (source.image_distance != 0) source.offset -= back;
                        } else {
                            length = 0;
                        }
                    }
                }
                if (length == 0) {
                    const uint64_t h = mix(pair);
                    Entry& slot = short_table[h >> (64 - kShortBits)];
                    const Entry e = slot;
                    const uint32_t cand = e & kPosMask;
                    slot = make_entry(ip, h);
                    if (tag_matches(e, h) && cand + 1 < high_water_ &&
                        load_pair(w + cand) == pair && resolve(cand, ip, start, end, source) &&
                        source.forward >= 2) {
                        length = 2 + match_length<kAvx2>(ip + 2, cand + 2, source.forward - 2);
                        // Far references cost up to 7 bytes: keep only those that beat
                        // literals.
                        if (length * 3 <= glz::match_cost(source.image_distance, source.offset)) {
                            length = 0;
                        }
                    }
                }
            }
            if (length == 0) {
                // Every position is searched, incompressible areas too: skipping ahead there
                // (as this encoder once did after 32 misses) lost the short matches that
                // photos, video and spreadsheets are full of, making them 2-8% larger than
                // spice-server's output, while the search stays far cheaper than its own.
                ++ip;
                if (!scanning) prepare(ip);
                scanning = true;
                continue;
            }
            scanning = false;
            const uint32_t match_end = ip + length;
            prepare(match_end);  // first, so that the table lines arrive while the match is written
            o = put_literals(o, w + literals, ip - literals);
            o = glz::put_match(o, length, source.image_distance, source.offset);
            if (displacement != 0 && length >= kLongKey) {
                reps_[0] = displacement;
                if (length > best_length_) {
                    best_length_ = length;
                    best_displacement_ = displacement;
                }
            }
            // Index the matched pixels sparsely: the next image finds them here, in the
            // newest copy, rather than in an older one about to be evicted. A copy from this
            // image gets only its first two keys, and only when long (repeated rows of UI
            // panels, whose next repeat then refers to the nearer copy): indexing all of it cost
            // a fifth of the time on UI and pushed better candidates (glyphs) out of the table,
            // and dropping it made every corpus image and the scroll sequence smaller.
            const bool other_image = source.image_distance != 0;
            if (other_image ? length >= 2 * kLongKey
                            : length >= kIntraIndexMin && source.offset != 0) {
                const uint32_t last =
                    other_image ? match_end
                                : std::min(match_end, ip + 1 + kIntraIndexKeys * kLongInsertStep);
                for (uint32_t p = ip + 1; p + kLongKey <= last; p += kLongInsertStep) {
                    const uint64_t h = long_hash(w + p);
                    long_table[h >> (64 - kLongBits)] = make_entry(p, h);
                }
            }
            stopped = displacement != 0 && length >= kLongKey && !limited ? displacement : 0;
            ip = match_end;
            literals = ip;
            // Seed the short table with the match's last pixel and the one after it: the
            // step from a run or copy into new content (background into a glyph), which no
            // search position covers. The pair before it, inside the match, found less.
            if (ip + 1 < end) {
                const uint64_t h = mix(load_pair(w + ip - 1));
                short_table[h >> (64 - kShortBits)] = make_entry(ip - 1, h);
            }
        }
        copy_until<kAvx2>(end);  // an image shorter than a long key
        return put_literals(o, w + literals, end - literals);
    }

    // The search built twice, its compares and ring copy called directly: text screens make
    // many short matches, and a compare through a function pointer per match cost a tenth of
    // the time there. The AVX2 build is flattened (every call inlined) so that all of it is
    // compiled for AVX2.
    uint8_t* compress_on_this_cpu(uint8_t* o, uint32_t start, uint32_t n) {
#if SPICED_CODEC_X86_DISPATCH
        if (use_avx2_) return compress_avx2(o, start, n);
#endif
        return compress<false>(o, start, n);
    }
#if SPICED_CODEC_X86_DISPATCH
    __attribute__((target("avx2"), flatten)) uint8_t* compress_avx2(uint8_t* o, uint32_t start,
                                                                    uint32_t n) {
        return compress<true>(o, start, n);
    }
    const bool use_avx2_ = __builtin_cpu_supports("avx2");
#endif

    bool zlib_;
    static_assert(kMaxWindowPixels + kMaxWindowPixels / 4 + 2 <= int64_t{1} << kPosBits);
    const int64_t window_pixels_;
    const uint32_t ring_size_;
    RingPtr ring_;
    std::vector<Entry> short_table_;
    std::vector<Entry> long_table_;
    std::deque<HeldImage> held_;  // oldest first; the client holds exactly these
    int64_t held_pixels_ = 0;
    uint64_t next_id_ = 0;  // spice-gtk expects ids 0, 1, 2, ... on a fresh window
    uint64_t head_ = 0;     // virtual position after the newest image
    uint64_t cur_start_virtual_ = 0;
    uint64_t reps_[2] = {0, 0};  // recent long-match displacements (virtual), 0 = none
    uint32_t best_length_ = 0;   // longest displaced match of the current image
    uint64_t best_displacement_ = 0;
    uint32_t cur_start_ = 0;
    uint32_t high_water_ = 0;  // ring positions below this have been written
    std::vector<uint8_t> scratch_;
    std::unique_ptr<Deflater> deflater_;
    // The image being copied into the ring (valid during encode()).
    const Frame* copy_frame_ = nullptr;
    Rect copy_area_;
    int32_t copy_row_ = 0;
    uint32_t copied_ = 0;  // ring positions of the current image below this are written
};

}  // namespace

std::unique_ptr<ImageEncoder> make_glz_encoder(const GlzOptions& options) {
    if (options.window_pixels <= 0) return nullptr;  // the client has no GLZ window
    return std::make_unique<GlzEncoder>(options);
}

bool set_glz_zlib(ImageEncoder& encoder, bool zlib) {
    auto* glz = dynamic_cast<GlzEncoder*>(&encoder);
    if (glz == nullptr) return false;
    glz->set_zlib(zlib);
    return true;
}

size_t glz_encoder_bytes(int64_t window_pixels) {
    const int64_t window = std::clamp<int64_t>(window_pixels, 0, kMaxWindowPixels);
    if (window == 0) return 0;
    // The ring (with its two slack pixels), both hash tables, and the output scratch, which
    // grows to the largest image (at most the window) at 3 bytes a pixel plus control bytes.
    return ring_bytes(size_t{ring_size_for(window)} + 2) +
           ((size_t{1} << kShortBits) + (size_t{1} << kLongBits)) * sizeof(Entry) +
           size_t(window) * 3 + size_t(window) / glz::kMaxLiterals + glz::kHeaderBytes + 8;
}

std::optional<GlzWindowState> glz_encoder_state(const ImageEncoder& encoder) {
    if (const auto* glz = dynamic_cast<const GlzEncoder*>(&encoder)) return glz->state();
    return std::nullopt;
}

}  // namespace spiced
