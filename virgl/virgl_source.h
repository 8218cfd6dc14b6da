// VirglSource: a display source whose pixels virglrenderer renders (virgl/scene.h), for tests
// and benchmarks of the GPU-rendered path without a guest: one head, one surface, no agent, no
// input. Like the demo it renders at its frame rate only while watched, with a clock that runs
// on meanwhile, and it can freeze at a frame (--demo-freeze) for pixel-exact tests.
//
// create() starts virglrenderer on the calling thread, so a server asked for this source
// refuses to start with the library's reason; everything else runs on the desktop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "display/frame_pool.h"
#include "display/source.h"
#include "io/reactor.h"
#include "virgl/scene.h"

namespace spiced {

struct VirglSourceConfig {
    Size size{1920, 1080};
    std::optional<int64_t> freeze_at;
    int fps = 30;
    // Empty: steady_clock (see DemoSourceConfig::clock).
    std::function<std::chrono::steady_clock::time_point()> clock;
};

class VirglSource final : public DisplaySource {
public:
    static Expected<std::unique_ptr<VirglSource>, std::string> create(VirglSourceConfig config);
    ~VirglSource() override;

    const std::string& description() const { return scene_->description(); }

    MonitorModel monitor_model() const override { return MonitorModel::kOneSurface; }
    uint32_t display_channels() const override { return 1; }
    uint32_t max_heads() const override { return 1; }
    void start(DisplaySink& sink) override;
    void set_watched(bool watched) override;

    bool absolute_pointer() const override { return false; }
    void key_event(uint16_t, bool) override {}
    void sync_keyboard_leds(uint32_t leds) override;
    void pointer_position(uint32_t, Point, uint32_t) override {}
    void pointer_motion(int32_t, int32_t, uint32_t) override {}
    void button_event(int, bool) override {}
    void request_monitors(ClientId, std::span<const MonitorRequest>) override {}
    bool has_agent() const override { return false; }
    void agent_message(ClientId, uint32_t, std::span<const uint8_t>,
                       std::function<void()> taken) override {
        taken();
    }
    void client_gone(ClientId) override {}

    // Renders the clock's frame if the clock moved on (the frame timer calls it).
    void tick();
    int64_t frame_index() const { return index_; }

private:
    VirglSource(VirglSourceConfig config, std::unique_ptr<virgl::Scene> scene);
    void render();
    int64_t clock_index() const;
    std::chrono::steady_clock::time_point now() const;
    void start_timer();
    void stop_timer();

    VirglSourceConfig config_;
    std::unique_ptr<virgl::Scene> scene_;
    DisplaySink* sink_ = nullptr;
    FramePool pool_;
    std::chrono::steady_clock::time_point epoch_;
    std::chrono::nanoseconds frame_period_;
    Reactor::Id timer_ = 0;
    bool watched_ = false;
    bool frozen_ = false;
    bool failed_ = false;
    int64_t index_ = -1;
};

}  // namespace spiced
