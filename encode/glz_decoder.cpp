// Our GLZ / ZLIB_GLZ decoder and client window, with spice-gtk's window semantics
// (decode-glz.c): decoded images are kept by id; after each image, the window frees every
// image older than (newest id with no gap before it) - (its win_head_dist).
//
// Stricter than spice-gtk on purpose, since it is the test oracle for our encoder: a
// reference to an image the window does not hold is an error (spice-gtk would wait for it
// forever), a match must end inside the image it copies from (spice-gtk does not check and
// would read past it), the stream must end exactly where the header says, and the window
// may never hold more pixels than the client announced in DISPLAY_INIT.
#include <spice/enums.h>
#include <zlib.h>

#include <cstring>
#include <map>
#include <vector>

#include "base/bytes.h"
#include "encode/codecs.h"
#include "encode/glz_format.h"
#include "encode/glz_window.h"

namespace spiced {

namespace {

// deflate never expands less than this much per input byte (zlib's own bound is ~1032:1), so
// a ZLIB_GLZ body claiming more GLZ bytes than this is rejected before allocating.
constexpr uint64_t kMaxInflateRatio = 1040;

struct DecodedImage {
    uint32_t win_head_dist = 0;
    std::vector<uint32_t> pixels;  // 0x00RRGGBB, top-down rows
};

class GlzClientWindow final : public GlzDecoderWindow {
public:
    explicit GlzClientWindow(int64_t window_pixels) : window_pixels_(window_pixels) {}

    const DecodedImage* find(uint64_t id) const {
        auto it = images_.find(id);
        return it == images_.end() ? nullptr : &it->second;
    }

    // Adds a decoded image and frees what its (or the newest gap-free image's) win_head_dist
    // releases; fails, changing nothing, when the id is stale or taken or when the result
    // would exceed the window.
    Expected<void, std::string> add(uint64_t id, DecodedImage image) {
        if (id < oldest_ || images_.count(id) != 0) {
            return unexpected("glz: image id " + std::to_string(id) + " reused or already freed");
        }
        // Where the gap-free prefix of ids would end, and what that frees.
        uint64_t tail = tail_gap_;
        while (tail == id || images_.count(tail) != 0) ++tail;
        uint64_t oldest = oldest_;
        if (tail > 0) {
            const DecodedImage& last = tail - 1 == id ? image : images_.at(tail - 1);
            const uint64_t release = (tail - 1) - last.win_head_dist;
            if (last.win_head_dist > tail - 1) {
                return unexpected(std::string("glz: win_head_dist before image 0"));
            }
            oldest = std::max(oldest, release);
        }
        int64_t kept = id >= oldest ? int64_t(image.pixels.size()) : 0;
        for (auto it = images_.lower_bound(oldest); it != images_.end(); ++it) {
            kept += int64_t(it->second.pixels.size());
        }
        if (kept > window_pixels_) {
            return unexpected("glz: window would hold " + std::to_string(kept) +
                              " pixels, more than the client's " + std::to_string(window_pixels_));
        }
        pixels_ += int64_t(image.pixels.size());
        images_.emplace(id, std::move(image));
        tail_gap_ = tail;
        oldest_ = oldest;
        for (auto it = images_.begin(); it != images_.end() && it->first < oldest_;) {
            pixels_ -= int64_t(it->second.pixels.size());
            it = images_.erase(it);
        }
        return {};
    }

    GlzWindowState state() const {
        GlzWindowState s;
        s.next_id = images_.empty() ? tail_gap_ : std::max(tail_gap_, images_.rbegin()->first + 1);
        s.oldest_id = images_.empty() ? s.next_id : images_.begin()->first;
        s.images = images_.size();
        s.pixels = pixels_;
        return s;
    }

private:
    const int64_t window_pixels_;
    std::map<uint64_t, DecodedImage> images_;
    uint64_t tail_gap_ = 0;  // first id not yet received (ids below all arrived)
    uint64_t oldest_ = 0;    // ids below are freed
    int64_t pixels_ = 0;
};

class StreamReader {
public:
    explicit StreamReader(std::span<const uint8_t> data)
        : p_(data.data()), end_(p_ + data.size()) {}
    bool has(size_t n) const { return size_t(end_ - p_) >= n; }
    size_t remaining() const { return size_t(end_ - p_); }
    const uint8_t* take(size_t n) {
        const uint8_t* at = p_;
        p_ += n;
        return at;
    }
    uint8_t u8() { return *p_++; }
    uint32_t be32() {
        const uint32_t v =
            uint32_t{p_[0]} << 24 | uint32_t{p_[1]} << 16 | uint32_t{p_[2]} << 8 | p_[3];
        p_ += 4;
        return v;
    }

private:
    const uint8_t* p_;
    const uint8_t* end_;
};

using Error = Unexpected<std::string>;
Error fail(const char* what) {
    return unexpected(std::string("glz: ") + what);
}

// Decodes the ops of one image into `out` (all of it), resolving references in `window`.
Expected<void, std::string> decode_ops(StreamReader& in, uint64_t id, const GlzClientWindow& window,
                                       std::vector<uint32_t>& out) {
    const size_t n = out.size();
    size_t op = 0;
    while (op < n) {
        if (!in.has(1)) return fail("truncated stream");
        const uint32_t ctrl = in.u8();
        if (ctrl < glz::kMaxLiterals) {
            const size_t count = ctrl + 1;
            if (count > n - op) return fail("literals past the image end");
            if (!in.has(count * 3)) return fail("truncated literals");
            const uint8_t* src = in.take(count * 3);
            for (size_t i = 0; i < count; ++i, src += 3) {
                out[op++] = uint32_t{src[0]} | uint32_t{src[1]} << 8 | uint32_t{src[2]} << 16;
            }
            continue;
        }
        uint64_t length = ctrl >> 5;
        const bool far = (ctrl >> 4) & 1;
        uint32_t offset = ctrl & 15;
        if (length == 7) {
            uint8_t more;
            do {
                if (!in.has(1)) return fail("truncated match length");
                more = in.u8();
                length += more;
            } while (more == 255);
        }
        if (!in.has(2)) return fail("truncated match");
        offset += uint32_t{in.u8()} << 4;
        const uint8_t code = in.u8();
        const uint32_t extra = code >> 6;
        uint64_t image_distance = 0;
        if (!in.has(extra + (far && (code & 32) ? 1 : 0))) return fail("truncated match");
        if (!far) {
            image_distance = code & 63;
            for (uint32_t i = 0; i < extra; ++i) image_distance += uint64_t{in.u8()} << (6 + 8 * i);
        } else {
            offset += uint32_t(code & 31) << 12;
            for (uint32_t i = 0; i < extra; ++i) image_distance += uint64_t{in.u8()} << (8 * i);
            if (code & 32) offset += uint32_t{in.u8()} << 17;
        }
        if (length > n - op) return fail("match past the image end");
        if (image_distance == 0) {
            const size_t distance = size_t{offset} + 1;
            if (distance > op) return fail("match before the image start");
            for (size_t i = 0; i < length; ++i, ++op) out[op] = out[op - distance];
        } else {
            if (image_distance > id) return fail("reference before image 0");
            const DecodedImage* ref = window.find(id - image_distance);
            if (ref == nullptr) return fail("reference to an image the window does not hold");
            if (offset > ref->pixels.size() || length > ref->pixels.size() - offset) {
                return fail("reference past the end of its image");
            }
            std::memcpy(out.data() + op, ref->pixels.data() + offset, length * 4);
            op += length;
        }
    }
    return {};
}

Expected<std::unique_ptr<Frame>, std::string> decode_stream(GlzClientWindow& window, Size size,
                                                            std::span<const uint8_t> stream) {
    StreamReader in(stream);
    if (!in.has(glz::kHeaderBytes)) return fail("truncated header");
    if (in.be32() != glz::kMagic) return fail("bad magic");
    if (in.be32() != glz::kVersion) return fail("unsupported version");
    const uint8_t type = in.u8();
    const uint32_t width = in.be32(), height = in.be32();
    in.be32();  // stride: RGB decoders do not use it (nor does spice-gtk)
    const uint64_t id = uint64_t{in.be32()} << 32 | in.be32();
    const uint32_t win_head_dist = in.be32();
    const uint8_t lz_type = type & glz::kTypeMask;
    if (lz_type != glz::kTypeRgb32 && lz_type != glz::kTypeRgb24) {
        return fail("only RGB24/RGB32 GLZ images are supported");
    }
    // Bottom-up images make spice-gtk offset references from the last row; we never send them.
    if (!(type & glz::kTopDown)) return fail("bottom-up images are not supported");
    if (width != uint32_t(size.width) || height != uint32_t(size.height)) {
        return fail("header size differs from the image descriptor");
    }
    const uint64_t pixels = uint64_t{width} * height;
    if (pixels == 0 || int64_t(pixels) > kMaxDecodedPixels ||
        pixels > in.remaining() * glz::kMaxPixelsPerByte) {
        return fail("image size out of range");
    }
    DecodedImage image;
    image.win_head_dist = win_head_dist;
    image.pixels.resize(pixels);
    if (auto ok = decode_ops(in, id, window, image.pixels); !ok) return unexpected(ok.error());
    if (in.remaining() != 0) return fail("bytes after the image");
    auto frame = Frame::create(size);
    std::memcpy(frame->data(), image.pixels.data(), pixels * 4);
    if (auto ok = window.add(id, std::move(image)); !ok) return unexpected(ok.error());
    return frame;
}

}  // namespace

std::unique_ptr<GlzDecoderWindow> make_glz_decoder_window(int64_t window_pixels) {
    return std::make_unique<GlzClientWindow>(window_pixels);
}

std::optional<GlzWindowState> glz_window_state(const GlzDecoderWindow& window) {
    if (const auto* w = dynamic_cast<const GlzClientWindow*>(&window)) return w->state();
    return std::nullopt;
}

Expected<std::unique_ptr<Frame>, std::string> decode_glz_body(GlzDecoderWindow& window,
                                                              uint8_t image_type, Size size,
                                                              std::span<const uint8_t> body) {
    auto* client = dynamic_cast<GlzClientWindow*>(&window);
    if (client == nullptr) return fail("window is not a GLZ decoder window");
    if (size.width <= 0 || size.height <= 0 || size.area() > kMaxDecodedPixels) {
        return fail("image size out of range");
    }
    ByteReader r(body);
    if (image_type == SPICE_IMAGE_TYPE_GLZ_RGB) {
        const uint32_t data_size = r.u32();
        auto data = r.bytes(data_size);
        if (!r.ok()) return fail("truncated body");
        return decode_stream(*client, size, data);
    }
    if (image_type != SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB) return fail("not a GLZ image type");
    const uint32_t glz_size = r.u32(), data_size = r.u32();
    auto data = r.bytes(data_size);
    if (!r.ok()) return fail("truncated body");
    if (glz_size < glz::kHeaderBytes || glz_size > uint64_t{data_size} * kMaxInflateRatio) {
        return fail("zlib: implausible GLZ size");
    }
    std::vector<uint8_t> glz(glz_size);
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return fail("zlib: init failed");
    z.next_in = const_cast<Bytef*>(data.data());  // zlib's API is not const-correct
    z.avail_in = uInt(data.size());
    z.next_out = glz.data();
    z.avail_out = uInt(glz.size());
    const int result = inflate(&z, Z_FINISH);
    const bool complete = result == Z_STREAM_END && z.avail_out == 0 && z.avail_in == 0;
    inflateEnd(&z);
    if (!complete) return fail("zlib: stream does not inflate to the stated GLZ size");
    return decode_stream(*client, size, glz);
}

}  // namespace spiced
