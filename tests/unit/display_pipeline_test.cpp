// DisplayPipeline: a client that applies each tick's moves (as COPY_BITS, in order) and then
// the damaged areas must hold exactly the published frame after every tick, and the damage must
// be exactly the tiles where that client's picture differs (no more: moves are there to save
// encoding), including ticks whose moves the pipeline diffed through its private row copies.
#include "core/display_pipeline.h"

#include <gtest/gtest.h>

#include <memory>

namespace spiced {
namespace {

// First pixel whose B, G, R differ (the X byte is not compared: damage ignores it too).
std::string first_difference(const Frame& a, const Frame& b) {
    for (int32_t y = 0; y < a.height(); ++y) {
        for (int32_t x = 0; x < a.width(); ++x) {
            if ((a.row(y)[x] ^ b.row(y)[x]) & 0x00ffffffu)
                return std::to_string(x) + "," + std::to_string(y);
        }
    }
    return "";
}

void expect_client_follows(Size size, int ticks) {
    DisplayPipeline pipeline(std::make_unique<DemoDesktop>(DemoConfig{size, 1}), {});
    auto client = Frame::create(size);
    client->copy_from(pipeline.current(), client->rect(), {0, 0});
    auto plain_detector = make_reference_damage_detector();
    int ticks_with_moves = 0;
    int64_t moved_damage = 0, plain_damage = 0;  // over the ticks with moves
    for (int i = 0; i < ticks; ++i) {
        ASSERT_TRUE(pipeline.tick());
        if (!pipeline.moves().empty()) {
            // What the damage would be without the moves: the client frame is the previous one.
            for (const Rect& rect : plain_detector->detect(*client, pipeline.current()).rects())
                plain_damage += rect.area();
            for (const Rect& rect : pipeline.damage().rects()) moved_damage += rect.area();
        }
        for (const MoveHint& move : pipeline.moves()) {
            client->copy_from(
                *client,
                Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
                move.dest.origin());
        }
        ticks_with_moves += pipeline.moves().empty() ? 0 : 1;
        // Exactly the tiles where the client's picture differs from the new frame.
        ASSERT_EQ(plain_detector->detect(*client, pipeline.current()), pipeline.damage())
            << "tick " << i;
        for (const Rect& rect : pipeline.damage().rects())
            client->copy_from(pipeline.current(), rect, rect.origin());
        ASSERT_EQ(first_difference(*client, pipeline.current()), "") << "tick " << i;
    }
    // The demo scrolls its terminal and drags windows: the move path must have been taken.
    EXPECT_GT(ticks_with_moves, ticks / 10);
    // ... and have saved damage: sending the moves must leave less to encode.
    EXPECT_LT(moved_damage, plain_damage);
}

TEST(DisplayPipelineTest, ClientApplyingMovesAndDamageHoldsEveryFrame) {
    expect_client_follows({1920, 1080}, 240);
}

TEST(DisplayPipelineTest, SmallDesktopToo) {
    expect_client_follows({320, 240}, 240);
}

}  // namespace
}  // namespace spiced
