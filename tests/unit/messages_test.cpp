// Every message we marshal parses back to itself; every parser rejects truncated, oversized
// and out-of-range input with an error value.
#include "core/messages.h"

#include <gtest/gtest.h>

#include <random>

namespace spiced {
namespace {

template <FixedMessage M>
std::vector<uint8_t> bytes_of(const M& message) {
    ByteWriter out;
    marshal(message, out);
    return out.take();
}

// Round trip, then every strict prefix must be rejected as truncated.
template <FixedMessage M>
void check_fixed(const M& message, size_t expected_size) {
    auto bytes = bytes_of(message);
    ASSERT_EQ(bytes.size(), expected_size);
    auto back = parse<M>(bytes);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(bytes_of(*back), bytes);
    for (size_t n = 0; n < bytes.size(); ++n) {
        auto cut = parse<M>(std::span(bytes.data(), n));
        ASSERT_FALSE(cut.has_value()) << "prefix " << n;
        EXPECT_EQ(cut.error(), ParseError::kTruncated);
    }
}

TEST(Messages, FixedLayoutsRoundTripAndRejectTruncation) {
    check_fixed(MsgSetAck{7, 20}, 8);
    check_fixed(MsgPing{3, 0x1122334455667788ull}, 12);
    check_fixed(MsgcAckSync{9}, 4);
    check_fixed(MsgcPong{3, 42}, 12);
    check_fixed(MsgcDisconnecting{5, 1}, 12);
    check_fixed(MsgMainInit{1, 1, 3, 2, 0, 0, 1234, 0}, 32);
    check_fixed(MsgMainMouseMode{3, 2}, 4);
    check_fixed(MsgMainMultiMediaTime{99}, 4);
    check_fixed(MsgMainUuid{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}, 16);
    check_fixed(MsgcMainMouseModeRequest{SPICE_MOUSE_MODE_CLIENT}, 2);
    check_fixed(MsgcMainClientInfo{1 << 20}, 8);
    check_fixed(MsgcMainAgentStart{10}, 4);
    check_fixed(MsgcDisplayInit{1, 20 << 20, 1, 1 << 20}, 14);
    check_fixed(MsgcDisplayPreferredCompression{SPICE_IMAGE_COMPRESSION_LZ4}, 1);
    check_fixed(MsgDisplaySurfaceCreate{0, 1920, 1080, SPICE_SURFACE_FMT_32_xRGB, 1}, 20);
    check_fixed(MsgDisplaySurfaceDestroy{0}, 4);
    check_fixed(MsgDisplayInvalAllPixmaps{0}, 1);
    check_fixed(MsgInputsInit{4}, 2);
    check_fixed(MsgInputsKeyModifiers{2}, 2);
    check_fixed(MsgcKeyDown{0x1e}, 4);
    check_fixed(MsgcKeyUp{0x9e}, 4);
    check_fixed(MsgcKeyModifiers{7}, 2);
    check_fixed(MsgcMouseMotion{-5, 7, 1}, 10);
    check_fixed(MsgcMousePosition{100, 200, 4, 0}, 11);
    check_fixed(MsgcMousePress{SPICE_MOUSE_BUTTON_LEFT, 1}, 3);
    check_fixed(MsgcMouseRelease{SPICE_MOUSE_BUTTON_RIGHT, 0}, 3);
    check_fixed(MsgCursorMove{-3, 400}, 4);
    check_fixed(MsgCursorInvalOne{77}, 8);
    check_fixed(MsgDisplayStreamDestroy{3}, 4);
    check_fixed(MsgDisplayStreamActivateReport{1, 2, 10, 500}, 16);
    check_fixed(MsgcDisplayStreamReport{1, 2, 1000, 1400, 12, 3, -25, 0xffffffffu}, 32);
}

TEST(Messages, StreamMessagesRoundTrip) {
    const MsgDisplayStreamCreate create{0,   2,   SPICE_STREAM_FLAGS_TOP_DOWN,      3, 0, 480, 270,
                                        480, 270, Rect::MakeXYWH(100, 60, 480, 270)};
    ByteWriter out;
    marshal(create, out);
    auto bytes = out.take();
    // surface, id, flags, codec, stamp, 4 sizes, rect, clip type
    EXPECT_EQ(bytes.size(), 4u + 4 + 1 + 1 + 8 + 16 + 16 + 1);
    auto back = parse_stream_create(bytes);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->id, 2u);
    EXPECT_EQ(back->codec_type, 3);
    EXPECT_EQ(back->dest, create.dest);
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(parse_stream_create(std::span(bytes.data(), n)).has_value());

    const std::vector<uint8_t> packet = {0, 0, 0, 1, 0x65, 0x88};
    for (bool sized : {false, true}) {
        MsgDisplayStreamData data{};
        data.id = 2;
        data.multi_media_time = 123456;
        data.sized = sized;
        data.width = 480;
        data.height = 270;
        data.dest = Rect::MakeXYWH(1, 2, 480, 270);
        data.data = packet;
        ByteWriter w;
        write_stream_data_head(w, data);
        w.bytes(packet);
        auto wire = w.take();
        EXPECT_EQ(wire.size(), (sized ? 36u : 12u) + packet.size());
        auto parsed = parse_stream_data(wire, sized);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(parsed->multi_media_time, 123456u);
        EXPECT_TRUE(
            std::equal(parsed->data.begin(), parsed->data.end(), packet.begin(), packet.end()));
        if (sized) {
            EXPECT_EQ(parsed->dest, data.dest);
        }
        // A data size past the end is truncation, never a read beyond the body.
        EXPECT_FALSE(parse_stream_data(std::span(wire.data(), wire.size() - 1), sized));
    }
}

TEST(Messages, StreamClipRoundTripsAndIsBounded) {
    ByteWriter out;
    marshal(MsgDisplayStreamClip{4, {Rect::MakeXYWH(10, 20, 300, 200)}}, out);
    auto bytes = out.take();
    EXPECT_EQ(bytes.size(), 4u + 1 + 4 + 16);
    auto parsed = parse_stream_clip(bytes);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->id, 4u);
    ASSERT_EQ(parsed->rects.size(), 1u);
    EXPECT_EQ(parsed->rects[0], Rect::MakeXYWH(10, 20, 300, 200));
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(parse_stream_clip(std::span(bytes.data(), n)).has_value()) << n;
    // A count far past the body is refused before anything is allocated.
    const std::vector<uint8_t> lying = {4, 0, 0, 0, SPICE_CLIP_TYPE_RECTS, 0xff, 0xff, 0xff, 0x7f};
    EXPECT_FALSE(parse_stream_clip(lying).has_value());
}

TEST(Messages, PreferredVideoCodecsAreBounded) {
    ByteWriter out;
    marshal(MsgcDisplayPreferredVideoCodecType{{3, 1, 200}}, out);
    auto bytes = out.take();
    auto parsed = parse_preferred_video_codecs(bytes);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->codecs, (std::vector<uint8_t>{3, 1, 200}));  // unknown kept for the log
    // A count larger than the body: truncated.
    const std::vector<uint8_t> lying = {10, 1, 3};
    EXPECT_EQ(parse_preferred_video_codecs(lying).error(), ParseError::kTruncated);
    EXPECT_EQ(parse_preferred_video_codecs({}).error(), ParseError::kTruncated);
}

TEST(Messages, RangeChecks) {
    EXPECT_EQ(parse<MsgcMainMouseModeRequest>(bytes_of(MsgcMainMouseModeRequest{3})).error(),
              ParseError::kOutOfRange);
    EXPECT_EQ(parse<MsgcMousePress>(bytes_of(MsgcMousePress{0, 0})).error(),
              ParseError::kOutOfRange);
    EXPECT_EQ(parse<MsgcMousePress>(bytes_of(MsgcMousePress{200, 0})).error(),
              ParseError::kOutOfRange);
    EXPECT_EQ(parse<MsgcDisplayInit>(bytes_of(MsgcDisplayInit{1, -1, 1, 0})).error(),
              ParseError::kOutOfRange);
    EXPECT_EQ(parse<MsgcDisplayPreferredCompression>(bytes_of(MsgcDisplayPreferredCompression{0}))
                  .error(),
              ParseError::kOutOfRange);
    EXPECT_EQ(parse<MsgcDisplayPreferredCompression>(bytes_of(MsgcDisplayPreferredCompression{200}))
                  .error(),
              ParseError::kOutOfRange);
}

TEST(Messages, TrailingBytesAreAccepted) {
    auto bytes = bytes_of(MsgcKeyDown{0x1e});
    bytes.push_back(0xff);
    EXPECT_TRUE(parse<MsgcKeyDown>(bytes).has_value());
}

template <typename M, typename Parse>
void check_variable(const M& message, Parse parser) {
    ByteWriter out;
    marshal(message, out);
    auto bytes = out.take();
    auto back = parser(bytes);
    ASSERT_TRUE(back.has_value());
    ByteWriter again;
    marshal(*back, again);
    EXPECT_EQ(again.buffer(), bytes);
    for (size_t n = 0; n < bytes.size(); ++n) {
        EXPECT_FALSE(parser(std::span(bytes.data(), n)).has_value()) << "prefix " << n;
    }
}

TEST(Messages, VariableLayoutsRoundTrip) {
    check_variable(MsgMainChannelsList{{{2, 0}, {3, 0}, {4, 0}}}, parse_channels_list);
    check_variable(MsgMainName{"vm-one"}, parse_main_name);
    check_variable(MsgDisplayMonitorsConfig{1, {{0, 0, 1920, 1080, 0, 0, 0}}},
                   parse_monitors_config);
    check_variable(MsgDisplayCopyBits{{0, Rect::MakeXYWH(10, 20, 300, 200)}, {10, 36}},
                   parse_copy_bits);
    check_variable(MsgDisplayDrawFill{{0, Rect::MakeXYWH(0, 0, 16, 16)}, 0x123456},
                   parse_draw_fill);
    check_variable(MsgDisplayInvalList{{{1, 99}, {1, 100}}}, parse_inval_list);
    CursorShape shape{5, 2, 2, 1, 1, {0xff000000, 0xffffffff, 0x80ff0000, 0}};
    check_variable(MsgCursorInit{{10, 20}, true, 0, shape}, parse_cursor_init);
    check_variable(MsgCursorSet{{-1, 5}, false, SPICE_CURSOR_FLAGS_CACHE_ME, shape},
                   parse_cursor_set);
    check_variable(MsgCursorSet{{0, 0}, true, SPICE_CURSOR_FLAGS_NONE, {}}, parse_cursor_set);
}

TEST(Messages, HugeCountsAreRejectedWithoutAllocating) {
    ByteWriter list;
    list.u32(0xffffffffu);
    EXPECT_EQ(parse_channels_list(list.buffer()).error(), ParseError::kTooLarge);
    ByteWriter monitors;
    monitors.u16(0xffff);
    monitors.u16(1);
    EXPECT_EQ(parse_monitors_config(monitors.buffer()).error(), ParseError::kTruncated);
    ByteWriter name;
    name.u32(0xffffffffu);
    EXPECT_EQ(parse_main_name(name.buffer()).error(), ParseError::kTruncated);
    ByteWriter cursor;  // a 65535x65535 cursor announced in 30 bytes
    cursor.u16(0);
    cursor.u16(0);
    cursor.u8(1);
    cursor.u16(0);
    cursor.u64(1);
    cursor.u8(SPICE_CURSOR_TYPE_ALPHA);
    cursor.u16(0xffff);
    cursor.u16(0xffff);
    cursor.u16(0);
    cursor.u16(0);
    EXPECT_FALSE(parse_cursor_set(cursor.buffer()).has_value());
}

TEST(Messages, DrawCopyHeadPointsAtTheImage) {
    ByteWriter out;
    ImageDescriptor image{42, SPICE_IMAGE_TYPE_BITMAP, 0, 4, 3};
    write_draw_copy_head(out, {0, Rect::MakeXYWH(5, 6, 4, 3)}, Rect::MakeXYWH(0, 0, 4, 3), image);
    out.bytes(std::string_view("BODY"));
    auto parsed = parse_draw_copy(out.buffer());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->base.box, Rect::MakeXYWH(5, 6, 4, 3));
    EXPECT_EQ(parsed->src_area, Rect::MakeXYWH(0, 0, 4, 3));
    EXPECT_EQ(parsed->rop, SPICE_ROPD_OP_PUT);
    EXPECT_EQ(parsed->image, image);
    EXPECT_EQ(std::string(parsed->image_body.begin(), parsed->image_body.end()), "BODY");
    // 21 bytes of DisplayBase + 36 of Copy put the image at offset 57.
    EXPECT_EQ(load_u32_le(out.buffer().data() + 21), 57u);
}

TEST(Messages, KeyCodes) {
    auto a = decode_key_code(0x1e, false);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->scancode, 0x1e);
    EXPECT_TRUE(a->down);
    auto a_up = decode_key_code(0x9e, true);
    ASSERT_TRUE(a_up.has_value());
    EXPECT_EQ(a_up->scancode, 0x1e);
    EXPECT_FALSE(a_up->down);
    auto right_ctrl = decode_key_code(0x1de0, false);  // spice-gtk's form of E0 1D
    ASSERT_TRUE(right_ctrl.has_value());
    EXPECT_EQ(right_ctrl->scancode, 0x11d);
    EXPECT_FALSE(decode_key_code(0x10000, false).has_value());
    EXPECT_FALSE(decode_key_code(0x1e1e, false).has_value());
    EXPECT_FALSE(decode_key_code(0, false).has_value());

    const uint8_t bytes[] = {0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8};
    auto keys = decode_scancode_bytes(bytes);
    ASSERT_TRUE(keys.has_value());
    ASSERT_EQ(keys->size(), 4u);
    EXPECT_EQ((*keys)[2].scancode, 0x148);
    EXPECT_TRUE((*keys)[2].down);
    EXPECT_FALSE((*keys)[3].down);
    const uint8_t dangling[] = {0xe0};
    EXPECT_FALSE(decode_scancode_bytes(dangling).has_value());
}

TEST(Messages, RandomBytesNeverCrashParsers) {
    std::mt19937 rng(1234);
    for (int i = 0; i < 20000; ++i) {
        std::vector<uint8_t> bytes(rng() % 64);
        for (auto& b : bytes) b = uint8_t(rng());
        (void)parse_channels_list(bytes);
        (void)parse_main_name(bytes);
        (void)parse_monitors_config(bytes);
        (void)parse_copy_bits(bytes);
        (void)parse_draw_fill(bytes);
        (void)parse_draw_copy(bytes);
        (void)parse_inval_list(bytes);
        (void)parse_cursor_init(bytes);
        (void)parse_cursor_set(bytes);
        (void)decode_scancode_bytes(bytes);
        (void)parse<MsgcMousePosition>(bytes);
        (void)parse<MsgcDisplayInit>(bytes);
        (void)parse<MsgcDisplayStreamReport>(bytes);
        (void)parse_preferred_video_codecs(bytes);
        (void)parse_stream_create(bytes);
        (void)parse_stream_data(bytes, i % 2 == 0);
        (void)parse_stream_clip(bytes);
    }
}

}  // namespace
}  // namespace spiced
