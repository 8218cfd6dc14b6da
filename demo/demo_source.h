// DemoSource: the embedded demo desktop as a display source. It shows one DemoDesktop per head
// (up to 16), in either of SPICE's monitor models, renders at its frame rate only while someone
// watches (its clock runs on meanwhile, so a client that connects later sees the current
// frame), re-lays its heads out when a client asks for other monitors, and carries a built-in
// agent (clipboard both ways, file transfer) so every client feature works without a guest.
//
// The desktop thread only, like every DisplaySource.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "demo/demo_desktop.h"
#include "display/frame_pool.h"
#include "display/source.h"
#include "io/reactor.h"

namespace spiced {

class DemoAgent;

struct DemoSourceConfig {
    Size head_size{1920, 1080};  // every head starts at this size (at least 320x240)
    uint32_t heads = 1;          // --demo-monitors (1..16)
    MonitorModel model = MonitorModel::kOneSurface;
    uint64_t seed = 1;                 // head i uses seed + i
    std::optional<int64_t> freeze_at;  // --demo-freeze N
    int fps = 30;
    // The demo's clock (frame i shows at i / fps seconds after start); benchmarks inject one
    // that advances a frame per call. Empty: steady_clock.
    std::function<std::chrono::steady_clock::time_point()> clock;
};

class DemoSource final : public DisplaySource {
public:
    explicit DemoSource(DemoSourceConfig config);
    ~DemoSource() override;

    MonitorModel monitor_model() const override { return config_.model; }
    uint32_t display_channels() const override;
    uint32_t max_heads() const override;
    void start(DisplaySink& sink) override;
    void set_watched(bool watched) override;

    bool absolute_pointer() const override { return true; }
    void key_event(uint16_t scancode, bool down) override;
    void sync_keyboard_leds(uint32_t leds) override;
    void pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) override;
    void pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) override;
    void button_event(int button, bool down) override;
    void request_monitors(ClientId from, std::span<const MonitorRequest> monitors) override;

    bool has_agent() const override { return true; }
    void agent_message(ClientId from, uint32_t type, std::span<const uint8_t> data,
                       std::function<void()> taken) override;
    void client_gone(ClientId id) override;

    // Renders the clock's current frame if the clock moved on or input changed the picture.
    // The frame timer calls it while someone watches; benchmarks call it with their clock.
    void tick();

    // For tests: the heads as laid out now, and the frame index last rendered.
    const std::vector<DisplayLayout>& layouts() const { return layouts_; }
    int64_t frame_index() const { return index_; }

private:
    struct Head {
        std::unique_ptr<DemoDesktop> desktop;
        Size size;
        bool enabled = true;
        uint32_t display = 0;  // the display channel that shows it
        Rect rect;             // where on that display's surface
    };

    // Places the enabled heads on their displays and publishes the layouts of the displays
    // that changed.
    void lay_out(bool publish_all);
    // Renders every display at the clock's frame and submits it.
    void render();
    void schedule_render();
    std::chrono::steady_clock::time_point now() const;
    int64_t clock_index() const;
    void start_timer();
    void stop_timer();
    // The head under the pointer (the one keys go to).
    Head& focused() { return heads_[focus_]; }
    void pointer_to(uint32_t head, Point local);
    void update_cursor(bool typing);
    void announce_leds(uint32_t leds);
    void handle_shortcut(DemoShortcut shortcut);

    DemoSourceConfig config_;
    DisplaySink* sink_ = nullptr;
    std::vector<Head> heads_;
    std::vector<DisplayLayout> layouts_;  // per display channel
    std::vector<std::unique_ptr<FramePool>> pools_;
    std::unique_ptr<DemoAgent> agent_;
    std::chrono::steady_clock::time_point epoch_;
    std::chrono::nanoseconds frame_period_;
    Reactor::Id timer_ = 0;
    bool watched_ = false;
    bool render_scheduled_ = false;
    int64_t index_ = -1;
    bool frozen_ = false;
    // The pointer: on head focus_, at pointer_ in that head's coordinates.
    uint32_t focus_ = 0;
    Point pointer_{};
    DemoCursor cursor_shape_ = DemoCursor::kArrow;
    std::shared_ptr<const PointerShape> cursor_shapes_[2];
};

}  // namespace spiced
