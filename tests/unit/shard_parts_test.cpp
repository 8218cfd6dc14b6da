// The pieces the shards are built from, without threads where none are needed: the update
// merge rules, the session directory, the frame pool's recycling and the listener group.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spice/enums.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/desktop_update.h"
#include "core/frame_pool.h"
#include "core/session_directory.h"
#include "io/tcp.h"

namespace spiced {
namespace {

bool covers(const Region& region, const Rect& rect) {
    Region rest(rect);
    rest.subtract(region);
    return rest.is_empty();
}

DesktopUpdate frame_update(std::vector<MoveHint> moves, Rect damage) {
    DesktopUpdate update;
    update.frame_changed = true;
    update.moves = std::move(moves);
    update.damage.add_rect(damage);
    return update;
}

TEST(DesktopUpdateTest, MergeKeepsOlderMovesAndTurnsNewerMovesIntoDamage) {
    DesktopUpdate older =
        frame_update({{Rect::MakeXYWH(0, 0, 10, 10), {0, 5}}}, Rect::MakeXYWH(50, 50, 4, 4));
    older.state.frame_index = 1;
    DesktopUpdate newer =
        frame_update({{Rect::MakeXYWH(100, 0, 8, 8), {100, 20}}}, Rect::MakeXYWH(200, 200, 2, 2));
    newer.state.frame_index = 2;
    older.merge(std::move(newer));
    EXPECT_TRUE(older.frame_changed);
    ASSERT_EQ(older.moves.size(), 1u);
    EXPECT_EQ(older.moves[0].dest, Rect::MakeXYWH(0, 0, 10, 10));
    EXPECT_TRUE(covers(older.damage, Rect::MakeXYWH(50, 50, 4, 4)));
    EXPECT_TRUE(covers(older.damage, Rect::MakeXYWH(100, 0, 8, 8)));
    EXPECT_TRUE(covers(older.damage, Rect::MakeXYWH(200, 200, 2, 2)));
    EXPECT_EQ(older.state.frame_index, 2);
}

TEST(DesktopUpdateTest, MergeKeepsEveryEventAndTheNewestState) {
    DesktopUpdate older;
    older.cursor_reshaped = true;
    older.mouse_mode_announced = true;
    older.state.cursor_hidden = false;
    DesktopUpdate newer;
    newer.cursor_hid = true;
    newer.leds_changed = true;
    newer.state.cursor_hidden = true;
    newer.state.keyboard_leds = 2;
    older.merge(std::move(newer));
    EXPECT_FALSE(older.frame_changed);
    EXPECT_TRUE(older.cursor_reshaped && older.cursor_hid && older.mouse_mode_announced &&
                older.leds_changed);
    EXPECT_TRUE(older.state.cursor_hidden);
    EXPECT_EQ(older.state.keyboard_leds, 2u);
    EXPECT_TRUE(older.changes_anything());
    EXPECT_FALSE(DesktopUpdate{}.changes_anything());
}

TEST(SessionDirectoryTest, ChannelsJoinOnceAndSessionsEnd) {
    SessionDirectory directory;
    const uint32_t id = directory.open(/*owner_shard=*/3);
    EXPECT_NE(id, 0u);
    EXPECT_EQ(directory.size(), 1u);
    EXPECT_EQ(directory.lookup(id, SPICE_CHANNEL_MAIN), SessionDirectory::Lookup::kChannelTaken);
    EXPECT_EQ(directory.lookup(id, SPICE_CHANNEL_DISPLAY), SessionDirectory::Lookup::kOpen);
    EXPECT_EQ(directory.lookup(id + 2, SPICE_CHANNEL_DISPLAY), SessionDirectory::Lookup::kUnknown);

    directory.set_low_bandwidth(id, true);
    auto joined = directory.join(id, SPICE_CHANNEL_DISPLAY);
    ASSERT_TRUE(joined.has_value());
    EXPECT_EQ(joined->owner_shard, 3u);
    EXPECT_TRUE(joined->low_bandwidth);
    // A second display link of the same session loses the race.
    EXPECT_FALSE(directory.join(id, SPICE_CHANNEL_DISPLAY).has_value());
    directory.leave(id, SPICE_CHANNEL_DISPLAY);
    EXPECT_TRUE(directory.join(id, SPICE_CHANNEL_DISPLAY).has_value());

    directory.close(id);
    EXPECT_EQ(directory.size(), 0u);
    EXPECT_FALSE(directory.join(id, SPICE_CHANNEL_CURSOR).has_value());
    EXPECT_NE(directory.open(0), id);
}

TEST(SessionDirectoryTest, ConcurrentJoinsGrantEachChannelOnce) {
    SessionDirectory directory;
    std::vector<uint32_t> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(directory.open(size_t(i % 4)));
    std::atomic<int> granted{0};
    std::vector<std::thread> shards;
    for (int t = 0; t < 4; ++t) {
        shards.emplace_back([&] {
            for (uint32_t id : ids) {
                if (directory.join(id, SPICE_CHANNEL_DISPLAY)) ++granted;
            }
        });
    }
    for (auto& shard : shards) shard.join();
    EXPECT_EQ(granted.load(), 200);
}

TEST(FramePoolTest, ReleasedFramesAreReusedAndOutliveThePool) {
    std::shared_ptr<const Frame> survivor;
    {
        FramePool pool({8, 4});
        std::unique_ptr<Frame> first = pool.take();
        const Frame* address = first.get();
        std::shared_ptr<const Frame> published = pool.publish(std::move(first));
        std::shared_ptr<const Frame> reader = published;  // e.g. a shard's copy
        published.reset();
        reader.reset();  // the last holder: the buffer goes back to the pool
        std::unique_ptr<Frame> again = pool.take();
        EXPECT_EQ(again.get(), address);
        EXPECT_EQ(again->size(), (Size{8, 4}));
        survivor = pool.publish(std::move(again));
    }
    // Released after the pool is gone: the deleter still has somewhere to put it.
    EXPECT_EQ(survivor->width(), 8);
    survivor.reset();
}

TEST(FramePoolTest, ReleaseFromAnotherThread) {
    FramePool pool({16, 16});
    std::shared_ptr<const Frame> published = pool.publish(pool.take());
    std::thread reader([held = std::move(published)]() mutable {
        EXPECT_EQ(held->height(), 16);
        held.reset();
    });
    reader.join();
    EXPECT_NE(pool.take(), nullptr);
}

TEST(ListenGroupTest, SharesOnePortAndRefusesAPortInUse) {
    auto group = TcpListener::listen_group("127.0.0.1", 0, 3);
    ASSERT_TRUE(group.has_value()) << group.error();
    ASSERT_EQ(group->size(), 3u);
    const uint16_t port = group->front().port();
    EXPECT_NE(port, 0);
    for (const TcpListener& listener : *group) EXPECT_EQ(listener.port(), port);

    // Another server on the same port (even one that also shares ports) is refused.
    auto second = TcpListener::listen_group("127.0.0.1", port, 2);
    ASSERT_FALSE(second.has_value());
    EXPECT_NE(second.error().find("in use"), std::string::npos) << second.error();
    auto single = TcpListener::listen_group("127.0.0.1", port, 1);
    EXPECT_FALSE(single.has_value());

    // Connections reach the group.
    int client = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    bool accepted = false;
    for (int attempt = 0; attempt < 100 && !accepted; ++attempt) {
        for (TcpListener& listener : *group) accepted = accepted || listener.accept().has_value();
        if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(accepted);
    ::close(client);
}

}  // namespace
}  // namespace spiced
