#include "display/desktop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "base/log.h"
#include "base/service_thread.h"
#include "io/cpu_placement.h"
#include "pixels/ppm.h"

namespace spiced {

namespace {
// While a consumer's ring is full, the desktop offers its waiting update again this often.
constexpr auto kFeedRetryPeriod = std::chrono::milliseconds(5);
// While streams run, idle ones are looked for this often (a third of the default idle time).
constexpr auto kStreamTickPeriod = std::chrono::milliseconds(100);
// A stream's starting bit rate, per pixel and frame: x264 keeps the demo's video window at
// ~35 dB and its wireframe above 30 dB with 0.25 bit; MJPEG (every picture a key frame) needs
// 0.7 for the same (JPEG quality ~75 on libjpeg-turbo). Between 0.5 and 8 (H.264) or 20
// (MJPEG) Mbit/s; rate control moves it from there.
double start_bits_per_pixel(VideoCodec codec) {
    return codec == VideoCodec::kMjpeg ? 0.7 : 0.25;
}
uint32_t max_start_bitrate(VideoCodec codec) {
    return codec == VideoCodec::kMjpeg ? 20'000'000 : 8'000'000;
}
constexpr uint32_t kMinStartBitrate = 500'000;
// A stream quiet this long gets its last picture again, kFlushPictures times at most: decoders
// with frame threads (avdec_h264 on a multi-core client) show a picture only once later ones
// arrive, so without this the client would keep a picture that is one or more frames old.
constexpr auto kFlushAfter = std::chrono::milliseconds(50);
constexpr int kFlushPictures = 3;

bool layout_is_valid(const DisplayLayout& layout, std::string& why) {
    const Rect surface = Rect::MakeSize(layout.surface);
    if (layout.surface.width < 0 || layout.surface.height < 0) {
        why = "negative surface size";
        return false;
    }
    if (layout.surface.area() > kMaxSurfacePixels) {
        why = "surface larger than " + std::to_string(kMaxSurfacePixels) + " pixels";
        return false;
    }
    if (layout.heads.size() > kMaxHeads) {
        why = "more than " + std::to_string(kMaxHeads) + " heads";
        return false;
    }
    for (const Head& head : layout.heads) {
        if (head.rect.is_empty() || !surface.contains(head.rect)) {
            why = "a head outside its surface";
            return false;
        }
    }
    return true;
}
}  // namespace

// One display's diffing and streaming state.
struct Desktop::Screen {
    explicit Screen(const StreamPolicy& policy) : detector(policy) {}

    // Finds the damage of frames whose source gives only a hint; kept current with every
    // frame (exact ones too) so the next comparison is against what clients have.
    std::unique_ptr<gpu::DisplayCompositor> compositor;
    // The next frame is all damage: nothing was shown yet, or the surface was replaced.
    bool needs_full = true;

    StreamDetector detector;
    // One stream in one codec: the encoder is made at the first picture someone watches.
    struct Encoding {
        std::unique_ptr<VideoEncoder> encoder;
        std::optional<StreamRateControl> rate;
        bool failed = false;  // no backend opened: this codec shows the stream losslessly
        bool key_frame = true;
    };
    struct Stream {
        StreamInfo info;
        double fps = 0.0;
        std::map<VideoCodec, Encoding> encodings;
        std::chrono::steady_clock::time_point last_picture{};
        int flushes_left = 0;  // repeats of the last picture still owed (kFlushAfter)
    };
    std::vector<Stream> streams;
    // Display channels watching this display's streams, by codec.
    std::map<VideoCodec, int> video_watchers;
    // Frames submitted, and the one detection (re)started on.
    uint64_t frames = 0;
    uint64_t detecting_since = 0;
    bool detecting = false;

    bool video_watched() const {
        for (const auto& [codec, count] : video_watchers)
            if (count > 0) return true;
        return false;
    }
    Stream* stream(uint32_t id) {
        for (Stream& s : streams)
            if (s.info.id == id) return &s;
        return nullptr;
    }
};

Expected<std::unique_ptr<Desktop>, std::string> Desktop::create(
    std::unique_ptr<DisplaySource> source, DesktopOptions options, size_t consumers,
    std::vector<std::unique_ptr<FrameTap>> taps) {
    const uint32_t displays = source->display_channels();
    if (displays == 0 || displays > kMaxHeads)
        return unexpected("a source with " + std::to_string(displays) + " display channels");
    // Timers and posted tasks only: epoll serves that on any thread, so the loop can be
    // built here and run on the desktop's own thread.
    auto reactor = create_epoll_reactor({});
    if (!reactor) return unexpected("desktop event loop: " + reactor.error());
    auto desktop = std::unique_ptr<Desktop>(
        new Desktop(std::move(source), std::move(*reactor), std::move(options), consumers));
    // Taps watch for as long as they are installed (from the first frame on).
    desktop->taps_ = std::move(taps);
    desktop->watchers_ = int(desktop->taps_.size());
    // The source publishes its first layouts and frames now: that is the state consumers
    // start from, not an update.
    desktop->source_->start(*desktop);
    if (desktop->watchers_ > 0) desktop->source_->set_watched(true);
    desktop->next_ = DesktopUpdate{};
    desktop->next_.displays.resize(displays);
    return desktop;
}

Desktop::Desktop(std::unique_ptr<DisplaySource> source, std::unique_ptr<Reactor> reactor,
                 DesktopOptions options, size_t consumers)
    : reactor_(std::move(reactor)),
      source_(std::move(source)),
      options_(std::move(options)),
      model_(source_->monitor_model()),
      max_heads_(std::clamp<uint32_t>(source_->max_heads(), 1, kMaxHeads)),
      video_backends_(options_.video_backends) {
    for (size_t i = 0; i < consumers; ++i) feeds_.push_back(std::make_unique<Feed>());
    const uint32_t displays = source_->display_channels();
    if (!options_.gpu) options_.gpu = gpu::make_cpu_backend();
    for (uint32_t i = 0; i < displays; ++i) {
        screens_.push_back(std::make_unique<Screen>(options_.stream_policy));
        screens_.back()->compositor = make_compositor(i);
    }
    state_.displays.resize(displays);
    state_.client_mouse_allowed = client_mouse_allowed();
    state_.client_mouse_mode = state_.client_mouse_allowed;
    state_.agent_connected = source_->has_agent();
    next_.displays.resize(displays);
}

Desktop::~Desktop() {
    stop();
}

void Desktop::start(std::vector<int> cpus) {
    // A service thread takes no signals: they belong to the host's threads.
    thread_ = start_service_thread("spiced-desktop", [this, cpus = std::move(cpus)] {
        if (!cpus.empty()) {
            if (auto pinned = pin_current_thread(cpus); !pinned)
                LOG_WARN("display", "desktop thread: %s", pinned.error().c_str());
        }
        reactor_->run();
    });
}

void Desktop::stop() {
    if (!thread_.joinable()) return;
    reactor_->stop();
    thread_.join();
}

void Desktop::run_on_loop(std::function<void()> task) {
    reactor_->post(std::move(task));
}

bool Desktop::client_mouse_allowed() const {
    return options_.client_mouse_mode && source_->absolute_pointer();
}

// ---- DisplaySink ---------------------------------------------------------------------------

void Desktop::set_layout(uint32_t display, DisplayLayout layout) {
    if (display >= screens_.size()) return;
    std::string why;
    if (!layout_is_valid(layout, why)) {
        LOG_ERROR("display", "display %u: the source's layout is refused: %s", display,
                  why.c_str());
        return;
    }
    DisplayState& shown = state_.displays[display];
    shown.layout = std::move(layout);
    shown.frame = nullptr;
    ++shown.surface_generation;
    screens_[display]->needs_full = true;
    end_all_streams(display);
    DisplayChange replaced;
    replaced.surface_replaced = true;
    next_.displays[display].merge(std::move(replaced));
    schedule_publish();
}

std::unique_ptr<gpu::DisplayCompositor> Desktop::make_compositor(uint32_t display) {
    auto made = options_.gpu->create_compositor(options_.damage_tile);
    if (made) return std::move(*made);
    LOG_ERROR("display", "display %u: %s; finding damage on the CPU", display,
              made.error().c_str());
    return std::move(*gpu::make_cpu_backend()->create_compositor(kDamageTileSize));
}

Region Desktop::compose(uint32_t display, const FrameSubmission& submission, bool want_damage) {
    Screen& screen = *screens_[display];
    gpu::CompositionStep step;
    step.output_size = submission.frame->size();
    step.layers.push_back(gpu::Layer{submission.frame, submission.frame->rect(), Point{0, 0}});
    step.moves = submission.moves;
    step.hint = submission.changed;
    step.want_damage = want_damage;
    if (options_.scene_recorder) {
        if (auto recorded = options_.scene_recorder->record(display, step); !recorded) {
            LOG_ERROR("display", "scene recording stopped: %s", recorded.error().c_str());
            options_.scene_recorder.reset();
        }
    }
    auto damage = screen.compositor->compose(step);
    if (damage) return std::move(*damage);
    // A device that fails (lost, out of memory) is not retried: this display goes on on the
    // CPU, starting with a whole frame.
    LOG_ERROR("display", "display %u: compositor failed (%s); going on on the CPU", display,
              damage.error().c_str());
    screen.compositor = std::move(*gpu::make_cpu_backend()->create_compositor(kDamageTileSize));
    auto again = screen.compositor->compose(step);
    return again ? std::move(*again) : Region(submission.frame->rect());
}

void Desktop::submit_frame(uint32_t display, FrameSubmission submission) {
    if (display >= screens_.size() || !submission.frame) return;
    Screen& screen = *screens_[display];
    DisplayState& shown = state_.displays[display];
    const Frame& frame = *submission.frame;
    if (frame.size() != shown.layout.surface) {
        LOG_ERROR("display", "display %u: a %dx%d frame for a %dx%d surface is dropped", display,
                  frame.width(), frame.height(), shown.layout.surface.width,
                  shown.layout.surface.height);
        return;
    }
    const bool full = screen.needs_full || !shown.frame;
    DisplayChange change;
    change.frame_changed = true;
    Region found = compose(display, submission, !full && !submission.exact);
    if (full) {
        change.damage = Region(frame.rect());
    } else if (submission.exact) {
        change.damage = std::move(submission.changed);
        change.damage.intersect_with(frame.rect());
        change.moves = std::move(submission.moves);
    } else {
        change.damage = std::move(found);
        change.moves = std::move(submission.moves);
    }
    update_streams(display, frame, change);
    // The first frame of a replaced surface (not of the first one: that is start-up).
    const FrameNote note{submission.still, submission.input_changed,
                         screen.needs_full && shown.surface_generation > 1};
    screen.needs_full = false;
    shown.frame = std::move(submission.frame);
    next_.displays[display].merge(std::move(change));
    if (!taps_.empty()) {
        std::vector<TappedHead> heads;
        for (const Head& head : shown.layout.heads) {
            // Clients number heads by monitor id on one surface, by channel otherwise.
            heads.push_back(
                {model_ == MonitorModel::kOneSurface ? head.monitor : display, head.rect});
        }
        for (auto& tap : taps_) tap->on_frame(*shown.frame, heads, note);
    }
    schedule_publish();
}

void Desktop::set_cursor_shape(uint32_t display, std::shared_ptr<const PointerShape> shape) {
    if (display >= screens_.size() || !shape) return;
    CursorState& cursor = state_.displays[display].cursor;
    if (cursor.visible && cursor.shape && cursor.shape->id == shape->id) return;
    cursor.shape = std::move(shape);
    cursor.visible = true;
    next_.displays[display].cursor_reshaped = true;
    schedule_publish();
}

void Desktop::move_cursor(uint32_t display, Point position) {
    if (display >= screens_.size()) return;
    CursorState& cursor = state_.displays[display].cursor;
    if (cursor.visible && cursor.position == position) return;
    cursor.position = position;
    if (!cursor.visible) {
        // A hidden pointer that moves shows itself again, as desktops do.
        cursor.visible = cursor.shape != nullptr;
        next_.displays[display].cursor_reshaped = cursor.visible;
    } else if (!state_.client_mouse_mode) {
        // In client mode the client draws the pointer where its user put it.
        next_.displays[display].cursor_moved = true;
    }
    schedule_publish();
}

void Desktop::hide_cursor(uint32_t display) {
    if (display >= screens_.size()) return;
    CursorState& cursor = state_.displays[display].cursor;
    if (!cursor.visible) return;
    cursor.visible = false;
    next_.displays[display].cursor_hid = true;
    schedule_publish();
}

void Desktop::set_keyboard_leds(uint32_t leds) {
    if (leds == state_.keyboard_leds) return;
    state_.keyboard_leds = leds;
    next_.leds_changed = true;
    schedule_publish();
}

void Desktop::capabilities_changed() {
    const bool connected = source_->has_agent();
    if (connected != state_.agent_connected) {
        state_.agent_connected = connected;
        next_.agent_changed = true;
    }
    const bool allowed = client_mouse_allowed();
    if (allowed != state_.client_mouse_allowed) {
        // Without absolute positions everyone is in server mode; when they come back, clients
        // hear client mode is offered and ask for it (spice-gtk does so by itself).
        state_.client_mouse_allowed = allowed;
        if (!allowed) state_.client_mouse_mode = false;
        next_.mouse_mode_announced = true;
    }
    schedule_publish();
}

void Desktop::send_agent_message(ClientId to, uint32_t type, std::vector<uint8_t> data) {
    next_.agent_messages.push_back(
        {to, type, std::make_shared<const std::vector<uint8_t>>(std::move(data))});
    schedule_publish();
}

// ---- Streams --------------------------------------------------------------------------------

void Desktop::update_streams(uint32_t display, const Frame& frame, DisplayChange& change) {
    Screen& screen = *screens_[display];
    ++screen.frames;
    if (!options_.streaming || !screen.video_watched()) {
        // Nobody decodes video here: no detection, no encoders.
        if (!screen.streams.empty()) end_all_streams(display);
        screen.detecting = false;
        return;
    }
    if (!screen.detecting) {
        screen.detecting = true;
        screen.detecting_since = screen.frames;
    }
    const StreamEvents events = screen.detector.on_frame(std::chrono::steady_clock::now(), frame,
                                                         change.damage, change.moves);
    apply_stream_events(display, events);
    encode_streams(display, frame, change);
}

void Desktop::apply_stream_events(uint32_t display, const StreamEvents& events) {
    if (events.empty()) return;
    Screen& screen = *screens_[display];
    for (const DetectedStream& ended : events.ended) {
        std::erase_if(screen.streams,
                      [&](const Screen::Stream& s) { return s.info.id == ended.id; });
        LOG_INFO("display", "display %u: stream %u ended", display, ended.id);
    }
    for (const StreamChange& changed : events.changed) {
        Screen::Stream* stream = screen.stream(changed.stream.id);
        if (!stream) continue;
        const bool resized = changed.stream.rect.size() != stream->info.rect.size();
        LOG_INFO("display", "display %u: stream %u %s to %dx%d+%d+%d", display, changed.stream.id,
                 resized ? "resized" : "moved", changed.stream.rect.width(),
                 changed.stream.rect.height(), changed.stream.rect.left(),
                 changed.stream.rect.top());
        stream->info.rect = changed.stream.rect;
        stream->fps = changed.stream.fps;
        // A moved window keeps its encoder (the pictures are the same video); a resized one
        // starts again at its new size.
        if (resized) stream->encodings.clear();
    }
    for (const DetectedStream& started : events.started) {
        Screen::Stream stream;
        stream.info = {started.id, started.rect};
        stream.fps = started.fps;
        screen.streams.push_back(std::move(stream));
        // The frame count tells how soon detection caught it (bench/stream_bench.py reads it).
        LOG_INFO("display",
                 "display %u: stream %u started at %dx%d+%d+%d (%.0f fps) on frame %llu, the "
                 "%llu. since detection began",
                 display, started.id, started.rect.width(), started.rect.height(),
                 started.rect.left(), started.rect.top(), started.fps,
                 static_cast<unsigned long long>(screen.frames),
                 static_cast<unsigned long long>(screen.frames - screen.detecting_since + 1));
    }
    std::vector<StreamInfo>& shown = state_.displays[display].streams;
    shown.clear();
    for (const Screen::Stream& stream : screen.streams) shown.push_back(stream.info);
    DisplayChange streams_changed;
    streams_changed.streams_changed = true;
    next_.displays[display].merge(std::move(streams_changed));
    arm_stream_timer();
    schedule_publish();
}

void Desktop::encode_streams(uint32_t display, const Frame& frame, DisplayChange& change,
                             bool flush_quiet) {
    Screen& screen = *screens_[display];
    const auto now = std::chrono::steady_clock::now();
    for (Screen::Stream& stream : screen.streams) {
        bool key_requested = false;
        // Rate control may have lowered the frame rate below the cap.
        int fps = options_.max_stream_fps;
        for (auto& [codec, encoding] : stream.encodings) {
            key_requested |= encoding.key_frame && !encoding.failed && encoding.encoder;
            if (encoding.rate) fps = std::min(fps, encoding.rate->fps());
        }
        if (flush_quiet) {
            // A key frame someone asked for goes out even when nothing changes any more (a
            // client that skipped the last pictures would otherwise keep an old one).
            if (!key_requested) {
                if (stream.flushes_left == 0 || now - stream.last_picture < kFlushAfter) continue;
                --stream.flushes_left;
            } else {
                stream.flushes_left = kFlushPictures;  // the key frame must be shown too
            }
        } else {
            const auto interval = std::chrono::microseconds(1'000'000 / std::max(1, fps));
            if (!change.damage.intersects(stream.info.rect) && !key_requested) continue;
            if (now - stream.last_picture < interval && !key_requested) continue;
            stream.flushes_left = kFlushPictures;
        }
        stream.last_picture = now;
        const uint32_t stamp = options_.media_clock->now_ms() + kStreamPlayoutDelayMs;
        for (const auto& [codec, watchers] : screen.video_watchers) {
            if (watchers <= 0) continue;
            Screen::Encoding& encoding = stream.encodings[codec];
            if (encoding.failed) continue;
            if (!encoding.encoder) {
                VideoEncoderSettings settings;
                settings.size = stream.info.rect.size();
                settings.fps = std::clamp(int(std::lround(stream.fps)), 1, options_.max_stream_fps);
                settings.bitrate_bps = uint32_t(std::clamp(
                    start_bits_per_pixel(codec) * double(stream.info.rect.area()) * settings.fps,
                    double(kMinStartBitrate), double(max_start_bitrate(codec))));
                std::string note;
                auto made = create_video_encoder(codec, settings, video_backends_, &note);
                if (!made) {
                    LOG_ERROR("display", "display %u: stream %u: %s; it stays lossless", display,
                              stream.info.id, made.error().c_str());
                    encoding.failed = true;
                    continue;
                }
                encoding.encoder = std::move(*made);
                encoding.rate.emplace(settings.bitrate_bps, settings.fps);
                if (!backend_chosen_[codec]) {
                    // The choice is made once: later streams of this codec try the chosen
                    // backend first, without probing devices that are not there again.
                    backend_chosen_[codec] = true;
                    LOG_INFO("display", "%s", note.c_str());
                    prefer_backend(encoding.encoder->name());
                }
                LOG_INFO("display", "display %u: stream %u: %s %dx%d at %d fps, %u kbit/s", display,
                         stream.info.id, std::string(encoding.encoder->name()).c_str(),
                         settings.size.width, settings.size.height, settings.fps,
                         settings.bitrate_bps / 1000);
                encoding.key_frame = true;
            }
            // The compositor's output is `frame`: it converts to YUV where the frame lives.
            gpu::OutputPicture picture(frame, *screen.compositor);
            auto sent =
                encoding.encoder->send_picture(picture, stream.info.rect, encoding.key_frame);
            if (!sent) {
                LOG_ERROR("display", "display %u: stream %u: %s", display, stream.info.id,
                          sent.error().c_str());
                encoding.encoder.reset();
                encoding.failed = true;
                continue;
            }
            encoding.key_frame = false;
            while (true) {
                auto packet = encoding.encoder->receive_packet();
                if (!packet || !*packet) break;
                change.pictures.push_back({stream.info, codec, stamp,
                                           std::make_shared<const VideoPacket>(std::move(**packet)),
                                           now});
            }
        }
    }
}

void Desktop::stream_report(uint32_t display, uint32_t stream, VideoCodec codec,
                            StreamReportFigures figures) {
    run_on_loop([this, display, stream, codec, figures] {
        char why[160];
        std::snprintf(why, sizeof why, "%u of %u frames dropped, last %d ms %s", figures.num_drops,
                      figures.num_frames, std::abs(figures.last_frame_delay),
                      figures.last_frame_delay < 0 ? "late" : "early");
        steer_stream(
            display, stream, codec,
            [&](StreamRateControl& rate) {
                const auto verdict = rate.on_report(figures);
                uint64_t held_back = 0;
                if (verdict == StreamRateControl::Verdict::kRejected &&
                    report_log_limiter_.allow(held_back)) {
                    LOG_WARN("display",
                             "display %u: stream %u: absurd report ignored (%u drops of %u "
                             "frames over %u ms; %llu more held back)",
                             display, stream, figures.num_drops, figures.num_frames,
                             figures.end_frame_mm_time - figures.start_frame_mm_time,
                             static_cast<unsigned long long>(held_back));
                }
                return verdict;
            },
            why);
    });
}

void Desktop::stream_flow(uint32_t display, uint32_t stream, VideoCodec codec, bool congested,
                          uint32_t pictures_sent) {
    run_on_loop([this, display, stream, codec, congested, pictures_sent] {
        steer_stream(
            display, stream, codec,
            [&](StreamRateControl& rate) {
                return congested ? rate.on_congestion() : rate.on_pictures_sent(pictures_sent);
            },
            congested ? "the client's link is full" : "the client's link keeps up");
    });
}

void Desktop::steer_stream(
    uint32_t display, uint32_t stream, VideoCodec codec,
    const std::function<StreamRateControl::Verdict(StreamRateControl&)>& steer,
    const std::string& why) {
    if (display >= screens_.size()) return;
    Screen::Stream* s = screens_[display]->stream(stream);
    if (!s) return;  // ended meanwhile
    auto it = s->encodings.find(codec);
    if (it == s->encodings.end() || !it->second.encoder || !it->second.rate) return;
    Screen::Encoding& encoding = it->second;
    const auto verdict = steer(*encoding.rate);
    if (verdict == StreamRateControl::Verdict::kRejected ||
        verdict == StreamRateControl::Verdict::kUnchanged)
        return;
    encoding.encoder->set_rate(encoding.rate->bitrate_bps(), encoding.rate->fps());
    // Clients drive these lines: a few a second at most, the rest counted.
    uint64_t held_back = 0;
    if (!rate_log_limiter_.allow(held_back)) return;
    LOG_INFO("display",
             "display %u: stream %u (%s): %s: %s to %u kbit/s, %d fps (%llu more "
             "changes not logged)",
             display, stream, std::string(to_string(codec)).c_str(), why.c_str(),
             verdict == StreamRateControl::Verdict::kLowered ? "lowered" : "raised",
             encoding.rate->bitrate_bps() / 1000, encoding.rate->fps(),
             static_cast<unsigned long long>(held_back));
}

void Desktop::prefer_backend(std::string_view name) {
    auto chosen = std::find_if(video_backends_.begin(), video_backends_.end(),
                               [&](const VideoBackend& b) { return b.name == name; });
    if (chosen != video_backends_.end()) std::rotate(video_backends_.begin(), chosen, chosen + 1);
}

void Desktop::end_all_streams(uint32_t display) {
    Screen& screen = *screens_[display];
    const StreamEvents events = screen.detector.reset();
    if (screen.streams.empty() && events.empty()) return;
    screen.streams.clear();
    state_.displays[display].streams.clear();
    DisplayChange streams_changed;
    streams_changed.streams_changed = true;
    next_.displays[display].merge(std::move(streams_changed));
    schedule_publish();
}

void Desktop::arm_stream_timer() {
    if (stream_timer_ != 0) return;
    stream_timer_ = reactor_->every(kStreamTickPeriod, [this] {
        bool any = false;
        for (uint32_t display = 0; display < screens_.size(); ++display) {
            Screen& screen = *screens_[display];
            if (screen.streams.empty()) continue;
            apply_stream_events(display, screen.detector.on_tick(std::chrono::steady_clock::now()));
            any |= !screen.streams.empty();
            // Streams that went quiet get their last picture again, so decoders that hold
            // pictures back (frame threads) show the last one while the stream lives on.
            if (const auto& frame = state_.displays[display].frame;
                frame && !screen.streams.empty()) {
                DisplayChange flush;
                encode_streams(display, *frame, flush, true);
                if (!flush.pictures.empty()) {
                    next_.displays[display].merge(std::move(flush));
                    schedule_publish();
                }
            }
        }
        if (!any) {
            reactor_->cancel(stream_timer_);
            stream_timer_ = 0;
        }
    });
}

void Desktop::watch_video(uint32_t display, VideoCodec codec, int delta) {
    run_on_loop([this, display, codec, delta] {
        if (display >= screens_.size()) return;
        Screen& screen = *screens_[display];
        int& count = screen.video_watchers[codec];
        count = std::max(0, count + delta);
        if (count > 0) return;
        // Nobody shows this codec any more: its encoders go.
        for (Screen::Stream& stream : screen.streams) stream.encodings.erase(codec);
    });
}

void Desktop::request_key_frame(uint32_t display, uint32_t stream, VideoCodec codec) {
    run_on_loop([this, display, stream, codec] {
        if (display >= screens_.size()) return;
        if (Screen::Stream* s = screens_[display]->stream(stream)) {
            auto it = s->encodings.find(codec);
            if (it != s->encodings.end()) it->second.key_frame = true;
        }
    });
}

// ---- Publishing ----------------------------------------------------------------------------

void Desktop::schedule_publish() {
    if (publish_scheduled_) return;
    publish_scheduled_ = true;
    reactor_->defer([this] { publish(); });
}

void Desktop::publish() {
    publish_scheduled_ = false;
    const bool fresh = next_.changes_anything();
    if (fresh) next_.state = state_;
    bool still_waiting = false;
    for (size_t i = 0; i < feeds_.size(); ++i) {
        std::optional<DesktopUpdate> update;
        if (fresh) update = i + 1 < feeds_.size() ? next_ : std::move(next_);
        offer(*feeds_[i], std::move(update));
        still_waiting |= feeds_[i]->waiting_.has_value();
    }
    if (fresh) {
        next_ = DesktopUpdate{};
        next_.displays.resize(screens_.size());
    }
    // A consumer that was full gets its merged update as soon as it has room, even when the
    // source publishes nothing more.
    if (still_waiting && retry_timer_ == 0) {
        retry_timer_ = reactor_->every(kFeedRetryPeriod, [this] {
            reactor_->cancel(retry_timer_);
            retry_timer_ = 0;
            publish();
        });
    }
}

void Desktop::offer(Feed& feed, std::optional<DesktopUpdate> update) {
    if (update) {
        if (feed.waiting_) {
            feed.waiting_->merge(std::move(*update));
            trim_agent_backlog(*feed.waiting_);
        } else {
            feed.waiting_ = std::move(update);
        }
    }
    if (!feed.waiting_ || !feed.ring_.try_push(std::move(*feed.waiting_))) return;
    feed.waiting_.reset();
    if (!feed.wake_pending_.exchange(true) && feed.wake_) feed.wake_();
}

void Desktop::trim_agent_backlog(DesktopUpdate& waiting) {
    size_t bytes = waiting.agent_bytes();
    size_t dropped = 0;
    auto& messages = waiting.agent_messages;
    auto keep = messages.begin();
    while (bytes > kMaxAgentBacklog && keep != messages.end()) {
        bytes -= keep->data->size();
        ++keep;
        ++dropped;
    }
    if (dropped == 0) return;
    messages.erase(messages.begin(), keep);
    LOG_WARN("display",
             "a shard takes no updates: %zu agent messages dropped (over %zu bytes waiting)",
             dropped, kMaxAgentBacklog);
}

// ---- From other threads --------------------------------------------------------------------

void Desktop::watch(uint32_t display, int delta) {
    (void)display;  // every display is rendered by one source; any watcher wakes it
    run_on_loop([this, delta] {
        const int before = watchers_;
        watchers_ = std::max(0, watchers_ + delta);
        if (before == 0 && watchers_ > 0) source_->set_watched(true);
        if (before > 0 && watchers_ == 0) source_->set_watched(false);
    });
}

void Desktop::key_event(uint16_t scancode, bool down) {
    run_on_loop([this, scancode, down] { source_->key_event(scancode, down); });
}

void Desktop::key_events(std::vector<KeyEvent> keys) {
    run_on_loop([this, keys = std::move(keys)] {
        for (const KeyEvent& key : keys) source_->key_event(key.scancode, key.down);
    });
}

void Desktop::after_input(std::function<void()> done) {
    run_on_loop(std::move(done));
}

void Desktop::sync_keyboard_leds(uint32_t leds) {
    run_on_loop([this, leds] { source_->sync_keyboard_leds(leds); });
}

void Desktop::pointer_position(uint32_t monitor, Point position, uint32_t buttons_mask) {
    run_on_loop([this, monitor, position, buttons_mask] {
        if (monitor < max_heads_) source_->pointer_position(monitor, position, buttons_mask);
    });
}

void Desktop::pointer_motion(int32_t dx, int32_t dy, uint32_t buttons_mask) {
    run_on_loop([this, dx, dy, buttons_mask] { source_->pointer_motion(dx, dy, buttons_mask); });
}

void Desktop::button_event(int button, bool down) {
    run_on_loop([this, button, down] { source_->button_event(button, down); });
}

void Desktop::request_mouse_mode(bool client) {
    run_on_loop([this, client] {
        state_.client_mouse_mode = client && state_.client_mouse_allowed;
        // Announced even when unchanged, so the requesting client learns the mode it has.
        next_.mouse_mode_announced = true;
        schedule_publish();
    });
}

void Desktop::request_monitors(ClientId from, std::vector<MonitorRequest> monitors) {
    run_on_loop([this, from, monitors = std::move(monitors)] {
        source_->request_monitors(from, monitors);
    });
}

void Desktop::agent_message(ClientId from, uint32_t type, std::vector<uint8_t> data,
                            std::function<void()> consumed) {
    run_on_loop(
        [this, from, type, data = std::move(data), consumed = std::move(consumed)]() mutable {
            if (!consumed) consumed = [] {};
            if (source_->has_agent()) {
                source_->agent_message(from, type, data, std::move(consumed));
            } else {
                consumed();
            }
        });
}

void Desktop::with_source(std::function<void(DisplaySource&)> task) {
    run_on_loop([this, task = std::move(task)] { task(*source_); });
}

void Desktop::client_gone(ClientId id) {
    run_on_loop([this, id] { source_->client_gone(id); });
}

// ---- The --dump-frame tap --------------------------------------------------------------------

namespace {
class PpmDumpTap final : public FrameTap {
public:
    explicit PpmDumpTap(std::string path) : path_(std::move(path)) {}
    void on_frame(const Frame& frame, std::span<const TappedHead> heads, FrameNote note) override {
        if (!note.still && !note.input_changed && !note.layout_changed) return;
        for (const TappedHead& head : heads) {
            if (auto written = write_ppm(frame, head.rect, path_for(head.number)); !written)
                LOG_WARN("display", "--dump-frame: %s", written.error().c_str());
        }
    }

private:
    std::string path_for(uint32_t head) const {
        if (head == 0) return path_;
        const std::string suffix = "-head" + std::to_string(head);
        const size_t slash = path_.rfind('/');
        const size_t dot = path_.rfind('.');
        if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
            return path_ + suffix;
        return path_.substr(0, dot) + suffix + path_.substr(dot);
    }

    std::string path_;
};
}  // namespace

std::unique_ptr<FrameTap> make_ppm_dump_tap(std::string path) {
    return std::make_unique<PpmDumpTap>(std::move(path));
}

}  // namespace spiced
