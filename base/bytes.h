// Little-endian byte readers and writers for wire formats.
//
// ByteReader never reads past its span: a read beyond the end returns zero and marks the
// reader failed (sticky), so a parser can read a whole fixed layout and check ok() once.
// ByteWriter appends to a growable buffer and can patch earlier fields (sizes, offsets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace spiced {

class ByteReader {
public:
    explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

    bool ok() const { return ok_; }
    size_t position() const { return pos_; }
    size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
    std::span<const uint8_t> whole() const { return data_; }

    uint8_t u8() { return static_cast<uint8_t>(read_le(1)); }
    uint16_t u16() { return static_cast<uint16_t>(read_le(2)); }
    uint32_t u32() { return static_cast<uint32_t>(read_le(4)); }
    uint64_t u64() { return read_le(8); }
    int32_t i32() { return static_cast<int32_t>(u32()); }
    int64_t i64() { return static_cast<int64_t>(u64()); }

    // The next `count` bytes, or an empty span (and failure) when fewer remain.
    std::span<const uint8_t> bytes(size_t count) {
        if (!ok_ || count > data_.size() - pos_) {
            ok_ = false;
            return {};
        }
        auto out = data_.subspan(pos_, count);
        pos_ += count;
        return out;
    }
    std::span<const uint8_t> rest() { return bytes(remaining()); }

    // Moves to an absolute offset (SPICE "pointers" are offsets from the message start).
    void seek(size_t offset) {
        if (offset > data_.size()) ok_ = false;
        if (ok_) pos_ = offset;
    }
    void fail() { ok_ = false; }

private:
    uint64_t read_le(size_t width) {
        if (!ok_ || width > data_.size() - pos_) {
            ok_ = false;
            return 0;
        }
        uint64_t value = 0;
        for (size_t i = 0; i < width; ++i) value |= uint64_t{data_[pos_ + i]} << (8 * i);
        pos_ += width;
        return value;
    }

    std::span<const uint8_t> data_;
    size_t pos_ = 0;
    bool ok_ = true;
};

class ByteWriter {
public:
    ByteWriter() = default;
    explicit ByteWriter(size_t reserve) { buffer_.reserve(reserve); }

    size_t size() const { return buffer_.size(); }
    std::vector<uint8_t>& buffer() { return buffer_; }
    const std::vector<uint8_t>& buffer() const { return buffer_; }
    std::vector<uint8_t> take() { return std::move(buffer_); }

    void u8(uint8_t v) { buffer_.push_back(v); }
    void u16(uint16_t v) { write_le(v, 2); }
    void u32(uint32_t v) { write_le(v, 4); }
    void u64(uint64_t v) { write_le(v, 8); }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
    void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
    // insert, not resize + memcpy: resize would zero the bytes first, a second pass over
    // everything a codec writes.
    void bytes(std::span<const uint8_t> data) {
        buffer_.insert(buffer_.end(), data.begin(), data.end());
    }
    void bytes(std::string_view text) {
        if (!text.empty()) std::memcpy(extend(text.size()), text.data(), text.size());
    }
    void zeros(size_t count) { buffer_.resize(buffer_.size() + count, 0); }
    // Grows the buffer by `count` bytes and returns where they start, for in-place filling.
    uint8_t* extend(size_t count) {
        size_t old = buffer_.size();
        buffer_.resize(old + count);
        return buffer_.data() + old;
    }

    void patch_u32(size_t offset, uint32_t v) {
        for (int i = 0; i < 4; ++i) buffer_[offset + i] = static_cast<uint8_t>(v >> (8 * i));
    }

private:
    void write_le(uint64_t v, size_t width) {
        for (size_t i = 0; i < width; ++i) buffer_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }

    std::vector<uint8_t> buffer_;
};

inline uint32_t load_u32_le(const uint8_t* p) {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace spiced
