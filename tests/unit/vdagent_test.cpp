#include "agent/vdagent.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "agent/agent_stream.h"

namespace spiced::vdagent {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes_of(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

Bytes pattern(size_t n, uint8_t seed = 0) {
    Bytes out(n);
    for (size_t i = 0; i < n; ++i) out[i] = uint8_t(i * 31 + (i >> 8) + seed);
    return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

Bytes le32(uint32_t v) {
    return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
}
Bytes le16(uint16_t v) {
    return {uint8_t(v), uint8_t(v >> 8)};
}
Bytes le64(uint64_t v) {
    return concat({le32(uint32_t(v)), le32(uint32_t(v >> 32))});
}

const ClipboardFraming kAllFramings[] = {
    {false, false}, {true, false}, {false, true}, {true, true}};

// "_sel+serial" and so on; built with += because GCC 12 reports a false -Wrestrict for
// "literal" + std::string.
std::string framing_suffix(ClipboardFraming f) {
    std::string suffix = f.selection ? "_sel" : "_nosel";
    if (f.grab_serial) suffix += "+serial";
    return suffix;
}

// ---- Record header ---------------------------------------------------------------------

TEST(VdagentRecordTest, EncodeRecordWritesThePackedLittleEndianHeader) {
    const Bytes data = {0xaa, 0xbb, 0xcc};
    const Bytes record = encode_record(VD_AGENT_CLIPBOARD, data, 0x1122334455667788ull);
    EXPECT_EQ(record, concat({le32(VD_AGENT_PROTOCOL), le32(VD_AGENT_CLIPBOARD),
                              le64(0x1122334455667788ull), le32(3), data}));
    auto header = parse_record_header(record);
    ASSERT_TRUE(header) << header.error();
    EXPECT_EQ(header->protocol, uint32_t{VD_AGENT_PROTOCOL});
    EXPECT_EQ(header->type, uint32_t{VD_AGENT_CLIPBOARD});
    EXPECT_EQ(header->opaque, 0x1122334455667788ull);
    EXPECT_EQ(header->size, 3u);
}

TEST(VdagentRecordTest, HeaderParserRefusesShortInputAndOtherProtocols) {
    const Bytes record = encode_record(VD_AGENT_REPLY, {});
    for (size_t n = 0; n < kRecordHeaderBytes; ++n) {
        const Bytes prefix(record.begin(), record.begin() + n);
        auto header = parse_record_header(prefix);
        ASSERT_FALSE(header) << n;
        EXPECT_NE(header.error().find("truncated"), std::string::npos) << header.error();
    }
    for (uint32_t protocol : {0u, 2u, 0xffffffffu}) {
        Bytes bad = record;
        std::memcpy(bad.data(), le32(protocol).data(), 4);
        auto header = parse_record_header(bad);
        ASSERT_FALSE(header);
        EXPECT_NE(header.error().find("protocol"), std::string::npos) << header.error();
    }
}

// ---- Every message: round trips and truncation ---------------------------------------------

struct Case {
    std::string name;
    uint32_t type;
    ClipboardFraming framing;
    Bytes data;
    // Some prefixes of messages with trailing arrays or bytes are themselves valid messages;
    // for the others every shorter prefix must fail.
    bool prefixes_may_parse;
};

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    static const Bytes kClip = pattern(37);
    static const Bytes kChunk = pattern(100, 7);
    static const Bytes kDetail = {VD_AGENT_FILE_XFER_STATUS_ERROR_GLIB_IO, 1, 0, 0, 0};

    AnnounceCapabilities caps;
    caps.request = true;
    caps.caps.set(VD_AGENT_CAP_MOUSE_STATE);
    caps.caps.set(VD_AGENT_CAP_CLIPBOARD_SELECTION);
    caps.caps.set(40);  // a second word
    cases.push_back({"caps", caps.kType, {}, build(caps), true});
    cases.push_back({"caps_empty", caps.kType, {}, build(AnnounceCapabilities{}), false});

    MonitorsConfig monitors;
    monitors.flags = VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS;
    monitors.monitors = {{1920, 1080, 32, 0, 0}, {1280, 1024, 32, 1920, -20}};
    cases.push_back({"monitors", monitors.kType, {}, build(monitors), false});
    monitors.flags |= VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE;
    monitors.physical_sizes = std::vector<MonitorMM>{{600, 340}, {0, 0}};
    cases.push_back({"monitors_mm", monitors.kType, {}, build(monitors), false});

    cases.push_back({"reply",
                     VD_AGENT_REPLY,
                     {},
                     build(Reply{VD_AGENT_MONITORS_CONFIG, VD_AGENT_SUCCESS}),
                     false});
    cases.push_back(
        {"max_clipboard", VD_AGENT_MAX_CLIPBOARD, {}, build(MaxClipboard{1 << 20}), false});
    cases.push_back({"mouse_state",
                     VD_AGENT_MOUSE_STATE,
                     {},
                     build(MouseState{100, 200, VD_AGENT_LBUTTON_MASK, 1}),
                     false});

    for (const ClipboardFraming f : kAllFramings) {
        const std::string suffix = framing_suffix(f);
        const uint8_t selection = f.selection ? VD_AGENT_CLIPBOARD_SELECTION_PRIMARY
                                              : VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
        ClipboardGrab grab{.selection = selection,
                           .serial = f.grab_serial ? 77u : 0u,
                           .types = {VD_AGENT_CLIPBOARD_UTF8_TEXT, VD_AGENT_CLIPBOARD_IMAGE_PNG}};
        cases.push_back({"grab" + suffix, grab.kType, f, build(grab, f), true});
        ClipboardRequest request{selection, VD_AGENT_CLIPBOARD_UTF8_TEXT};
        cases.push_back({"request" + suffix, request.kType, f, build(request, f), false});
        ClipboardData data{selection, VD_AGENT_CLIPBOARD_UTF8_TEXT, kClip};
        cases.push_back({"clipboard" + suffix, data.kType, f, build(data, f), true});
        ClipboardRelease release{selection};
        cases.push_back({"release" + suffix, release.kType, f, build(release, f), false});
    }

    cases.push_back({"xfer_start",
                     VD_AGENT_FILE_XFER_START,
                     {},
                     build(FileXferStart{7, "[vdagent-file-xfer]\nname=a.txt\nsize=5\n"}),
                     false});
    cases.push_back({"xfer_status",
                     VD_AGENT_FILE_XFER_STATUS,
                     {},
                     build(FileXferStatus{7, VD_AGENT_FILE_XFER_STATUS_ERROR, kDetail}),
                     true});
    cases.push_back(
        {"xfer_data", VD_AGENT_FILE_XFER_DATA, {}, build(FileXferData{7, kChunk}), false});
    cases.push_back({"unknown", VD_AGENT_GRAPHICS_DEVICE_INFO, {}, pattern(12), true});
    return cases;
}

TEST(VdagentMessageTest, EveryMessageRoundTrips) {
    for (const auto& c : all_cases()) {
        SCOPED_TRACE(c.name);
        auto parsed = parse_message(c.type, c.data, c.framing);
        ASSERT_TRUE(parsed) << parsed.error();
        EXPECT_EQ(message_type(*parsed), c.type);
        EXPECT_EQ(build(*parsed, c.framing), c.data);
    }
}

// Each prefix lives in a buffer of exactly its size, so an over-read is an ASan error.
TEST(VdagentMessageTest, EveryTruncationFailsOrParsesExactlyThePrefix) {
    size_t failures = 0;
    for (const auto& c : all_cases()) {
        for (size_t n = 0; n < c.data.size(); ++n) {
            SCOPED_TRACE(c.name + " truncated to " + std::to_string(n));
            const Bytes prefix(c.data.begin(), c.data.begin() + n);
            auto parsed = parse_message(c.type, prefix, c.framing);
            if (!parsed) {
                ++failures;
                EXPECT_FALSE(parsed.error().empty());
                EXPECT_EQ(parsed.error().back(), '.') << parsed.error();
                continue;
            }
            EXPECT_TRUE(c.prefixes_may_parse);
            EXPECT_EQ(build(*parsed, c.framing), prefix);
        }
    }
    EXPECT_GT(failures, 300u);
}

// ---- Wire layouts pinned byte for byte (build and parse could agree on a wrong layout) ----

TEST(VdagentMessageTest, MonitorsConfigPutsHeightBeforeWidth) {
    MonitorsConfig m;
    m.flags = VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE;
    m.monitors = {{.width = 1920, .height = 1080, .depth = 32, .x = -5, .y = 7}};
    m.physical_sizes = std::vector<MonitorMM>{{.width = 600, .height = 340}};
    const Bytes wire =
        concat({le32(1), le32(VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE), le32(1080), le32(1920),
                le32(32), le32(uint32_t(-5)), le32(7), le16(340), le16(600)});
    EXPECT_EQ(build(m), wire);
    auto parsed = parse_monitors_config(wire);
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_EQ(parsed->monitors.size(), 1u);
    EXPECT_EQ(parsed->monitors[0], m.monitors[0]);
    ASSERT_TRUE(parsed->physical_sizes);
    EXPECT_EQ(*parsed->physical_sizes, *m.physical_sizes);
}

TEST(VdagentMessageTest, MonitorsConfigWithoutPhysicalSizeHasNone) {
    MonitorsConfig m;
    m.monitors = {{800, 600, 32, 0, 0}};
    auto parsed = parse_monitors_config(build(m));
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_FALSE(parsed->physical_sizes);
    EXPECT_EQ(build(m).size(), sizeof(VDAgentMonitorsConfig) + sizeof(VDAgentMonConfig));
}

TEST(VdagentMessageTest, MonitorsConfigBuildFillsMissingPhysicalSizesWithZeros) {
    MonitorsConfig m;
    m.flags = VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE;
    m.monitors = {{800, 600, 32, 0, 0}, {800, 600, 32, 800, 0}};
    m.physical_sizes = std::vector<MonitorMM>{{300, 200}};
    auto parsed = parse_monitors_config(build(m));
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_TRUE(parsed->physical_sizes);
    EXPECT_EQ(*parsed->physical_sizes, (std::vector<MonitorMM>{{300, 200}, {0, 0}}));
}

TEST(VdagentMessageTest, ClipboardFramingLayouts) {
    const ClipboardGrab grab{
        VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0x01020304, {VD_AGENT_CLIPBOARD_UTF8_TEXT}};
    EXPECT_EQ(build(grab, {false, false}), le32(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    EXPECT_EQ(build(grab, {true, false}), concat({{VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0},
                                                  le32(VD_AGENT_CLIPBOARD_UTF8_TEXT)}));
    EXPECT_EQ(build(grab, {false, true}),
              concat({le32(0x01020304), le32(VD_AGENT_CLIPBOARD_UTF8_TEXT)}));
    EXPECT_EQ(build(grab, {true, true}), concat({{VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0},
                                                 le32(0x01020304),
                                                 le32(VD_AGENT_CLIPBOARD_UTF8_TEXT)}));

    const Bytes text = bytes_of("hi");
    EXPECT_EQ(build(ClipboardData{VD_AGENT_CLIPBOARD_SELECTION_SECONDARY,
                                  VD_AGENT_CLIPBOARD_UTF8_TEXT, text},
                    {true, true}),
              concat({{VD_AGENT_CLIPBOARD_SELECTION_SECONDARY, 0, 0, 0},
                      le32(VD_AGENT_CLIPBOARD_UTF8_TEXT),
                      text}));
    EXPECT_TRUE(build(ClipboardRelease{}, {false, true}).empty());
    EXPECT_EQ(build(ClipboardRelease{VD_AGENT_CLIPBOARD_SELECTION_PRIMARY}, {true, false}),
              (Bytes{VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0}));

    // Reserved bytes are ignored on input; without selection framing it is CLIPBOARD.
    auto request = parse_clipboard_request(
        concat({{VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 9, 9, 9}, le32(2)}), {true, false});
    ASSERT_TRUE(request) << request.error();
    EXPECT_EQ(request->selection, VD_AGENT_CLIPBOARD_SELECTION_PRIMARY);
    EXPECT_EQ(request->type, 2u);
    auto plain = parse_clipboard_request(le32(2), {});
    ASSERT_TRUE(plain) << plain.error();
    EXPECT_EQ(plain->selection, VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD);
}

TEST(VdagentMessageTest, ClipboardDataIsAViewIntoTheRecord) {
    const Bytes wire = concat({le32(VD_AGENT_CLIPBOARD_IMAGE_PNG), pattern(50)});
    auto parsed = parse_clipboard_data(wire, {});
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->type, uint32_t{VD_AGENT_CLIPBOARD_IMAGE_PNG});
    EXPECT_EQ(parsed->data.data(), wire.data() + 4);
    EXPECT_EQ(parsed->data.size(), 50u);
}

TEST(VdagentMessageTest, SmallFixedMessagesPinned) {
    EXPECT_EQ(build(MouseState{1, 2, VD_AGENT_RBUTTON_MASK, 3}),
              concat({le32(1), le32(2), le32(VD_AGENT_RBUTTON_MASK), {3}}));
    EXPECT_EQ(build(MaxClipboard{-1}), le32(0xffffffff));
    EXPECT_EQ(build(Reply{VD_AGENT_MONITORS_CONFIG, VD_AGENT_ERROR}),
              concat({le32(VD_AGENT_MONITORS_CONFIG), le32(VD_AGENT_ERROR)}));
    auto max = parse_max_clipboard(le32(0xffffffff));
    ASSERT_TRUE(max);
    EXPECT_EQ(max->max, -1);
    auto mouse = parse_mouse_state(concat({le32(10), le32(20), le32(VD_AGENT_MBUTTON_MASK), {2}}));
    ASSERT_TRUE(mouse);
    EXPECT_EQ(mouse->x, 10u);
    EXPECT_EQ(mouse->y, 20u);
    EXPECT_EQ(mouse->buttons, uint32_t{VD_AGENT_MBUTTON_MASK});
    EXPECT_EQ(mouse->display_id, 2);
}

TEST(VdagentMessageTest, FixedMessagesAcceptTrailingBytes) {
    auto reply =
        parse_reply(concat({le32(VD_AGENT_MONITORS_CONFIG), le32(VD_AGENT_SUCCESS), {1, 2, 3}}));
    ASSERT_TRUE(reply) << reply.error();
    EXPECT_EQ(reply->type, uint32_t{VD_AGENT_MONITORS_CONFIG});
    MonitorsConfig one;
    one.monitors = {{640, 480, 32, 0, 0}};
    auto monitors = parse_monitors_config(concat({build(one), {0, 0}}));
    ASSERT_TRUE(monitors) << monitors.error();
    EXPECT_EQ(monitors->monitors.size(), 1u);
}

TEST(VdagentMessageTest, FileXferMessagesPinned) {
    const Bytes start = build(FileXferStart{3, "k"});
    EXPECT_EQ(start, concat({le32(3), {'k', 0}}));
    const Bytes chunk = pattern(5);
    EXPECT_EQ(build(FileXferData{3, chunk}), concat({le32(3), le64(5), chunk}));
    const Bytes detail = {1, 2, 3};
    EXPECT_EQ(build(FileXferStatus{3, VD_AGENT_FILE_XFER_STATUS_CANCELLED, detail}),
              concat({le32(3), le32(VD_AGENT_FILE_XFER_STATUS_CANCELLED), detail}));
    auto status =
        parse_file_xfer_status(concat({le32(3), le32(VD_AGENT_FILE_XFER_STATUS_SUCCESS)}));
    ASSERT_TRUE(status) << status.error();
    EXPECT_EQ(status->result, uint32_t{VD_AGENT_FILE_XFER_STATUS_SUCCESS});
    EXPECT_TRUE(status->detail.empty());
}

// ---- Hostile counts and values -------------------------------------------------------------

TEST(VdagentMessageTest, CapabilityWordsAreBounded) {
    Bytes words(sizeof(uint32_t) + kMaxCapsWords * sizeof(uint32_t), 0xff);
    auto at_limit = parse_announce_capabilities(words);
    ASSERT_TRUE(at_limit) << at_limit.error();
    EXPECT_EQ(at_limit->caps.words.size(), kMaxCapsWords);
    words.resize(words.size() + sizeof(uint32_t), 0);
    auto over = parse_announce_capabilities(words);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().find("too large"), std::string::npos) << over.error();
    auto partial = parse_announce_capabilities(concat({le32(0), le32(1), {1, 2}}));
    ASSERT_FALSE(partial);
    EXPECT_NE(partial.error().find("whole"), std::string::npos) << partial.error();
}

TEST(VdagentMessageTest, MonitorCountsAreBoundedBeforeAllocating) {
    for (uint32_t count : {uint32_t(kMaxMonitors + 1), 0x10000000u, 0xffffffffu}) {
        auto parsed = parse_monitors_config(concat({le32(count), le32(0)}));
        ASSERT_FALSE(parsed) << count;
        EXPECT_NE(parsed.error().find("too large"), std::string::npos) << parsed.error();
    }
    MonitorsConfig many;
    many.monitors.resize(kMaxMonitors, MonConfig{800, 600, 32, 0, 0});
    auto at_limit = parse_monitors_config(build(many));
    ASSERT_TRUE(at_limit) << at_limit.error();
    EXPECT_EQ(at_limit->monitors.size(), kMaxMonitors);
    // A count the data does not hold is truncation, also for the physical sizes behind it.
    auto short_count = parse_monitors_config(concat({le32(3), le32(0), pattern(40)}));
    ASSERT_FALSE(short_count);
    EXPECT_NE(short_count.error().find("truncated"), std::string::npos);
    MonitorsConfig one;
    one.monitors = {{800, 600, 32, 0, 0}};
    Bytes no_mm = build(one);
    no_mm[4] = VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE;
    EXPECT_FALSE(parse_monitors_config(no_mm));
}

TEST(VdagentMessageTest, ClipboardTypesAndSelectionsAreChecked) {
    ClipboardGrab grab;
    grab.types.assign(kMaxClipboardTypes, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    EXPECT_TRUE(parse_clipboard_grab(build(grab, {}), {}));
    grab.types.push_back(VD_AGENT_CLIPBOARD_UTF8_TEXT);
    auto over = parse_clipboard_grab(build(grab, {}), {});
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().find("too large"), std::string::npos) << over.error();
    EXPECT_FALSE(parse_clipboard_grab(Bytes{1, 0, 0, 0, 2}, {}));  // partial type word
    auto empty = parse_clipboard_grab({}, {});
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->types.empty());

    const uint8_t bad_selection = VD_AGENT_CLIPBOARD_SELECTION_SECONDARY + 1;
    const Bytes header = {bad_selection, 0, 0, 0};
    const ClipboardFraming f{true, false};
    EXPECT_FALSE(parse_clipboard_grab(header, f));
    EXPECT_FALSE(parse_clipboard_request(concat({header, le32(1)}), f));
    EXPECT_FALSE(parse_clipboard_data(concat({header, le32(1)}), f));
    auto release = parse_clipboard_release(header, f);
    ASSERT_FALSE(release);
    EXPECT_NE(release.error().find("out of range"), std::string::npos) << release.error();
}

TEST(VdagentMessageTest, FileXferDataSizeMustMatch) {
    for (uint64_t size : {uint64_t{4}, uint64_t{6}, ~uint64_t{0}}) {
        auto parsed = parse_file_xfer_data(concat({le32(1), le64(size), pattern(5)}));
        ASSERT_FALSE(parsed) << size;
        EXPECT_NE(parsed.error().find("announces"), std::string::npos) << parsed.error();
    }
    auto empty = parse_file_xfer_data(concat({le32(1), le64(0)}));
    ASSERT_TRUE(empty) << empty.error();
    EXPECT_TRUE(empty->data.empty());
}

TEST(VdagentMessageTest, FileXferStartNeedsExactlyOneTerminatingNul) {
    EXPECT_FALSE(parse_file_xfer_start(le32(1)));
    EXPECT_FALSE(parse_file_xfer_start(concat({le32(1), bytes_of("abc")})));
    EXPECT_FALSE(parse_file_xfer_start(concat({le32(1), {'a', 0, 'b', 0}})));
    auto empty_text = parse_file_xfer_start(concat({le32(1), {0}}));
    ASSERT_TRUE(empty_text);
    EXPECT_TRUE(empty_text->keyfile.empty());
}

TEST(VdagentMessageTest, UnknownTypesPassThrough) {
    const Bytes data = pattern(9);
    for (uint32_t type :
         {uint32_t{VD_AGENT_DISPLAY_CONFIG}, uint32_t{VD_AGENT_CLIENT_DISCONNECTED},
          uint32_t{VD_AGENT_AUDIO_VOLUME_SYNC}, uint32_t{VD_AGENT_GRAPHICS_DEVICE_INFO},
          uint32_t{VD_AGENT_END_MESSAGE}, 0u, 0xdeadbeefu}) {
        auto parsed = parse_message(type, data, {});
        ASSERT_TRUE(parsed);
        const auto* unknown = std::get_if<UnknownMessage>(&*parsed);
        ASSERT_NE(unknown, nullptr) << type;
        EXPECT_EQ(unknown->type, type);
        EXPECT_EQ(unknown->data.data(), data.data());
        EXPECT_EQ(unknown->data.size(), data.size());
    }
    EXPECT_STREQ(message_type_name(VD_AGENT_CLIPBOARD_GRAB), "VD_AGENT_CLIPBOARD_GRAB");
    EXPECT_EQ(message_type_name(VD_AGENT_END_MESSAGE), nullptr);
}

// ---- Capabilities ----------------------------------------------------------------------------

TEST(VdagentCapsTest, SetAndHas) {
    AgentCaps caps;
    EXPECT_FALSE(caps.has(VD_AGENT_CAP_MOUSE_STATE));
    EXPECT_FALSE(caps.has(1000));
    caps.set(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL);
    caps.set(33);
    EXPECT_TRUE(caps.has(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL));
    EXPECT_TRUE(caps.has(33));
    EXPECT_FALSE(caps.has(32));
    EXPECT_FALSE(caps.has(VD_AGENT_CAP_CLIPBOARD_SELECTION));
    ASSERT_EQ(caps.words.size(), 2u);
    EXPECT_EQ(caps.words[0], 1u << VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL);
    EXPECT_EQ(caps.words[1], 2u);
    // The word layout is vd_agent.h's own.
    EXPECT_TRUE(VD_AGENT_HAS_CAPABILITY(caps.words.data(), caps.words.size(), 33));
}

TEST(VdagentCapsTest, FramingNeedsBothSides) {
    AgentCaps ours;
    ours.set(VD_AGENT_CAP_CLIPBOARD_SELECTION);
    ours.set(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL);
    AgentCaps theirs;
    theirs.set(VD_AGENT_CAP_CLIPBOARD_SELECTION);
    auto f = negotiate_clipboard_framing(ours, theirs);
    EXPECT_TRUE(f.selection);
    EXPECT_FALSE(f.grab_serial);
    f = negotiate_clipboard_framing(theirs, ours);
    EXPECT_TRUE(f.selection);
    EXPECT_FALSE(f.grab_serial);
    theirs.set(VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL);
    EXPECT_TRUE(negotiate_clipboard_framing(ours, theirs).grab_serial);
    f = negotiate_clipboard_framing({}, theirs);
    EXPECT_FALSE(f.selection);
    EXPECT_FALSE(f.grab_serial);
}

// ---- Record assembly -----------------------------------------------------------------------

struct Fed {
    std::vector<AgentRecord> records;
    std::string error;
    size_t max_buffered = 0;
    size_t max_capacity = 0;
};

Fed feed_pieces(const Bytes& stream, const std::vector<size_t>& cuts, size_t max_record) {
    AgentRecordAssembler assembler(max_record);
    Fed fed;
    size_t at = 0;
    auto feed = [&](size_t end) {
        auto result = assembler.feed(std::span(stream.data() + at, end - at), fed.records);
        if (!result && fed.error.empty()) fed.error = result.error();
        fed.max_buffered = std::max(fed.max_buffered, assembler.buffered_bytes());
        fed.max_capacity = std::max(fed.max_capacity, assembler.buffered_capacity());
        at = end;
    };
    for (const size_t cut : cuts) feed(cut);
    feed(stream.size());
    if (fed.error.empty()) {
        EXPECT_EQ(assembler.buffered_bytes(), 0u);
    }
    return fed;
}

void expect_records(const std::vector<AgentRecord>& got,
                    const std::vector<std::pair<uint32_t, Bytes>>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].type, want[i].first) << i;
        EXPECT_EQ(got[i].data, want[i].second) << i;
    }
}

class VdagentAssemblerTest : public ::testing::Test {
protected:
    const Bytes first_ = pattern(700, 1);
    const Bytes second_ = pattern(300, 2);
    const Bytes stream_ = concat({encode_record(VD_AGENT_CLIPBOARD, first_, 5),
                                  encode_record(VD_AGENT_CLIPBOARD_GRAB, second_)});
    const std::vector<std::pair<uint32_t, Bytes>> want_ = {{VD_AGENT_CLIPBOARD, first_},
                                                           {VD_AGENT_CLIPBOARD_GRAB, second_}};
};

TEST_F(VdagentAssemblerTest, EverySplitPointOfTwoRecords) {
    ASSERT_LE(stream_.size(), kMaxPayloadBytes);
    for (size_t cut = 0; cut <= stream_.size(); ++cut) {
        SCOPED_TRACE(cut);
        const Fed fed = feed_pieces(stream_, {cut}, 4096);
        ASSERT_EQ(fed.error, "");
        expect_records(fed.records, want_);
        EXPECT_EQ(fed.records[0].opaque, 5u);
    }
}

TEST_F(VdagentAssemblerTest, EveryPairOfSplitPointsAroundTheHeaders) {
    // Two cuts, one of them anywhere within (or at the edges of) a record header.
    const size_t header_starts[] = {0, kRecordHeaderBytes + first_.size()};
    for (const size_t start : header_starts) {
        for (size_t a = start; a <= start + kRecordHeaderBytes; ++a) {
            for (size_t b = a; b <= stream_.size(); ++b) {
                const Fed fed = feed_pieces(stream_, {a, b}, 4096);
                ASSERT_EQ(fed.error, "") << a << "," << b;
                ASSERT_EQ(fed.records.size(), 2u) << a << "," << b;
                ASSERT_EQ(fed.records[1].data, second_) << a << "," << b;
            }
        }
    }
}

TEST_F(VdagentAssemblerTest, ByteByByte) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < stream_.size(); ++i) cuts.push_back(i);
    const Fed fed = feed_pieces(stream_, cuts, 4096);
    ASSERT_EQ(fed.error, "");
    expect_records(fed.records, want_);
    EXPECT_LE(fed.max_buffered, kRecordHeaderBytes + first_.size());
}

TEST_F(VdagentAssemblerTest, RandomSplitsOfALongStream) {
    // Records larger than one payload, empty ones, and ones that share payloads.
    std::vector<std::pair<uint32_t, Bytes>> want;
    Bytes stream;
    const size_t sizes[] = {0, 1, 19, 20, 2028, 2029, 5000, 65536 + 12, 3, 0, 70000};
    for (size_t i = 0; i < std::size(sizes); ++i) {
        want.emplace_back(VD_AGENT_FILE_XFER_DATA, pattern(sizes[i], uint8_t(i)));
        const Bytes record = encode_record(VD_AGENT_FILE_XFER_DATA, want.back().second, i);
        stream.insert(stream.end(), record.begin(), record.end());
    }
    std::mt19937 rng(1234);
    for (int round = 0; round < 200; ++round) {
        std::vector<size_t> cuts;
        std::uniform_int_distribution<size_t> piece(1, round % 2 ? 64 : kMaxPayloadBytes);
        for (size_t at = piece(rng); at < stream.size(); at += piece(rng)) cuts.push_back(at);
        const Fed fed = feed_pieces(stream, cuts, 70000);
        ASSERT_EQ(fed.error, "") << round;
        expect_records(fed.records, want);
        for (size_t i = 0; i < fed.records.size(); ++i) EXPECT_EQ(fed.records[i].opaque, i);
        EXPECT_LE(fed.max_buffered, 70000 + kRecordHeaderBytes);
        EXPECT_LE(fed.max_capacity, 70000u);
    }
}

TEST_F(VdagentAssemblerTest, HeaderSplitAcrossThreePayloads) {
    AgentRecordAssembler assembler(4096);
    std::vector<AgentRecord> out;
    const Bytes record = encode_record(VD_AGENT_REPLY, build(Reply{VD_AGENT_MONITORS_CONFIG, 1}));
    ASSERT_TRUE(assembler.feed(std::span(record).first(3), out));
    EXPECT_EQ(assembler.buffered_bytes(), 3u);
    ASSERT_TRUE(assembler.feed(std::span(record).subspan(3, 15), out));
    EXPECT_EQ(assembler.buffered_bytes(), 18u);
    EXPECT_TRUE(out.empty());
    ASSERT_TRUE(assembler.feed(std::span(record).subspan(18), out));
    ASSERT_EQ(out.size(), 1u);
    auto reply = parse_reply(out[0].data);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->type, uint32_t{VD_AGENT_MONITORS_CONFIG});
    EXPECT_EQ(assembler.buffered_bytes(), 0u);
}

TEST_F(VdagentAssemblerTest, EmptyPayloadsAreHarmless) {
    AgentRecordAssembler assembler(4096);
    std::vector<AgentRecord> out;
    ASSERT_TRUE(assembler.feed({}, out));
    ASSERT_TRUE(assembler.feed(std::span(stream_).first(10), out));
    ASSERT_TRUE(assembler.feed({}, out));
    ASSERT_TRUE(assembler.feed(std::span(stream_).subspan(10), out));
    expect_records(out, want_);
}

TEST(VdagentAssemblerLimitTest, HugeAnnouncedSizeIsRefusedAtTheHeader) {
    Bytes header = encode_record(VD_AGENT_CLIPBOARD, {});
    std::memcpy(header.data() + 16, le32(0xffffffff).data(), 4);
    AgentRecordAssembler assembler(1 << 20);
    std::vector<AgentRecord> out;
    auto result = assembler.feed(header, out);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().find("4294967295"), std::string::npos) << result.error();
    EXPECT_TRUE(assembler.failed());
    EXPECT_EQ(assembler.buffered_bytes(), 0u);
    EXPECT_EQ(assembler.buffered_capacity(), 0u);
    // Sticky until reset.
    auto again = assembler.feed(encode_record(VD_AGENT_REPLY, pattern(8)), out);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), result.error());
    EXPECT_TRUE(out.empty());
    assembler.reset();
    EXPECT_FALSE(assembler.failed());
    ASSERT_TRUE(assembler.feed(encode_record(VD_AGENT_REPLY, pattern(8)), out));
    EXPECT_EQ(out.size(), 1u);
}

TEST(VdagentAssemblerLimitTest, TheLimitIsInclusive) {
    std::vector<AgentRecord> out;
    const Bytes at_limit = encode_record(VD_AGENT_CLIPBOARD, pattern(100));
    AgentRecordAssembler ok(100);
    ASSERT_TRUE(ok.feed(at_limit, out));
    EXPECT_EQ(out.size(), 1u);
    AgentRecordAssembler refuses(99);
    EXPECT_FALSE(refuses.feed(at_limit, out));
    EXPECT_EQ(out.size(), 1u);
}

TEST(VdagentAssemblerLimitTest, PartialRecordCapacityFollowsArrivingBytes) {
    // A header announcing 1 MiB allocates nothing; what arrives is what is held.
    const size_t announced = 1 << 20;
    Bytes header = encode_record(VD_AGENT_FILE_XFER_DATA, {});
    std::memcpy(header.data() + 16, le32(announced).data(), 4);
    AgentRecordAssembler assembler(announced);
    std::vector<AgentRecord> out;
    ASSERT_TRUE(assembler.feed(header, out));
    EXPECT_EQ(assembler.buffered_capacity(), 0u);
    const Bytes chunk = pattern(kMaxPayloadBytes);
    ASSERT_TRUE(assembler.feed(chunk, out));
    EXPECT_EQ(assembler.buffered_bytes(), kRecordHeaderBytes + kMaxPayloadBytes);
    EXPECT_LE(assembler.buffered_capacity(), 2 * kMaxPayloadBytes);
    for (size_t sent = kMaxPayloadBytes; sent < announced; sent += kMaxPayloadBytes) {
        EXPECT_LE(assembler.buffered_capacity(), announced);
        ASSERT_TRUE(assembler.feed(chunk, out));
    }
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].data.size(), announced);
    EXPECT_LE(out[0].data.capacity(), announced);
}

TEST(VdagentAssemblerLimitTest, OtherProtocolsAreRefusedAfterEarlierRecords) {
    const Bytes good = encode_record(VD_AGENT_REPLY, pattern(8));
    for (uint32_t protocol : {0u, 2u}) {
        Bytes bad = encode_record(VD_AGENT_REPLY, pattern(8));
        std::memcpy(bad.data(), le32(protocol).data(), 4);
        AgentRecordAssembler assembler(4096);
        std::vector<AgentRecord> out;
        auto result = assembler.feed(concat({good, bad}), out);
        ASSERT_FALSE(result);
        EXPECT_NE(result.error().find("protocol"), std::string::npos) << result.error();
        EXPECT_EQ(out.size(), 1u);  // the record before the bad header still counts
    }
}

TEST(VdagentAssemblerLimitTest, PayloadsOverTheAgentMaximumAreRefused) {
    std::vector<AgentRecord> out;
    AgentRecordAssembler at_max(1 << 16);
    const Bytes big = encode_record(VD_AGENT_CLIPBOARD, pattern(kMaxPayloadBytes * 2));
    EXPECT_TRUE(at_max.feed(std::span(big).first(kMaxPayloadBytes), out));
    AgentRecordAssembler over(1 << 16);
    auto result = over.feed(std::span(big).first(kMaxPayloadBytes + 1), out);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().find("VD_AGENT_MAX_DATA_SIZE"), std::string::npos) << result.error();
    EXPECT_EQ(over.buffered_bytes(), 0u);
}

// ---- Record splitting ------------------------------------------------------------------------

TEST(VdagentSplitTest, PayloadSizesAndReassembly) {
    const size_t fits_first = kMaxPayloadBytes - kRecordHeaderBytes;
    for (size_t size :
         {size_t{0}, size_t{1}, fits_first, fits_first + 1, kMaxPayloadBytes,
          fits_first + kMaxPayloadBytes, fits_first + kMaxPayloadBytes + 1, size_t{100000}}) {
        SCOPED_TRACE(size);
        const Bytes data = pattern(size, 3);
        AgentRecordSplitter splitter(VD_AGENT_CLIPBOARD, 9, data);
        const size_t expected_count =
            1 +
            (size > fits_first ? (size - fits_first + kMaxPayloadBytes - 1) / kMaxPayloadBytes : 0);
        EXPECT_EQ(splitter.payloads_left(), expected_count);

        const auto payloads = split_record(VD_AGENT_CLIPBOARD, 9, data);
        ASSERT_EQ(payloads.size(), expected_count);
        for (size_t i = 0; i + 1 < payloads.size(); ++i) {
            EXPECT_EQ(payloads[i].size(), kMaxPayloadBytes) << i;
        }
        EXPECT_LE(payloads.back().size(), kMaxPayloadBytes);
        EXPECT_GE(payloads.front().size(), kRecordHeaderBytes);
        auto header = parse_record_header(payloads.front());
        ASSERT_TRUE(header);
        EXPECT_EQ(header->size, size);
        EXPECT_EQ(header->opaque, 9u);

        AgentRecordAssembler assembler(size);
        std::vector<AgentRecord> out;
        for (const auto& payload : payloads) ASSERT_TRUE(assembler.feed(payload, out));
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].type, uint32_t{VD_AGENT_CLIPBOARD});
        EXPECT_EQ(out[0].opaque, 9u);
        EXPECT_EQ(out[0].data, data);
    }
}

TEST(VdagentSplitTest, SplitterPausesBetweenPayloads) {
    const Bytes data = pattern(5000);
    AgentRecordSplitter splitter(VD_AGENT_FILE_XFER_DATA, 0, data);
    Bytes joined;
    size_t count = 0;
    while (!splitter.done()) {
        const size_t left = splitter.payloads_left();
        ByteWriter payload;
        splitter.write_next(payload);
        EXPECT_EQ(splitter.payloads_left(), left - 1);
        joined.insert(joined.end(), payload.buffer().begin(), payload.buffer().end());
        ++count;
    }
    EXPECT_EQ(count, 3u);
    EXPECT_EQ(joined, encode_record(VD_AGENT_FILE_XFER_DATA, data));
    std::vector<Bytes> appended = {Bytes{1}};
    append_record_payloads(VD_AGENT_FILE_XFER_DATA, 0, data, appended);
    EXPECT_EQ(appended.size(), 4u);
    EXPECT_EQ(appended[0], Bytes{1});
}

// ---- File-transfer keyfile ---------------------------------------------------------------

// GLib 2.74's g_key_file_to_data() output for g_key_file_set_string(name) and
// g_key_file_set_uint64(size), as spice-gtk builds it (recorded with GLib itself).
TEST(VdagentKeyfileTest, AcceptsSpiceGtkKeyfiles) {
    struct {
        std::string_view text;
        std::string_view name;
        uint64_t size;
    } cases[] = {
        {"[vdagent-file-xfer]\nname=notes.txt\nsize=5\n", "notes.txt", 5},
        {"[vdagent-file-xfer]\nname=caf\xc3\xa9 \xc3\xa9t\xc3\xa9.txt\nsize=1234567890123\n",
         "caf\xc3\xa9 \xc3\xa9t\xc3\xa9.txt", 1234567890123ull},
        {"[vdagent-file-xfer]\nname=mon fichier.txt\nsize=0\n", "mon fichier.txt", 0},
        {"[vdagent-file-xfer]\nname=\\sgarde.txt\nsize=7\n", " garde.txt", 7},
        {"[vdagent-file-xfer]\nname=\\s\\stwo\nsize=18446744073709551615\n", "  two",
         18446744073709551615ull},
        {"[vdagent-file-xfer]\nname=a=b.txt\nsize=1\n", "a=b.txt", 1},
        {"[vdagent-file-xfer]\nname=[s].txt\nsize=2\n", "[s].txt", 2},
        {"[vdagent-file-xfer]\nname=x;y#z.txt\nsize=4\n", "x;y#z.txt", 4},
        {"[vdagent-file-xfer]\nname=trail \nsize=5\n", "trail ", 5},
        // What GLib also reads the same way: CRLF, whitespace, comments, other groups.
        {"[vdagent-file-xfer]\r\nname=a\r\nsize=5\r\n", "a", 5},
        {"  [vdagent-file-xfer]  \n  name  =   a b\nsize= 12", "a b", 12},
        {"# c\n\n[other]\nname=zz\n[vdagent-file-xfer]\nname=a\n[x]\nsize=9\n"
         "[vdagent-file-xfer]\nsize=5\nname[fr]=b\n",
         "a", 5},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.text));
        auto info = parse_file_xfer_keyfile(c.text);
        ASSERT_TRUE(info) << info.error();
        EXPECT_EQ(info->name, c.name);
        EXPECT_EQ(info->size, c.size);
    }
}

TEST(VdagentKeyfileTest, ThroughAFileXferStartRecord) {
    // spice-gtk's bytes: id, then g_key_file_to_data() and its NUL (data_len + 1).
    const Bytes wire =
        concat({le32(42), bytes_of("[vdagent-file-xfer]\nname=notes.txt\nsize=5\n"), {0}});
    auto start = parse_file_xfer_start(wire);
    ASSERT_TRUE(start) << start.error();
    EXPECT_EQ(start->id, 42u);
    auto info = parse_file_xfer_keyfile(start->keyfile);
    ASSERT_TRUE(info) << info.error();
    EXPECT_EQ(info->name, "notes.txt");
    EXPECT_EQ(info->size, 5u);
}

TEST(VdagentKeyfileTest, RefusesHostileOrMalformedKeyfiles) {
    auto keyfile = [](std::string_view name_line, std::string_view size_line) {
        return "[vdagent-file-xfer]\n" + std::string(name_line) + "\n" + std::string(size_line) +
               "\n";
    };
    const std::string huge_digits(1 << 20, '9');
    const std::string long_name(kMaxFileNameBytes + 1, 'a');
    struct {
        std::string text;
        std::string_view why;
    } cases[] = {
        {keyfile("name=../x", "size=1"), "path separator"},
        {keyfile("name=a/b", "size=1"), "path separator"},
        {keyfile("name=/etc/passwd", "size=1"), "path separator"},
        {keyfile("name=a\\\\b", "size=1"), "path separator"},
        {keyfile("name=..", "size=1"), "\"..\""},
        {keyfile("name=.", "size=1"), "\"..\""},
        {keyfile("name=", "size=1"), "empty"},
        {keyfile("name=  ", "size=1"), "empty"},  // GKeyFile strips leading whitespace
        {keyfile("name=" + long_name, "size=1"), "longer"},
        {keyfile("name=a\\nb", "size=1"), "control"},
        {keyfile("name=a\tb", "size=1"), "control"},
        {keyfile("name=a\x1b[2Jb", "size=1"), "control"},
        {keyfile("name=\xff.txt", "size=1"), "UTF-8"},
        {keyfile("name=\xc0\xaf.txt", "size=1"), "UTF-8"},      // overlong '/'
        {keyfile("name=\xed\xa0\x80.txt", "size=1"), "UTF-8"},  // a surrogate
        {keyfile("name=\xe2\x82", "size=1"), "UTF-8"},          // cut short
        {keyfile("name=a\\xb", "size=1"), "escape"},
        {keyfile("name=ab\\", "size=1"), "backslash"},
        {keyfile("name=a", "nothing=1"), "size= is missing"},
        {keyfile("nothing=a", "size=1"), "name= is missing"},
        {keyfile("name=a", "size="), "empty"},
        {keyfile("name=a", "size=-1"), "decimal"},
        {keyfile("name=a", "size=+7"), "decimal"},
        {keyfile("name=a", "size=0x10"), "decimal"},
        {keyfile("name=a", "size=12a"), "decimal"},
        {keyfile("name=a", "size=5 "), "decimal"},
        {keyfile("name=a", "size=1.5"), "decimal"},
        {keyfile("name=a", "size=18446744073709551616"), "64 bits"},
        {keyfile("name=a", "size=" + huge_digits), "64 bits"},
        {keyfile("name=a\nname=b", "size=1"), "twice"},
        {keyfile("name=a", "size=1\nsize=2"), "twice"},
        {"name=a\nsize=1\n", "before any group"},
        {"name=x\n[vdagent-file-xfer]\nname=a\nsize=1\n", "before any group"},
        {"[other]\nname=a\nsize=1\n", "no [vdagent-file-xfer]"},
        {"", "no [vdagent-file-xfer]"},
        {keyfile("garbage", "name=a\nsize=1"), "neither"},
        {keyfile("=a", "name=a\nsize=1"), "neither"},
        {"[vdagent-file-xfer] x\nname=a\nsize=1\n", "group header"},
        {"[vdagent-file-xfer\nname=a\nsize=1\n", "group header"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text.size() > 200 ? c.text.substr(0, 200) : c.text);
        auto info = parse_file_xfer_keyfile(c.text);
        ASSERT_FALSE(info) << info->name;
        EXPECT_NE(info.error().find(c.why), std::string::npos) << info.error();
        EXPECT_LT(info.error().size(), 200u) << "one short sentence";
    }
    // The longest name allowed is still fine.
    auto longest = parse_file_xfer_keyfile(keyfile("name=" + long_name.substr(1), "size=1"));
    ASSERT_TRUE(longest) << longest.error();
}

}  // namespace
}  // namespace spiced::vdagent
