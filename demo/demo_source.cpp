#include "demo/demo_source.h"

#include <algorithm>

#include "base/log.h"
#include "demo/demo_agent.h"
#include "demo/keymap.h"

namespace spiced {

namespace {
// The smallest head the demo lays out (DemoConfig's minimum) and the largest side one head may
// have; a client asking for less gets the minimum, for more is refused.
constexpr Size kMinHead{320, 240};
constexpr int32_t kMaxHeadSide = 8192;

std::shared_ptr<const PointerShape> make_shape(DemoCursor cursor) {
    auto shape = std::make_shared<PointerShape>();
    // Cache ids are the shape number + 1 (0 is not used as an id).
    shape->id = uint64_t(cursor) + 1;
    shape->image = DemoDesktop::cursor_image(cursor);
    return shape;
}
}  // namespace

DemoSource::DemoSource(DemoSourceConfig config)
    : config_(std::move(config)),
      epoch_(now()),
      frame_period_(std::chrono::nanoseconds(1'000'000'000 / std::max(config_.fps, 1))) {
    config_.heads = std::clamp<uint32_t>(config_.heads, 1, kMaxHeads);
    for (uint32_t i = 0; i < config_.heads; ++i) {
        Head head;
        head.size = {std::max(config_.head_size.width, kMinHead.width),
                     std::max(config_.head_size.height, kMinHead.height)};
        head.desktop = std::make_unique<DemoDesktop>(DemoConfig{head.size, config_.seed + i});
        heads_.push_back(std::move(head));
    }
    layouts_.resize(display_channels());
    for (size_t i = 0; i < layouts_.size(); ++i)
        pools_.push_back(std::make_unique<FramePool>(Size{}));
    cursor_shapes_[0] = make_shape(DemoCursor::kArrow);
    cursor_shapes_[1] = make_shape(DemoCursor::kText);
    pointer_ = {heads_[0].size.width / 2, heads_[0].size.height / 2};
}

DemoSource::~DemoSource() {
    stop_timer();
}

uint32_t DemoSource::display_channels() const {
    return config_.model == MonitorModel::kOneSurface ? 1 : config_.heads;
}

uint32_t DemoSource::max_heads() const {
    return config_.model == MonitorModel::kOneSurface ? kMaxHeads : config_.heads;
}

void DemoSource::start(DisplaySink& sink) {
    sink_ = &sink;
    DemoAgent::Hooks hooks;
    hooks.paste = [this](std::string_view text) {
        const size_t typed = focused().desktop->type_text(text);
        schedule_render();
        return typed;
    };
    hooks.file_received = [this](std::string_view line) {
        // Every head lists it: the user may look at any of them.
        for (Head& head : heads_) head.desktop->add_received_file(line);
        schedule_render();
    };
    agent_ = std::make_unique<DemoAgent>(sink, std::move(hooks));
    lay_out(/*publish_all=*/true);
    sink_->set_keyboard_leds(focused().desktop->keyboard_leds());
    // Frame 0 exists before anyone watches, so the first client has a picture at once.
    render();
    update_cursor(/*typing=*/false);
}

// ---- Layout --------------------------------------------------------------------------------

void DemoSource::lay_out(bool publish_all) {
    std::vector<DisplayLayout> next(layouts_.size());
    if (config_.model == MonitorModel::kOneSurface) {
        // Side by side, left to right in monitor order, tops aligned (what spice-gtk shows
        // as the layout of a QXL guest's monitors).
        int32_t x = 0;
        for (uint32_t i = 0; i < heads_.size(); ++i) {
            Head& head = heads_[i];
            if (!head.enabled) continue;
            head.display = 0;
            head.rect = Rect::MakeXYWH(x, 0, head.size.width, head.size.height);
            next[0].heads.push_back({i, head.rect});  // the monitor id is the head number
            next[0].surface.width = x + head.size.width;
            next[0].surface.height = std::max(next[0].surface.height, head.size.height);
            x += head.size.width;
        }
    } else {
        for (uint32_t i = 0; i < heads_.size(); ++i) {
            Head& head = heads_[i];
            head.display = i;
            head.rect = Rect::MakeSize(head.size);
            if (!head.enabled) continue;
            next[i].surface = head.size;
            next[i].heads.push_back({0, head.rect});
        }
    }
    for (uint32_t d = 0; d < next.size(); ++d) {
        if (!publish_all && next[d] == layouts_[d]) continue;
        layouts_[d] = std::move(next[d]);
        pools_[d]->resize(layouts_[d].surface);
        sink_->set_layout(d, layouts_[d]);
    }
}

void DemoSource::request_monitors(ClientId from, std::span<const MonitorRequest> monitors) {
    // Apply on a copy, so a refused request changes nothing. A monitors config is the whole
    // wanted layout (as a guest agent applies it): heads it does not list are switched off.
    std::vector<bool> enabled(heads_.size(), false);
    std::vector<Size> sizes(heads_.size());
    for (size_t i = 0; i < heads_.size(); ++i) sizes[i] = heads_[i].size;
    std::string refused;
    for (const MonitorRequest& monitor : monitors) {
        if (monitor.index >= max_heads()) {
            // A client may list monitors beyond ours as switched off.
            if (!monitor.enabled) continue;
            refused = "monitor " + std::to_string(monitor.index) + " is beyond the " +
                      std::to_string(max_heads()) + " this desktop can have";
            break;
        }
        if (!monitor.enabled) {
            if (monitor.index < enabled.size()) enabled[monitor.index] = false;
            continue;
        }
        const Size size = monitor.rect.size();
        if (size.width > kMaxHeadSide || size.height > kMaxHeadSide) {
            refused = "monitor " + std::to_string(monitor.index) + " of " +
                      std::to_string(size.width) + "x" + std::to_string(size.height) +
                      " is larger than " + std::to_string(kMaxHeadSide) + " pixels a side";
            break;
        }
        const Size wanted{std::max(size.width, kMinHead.width),
                          std::max(size.height, kMinHead.height)};
        if (monitor.index >= sizes.size()) {
            sizes.resize(monitor.index + 1, config_.head_size);
            enabled.resize(monitor.index + 1, false);
        }
        enabled[monitor.index] = true;
        sizes[monitor.index] = wanted;
    }
    int64_t pixels = 0;
    int32_t width = 0;
    int32_t height = 0;
    bool any = false;
    for (size_t i = 0; i < sizes.size() && refused.empty(); ++i) {
        if (!enabled[i]) continue;
        any = true;
        pixels += sizes[i].area();
        width += sizes[i].width;
        height = std::max(height, sizes[i].height);
    }
    if (refused.empty() && !any) refused = "every monitor switched off";
    if (refused.empty() && config_.model == MonitorModel::kOneSurface &&
        int64_t{width} * height > kMaxSurfacePixels)
        refused = "the monitors need a " + std::to_string(width) + "x" + std::to_string(height) +
                  " surface, more than " + std::to_string(kMaxSurfacePixels) + " pixels";
    if (refused.empty() && pixels > kMaxSurfacePixels)
        refused = "the monitors need more than " + std::to_string(kMaxSurfacePixels) + " pixels";
    if (!refused.empty()) {
        LOG_WARN("demo", "client %u: monitors config refused: %s", from, refused.c_str());
        agent_->monitors_config_reply(from, false);
        return;
    }
    bool changed = false;
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (i >= heads_.size()) {
            Head head;
            head.size = sizes[i];
            head.enabled = enabled[i];
            head.desktop = std::make_unique<DemoDesktop>(DemoConfig{head.size, config_.seed + i});
            head.desktop->set_keyboard_leds(focused().desktop->keyboard_leds());
            heads_.push_back(std::move(head));
            changed = true;
            continue;
        }
        Head& head = heads_[i];
        changed |= head.enabled != enabled[i];
        head.enabled = enabled[i];
        if (head.size == sizes[i]) continue;
        // A new size is a new desktop; the typed text and the keyboard carry over.
        auto resized = std::make_unique<DemoDesktop>(DemoConfig{sizes[i], config_.seed + i});
        resized->set_editor_text(head.desktop->editor_text());
        resized->set_keyboard_leds(head.desktop->keyboard_leds());
        head.desktop = std::move(resized);
        head.size = sizes[i];
        changed = true;
    }
    agent_->monitors_config_reply(from, true);
    if (!changed) return;
    if (!heads_[focus_].enabled) focus_ = 0;
    while (!heads_[focus_].enabled) ++focus_;  // `any` above: one head is on
    pointer_ = {std::clamp(pointer_.x, 0, focused().size.width - 1),
                std::clamp(pointer_.y, 0, focused().size.height - 1)};
    std::string sizes_text;
    for (const Head& head : heads_) {
        if (!head.enabled) continue;
        if (!sizes_text.empty()) sizes_text += ", ";
        sizes_text += std::to_string(head.size.width) + "x" + std::to_string(head.size.height);
    }
    LOG_INFO("demo", "client %u: monitors now %s", from, sizes_text.c_str());
    lay_out(/*publish_all=*/false);
    render();
    update_cursor(/*typing=*/false);
}

// ---- Rendering -----------------------------------------------------------------------------

std::chrono::steady_clock::time_point DemoSource::now() const {
    return config_.clock ? config_.clock() : std::chrono::steady_clock::now();
}

int64_t DemoSource::clock_index() const {
    const auto elapsed = now() - epoch_;
    int64_t index = elapsed / frame_period_;
    if (config_.freeze_at) index = std::min(index, *config_.freeze_at);
    return index;
}

void DemoSource::render() {
    render_scheduled_ = false;
    const int64_t index = clock_index();
    bool input_changed = false;
    for (Head& head : heads_) input_changed |= head.desktop->take_input_changed();
    const bool just_froze = !frozen_ && config_.freeze_at && index >= *config_.freeze_at;
    if (just_froze) {
        frozen_ = true;
        LOG_INFO("display", "demo frozen at frame %lld", static_cast<long long>(index));
        stop_timer();
    }
    index_ = index;
    for (uint32_t d = 0; d < layouts_.size(); ++d) {
        const DisplayLayout& layout = layouts_[d];
        if (layout.surface.is_empty()) continue;
        std::unique_ptr<Frame> frame = pools_[d]->take();
        FrameSubmission submission;
        for (Head& head : heads_) {
            if (!head.enabled || head.display != d) continue;
            // The head draws straight into its part of the display's surface.
            uint8_t* origin = frame->data() + size_t(head.rect.top()) * size_t(frame->stride()) +
                              size_t(head.rect.left()) * 4;
            auto view = Frame::wrap(origin, head.size, frame->stride(), nullptr);
            if (!view) continue;  // cannot happen: the rect lies inside the surface
            std::vector<MoveHint> moves;
            head.desktop->render(index, **view, moves);
            for (MoveHint& move : moves) {
                move.dest = move.dest.translated(head.rect.left(), head.rect.top());
                move.src = {move.src.x + head.rect.left(), move.src.y + head.rect.top()};
                submission.moves.push_back(move);
            }
            submission.changed.add_rect(head.rect);
        }
        submission.frame = pools_[d]->publish(std::move(frame));
        submission.still = just_froze;
        submission.input_changed = input_changed;
        sink_->submit_frame(d, std::move(submission));
    }
}

void DemoSource::schedule_render() {
    // Input re-renders a frozen or idle desktop; an animating one shows it on its next tick.
    if (!watched_ || render_scheduled_ || timer_ != 0) return;
    render_scheduled_ = true;
    sink_->loop().defer([this] {
        if (render_scheduled_) render();
    });
}

void DemoSource::tick() {
    bool input = false;
    for (const Head& head : heads_) input |= head.desktop->input_pending();
    if (clock_index() == index_ && !input) return;
    render();
}

void DemoSource::start_timer() {
    if (timer_ != 0 || frozen_) return;
    timer_ = sink_->loop().every(frame_period_, [this] { tick(); });
}

void DemoSource::stop_timer() {
    if (timer_ == 0 || sink_ == nullptr) return;
    sink_->loop().cancel(timer_);
    timer_ = 0;
}

void DemoSource::set_watched(bool watched) {
    if (watched == watched_) return;
    watched_ = watched;
    if (!watched) {
        stop_timer();
        render_scheduled_ = false;
        return;
    }
    // The clock ran on while nobody watched: show where it is now.
    if (clock_index() != index_ || !frozen_) render();
    start_timer();
}

// ---- Input ---------------------------------------------------------------------------------

void DemoSource::pointer_to(uint32_t head, Point local) {
    focus_ = head;
    pointer_ = local;
}

void DemoSource::update_cursor(bool typing) {
    const Head& head = heads_[focus_];
    const Point on_display{pointer_.x + head.rect.left(), pointer_.y + head.rect.top()};
    if (typing) {
        // Like most desktops, hide the pointer while the user types into the editor.
        sink_->hide_cursor(head.display);
        return;
    }
    cursor_shape_ = head.desktop->cursor_at(pointer_);
    sink_->set_cursor_shape(head.display, cursor_shapes_[size_t(cursor_shape_)]);
    sink_->move_cursor(head.display, on_display);
}

void DemoSource::announce_leds(uint32_t leds) {
    for (Head& head : heads_) head.desktop->set_keyboard_leds(leds);
    sink_->set_keyboard_leds(leds);
}

void DemoSource::key_event(uint16_t scancode, bool down) {
    const DemoShortcut shortcut = focused().desktop->key_event(scancode, down);
    announce_leds(focused().desktop->keyboard_leds());
    if (down && scancode_to_ascii(scancode, false, false) != 0 && shortcut == DemoShortcut::kNone)
        update_cursor(/*typing=*/true);
    handle_shortcut(shortcut);
    schedule_render();
}

void DemoSource::handle_shortcut(DemoShortcut shortcut) {
    switch (shortcut) {
        case DemoShortcut::kCopy:
            agent_->copy(focused().desktop->editor_last_line());
            break;
        case DemoShortcut::kPaste:
            agent_->paste();
            break;
        case DemoShortcut::kNone:
            break;
    }
}

void DemoSource::sync_keyboard_leds(uint32_t leds) {
    announce_leds(leds & 7u);
    schedule_render();
}

void DemoSource::pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) {
    // Clients number monitors as we number heads, and send positions relative to the head.
    if (monitor >= heads_.size() || !heads_[monitor].enabled) return;
    const Size size = heads_[monitor].size;
    pointer_to(monitor, {std::clamp(position.x, 0, size.width - 1),
                         std::clamp(position.y, 0, size.height - 1)});
    focused().desktop->pointer_moved(pointer_, buttons_mask);
    update_cursor(/*typing=*/false);
    schedule_render();
}

void DemoSource::pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) {
    // Clamp the deltas first so hostile values can't overflow; the pointer stays on its head.
    const Size size = focused().size;
    pointer_ = {std::clamp(pointer_.x + std::clamp(dx, -100000, 100000), 0, size.width - 1),
                std::clamp(pointer_.y + std::clamp(dy, -100000, 100000), 0, size.height - 1)};
    focused().desktop->pointer_moved(pointer_, buttons_mask);
    update_cursor(/*typing=*/false);
    schedule_render();
}

void DemoSource::button_event(int button, bool down) {
    focused().desktop->button_event(button, down, pointer_);
    schedule_render();
}

// ---- Agent ---------------------------------------------------------------------------------

void DemoSource::agent_message(ClientId from, uint32_t type, std::span<const uint8_t> data,
                               std::function<void()> taken) {
    agent_->on_message(from, type, data);
    taken();  // the built-in agent handles it at once
}

void DemoSource::client_gone(ClientId id) {
    agent_->client_gone(id);
}

}  // namespace spiced
