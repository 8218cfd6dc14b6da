// libFuzzer: the demo's built-in agent with whatever VDAgent messages hostile clients send:
// several clients, any message type, any bytes, interleaved with the desktop's own Ctrl+C /
// Ctrl+V and clients leaving. It must answer or log, never crash, over-read or grow without
// bound (a client's file transfers are capped and hold no file data).
//
// Input: a sequence of [u8 op][u8 client][u8 type][u16 length][length bytes].
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "demo/demo_agent.h"
#include "io/reactor.h"

using namespace spiced;

namespace {

// A sink that only counts what the agent sends (the agent uses nothing else of it).
class CountingSink final : public DisplaySink {
public:
    void set_layout(uint32_t, DisplayLayout) override {}
    void submit_frame(uint32_t, FrameSubmission) override {}
    void set_cursor_shape(uint32_t, std::shared_ptr<const PointerShape>) override {}
    void move_cursor(uint32_t, Point) override {}
    void hide_cursor(uint32_t) override {}
    void set_keyboard_leds(uint32_t) override {}
    void capabilities_changed() override {}
    void send_agent_message(ClientId, uint32_t, std::vector<uint8_t> data) override {
        sent_bytes += data.size();
    }
    Reactor& loop() override { __builtin_trap(); }  // the agent never schedules anything

    size_t sent_bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CountingSink sink;
    size_t pasted = 0;
    DemoAgent::Hooks hooks;
    hooks.paste = [&](std::string_view text) {
        pasted += text.size();
        return text.size();
    };
    hooks.file_received = [](std::string_view) {};
    DemoAgent agent(sink, std::move(hooks));
    size_t at = 0;
    while (at + 5 <= size) {
        const uint8_t op = data[at];
        const ClientId client = data[at + 1] % 4;  // 0 is "every client": a legal sender too
        const uint32_t type = data[at + 2] % 20;   // every VD_AGENT_* type and a few unknown
        const size_t length = size_t(data[at + 3]) | size_t(data[at + 4]) << 8;
        at += 5;
        const std::span<const uint8_t> body(data + at, std::min(length, size - at));
        at += body.size();
        switch (op % 8) {
            case 0:
                agent.copy(std::string(reinterpret_cast<const char*>(body.data()), body.size()));
                break;
            case 1:
                agent.paste();
                break;
            case 2:
                agent.client_gone(client);
                break;
            case 3:
                agent.monitors_config_reply(client, body.empty());
                break;
            default:
                agent.on_message(client, type, body);
                break;
        }
    }
    return 0;
}
