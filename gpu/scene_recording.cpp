#include "gpu/scene_recording.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

namespace spiced::gpu {

namespace {

constexpr std::string_view kMagic = "SPICED-SCENE-1\n";
constexpr uint8_t kWholeFrame = 1;
constexpr uint8_t kDamageWanted = 2;
// Bounds a reader applies before any arithmetic: coordinates within twice the largest side,
// counts far above what a display model step holds.
constexpr int32_t kMaxCoordinate = 2 * kMaxRecordedSide;
constexpr uint32_t kMaxMoves = 4096;
constexpr uint32_t kMaxHintRects = 1u << 16;

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
    const uint8_t bytes[4] = {uint8_t(value), uint8_t(value >> 8), uint8_t(value >> 16),
                              uint8_t(value >> 24)};
    out.insert(out.end(), bytes, bytes + 4);
}

void put_rect(std::vector<uint8_t>& out, const Rect& rect) {
    put_u32(out, uint32_t(rect.left()));
    put_u32(out, uint32_t(rect.top()));
    put_u32(out, uint32_t(rect.width()));
    put_u32(out, uint32_t(rect.height()));
}

// What a step carries pixels for: everything that may differ from the previous frame.
Region carried_region(const CompositionStep& step, bool whole) {
    const Rect frame = Rect::MakeSize(step.output_size);
    if (whole) return Region(frame);
    Region carried = step.hint;
    for (const MoveHint& move : step.moves) carried.add_rect(move.dest);
    carried.intersect_with(frame);
    return carried;
}

// Reads little-endian fields from a record; every read is bounds-checked.
class FieldReader {
public:
    FieldReader(std::span<const uint8_t> bytes, size_t offset) : bytes_(bytes), offset_(offset) {}
    bool u32(uint32_t& value) {
        if (bytes_.size() - offset_ < 4) return false;
        const uint8_t* p = bytes_.data() + offset_;
        value = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
        offset_ += 4;
        return true;
    }
    bool i32(int32_t& value, int32_t low, int32_t high) {
        uint32_t raw = 0;
        if (!u32(raw)) return false;
        value = int32_t(raw);
        return value >= low && value <= high;
    }
    bool u8(uint8_t& value) {
        if (offset_ >= bytes_.size()) return false;
        value = bytes_[offset_++];
        return true;
    }
    bool rect(Rect& rect) {
        int32_t x = 0, y = 0, w = 0, h = 0;
        if (!i32(x, -kMaxCoordinate, kMaxCoordinate) || !i32(y, -kMaxCoordinate, kMaxCoordinate) ||
            !i32(w, 0, kMaxCoordinate) || !i32(h, 0, kMaxCoordinate))
            return false;
        rect = Rect::MakeXYWH(x, y, w, h);
        return true;
    }
    bool bytes(size_t count, std::span<const uint8_t>& out) {
        if (bytes_.size() - offset_ < count) return false;
        out = bytes_.subspan(offset_, count);
        offset_ += count;
        return true;
    }
    size_t offset() const { return offset_; }

private:
    std::span<const uint8_t> bytes_;
    size_t offset_;
};

}  // namespace

Expected<std::unique_ptr<SceneRecorder>, std::string> SceneRecorder::create(
    const std::string& path) {
    UniqueFile file(std::fopen(path.c_str(), "wbe"));
    if (!file) return unexpected(path + ": " + std::strerror(errno));
    if (std::fwrite(kMagic.data(), 1, kMagic.size(), file.get()) != kMagic.size() ||
        std::fflush(file.get()) != 0)
        return unexpected(path + ": " + std::strerror(errno));
    return std::make_unique<SceneRecorder>(path, std::move(file));
}

Expected<void, std::string> SceneRecorder::record(uint32_t display, const CompositionStep& step) {
    if (step.layers.size() != 1 || !step.layers.front().frame ||
        step.layers.front().frame->size() != step.output_size ||
        step.layers.front().source != Rect::MakeSize(step.output_size) ||
        step.layers.front().dest != Point{0, 0})
        return unexpected(std::string("a scene records one full-size layer per step"));
    if (display >= kMaxRecordedDisplays || step.output_size.width > kMaxRecordedSide ||
        step.output_size.height > kMaxRecordedSide)
        return unexpected(std::string("a scene records displays 0-15 of at most 16384x16384"));
    const Frame& frame = *step.layers.front().frame;
    auto known = sizes_.find(display);
    const bool whole = known == sizes_.end() || known->second != step.output_size;
    sizes_[display] = step.output_size;

    record_.clear();
    put_u32(record_, 0);  // the length, once known
    put_u32(record_, display);
    put_u32(record_, uint32_t(step.output_size.width));
    put_u32(record_, uint32_t(step.output_size.height));
    record_.push_back(uint8_t((whole ? kWholeFrame : 0) | (step.want_damage ? kDamageWanted : 0)));
    put_u32(record_, uint32_t(step.moves.size()));
    for (const MoveHint& move : step.moves) {
        put_rect(record_, move.dest);
        put_u32(record_, uint32_t(move.src.x));
        put_u32(record_, uint32_t(move.src.y));
    }
    const std::vector<Rect> hint = step.hint.rects();
    put_u32(record_, uint32_t(hint.size()));
    for (const Rect& rect : hint) put_rect(record_, rect);

    std::vector<uint8_t> pixels;
    for (const Rect& rect : carried_region(step, whole).rects()) {
        for (int32_t y = rect.top(); y < rect.bottom(); ++y) {
            const auto* row = reinterpret_cast<const uint8_t*>(frame.row(y) + rect.left());
            pixels.insert(pixels.end(), row, row + size_t(rect.width()) * 4);
        }
    }
    uLongf packed_size = compressBound(uLong(pixels.size()));
    std::vector<uint8_t> packed(packed_size);
    if (compress2(packed.data(), &packed_size, pixels.data(), uLong(pixels.size()), Z_BEST_SPEED) !=
        Z_OK)
        return unexpected(std::string("zlib could not compress a step"));
    put_u32(record_, uint32_t(pixels.size()));
    put_u32(record_, uint32_t(packed_size));
    record_.insert(record_.end(), packed.begin(), packed.begin() + std::ptrdiff_t(packed_size));
    const uint32_t length = uint32_t(record_.size() - 4);
    for (int i = 0; i < 4; ++i) record_[size_t(i)] = uint8_t(length >> (8 * i));
    if (std::fwrite(record_.data(), 1, record_.size(), file_.get()) != record_.size() ||
        std::fflush(file_.get()) != 0)
        return unexpected(path_ + ": " + std::strerror(errno));
    return {};
}

SceneReader::SceneReader(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}

Expected<SceneReader, std::string> SceneReader::open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return unexpected(path + ": cannot be read");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    return SceneReader(std::move(bytes));
}

Expected<std::optional<RecordedStep>, std::string> SceneReader::next() {
    const std::span<const uint8_t> all(bytes_);
    if (offset_ == 0) {
        if (all.size() < kMagic.size() ||
            std::memcmp(all.data(), kMagic.data(), kMagic.size()) != 0)
            return unexpected(std::string("not a scene recording (no SPICED-SCENE-1 header)"));
        offset_ = kMagic.size();
    }
    if (offset_ == all.size()) return std::optional<RecordedStep>();
    const std::string where = "step " + std::to_string(steps_) + ": ";
    uint32_t length = 0;
    if (!FieldReader(all, offset_).u32(length) || all.size() - offset_ - 4 < length) {
        truncated_tail_ = true;
        offset_ = all.size();
        return std::optional<RecordedStep>();
    }
    const std::span<const uint8_t> record = all.first(offset_ + 4 + length);
    FieldReader in(record, offset_ + 4);
    RecordedStep recorded;
    CompositionStep& step = recorded.step;
    uint8_t flags = 0;
    uint32_t move_count = 0;
    if (!in.u32(recorded.display) || recorded.display >= kMaxRecordedDisplays ||
        !in.i32(step.output_size.width, 1, kMaxRecordedSide) ||
        !in.i32(step.output_size.height, 1, kMaxRecordedSide) || !in.u8(flags) ||
        !in.u32(move_count) || move_count > kMaxMoves)
        return unexpected(where + "bad or truncated header");
    for (uint32_t i = 0; i < move_count; ++i) {
        MoveHint move;
        if (!in.rect(move.dest) || !in.i32(move.src.x, -kMaxCoordinate, kMaxCoordinate) ||
            !in.i32(move.src.y, -kMaxCoordinate, kMaxCoordinate))
            return unexpected(where + "bad or truncated move");
        step.moves.push_back(move);
    }
    uint32_t hint_count = 0;
    if (!in.u32(hint_count) || hint_count > kMaxHintRects)
        return unexpected(where + "bad or truncated hint");
    for (uint32_t i = 0; i < hint_count; ++i) {
        Rect rect;
        if (!in.rect(rect)) return unexpected(where + "bad or truncated hint");
        step.hint.add_rect(rect);
    }
    const bool whole = (flags & kWholeFrame) != 0;
    recorded.whole_frame = whole;
    step.want_damage = (flags & kDamageWanted) != 0;
    const Region carried = carried_region(step, whole);
    uint32_t pixel_bytes = 0, packed_bytes = 0;
    std::span<const uint8_t> packed;
    if (!in.u32(pixel_bytes) || !in.u32(packed_bytes) || !in.bytes(packed_bytes, packed) ||
        in.offset() != record.size())
        return unexpected(where + "the pixels do not fill the record");
    if (uint64_t(pixel_bytes) != uint64_t(carried.area()) * 4)
        return unexpected(where + "pixel count does not match the hint and moves");

    auto& previous = frames_[recorded.display];
    if (!whole && (!previous || previous->size() != step.output_size))
        return unexpected(where + "a partial step without a whole frame of that size before it");
    std::vector<uint8_t> pixels(pixel_bytes);
    uLongf unpacked = pixel_bytes;
    if (uncompress(pixels.data(), &unpacked, packed.data(), uLong(packed.size())) != Z_OK ||
        unpacked != pixel_bytes)
        return unexpected(where + "corrupt pixels");
    std::shared_ptr<Frame> frame = Frame::create(step.output_size);
    if (!whole) frame->copy_from(*previous, previous->rect(), Point{0, 0});
    const uint8_t* from = pixels.data();
    for (const Rect& rect : carried.rects()) {
        for (int32_t y = rect.top(); y < rect.bottom(); ++y) {
            const size_t bytes = size_t(rect.width()) * 4;
            std::memcpy(frame->row(y) + rect.left(), from, bytes);
            from += bytes;
        }
    }
    previous = frame;
    step.layers.push_back(Layer{frame, frame->rect(), Point{0, 0}});
    offset_ = in.offset();
    ++steps_;
    return std::optional<RecordedStep>(std::move(recorded));
}

}  // namespace spiced::gpu
