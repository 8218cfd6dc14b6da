#include "virgl/virgl_source.h"

#include <algorithm>

#include "base/log.h"

namespace spiced {

Expected<std::unique_ptr<VirglSource>, std::string> VirglSource::create(VirglSourceConfig config) {
    auto scene = virgl::Scene::create(config.size);
    if (!scene) return unexpected(scene.error());
    return std::unique_ptr<VirglSource>(new VirglSource(std::move(config), std::move(*scene)));
}

VirglSource::VirglSource(VirglSourceConfig config, std::unique_ptr<virgl::Scene> scene)
    : config_(std::move(config)),
      scene_(std::move(scene)),
      pool_(scene_->size()),
      epoch_(now()),
      frame_period_(std::chrono::nanoseconds(1'000'000'000 / std::clamp(config_.fps, 1, 1000))) {}

VirglSource::~VirglSource() {
    stop_timer();
}

void VirglSource::start(DisplaySink& sink) {
    sink_ = &sink;
    DisplayLayout layout;
    layout.surface = scene_->size();
    layout.heads.push_back({0, Rect::MakeSize(scene_->size())});
    sink_->set_layout(0, std::move(layout));
    sink_->hide_cursor(0);
    render();  // frame 0 exists before anyone watches
}

std::chrono::steady_clock::time_point VirglSource::now() const {
    return config_.clock ? config_.clock() : std::chrono::steady_clock::now();
}

int64_t VirglSource::clock_index() const {
    int64_t index = (now() - epoch_) / frame_period_;
    if (config_.freeze_at) index = std::min(index, *config_.freeze_at);
    return index;
}

void VirglSource::render() {
    if (failed_) return;
    const int64_t index = clock_index();
    const bool just_froze = !frozen_ && config_.freeze_at && index >= *config_.freeze_at;
    if (just_froze) {
        frozen_ = true;
        LOG_INFO("display", "virgl source frozen at frame %lld", static_cast<long long>(index));
        stop_timer();
    }
    std::unique_ptr<Frame> frame = pool_.take();
    FrameSubmission submission;
    if (auto rendered = scene_->render(index, *frame, submission.changed); !rendered) {
        // The library refused what it took before: nothing will change that; keep the last
        // picture.
        LOG_ERROR("virgl", "rendering frame %lld failed, the picture stays as it is: %s",
                  static_cast<long long>(index), rendered.error().c_str());
        failed_ = true;
        stop_timer();
        return;
    }
    index_ = index;
    submission.frame = pool_.publish(std::move(frame));
    submission.still = just_froze;
    sink_->submit_frame(0, std::move(submission));
}

void VirglSource::tick() {
    if (clock_index() == index_) return;
    render();
}

void VirglSource::start_timer() {
    if (timer_ != 0 || frozen_ || failed_) return;
    timer_ = sink_->loop().every(frame_period_, [this] { tick(); });
}

void VirglSource::stop_timer() {
    if (timer_ == 0 || sink_ == nullptr) return;
    sink_->loop().cancel(timer_);
    timer_ = 0;
}

void VirglSource::set_watched(bool watched) {
    if (watched == watched_) return;
    watched_ = watched;
    if (!watched) {
        stop_timer();
        return;
    }
    if (clock_index() != index_) render();
    start_timer();
}

void VirglSource::sync_keyboard_leds(uint32_t leds) {
    // No keyboard of its own: echo what the client says, so its LEDs stay as they are.
    if (sink_ != nullptr) sink_->set_keyboard_leds(leds & 7u);
}

}  // namespace spiced
