#include "encode/image_file.h"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "base/unique_file.h"
#include "pixels/ppm.h"

namespace spiced {
namespace {

// libpng reports a fatal error through png_error, which must not return: our handler
// longjmps back to the setjmp in png_guarded(). As with libjpeg (encode/jpeg.cpp) the callables
// run there touch libpng and plain data only, so the jump skips no destructor.
struct PngErrors {
    std::jmp_buf jump;
    char message[128];
};

[[noreturn]] void png_fail(png_structp png, png_const_charp text) {
    auto* errors = static_cast<PngErrors*>(png_get_error_ptr(png));
    std::snprintf(errors->message, sizeof(errors->message), "%s", text);
    std::longjmp(errors->jump, 1);
}
// Warnings are about damaged ancillary chunks (colour profiles, text), which we do not use.
void png_ignore(png_structp, png_const_charp) {}

template <typename Fn>
bool png_guarded(PngErrors& errors, Fn&& fn) {
    if (setjmp(errors.jump) != 0) return false;
    fn();
    return true;
}

struct PngReader {
    PngErrors errors{};
    png_structp png = nullptr;
    png_infop info = nullptr;
};
struct DestroyPngReader {
    void operator()(PngReader* reader) const {
        png_destroy_read_struct(&reader->png, reader->info ? &reader->info : nullptr, nullptr);
        delete reader;
    }
};

// Reads any PNG as BGRX: palettes and grey expanded to RGB, 16-bit samples scaled (not
// gamma-converted: libpng's simplified reader would treat them as linear light) to 8-bit,
// alpha dropped (the display surface has none) and X = 0.
Expected<std::unique_ptr<Frame>, std::string> read_png(const std::string& path) {
    UniqueFile file(std::fopen(path.c_str(), "rb"));
    if (!file) return unexpected("cannot open: " + std::string(std::strerror(errno)));
    std::unique_ptr<PngReader, DestroyPngReader> reader(new PngReader);
    reader->png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader->errors, png_fail, png_ignore);
    if (!reader->png) return unexpected(std::string("out of memory"));
    reader->info = png_create_info_struct(reader->png);
    if (!reader->info) return unexpected(std::string("out of memory"));

    png_structp png = reader->png;
    png_infop info = reader->info;
    std::FILE* fp = file.get();
    png_uint_32 width = 0, height = 0;
    size_t row_bytes = 0;
    const bool header_ok = png_guarded(reader->errors, [=, &width, &height, &row_bytes] {
        png_init_io(png, fp);
        // The same bound as PPM input: bigger than any display, small enough that a hostile
        // header cannot make us allocate gigabytes. libpng rejects larger IHDRs itself.
        png_set_user_limits(png, kMaxPpmDimension, kMaxPpmDimension);
        png_read_info(png, info);
        png_set_expand(png);  // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
        png_set_scale_16(png);
        png_set_strip_alpha(png);
        png_set_gray_to_rgb(png);
        png_set_bgr(png);
        png_set_filler(png, 0, PNG_FILLER_AFTER);
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        width = png_get_image_width(png, info);
        height = png_get_image_height(png, info);
        row_bytes = png_get_rowbytes(png, info);
    });
    if (!header_ok) return unexpected("bad PNG: " + std::string(reader->errors.message));
    if (width == 0 || height == 0 || row_bytes != size_t(width) * 4) {
        return unexpected(std::string("bad PNG: unexpected pixel layout"));
    }
    auto frame = Frame::create({int32_t(width), int32_t(height)});
    std::vector<png_bytep> rows(height);
    for (png_uint_32 y = 0; y < height; ++y) {
        rows[y] = reinterpret_cast<png_bytep>(frame->row(int32_t(y)));
    }
    png_bytepp row_pointers = rows.data();
    const bool pixels_ok = png_guarded(reader->errors, [=] {
        png_read_image(png, row_pointers);
        png_read_end(png, nullptr);
    });
    if (!pixels_ok) return unexpected("bad PNG: " + std::string(reader->errors.message));
    return frame;
}

}  // namespace

Expected<std::unique_ptr<Frame>, std::string> load_image_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return unexpected("cannot open: " + std::string(std::strerror(errno)));
    unsigned char magic[8] = {};
    file.read(reinterpret_cast<char*>(magic), sizeof(magic));
    const auto got = size_t(file.gcount());
    file.close();
    if (got == sizeof(magic) && png_sig_cmp(magic, 0, sizeof(magic)) == 0) return read_png(path);
    if (got >= 2 && magic[0] == 'P' && magic[1] == '6') return read_ppm(path);
    return unexpected(std::string("not a PNG or binary PPM (P6) file"));
}

}  // namespace spiced
