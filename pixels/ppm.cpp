#include "pixels/ppm.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "base/unique_file.h"

namespace spiced {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

// Netpbm header tokens: whitespace-separated decimal numbers, with '#' comments running to the
// end of the line anywhere between tokens.
class HeaderParser {
public:
    explicit HeaderParser(std::span<const uint8_t> data) : data_(data) {}

    size_t position() const { return pos_; }

    // Returns -1 when there is no number, it is out of range, or the data ends inside it.
    int64_t number() {
        skip_space_and_comments();
        if (pos_ >= data_.size() || !is_digit(data_[pos_])) return -1;
        int64_t value = 0;
        while (pos_ < data_.size() && is_digit(data_[pos_])) {
            value = value * 10 + (data_[pos_++] - '0');
            if (value > 1'000'000'000) return -1;
        }
        // The number must be terminated inside the header window, or it may continue.
        if (pos_ >= data_.size()) return -1;
        return value;
    }
    // After maxval comes exactly one whitespace byte, then the raster.
    bool single_space() {
        if (pos_ >= data_.size() || !is_space(data_[pos_])) return false;
        ++pos_;
        return true;
    }

private:
    static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
    static bool is_space(uint8_t c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    }
    void skip_space_and_comments() {
        while (pos_ < data_.size()) {
            if (is_space(data_[pos_])) {
                ++pos_;
            } else if (data_[pos_] == '#') {
                while (pos_ < data_.size() && data_[pos_] != '\n' && data_[pos_] != '\r') ++pos_;
            } else {
                break;
            }
        }
    }

    std::span<const uint8_t> data_;
    size_t pos_ = 0;
};

// Headers longer than this are rejected; real ones are a few dozen bytes plus comments.
constexpr size_t kMaxHeader = 4096;

}  // namespace

Expected<void, std::string> write_ppm(const Frame& frame, const std::string& path) {
    return write_ppm(frame, frame.rect(), path);
}

Expected<void, std::string> write_ppm(const Frame& frame, const Rect& area,
                                      const std::string& path) {
    const Rect part = area.intersect(frame.rect());
    if (part.is_empty()) return unexpected(std::string("cannot write an empty frame"));
    const std::string tmp = path + ".tmp";
    {
        UniqueFile f(std::fopen(tmp.c_str(), "wb"));
        if (!f) return unexpected(errno_text("cannot create", tmp));
        bool ok = std::fprintf(f.get(), "P6\n%d %d\n255\n", part.width(), part.height()) > 0;
        std::vector<uint8_t> line(static_cast<size_t>(part.width()) * 3);
        for (int32_t y = part.top(); ok && y < part.bottom(); ++y) {
            const uint32_t* in = frame.row(y) + part.left();
            for (int32_t x = 0; x < part.width(); ++x) {
                line[3 * x] = static_cast<uint8_t>(in[x] >> 16);
                line[3 * x + 1] = static_cast<uint8_t>(in[x] >> 8);
                line[3 * x + 2] = static_cast<uint8_t>(in[x]);
            }
            ok = std::fwrite(line.data(), 1, line.size(), f.get()) == line.size();
        }
        // fclose flushes the buffer, so its result is part of the write's success.
        if (!ok || std::fclose(f.release()) != 0) {
            std::string error = errno_text("cannot write", tmp);
            std::remove(tmp.c_str());
            return unexpected(std::move(error));
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string error = errno_text("cannot rename " + tmp + " to", path);
        std::remove(tmp.c_str());
        return unexpected(std::move(error));
    }
    return {};
}

Expected<std::unique_ptr<Frame>, std::string> read_ppm(const std::string& path) {
    UniqueFile f(std::fopen(path.c_str(), "rb"));
    if (!f) return unexpected(errno_text("cannot open", path));
    struct stat st {};
    if (fstat(fileno(f.get()), &st) != 0) return unexpected(errno_text("cannot stat", path));
    if (!S_ISREG(st.st_mode)) return unexpected(path + ": not a regular file");
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);

    std::vector<uint8_t> head(std::min<uint64_t>(file_size, kMaxHeader));
    if (std::fread(head.data(), 1, head.size(), f.get()) != head.size()) {
        return unexpected(errno_text("cannot read", path));
    }
    if (head.size() < 2 || head[0] != 'P' || head[1] != '6') {
        return unexpected(path + ": not a binary PPM (the file must start with \"P6\")");
    }
    HeaderParser parser(std::span<const uint8_t>(head).subspan(2));
    const int64_t width = parser.number();
    const int64_t height = parser.number();
    const int64_t maxval = parser.number();
    if (width < 0 || height < 0 || maxval < 0 || !parser.single_space()) {
        return unexpected(path + ": malformed or truncated PPM header");
    }
    if (width == 0 || height == 0) return unexpected(path + ": PPM has no pixels");
    if (width > kMaxPpmDimension || height > kMaxPpmDimension) {
        return unexpected(path + ": PPM dimensions " + std::to_string(width) + "x" +
                          std::to_string(height) + " exceed the limit of " +
                          std::to_string(kMaxPpmDimension));
    }
    if (maxval != 255) {
        return unexpected(path + ": PPM maxval " + std::to_string(maxval) +
                          " is not supported (only 255)");
    }
    const uint64_t raster_offset = 2 + parser.position();
    const uint64_t raster_size = static_cast<uint64_t>(width) * static_cast<uint64_t>(height) * 3;
    // Checked against the real file size before allocating, so a lying header costs nothing.
    if (file_size - raster_offset < raster_size) {
        return unexpected(path + ": truncated PPM: " + std::to_string(width) + "x" +
                          std::to_string(height) + " needs " + std::to_string(raster_size) +
                          " bytes of pixels, the file has " +
                          std::to_string(file_size - raster_offset));
    }

    auto frame = Frame::create({static_cast<int32_t>(width), static_cast<int32_t>(height)});
    std::vector<uint8_t> line(static_cast<size_t>(width) * 3);
    if (std::fseek(f.get(), static_cast<long>(raster_offset), SEEK_SET) != 0) {
        return unexpected(errno_text("cannot seek in", path));
    }
    for (int32_t y = 0; y < frame->height(); ++y) {
        if (std::fread(line.data(), 1, line.size(), f.get()) != line.size()) {
            return unexpected(path + ": truncated PPM (file shrank while reading)");
        }
        uint32_t* out = frame->row(y);
        for (int32_t x = 0; x < frame->width(); ++x) {
            out[x] = uint32_t{line[3 * x]} << 16 | uint32_t{line[3 * x + 1]} << 8 | line[3 * x + 2];
        }
    }
    return frame;
}

}  // namespace spiced
