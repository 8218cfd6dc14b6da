#include "qxl/frame_ring.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>

namespace spiced::qxl {
namespace {

// The guest's primary surface: what every frame the ring hands out must show.
class Primary {
public:
    explicit Primary(Size size) : picture_(Frame::create(size)) {}

    void paint(const Rect& rect, uint32_t colour) {
        for (int32_t y = rect.top(); y < rect.bottom(); ++y)
            for (int32_t x = rect.left(); x < rect.right(); ++x) picture_->row(y)[x] = colour;
    }
    FrameRing::Fill fill() {
        return [this](const Region& region, Frame& out) {
            for (const Rect& rect : region.rects())
                for (int32_t y = rect.top(); y < rect.bottom(); ++y)
                    for (int32_t x = rect.left(); x < rect.right(); ++x)
                        out.row(y)[x] = picture_->row(y)[x];
        };
    }
    bool shown_by(const Frame& frame) const {
        for (int32_t y = 0; y < frame.size().height; ++y)
            for (int32_t x = 0; x < frame.size().width; ++x)
                if (frame.row(y)[x] != picture_->row(y)[x]) return false;
        return true;
    }

private:
    std::unique_ptr<Frame> picture_;
};

TEST(FrameRingTest, AFrameMadeWhileEveryKeptOneIsReadStillReachesTheKeptOnes) {
    const Size size{64, 32};
    Primary primary(size);
    FrameRing ring;
    std::vector<std::shared_ptr<const Frame>> readers;
    for (size_t i = 0; i < FrameRing::kMaxSlots; ++i) {
        primary.paint(Rect::MakeXYWH(int32_t(i) * 4, 0, 4, 4), 0x100u + uint32_t(i));
        readers.push_back(
            ring.next(size, Region(Rect::MakeXYWH(int32_t(i) * 4, 0, 4, 4)), primary.fill()));
    }
    // Every kept frame is held: the next one is made aside, with a change of its own.
    const Rect change = Rect::MakeXYWH(10, 10, 8, 8);
    primary.paint(change, 0xabcdefu);
    auto aside = ring.next(size, Region(change), primary.fill());
    EXPECT_TRUE(primary.shown_by(*aside));
    readers.clear();
    aside.reset();
    // Nothing changed since: a recycled frame must still carry the change made aside.
    auto recycled = ring.next(size, Region(), primary.fill());
    EXPECT_TRUE(primary.shown_by(*recycled));
}

TEST(FrameRingTest, RandomChangesAndReadersAlwaysGetTheCurrentPicture) {
    const Size size{48, 40};
    Primary primary(size);
    FrameRing ring;
    std::mt19937 rng(7);
    std::deque<std::shared_ptr<const Frame>> readers;
    for (int step = 0; step < 2000; ++step) {
        Region damage;
        const int changes = int(rng() % 3);
        for (int c = 0; c < changes; ++c) {
            const int32_t x = int32_t(rng() % 40), y = int32_t(rng() % 32);
            const Rect rect = Rect::MakeXYWH(x, y, 1 + int32_t(rng() % 8), 1 + int32_t(rng() % 8));
            primary.paint(rect, rng());
            damage.add_rect(rect);
        }
        auto frame = ring.next(size, damage, primary.fill());
        ASSERT_TRUE(primary.shown_by(*frame)) << "step " << step;
        // Readers hold frames for a while, sometimes every kept one at once.
        readers.push_back(std::move(frame));
        while (readers.size() > rng() % (FrameRing::kMaxSlots + 3)) readers.pop_front();
    }
}

}  // namespace
}  // namespace spiced::qxl
