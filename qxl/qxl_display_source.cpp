#include "qxl/qxl_display_source.h"

#include <spice/enums.h>

#include "io/reactor.h"

namespace spiced::qxl {

void PublishRelay::notify(size_t index) {
    std::lock_guard lock(mutex_);
    while (posted_.size() <= index) posted_.push_back(std::make_unique<std::atomic<bool>>(false));
    if (!loop_) return;  // the source takes everything when it starts
    // One drain in flight per device: a busy worker publishes far more often than the desktop
    // thread needs waking.
    if (posted_[index]->exchange(true)) return;
    loop_->post([this, index] {
        posted_[index]->store(false);
        std::function<void(size_t)> drain;
        {
            std::lock_guard inner(mutex_);
            drain = drain_;
        }
        if (drain) drain(index);
    });
}

void PublishRelay::attach(Reactor* loop, std::function<void(size_t)> drain) {
    std::lock_guard lock(mutex_);
    loop_ = loop;
    drain_ = std::move(drain);
}

void PublishRelay::detach() {
    std::lock_guard lock(mutex_);
    loop_ = nullptr;
    drain_ = nullptr;
}

QxlDisplaySource::QxlDisplaySource(std::vector<QxlDevice*> devices,
                                   std::shared_ptr<PublishRelay> relay, GuestInput& input)
    : devices_(std::move(devices)), relay_(std::move(relay)), input_(input) {
    layouts_.resize(display_channels());
}

QxlDisplaySource::~QxlDisplaySource() {
    relay_->detach();
}

MonitorModel QxlDisplaySource::monitor_model() const {
    return devices_.size() > 1 ? MonitorModel::kChannelPerHead : MonitorModel::kOneSurface;
}

uint32_t QxlDisplaySource::display_channels() const {
    // Without any display device the client still gets a display channel, with no surface.
    return std::clamp<uint32_t>(uint32_t(devices_.size()), 1, kMaxHeads);
}

uint32_t QxlDisplaySource::max_heads() const {
    return devices_.size() > 1 ? display_channels() : kMaxHeads;
}

void QxlDisplaySource::start(DisplaySink& sink) {
    sink_ = &sink;
    for (uint32_t display = 0; display < display_channels(); ++display)
        sink.set_layout(display, DisplayLayout{});
    relay_->attach(&sink.loop(), [this](size_t index) { drain(index); });
    for (size_t i = 0; i < devices_.size(); ++i) drain(i);
}

void QxlDisplaySource::drain(size_t index) {
    if (!sink_ || index >= devices_.size()) return;
    DeviceMailbox mailbox = devices_[index]->take_mailbox();
    const auto display = uint32_t(index);
    if (mailbox.layout_changed && mailbox.layout != layouts_[index]) {
        layouts_[index] = mailbox.layout;
        sink_->set_layout(display, mailbox.layout);
        if (index == 0 && !mailbox.layout.surface.is_empty())
            input_.set_tablet_size(mailbox.layout.surface);
    }
    if (mailbox.frame && !layouts_[index].surface.is_empty() &&
        mailbox.frame->size() == layouts_[index].surface) {
        FrameSubmission submission;
        submission.frame = std::move(mailbox.frame);
        submission.changed = std::move(mailbox.damage);
        submission.moves = std::move(mailbox.moves);
        submission.exact = true;
        sink_->submit_frame(display, std::move(submission));
    }
    if (mailbox.cursor_changed) {
        if (mailbox.cursor_visible && mailbox.cursor_shape) {
            sink_->set_cursor_shape(display, mailbox.cursor_shape);
            sink_->move_cursor(display, mailbox.cursor_position);
        } else {
            sink_->hide_cursor(display);
        }
    }
}

void QxlDisplaySource::pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) {
    buttons_ = buttons_mask;
    // Clients give the position on the monitor; the tablet covers the whole primary surface.
    const DisplayLayout& layout = layouts_.front();
    for (const Head& head : layout.heads) {
        if (head.monitor == monitor) {
            position.x += head.rect.left();
            position.y += head.rect.top();
            break;
        }
    }
    input_.absolute(position, buttons_mask);
}

void QxlDisplaySource::pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) {
    buttons_ = buttons_mask;
    input_.relative(dx, dy, 0, buttons_mask);
}

void QxlDisplaySource::button_event(int button, bool down) {
    uint32_t bit = 0;
    switch (button) {
        case SPICE_MOUSE_BUTTON_LEFT:
            bit = SPICE_MOUSE_BUTTON_MASK_LEFT;
            break;
        case SPICE_MOUSE_BUTTON_MIDDLE:
            bit = SPICE_MOUSE_BUTTON_MASK_MIDDLE;
            break;
        case SPICE_MOUSE_BUTTON_RIGHT:
            bit = SPICE_MOUSE_BUTTON_MASK_RIGHT;
            break;
        case SPICE_MOUSE_BUTTON_UP:
        case SPICE_MOUSE_BUTTON_DOWN:
            // A wheel notch is its press; the release says nothing.
            if (down) input_.wheel(button == SPICE_MOUSE_BUTTON_UP ? -1 : 1, buttons_);
            return;
        default:
            return;
    }
    buttons_ = down ? (buttons_ | bit) : (buttons_ & ~bit);
    input_.buttons(buttons_);
}

void QxlDisplaySource::request_monitors(ClientId, std::span<const MonitorRequest> monitors) {
    input_.request_monitors(0, monitors);
}

void QxlDisplaySource::keyboard_leds(uint32_t leds) {
    if (sink_) sink_->set_keyboard_leds(leds);
}

void QxlDisplaySource::agent_from_guest(uint32_t type, std::vector<uint8_t> data) {
    if (sink_) sink_->send_agent_message(0, type, std::move(data));
}

void QxlDisplaySource::input_changed() {
    if (sink_) sink_->capabilities_changed();
}

}  // namespace spiced::qxl
