// SPICE JPEG and JPEG_ALPHA image bodies (spice-common spice.proto):
//   JPEG:       u32 data_size, then a JPEG file of data_size bytes.
//   JPEG_ALPHA: u8 flags (SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN), u32 jpeg_size, u32 data_size, then
//               data_size bytes: the JPEG file (jpeg_size bytes) and right after it the alpha
//               plane as an LZ stream of type XXXA (encode/lz.h).
//
// Encoding uses the same libjpeg settings as spice-server's jpeg-encoder.c (jpeg_set_defaults
// then jpeg_set_quality: baseline, YCbCr with 2x2 (4:2:0) chroma subsampling, the standard
// Huffman tables, the accurate integer DCT), so clients get the files they already decode
// from spice-server. We hand libjpeg-turbo the BGRX rows as they are (JCS_EXT_BGRX) instead of
// converting each row to RGB first as spice-server does.
//
// libjpeg reports fatal errors by calling error_exit, which must not return. Ours longjmps back
// to the setjmp in guarded(). C++ allows that only when no automatic object with a non-trivial
// destructor lives in the frames the jump skips, so the callables run under guarded() call
// libjpeg and touch plain data only; everything that owns memory (frames, the handles
// themselves) lives in the caller, outside the jump.
#include "encode/jpeg.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <spice/enums.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <new>
#include <type_traits>

#include "encode/codecs.h"
#include "encode/lz.h"

namespace spiced {

namespace {

// Rows handed to libjpeg per call: enough to cover one MCU row (16 lines at 4:2:0) so the
// library works straight from our rows without an extra call per line.
constexpr JDIMENSION kRowsPerCall = 16;
// Progressive files may carry any number of scans and each one makes the decoder walk the
// whole coefficient buffer again; a hostile file of tiny scans costs minutes of CPU. Our
// encoder and spice-server write one scan; TurboJPEG's TJFLAG_LIMITSCANS uses the same 500.
constexpr int kMaxScans = 500;

// One libjpeg error manager per handle. `mgr` is first so the j_common_ptr->err that libjpeg
// gives the callbacks can be cast back to the whole struct.
struct JpegErrors {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};
static_assert(std::is_standard_layout_v<JpegErrors>);

JpegErrors& errors_of(j_common_ptr cinfo) {
    return *reinterpret_cast<JpegErrors*>(cinfo->err);
}

[[noreturn]] void jump_out(j_common_ptr cinfo) {
    JpegErrors& errors = errors_of(cinfo);
    (*cinfo->err->format_message)(cinfo, errors.message);
    std::longjmp(errors.jump, 1);
}

[[noreturn]] void jump_out_with(j_common_ptr cinfo, const char* text) {
    JpegErrors& errors = errors_of(cinfo);
    std::snprintf(errors.message, sizeof(errors.message), "%s", text);
    std::longjmp(errors.jump, 1);
}

// Level -1 is a warning, >= 0 trace output. libjpeg only warns about damaged data and goes on
// with made-up pixels (grey blocks after a bad Huffman code, a fake EOI for a truncated file),
// so a warning is an error for us, except for the two about metadata we never use.
void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    const int code = cinfo->err->msg_code;
    if (code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR) return;
    jump_out(cinfo);
}

void discard_output(j_common_ptr) {}

jpeg_error_mgr* install_errors(JpegErrors& errors) {
    jpeg_std_error(&errors.mgr);
    errors.mgr.error_exit = jump_out;
    errors.mgr.emit_message = on_message;
    errors.mgr.output_message = discard_output;  // never print to stderr
    errors.message[0] = '\0';
    return &errors.mgr;
}

// Runs `fn` (libjpeg calls on plain data only, see the top of the file); false when libjpeg
// reported an error, whose text is then in errors.message.
template <typename Fn>
bool guarded(JpegErrors& errors, Fn&& fn) {
    if (setjmp(errors.jump) != 0) return false;
    fn();
    return true;
}

std::string error_text(const JpegErrors& errors) {
    return std::string("jpeg: ") + errors.message;
}

// ---- Compression -----------------------------------------------------------------------------

// libjpeg destination writing straight into the caller's ByteWriter: the file lands in the
// outgoing message without a copy. `mgr` first, as for JpegErrors.
struct WriterDestination {
    jpeg_destination_mgr mgr;
    ByteWriter* out;
    size_t initial;  // bytes to reserve up front (a guess at the file size)
};

WriterDestination& destination_of(j_compress_ptr cinfo) {
    return *reinterpret_cast<WriterDestination*>(cinfo->dest);
}

// Grows `out` by `count` bytes and points libjpeg at them. Allocation failure becomes a libjpeg
// error once the try block is over, so no exception crosses libjpeg's C frames.
void give_space(j_compress_ptr cinfo, size_t count) {
    WriterDestination& dest = destination_of(cinfo);
    uint8_t* space = nullptr;
    try {
        space = dest.out->extend(count);
    } catch (const std::bad_alloc&) {
    }
    if (space == nullptr) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    dest.mgr.next_output_byte = space;
    dest.mgr.free_in_buffer = count;
}

void init_destination(j_compress_ptr cinfo) {
    give_space(cinfo, destination_of(cinfo).initial);
}

// Called when the space is full: libjpeg has written every byte of it.
boolean empty_output_buffer(j_compress_ptr cinfo) {
    give_space(cinfo, std::max<size_t>(destination_of(cinfo).out->size(), 4096));
    return TRUE;
}

void term_destination(j_compress_ptr cinfo) {
    WriterDestination& dest = destination_of(cinfo);
    dest.out->buffer().resize(dest.out->size() - dest.mgr.free_in_buffer);
}

struct CompressHandle {
    JpegErrors errors;
    WriterDestination destination;
    jpeg_compress_struct cinfo;
};
struct DestroyCompress {
    void operator()(CompressHandle* handle) const {
        // Value-initialised before jpeg_create_compress, so this is safe even if that failed.
        jpeg_destroy_compress(&handle->cinfo);
        delete handle;
    }
};
using CompressPtr = std::unique_ptr<CompressHandle, DestroyCompress>;

Expected<CompressPtr, std::string> make_compress_handle() {
    CompressPtr handle(new (std::nothrow) CompressHandle{});
    if (!handle) return unexpected(std::string("jpeg: out of memory"));
    handle->cinfo.err = install_errors(handle->errors);
    jpeg_compress_struct& cinfo = handle->cinfo;
    if (!guarded(handle->errors, [&cinfo] { jpeg_create_compress(&cinfo); })) {
        return unexpected(error_text(handle->errors));
    }
    handle->destination.mgr.init_destination = init_destination;
    handle->destination.mgr.empty_output_buffer = empty_output_buffer;
    handle->destination.mgr.term_destination = term_destination;
    cinfo.dest = &handle->destination.mgr;
    return handle;
}

class JpegEncoder final : public ImageEncoder {
public:
    JpegEncoder(int quality, bool alpha) : quality_(std::clamp(quality, 1, 100)), alpha_(alpha) {}

    ImageCodec codec() const override { return ImageCodec::kJpeg; }

    Expected<uint8_t, std::string> encode(const Frame& frame, const Rect& area, ByteWriter& out,
                                          size_t /*message_start*/) override {
        if (!frame.rect().contains(area) || area.is_empty()) {
            return unexpected(std::string("jpeg: area outside the frame"));
        }
        const size_t start = out.size();
        auto written =
            alpha_ ? encode_with_alpha(frame, area, out) : encode_plain(frame, area, out);
        // A failed encode leaves `out` as it found it, so the caller can fall back cleanly.
        if (!written) out.buffer().resize(start);
        return written;
    }

private:
    Expected<uint8_t, std::string> encode_plain(const Frame& frame, const Rect& area,
                                                ByteWriter& out) {
        const size_t size_at = out.size();
        out.u32(0);  // data_size, patched below
        if (auto ok = write_jpeg(frame, area, out); !ok) return unexpected(ok.error());
        out.patch_u32(size_at, uint32_t(out.size() - size_at - 4));
        return uint8_t{SPICE_IMAGE_TYPE_JPEG};
    }

    Expected<uint8_t, std::string> encode_with_alpha(const Frame& frame, const Rect& area,
                                                     ByteWriter& out) {
        out.u8(SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN);
        const size_t sizes_at = out.size();
        out.u32(0);  // jpeg_size, patched below
        out.u32(0);  // data_size, patched below
        const size_t data_at = out.size();
        if (auto ok = write_jpeg(frame, area, out); !ok) return unexpected(ok.error());
        const size_t jpeg_size = out.size() - data_at;
        if (!lz_) lz_ = std::make_unique<LzCompressor>();
        if (auto ok = lz_->encode(frame, area, LzImageType::kXxxa, out); !ok) {
            return unexpected("jpeg: alpha plane: " + ok.error());
        }
        out.patch_u32(sizes_at, uint32_t(jpeg_size));
        out.patch_u32(sizes_at + 4, uint32_t(out.size() - data_at));
        return uint8_t{SPICE_IMAGE_TYPE_JPEG_ALPHA};
    }

    // Appends one JPEG file of `area` to `out`.
    Expected<void, std::string> write_jpeg(const Frame& frame, const Rect& area, ByteWriter& out) {
        if (!handle_) {
            auto made = make_compress_handle();
            if (!made) return unexpected(made.error());
            handle_ = std::move(*made);
        }
        CompressHandle& handle = *handle_;
        // Screen content at the usual qualities compresses to well under 1 byte per pixel; a
        // quarter of that is a good first guess, and the destination doubles when short.
        handle.destination.out = &out;
        handle.destination.initial =
            std::max<size_t>(4096, size_t(area.width()) * size_t(area.height()) / 4);

        jpeg_compress_struct& cinfo = handle.cinfo;
        const uint8_t* top_left =
            reinterpret_cast<const uint8_t*>(frame.row(area.top()) + area.left());
        const size_t stride = size_t(frame.stride());
        const int quality = quality_;
        const bool ok = guarded(handle.errors, [&cinfo, &area, top_left, stride, quality] {
            cinfo.image_width = JDIMENSION(area.width());
            cinfo.image_height = JDIMENSION(area.height());
            cinfo.input_components = 4;
            cinfo.in_color_space = JCS_EXT_BGRX;
            jpeg_set_defaults(&cinfo);
            jpeg_set_quality(&cinfo, quality, TRUE);
            jpeg_start_compress(&cinfo, TRUE);
            JSAMPROW rows[kRowsPerCall];
            while (cinfo.next_scanline < cinfo.image_height) {
                const JDIMENSION count =
                    std::min(kRowsPerCall, cinfo.image_height - cinfo.next_scanline);
                for (JDIMENSION i = 0; i < count; ++i) {
                    // libjpeg's API is not const-correct; it only reads input rows.
                    rows[i] = const_cast<JSAMPLE*>(top_left + (cinfo.next_scanline + i) * stride);
                }
                jpeg_write_scanlines(&cinfo, rows, count);
            }
            jpeg_finish_compress(&cinfo);
        });
        handle.destination.out = nullptr;
        if (ok) return {};
        std::string message = error_text(handle.errors);
        // Reset the half-written compression so the next encode starts clean; if even that
        // fails, drop the handle and build a new one next time.
        if (!guarded(handle.errors, [&cinfo] { jpeg_abort_compress(&cinfo); })) handle_.reset();
        return unexpected(std::move(message));
    }

    const int quality_;
    const bool alpha_;
    CompressPtr handle_;                // created on first use, reused (as spice-server does)
    std::unique_ptr<LzCompressor> lz_;  // JPEG_ALPHA only
};

// ---- Decompression ---------------------------------------------------------------------------

struct DecompressHandle {
    JpegErrors errors;
    jpeg_progress_mgr progress;
    jpeg_decompress_struct cinfo;
};
struct DestroyDecompress {
    void operator()(DecompressHandle* handle) const {
        jpeg_destroy_decompress(&handle->cinfo);  // safe after a failed create, as above
        delete handle;
    }
};
using DecompressPtr = std::unique_ptr<DecompressHandle, DestroyDecompress>;

void limit_scans(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxScans) {
        jump_out_with(cinfo, "too many progressive scans");
    }
}

bool size_ok(Size size) {
    return size.width > 0 && size.height > 0 && size.area() <= kMaxDecodedPixels;
}

// Decodes one JPEG file that must be exactly `size`, to BGRX with X = 0xff (libjpeg-turbo's
// padding; spice-gtk writes 0 there, and every reader of X but JPEG_ALPHA ignores it).
Expected<std::unique_ptr<Frame>, std::string> decode_jpeg_file(std::span<const uint8_t> file,
                                                               Size size) {
    if (!size_ok(size)) return unexpected(std::string("jpeg: image size out of range"));
    if (file.empty()) return unexpected(std::string("jpeg: empty file"));
    DecompressPtr handle(new (std::nothrow) DecompressHandle{});
    if (!handle) return unexpected(std::string("jpeg: out of memory"));
    handle->cinfo.err = install_errors(handle->errors);
    handle->progress.progress_monitor = limit_scans;
    jpeg_decompress_struct& cinfo = handle->cinfo;

    int header = 0;
    const bool header_ok = guarded(handle->errors, [&cinfo, &header, file] {
        jpeg_create_decompress(&cinfo);
        jpeg_mem_src(&cinfo, file.data(), static_cast<unsigned long>(file.size()));
        header = jpeg_read_header(&cinfo, TRUE);
    });
    if (!header_ok) return unexpected(error_text(handle->errors));
    // An abbreviated "tables only" stream carries no picture.
    if (header != JPEG_HEADER_OK) return unexpected(std::string("jpeg: no image in the file"));
    if (cinfo.image_width != JDIMENSION(size.width) ||
        cinfo.image_height != JDIMENSION(size.height)) {
        return unexpected("jpeg: picture is " + std::to_string(cinfo.image_width) + "x" +
                          std::to_string(cinfo.image_height) + ", descriptor says " +
                          std::to_string(size.width) + "x" + std::to_string(size.height));
    }

    auto frame = Frame::create(size);
    uint8_t* pixels = frame->data();
    const size_t stride = size_t(frame->stride());
    bool shape_ok = true;
    cinfo.progress = &handle->progress;
    const bool body_ok = guarded(handle->errors, [&cinfo, &shape_ok, pixels, stride] {
        cinfo.out_color_space = JCS_EXT_BGRX;
        jpeg_start_decompress(&cinfo);
        if (cinfo.output_components != 4) {
            shape_ok = false;
            return;
        }
        JSAMPROW rows[kRowsPerCall];
        while (cinfo.output_scanline < cinfo.output_height) {
            const JDIMENSION count =
                std::min(kRowsPerCall, cinfo.output_height - cinfo.output_scanline);
            for (JDIMENSION i = 0; i < count; ++i) {
                rows[i] = pixels + (cinfo.output_scanline + i) * stride;
            }
            // A memory source never suspends, so no progress means the library gave up.
            if (jpeg_read_scanlines(&cinfo, rows, count) == 0) {
                shape_ok = false;
                return;
            }
        }
        // Reads on to the EOI marker: a file cut short after the last row still fails here.
        jpeg_finish_decompress(&cinfo);
    });
    if (!body_ok) return unexpected(error_text(handle->errors));
    if (!shape_ok) return unexpected(std::string("jpeg: unexpected output layout"));
    return frame;
}

Expected<std::unique_ptr<Frame>, std::string> decode_jpeg_alpha(Size size,
                                                                std::span<const uint8_t> body) {
    ByteReader r(body);
    const uint8_t flags = r.u8();
    const uint32_t jpeg_size = r.u32(), data_size = r.u32();
    const auto data = r.bytes(data_size);
    if (!r.ok()) return unexpected(std::string("jpeg_alpha: truncated body"));
    if (jpeg_size == 0 || jpeg_size >= data_size) {
        return unexpected(std::string("jpeg_alpha: bad jpeg_size"));
    }
    const auto alpha = data.subspan(jpeg_size);
    // The client (spice-common canvas_get_jpeg_alpha) insists that the alpha stream runs in
    // the direction the flags announce; so do we.
    auto header = lz_read_header(alpha);
    if (!header) return unexpected("jpeg_alpha: " + header.error());
    if (header->type != LzImageType::kXxxa) {
        return unexpected(std::string("jpeg_alpha: alpha stream is not XXXA"));
    }
    if (header->top_down != bool(flags & SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN)) {
        return unexpected(std::string("jpeg_alpha: alpha direction disagrees with the flags"));
    }
    auto frame = decode_jpeg_file(data.first(jpeg_size), size);
    if (!frame) return frame;
    if (auto ok = lz_decode_alpha(alpha, **frame); !ok) {
        return unexpected("jpeg_alpha: " + ok.error());
    }
    return frame;
}

}  // namespace

std::unique_ptr<ImageEncoder> make_jpeg_encoder(int quality) {
    return std::make_unique<JpegEncoder>(quality, false);
}

std::unique_ptr<ImageEncoder> make_jpeg_alpha_encoder(int quality) {
    return std::make_unique<JpegEncoder>(quality, true);
}

Expected<std::unique_ptr<Frame>, std::string> decode_jpeg_body(uint8_t image_type, Size size,
                                                               std::span<const uint8_t> body) {
    if (image_type == SPICE_IMAGE_TYPE_JPEG_ALPHA) return decode_jpeg_alpha(size, body);
    if (image_type != SPICE_IMAGE_TYPE_JPEG) {
        return unexpected(std::string("jpeg: not a JPEG image type"));
    }
    ByteReader r(body);
    const uint32_t data_size = r.u32();
    const auto file = r.bytes(data_size);
    if (!r.ok()) return unexpected(std::string("jpeg: truncated body"));
    return decode_jpeg_file(file, size);
}

}  // namespace spiced
