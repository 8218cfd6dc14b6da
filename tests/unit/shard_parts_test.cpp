// The pieces the shards are built from, without threads where none are needed: the update
// merge rules, the session directory, the frame pool's recycling and the listener group.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spice/enums.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/session_directory.h"
#include "display/frame_pool.h"
#include "display/state.h"
#include "io/tcp.h"

namespace spiced {
namespace {

bool covers(const Region& region, const Rect& rect) {
    Region rest(rect);
    rest.subtract(region);
    return rest.is_empty();
}

DisplayChange frame_change(std::vector<MoveHint> moves, Rect damage) {
    DisplayChange change;
    change.frame_changed = true;
    change.moves = std::move(moves);
    change.damage.add_rect(damage);
    return change;
}

TEST(DesktopUpdateTest, MergeKeepsOlderMovesAndTurnsNewerMovesIntoDamage) {
    DesktopUpdate older;
    older.displays.push_back(
        frame_change({{Rect::MakeXYWH(0, 0, 10, 10), {0, 5}}}, Rect::MakeXYWH(50, 50, 4, 4)));
    older.state.keyboard_leds = 1;
    DesktopUpdate newer;
    newer.displays.push_back(
        frame_change({{Rect::MakeXYWH(100, 0, 8, 8), {100, 20}}}, Rect::MakeXYWH(200, 200, 2, 2)));
    newer.state.keyboard_leds = 2;
    older.merge(std::move(newer));
    const DisplayChange& merged = older.displays[0];
    EXPECT_TRUE(merged.frame_changed);
    ASSERT_EQ(merged.moves.size(), 1u);
    EXPECT_EQ(merged.moves[0].dest, Rect::MakeXYWH(0, 0, 10, 10));
    EXPECT_TRUE(covers(merged.damage, Rect::MakeXYWH(50, 50, 4, 4)));
    EXPECT_TRUE(covers(merged.damage, Rect::MakeXYWH(100, 0, 8, 8)));
    EXPECT_TRUE(covers(merged.damage, Rect::MakeXYWH(200, 200, 2, 2)));
    EXPECT_EQ(older.state.keyboard_leds, 2u);
}

TEST(DesktopUpdateTest, MergeKeepsEveryEventAndTheNewestState) {
    DesktopUpdate older;
    older.displays.resize(2);
    older.displays[0].cursor_reshaped = true;
    older.mouse_mode_announced = true;
    DesktopUpdate newer;
    newer.displays.resize(2);
    newer.displays[1].cursor_hid = true;
    newer.leds_changed = true;
    newer.agent_changed = true;
    newer.state.keyboard_leds = 2;
    newer.state.agent_connected = true;
    older.merge(std::move(newer));
    EXPECT_FALSE(older.displays[0].frame_changed);
    EXPECT_TRUE(older.displays[0].cursor_reshaped && older.displays[1].cursor_hid &&
                older.mouse_mode_announced && older.leds_changed && older.agent_changed);
    EXPECT_TRUE(older.state.agent_connected);
    EXPECT_EQ(older.state.keyboard_leds, 2u);
    EXPECT_TRUE(older.changes_anything());
    EXPECT_FALSE(DesktopUpdate{}.changes_anything());
}

TEST(DesktopUpdateTest, MergeKeepsEveryAgentMessageInOrder) {
    auto message = [](ClientId to, uint8_t byte) {
        return AgentMessage{to, 3, std::make_shared<const std::vector<uint8_t>>(4, byte)};
    };
    DesktopUpdate older;
    older.agent_messages = {message(0, 1), message(7, 2)};
    DesktopUpdate newer;
    newer.agent_changed = true;
    newer.agent_messages = {message(0, 3)};
    older.merge(std::move(newer));
    ASSERT_EQ(older.agent_messages.size(), 3u);
    EXPECT_EQ((*older.agent_messages[0].data)[0], 1);
    EXPECT_EQ(older.agent_messages[1].to, 7u);
    EXPECT_EQ((*older.agent_messages[2].data)[0], 3);
    EXPECT_TRUE(older.agent_changed);
    EXPECT_EQ(older.agent_bytes(), 12u);
    DesktopUpdate only_messages;
    only_messages.agent_messages = {message(0, 9)};
    EXPECT_TRUE(only_messages.changes_anything());
}

TEST(DesktopUpdateTest, AReplacedSurfaceSupersedesFrameChangesAroundIt) {
    DisplayChange change =
        frame_change({{Rect::MakeXYWH(0, 0, 4, 4), {4, 0}}}, Rect::MakeXYWH(8, 8, 2, 2));
    DisplayChange replaced;
    replaced.surface_replaced = true;
    change.merge(std::move(replaced));
    EXPECT_TRUE(change.surface_replaced);
    EXPECT_FALSE(change.frame_changed);
    EXPECT_TRUE(change.moves.empty());
    EXPECT_TRUE(change.damage.is_empty());
    // A frame after the replacement adds nothing: the client gets the whole new surface.
    change.merge(frame_change({}, Rect::MakeXYWH(0, 0, 1, 1)));
    EXPECT_TRUE(change.surface_replaced);
    EXPECT_TRUE(change.damage.is_empty());
}

// --channel-binding host: only the main channel's host joins a session's channels.
TEST(SessionDirectoryTest, ChannelsJoinOnlyFromTheMainChannelsHost) {
    SessionDirectory bound(MultiClient::kShared, /*same_host=*/true);
    const uint32_t id = bound.open(0, "192.0.2.7").id;
    EXPECT_EQ(bound.lookup(id, SPICE_CHANNEL_DISPLAY, 0, "192.0.2.8"),
              SessionDirectory::Lookup::kOtherHost);
    EXPECT_FALSE(bound.join(id, SPICE_CHANNEL_DISPLAY, 0, "192.0.2.8").has_value());
    EXPECT_EQ(bound.lookup(id, SPICE_CHANNEL_DISPLAY, 0, "192.0.2.7"),
              SessionDirectory::Lookup::kOpen);
    EXPECT_TRUE(bound.join(id, SPICE_CHANNEL_DISPLAY, 0, "192.0.2.7").has_value());
    SessionDirectory open_to_all(MultiClient::kShared, /*same_host=*/false);
    const uint32_t other = open_to_all.open(0, "192.0.2.7").id;
    EXPECT_TRUE(open_to_all.join(other, SPICE_CHANNEL_DISPLAY, 0, "192.0.2.8").has_value());
}

TEST(SessionDirectoryTest, ChannelsJoinOnceAndSessionsEnd) {
    SessionDirectory directory;
    const uint32_t id = directory.open(/*owner_shard=*/3).id;
    EXPECT_NE(id, 0u);
    EXPECT_EQ(directory.size(), 1u);
    EXPECT_EQ(directory.lookup(id, SPICE_CHANNEL_MAIN, 0), SessionDirectory::Lookup::kChannelTaken);
    EXPECT_EQ(directory.lookup(id, SPICE_CHANNEL_DISPLAY, 0), SessionDirectory::Lookup::kOpen);
    EXPECT_EQ(directory.lookup(id + 2, SPICE_CHANNEL_DISPLAY, 0),
              SessionDirectory::Lookup::kUnknown);
    EXPECT_EQ(directory.owner_shard(id), std::optional<size_t>(3));

    directory.set_low_bandwidth(id, true);
    auto joined = directory.join(id, SPICE_CHANNEL_DISPLAY, 0);
    ASSERT_TRUE(joined.has_value());
    EXPECT_EQ(joined->owner_shard, 3u);
    EXPECT_TRUE(joined->low_bandwidth);
    // A second display:0 link of the same session loses the race; display:1 is its own slot.
    EXPECT_FALSE(directory.join(id, SPICE_CHANNEL_DISPLAY, 0).has_value());
    EXPECT_TRUE(directory.join(id, SPICE_CHANNEL_DISPLAY, 1).has_value());
    EXPECT_EQ(directory.lookup(id, SPICE_CHANNEL_DISPLAY, 15), SessionDirectory::Lookup::kOpen);
    directory.leave(id, SPICE_CHANNEL_DISPLAY, 0);
    EXPECT_TRUE(directory.join(id, SPICE_CHANNEL_DISPLAY, 0).has_value());

    directory.close(id);
    EXPECT_EQ(directory.size(), 0u);
    EXPECT_FALSE(directory.join(id, SPICE_CHANNEL_CURSOR, 0).has_value());
    EXPECT_FALSE(directory.owner_shard(id).has_value());
}

TEST(SessionDirectoryTest, IdsAreUnpredictable) {
    // Ids come from the kernel's CSPRNG: no two of many are equal, and consecutive ones are
    // not a counter (the old scheme: a random start, then +1).
    SessionDirectory directory;
    std::vector<uint32_t> ids;
    for (int i = 0; i < 256; ++i) ids.push_back(directory.open(0).id);
    int sequential = 0;
    for (size_t i = 1; i < ids.size(); ++i) sequential += ids[i] == ids[i - 1] + 1;
    EXPECT_LT(sequential, 3);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0u), 0);
}

TEST(SessionDirectoryTest, MultiClientOffReplacesEveryOtherSession) {
    SessionDirectory directory(MultiClient::kOff);
    const auto first = directory.open(1);
    EXPECT_TRUE(first.replaced.empty());
    const auto second = directory.open(2);
    ASSERT_EQ(second.replaced.size(), 1u);
    EXPECT_EQ(second.replaced[0].id, first.id);
    EXPECT_EQ(second.replaced[0].owner_shard, 1u);
    EXPECT_EQ(directory.size(), 1u);
    // The replaced session's channels can no longer link.
    EXPECT_EQ(directory.lookup(first.id, SPICE_CHANNEL_DISPLAY, 0),
              SessionDirectory::Lookup::kUnknown);
    EXPECT_TRUE(directory.may_drive(second.id));
}

TEST(SessionDirectoryTest, ViewLetsTheOldestSessionDriveAndHandsOverWhenItLeaves) {
    SessionDirectory directory(MultiClient::kView);
    const uint32_t first = directory.open(0).id;
    const uint32_t second = directory.open(1).id;
    const uint32_t third = directory.open(0).id;
    EXPECT_TRUE(directory.may_drive(first));
    EXPECT_FALSE(directory.may_drive(second));
    EXPECT_FALSE(directory.may_drive(third));
    directory.close(first);
    EXPECT_TRUE(directory.may_drive(second));
    EXPECT_FALSE(directory.may_drive(third));

    SessionDirectory shared(MultiClient::kShared);
    const uint32_t a = shared.open(0).id;
    const uint32_t b = shared.open(0).id;
    EXPECT_TRUE(shared.may_drive(a) && shared.may_drive(b));
    EXPECT_EQ(shared.size(), 2u);
}

TEST(SessionDirectoryTest, ConcurrentJoinsGrantEachChannelOnce) {
    SessionDirectory directory;
    std::vector<uint32_t> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(directory.open(size_t(i % 4)).id);
    std::atomic<int> granted{0};
    std::vector<std::thread> shards;
    for (int t = 0; t < 4; ++t) {
        shards.emplace_back([&] {
            for (uint32_t id : ids) {
                if (directory.join(id, SPICE_CHANNEL_DISPLAY, 0)) ++granted;
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

TEST(FramePoolTest, AResizedPoolFreesBuffersOfTheOldSize) {
    FramePool pool({8, 4});
    std::shared_ptr<const Frame> old = pool.publish(pool.take());
    pool.resize({16, 2});
    old.reset();  // back in the returns queue, but the wrong size now
    std::unique_ptr<Frame> fresh = pool.take();
    EXPECT_EQ(fresh->size(), (Size{16, 2}));
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
