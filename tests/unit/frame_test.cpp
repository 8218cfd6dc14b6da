#include "pixels/frame.h"

#include <gtest/gtest.h>

#include <climits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace spiced {
namespace {

// Every pixel gets a distinct value so a misplaced copy cannot go unnoticed.
std::unique_ptr<Frame> numbered_frame(Size size, uint32_t salt) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x)
            frame->row(y)[x] = (uint32_t(y) << 12 | uint32_t(x)) ^ salt;
    return frame;
}

std::vector<uint32_t> snapshot(const Frame& f) {
    std::vector<uint32_t> out;
    for (int32_t y = 0; y < f.height(); ++y) out.insert(out.end(), f.row(y), f.row(y) + f.width());
    return out;
}

// Model of copy_from: source pixels inside both src_rect and the source frame go to
// dest + offset when that lands inside the destination; reads see the source as it was before
// the copy (memmove semantics for self-copies).
std::vector<uint32_t> model_copy(std::vector<uint32_t> dest, Size dest_size,
                                 const std::vector<uint32_t>& src, Size src_size,
                                 const Rect& src_rect, Point to) {
    const Rect from = src_rect.intersect(Rect::MakeSize(src_size));
    for (int32_t y = from.top(); y < from.bottom(); ++y) {
        for (int32_t x = from.left(); x < from.right(); ++x) {
            const Point p{to.x + x - src_rect.left(), to.y + y - src_rect.top()};
            if (!Rect::MakeSize(dest_size).contains(p)) continue;
            dest[size_t(p.y) * dest_size.width + p.x] = src[size_t(y) * src_size.width + x];
        }
    }
    return dest;
}

struct CopyCase {
    const char* name;
    Rect src_rect;
    Point dest;
};

TEST(FrameTest, SelfCopyMatchesModel) {
    const Size size{40, 30};
    const CopyCase cases[] = {
        {"scroll down by one", Rect::MakeLTRB(0, 0, 40, 29), {0, 1}},
        {"scroll up by one", Rect::MakeLTRB(0, 1, 40, 30), {0, 0}},
        {"scroll down overlapping block", Rect::MakeLTRB(5, 5, 25, 20), {7, 12}},
        {"scroll up overlapping block", Rect::MakeLTRB(5, 10, 25, 28), {3, 2}},
        {"shift right within rows", Rect::MakeLTRB(0, 3, 30, 9), {5, 3}},
        {"shift left within rows", Rect::MakeLTRB(5, 3, 40, 9), {0, 3}},
        {"onto itself", Rect::MakeLTRB(2, 2, 10, 10), {2, 2}},
        {"source clipped top-left", Rect::MakeLTRB(-5, -3, 10, 10), {20, 15}},
        {"source clipped bottom-right", Rect::MakeLTRB(30, 25, 50, 40), {0, 0}},
        {"dest clipped bottom-right", Rect::MakeLTRB(0, 0, 20, 20), {30, 25}},
        {"dest clipped top-left", Rect::MakeLTRB(10, 10, 30, 30), {-5, -8}},
        {"entirely off frame", Rect::MakeLTRB(0, 0, 10, 10), {40, 0}},
        {"empty source", Rect::MakeLTRB(5, 5, 5, 10), {0, 0}},
        {"source outside frame", Rect::MakeLTRB(-20, -20, -1, -1), {0, 0}},
    };
    for (const CopyCase& c : cases) {
        SCOPED_TRACE(c.name);
        auto frame = numbered_frame(size, 0);
        const std::vector<uint32_t> before = snapshot(*frame);
        frame->copy_from(*frame, c.src_rect, c.dest);
        EXPECT_EQ(snapshot(*frame), model_copy(before, size, before, size, c.src_rect, c.dest));
    }
}

TEST(FrameTest, CopyBetweenFramesOfDifferentSizes) {
    auto src = numbered_frame({23, 17}, 0xabc00000u);
    auto dst = numbered_frame({31, 11}, 0);
    const std::vector<uint32_t> src_pixels = snapshot(*src);
    const std::vector<uint32_t> dst_before = snapshot(*dst);
    const Rect src_rect = Rect::MakeLTRB(-2, 3, 40, 16);
    const Point to{4, -1};
    dst->copy_from(*src, src_rect, to);
    EXPECT_EQ(snapshot(*dst),
              model_copy(dst_before, dst->size(), src_pixels, src->size(), src_rect, to));
    EXPECT_EQ(snapshot(*src), src_pixels);  // the source is read-only
}

TEST(FrameTest, RandomSelfCopiesMatchModel) {
    std::mt19937 rng(99);
    const Size size{37, 29};
    std::uniform_int_distribution<int32_t> coord(-10, 45);
    for (int round = 0; round < 500; ++round) {
        auto frame = numbered_frame(size, uint32_t(round));
        const std::vector<uint32_t> before = snapshot(*frame);
        const int32_t l = coord(rng), t = coord(rng);
        const Rect src_rect = Rect::MakeXYWH(l, t, int32_t(rng() % 40), int32_t(rng() % 40));
        const Point to{coord(rng), coord(rng)};
        frame->copy_from(*frame, src_rect, to);
        ASSERT_EQ(snapshot(*frame), model_copy(before, size, before, size, src_rect, to))
            << "round " << round;
    }
}

TEST(FrameTest, WrapsMemoryItDoesNotOwnWithAnyStride) {
    // Guest memory or a mapped dmabuf: rows 40 bytes apart for 7 pixels (28 bytes), with
    // bytes between rows that must never be touched.
    auto memory = std::make_shared<std::vector<uint32_t>>(10 * 5, 0xdeadbeefu);
    std::weak_ptr<std::vector<uint32_t>> watch = memory;
    auto wrapped = Frame::wrap(reinterpret_cast<uint8_t*>(memory->data()), {7, 5}, 40, memory);
    ASSERT_TRUE(wrapped.has_value()) << wrapped.error();
    Frame& frame = **wrapped;
    memory.reset();  // the frame holds the owner
    ASSERT_FALSE(watch.expired());
    EXPECT_FALSE(frame.owns_pixels());
    EXPECT_EQ(frame.stride(), 40);
    frame.fill(frame.rect(), 0x123456);
    frame.copy_from(frame, Rect::MakeXYWH(0, 0, 3, 3), {4, 2});
    const auto& words = *watch.lock();
    for (int32_t y = 0; y < 5; ++y) {
        for (int32_t x = 0; x < 10; ++x) {
            EXPECT_EQ(words[size_t(y) * 10 + size_t(x)], x < 7 ? 0x123456u : 0xdeadbeefu)
                << x << "," << y;
        }
    }
    EXPECT_EQ(frame.pixel(6, 4), 0x123456u);
    wrapped->reset();
    EXPECT_TRUE(watch.expired());  // released with the frame
}

TEST(FrameTest, WrapRefusesWhatCannotBeAFrame) {
    std::vector<uint32_t> memory(64);
    auto* base = reinterpret_cast<uint8_t*>(memory.data());
    EXPECT_FALSE(Frame::wrap(base, {8, 2}, 28, nullptr).has_value());      // stride < 4 * w
    EXPECT_FALSE(Frame::wrap(base, {8, 2}, 34, nullptr).has_value());      // not a multiple of 4
    EXPECT_FALSE(Frame::wrap(base + 2, {8, 2}, 32, nullptr).has_value());  // misaligned
    EXPECT_FALSE(Frame::wrap(nullptr, {8, 2}, 32, nullptr).has_value());
    EXPECT_FALSE(Frame::wrap(base, {-1, 2}, 32, nullptr).has_value());
    EXPECT_FALSE(Frame::wrap(base, {INT32_MAX / 2, 1}, INT32_MAX - 3, nullptr).has_value());
    EXPECT_TRUE(Frame::wrap(base, {8, 2}, 32, nullptr).has_value());
}

TEST(FrameTest, PaddedFramesReadThroughTheirStride) {
    auto padded = Frame::create_padded({5, 3}, 37);  // rounded up to a multiple of 4
    EXPECT_EQ(padded->stride(), 40);
    auto tight = numbered_frame({5, 3}, 7);
    padded->copy_from(*tight, tight->rect(), {0, 0});
    EXPECT_EQ(snapshot(*padded), snapshot(*tight));
    EXPECT_TRUE(padded->owns_pixels());
}

}  // namespace
}  // namespace spiced
