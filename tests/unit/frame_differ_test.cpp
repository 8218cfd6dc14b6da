// FrameDiffer: a client that applies each frame's moves (as COPY_BITS, in order) and then the
// damaged areas must hold exactly the next frame after every frame, and the damage must be
// exactly the tiles where that client's picture differs (no more: moves are there to save
// encoding), including frames whose moves the differ diffed through its private row copies.
// A hint limits the comparison to the tiles it touches.
#include "gpu/frame_differ.h"

#include <gtest/gtest.h>

#include <memory>

#include "demo/demo_desktop.h"
#include "tests/unit/client_picture.h"

namespace spiced {
namespace {

using testing_support::apply_moves;
using testing_support::first_difference;
using testing_support::repaint;

void expect_client_follows(Size size, int frames) {
    DemoDesktop desktop(DemoConfig{size, 1});
    FrameDiffer differ;
    auto previous = Frame::create(size);
    std::vector<MoveHint> moves;
    desktop.render(0, *previous, moves);
    auto client = Frame::create(size);
    client->copy_from(*previous, client->rect(), {0, 0});
    auto plain_detector = make_reference_damage_detector();
    int frames_with_moves = 0;
    int64_t moved_damage = 0, plain_damage = 0;  // over the frames with moves
    for (int i = 1; i <= frames; ++i) {
        auto next = Frame::create(size);
        moves.clear();
        desktop.render(i, *next, moves);
        const Region damage = differ.diff(*previous, moves, *next, Region(next->rect()));
        if (!moves.empty()) {
            // What the damage would be without the moves: the client frame is the previous one.
            for (const Rect& rect : plain_detector->detect(*client, *next).rects())
                plain_damage += rect.area();
            for (const Rect& rect : damage.rects()) moved_damage += rect.area();
            ++frames_with_moves;
        }
        apply_moves(*client, moves);
        // Exactly the tiles where the client's picture differs from the new frame.
        ASSERT_EQ(plain_detector->detect(*client, *next), damage) << "frame " << i;
        repaint(*client, *next, damage);
        ASSERT_EQ(first_difference(*client, *next), "") << "frame " << i;
        previous = std::move(next);
    }
    // The demo scrolls its terminal and drags windows: the move path must have been taken.
    EXPECT_GT(frames_with_moves, frames / 10);
    // ... and have saved damage: sending the moves must leave less to encode.
    EXPECT_LT(moved_damage, plain_damage);
}

TEST(FrameDifferTest, ClientApplyingMovesAndDamageHoldsEveryFrame) {
    expect_client_follows({1920, 1080}, 240);
}

TEST(FrameDifferTest, SmallDesktopToo) {
    expect_client_follows({320, 240}, 240);
}

TEST(FrameDifferTest, OnlyTilesTheHintTouchesAreCompared) {
    const Size size{100, 70};
    auto previous = Frame::create(size);
    auto next = Frame::create(size);
    next->fill(Rect::MakeXYWH(3, 3, 1, 1), 0xff0000);    // tile (0, 0)
    next->fill(Rect::MakeXYWH(97, 66, 2, 2), 0x00ff00);  // the partial corner tile
    FrameDiffer differ;
    EXPECT_EQ(differ.diff(*previous, {}, *next, Region(Rect::MakeXYWH(98, 67, 1, 1))),
              Region(Rect::MakeLTRB(96, 64, 100, 70)));
    EXPECT_EQ(differ.diff(*previous, {}, *next, Region(Rect::MakeXYWH(0, 0, 16, 16))),
              Region(Rect::MakeXYWH(0, 0, 16, 16)));
    EXPECT_TRUE(
        differ.diff(*previous, {}, *next, Region(Rect::MakeXYWH(40, 20, 30, 30))).is_empty());
    EXPECT_TRUE(differ.diff(*previous, {}, *next, Region()).is_empty());
    // A different size is all damage whatever the hint.
    auto small = Frame::create({10, 10});
    EXPECT_EQ(differ.diff(*small, {}, *next, Region()), Region(next->rect()));
}

}  // namespace
}  // namespace spiced
