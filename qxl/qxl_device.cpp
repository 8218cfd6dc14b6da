#include "qxl/qxl_device.h"

#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "base/log.h"
#include "base/log_limiter.h"
#include "base/service_thread.h"
#include "gpu/compositor.h"
#include "io/unique_fd.h"
#include "qxl/command_parser.h"
#include "qxl/cursor_shape.h"
#include "qxl/frame_ring.h"
#include "qxl/memslots.h"
#include "qxl/pixman_renderer.h"

namespace spiced::qxl {
namespace {

using Clock = std::chrono::steady_clock;

// While commands keep coming, a picture goes out at least this often (the ring never empties
// under a busy guest, so "publish when idle" alone would show nothing).
constexpr auto kPublishInterval = std::chrono::milliseconds(8);
// Commands taken per ring before the worker looks at its task queue again.
constexpr int kCommandBatch = 64;
// DRM fourccs spice_qxl_gl_scanout receives (drm_fourcc.h's values).
constexpr uint32_t kDrmXrgb8888 = 0x34325258;  // 'XR24'
constexpr uint32_t kDrmArgb8888 = 0x34325241;  // 'AR24'
constexpr uint32_t kDrmXbgr8888 = 0x34324258;  // 'XB24'
constexpr uint32_t kDrmAbgr8888 = 0x34324241;  // 'AB24'

Rect rect_of(const QXLRect& r) {
    return Rect::MakeLTRB(r.left, r.top, r.right, r.bottom);
}

// A guest surface's memory, as its create command gave it, and the command itself (released
// when the surface goes: the guest frees the memory then).
struct GuestSurface {
    GuestBytes memory;
    int32_t stride = 0;
    std::optional<ReleaseTicket> create_release;
    Region dirty;  // drawn since the guest last cleared it (update_area)
};

}  // namespace

struct QxlDevice::Worker {
    Worker(QXLInstance* qin, OnPublish publish)
        : instance(qin),
          qif(reinterpret_cast<const QXLInterface*>(qin->base.sif)),
          on_publish(std::move(publish)) {}

    // On the host's thread, before the worker starts (spice-server asks for the init info in
    // spice_server_add_interface too).
    void init();
    void run();
    void run_tasks(std::unique_lock<std::mutex>& lock);
    // Takes commands from both rings; true when both are empty (and notifications are armed).
    bool poll_rings();
    // Takes every command already in the rings (before surfaces go: the guest queued them for
    // the surfaces it is about to destroy, and spice-server draws them first too).
    void flush_rings();
    void handle(const QXLCommandExt& ext, bool cursor_ring);
    void release(const ReleaseTicket& ticket) {
        QXLReleaseInfoExt info{};
        info.info = ticket.release_info;
        info.group_id = ticket.group_id;
        qif->release_resource(instance, info);
    }
    void reject(const QXLCommandExt& ext, const std::string& why);
    void handle_cursor(const CursorCommand& command);
    void complete(std::optional<uint64_t> cookie) {
        if (cookie) qif->async_complete(instance, *cookie);
    }

    void create_primary(uint32_t surface_id, const QXLDevSurfaceCreate& create);
    void destroy_surface(uint32_t surface_id);
    void destroy_all();
    void write_back(uint32_t surface_id, const Rect& area);
    void set_monitors(uint64_t address, int group);
    void publish_layout();
    void publish_frame();
    // A COPY_BITS on the primary that a client can replay as a move: its destination and
    // source rects, inside the surface, under at most one clip rect.
    std::optional<MoveHint> move_of(const Drawable& drawable) const;
    void log_rejected(const std::string& what);

    QXLInstance* instance;
    const QXLInterface* qif;
    OnPublish on_publish;

    // Shared with the host's threads.
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void(Worker&)>> tasks;
    bool woken = true;
    bool stopping = false;
    bool running = false;
    std::atomic<std::thread::id> thread{};

    // The worker's own.
    std::unique_ptr<MemSlots> slots;
    std::unique_ptr<CommandParser> parser;
    std::unique_ptr<Renderer> renderer = make_pixman_renderer();
    std::map<uint32_t, GuestSurface> surfaces;
    std::optional<uint32_t> primary_id;
    Size primary_size;
    std::vector<Head> heads;  // from the driver's monitors config; empty: one head
    Region pending;           // primary damage not yet published
    // The guest's COPY_BITS on the primary since the last publish, as moves (clients copy
    // instead of receiving the pixels again); at most one, so moves never chain.
    std::vector<MoveHint> pending_moves;
    Clock::time_point last_publish{};
    FrameRing ring;
    LogLimiter rejected_limiter;
    uint64_t rejected = 0;
    LogLimiter message_limiter;
    // A GL scanout replaces the primary surface while it is set.
    struct Scanout {
        // spice-server owns the fd it is given (it closes the previous one at the next scanout),
        // and QEMU hands over a fresh or dup()ed fd each time: ours to close, with the mapping.
        UniqueFd fd;
        void* map = MAP_FAILED;
        size_t length = 0;
        uint32_t stride = 0;
        uint32_t format = 0;
        bool y0_top = true;
        Size size;
        // Reads it: on the compositor's device where it imports the buffer, else the mapping.
        std::unique_ptr<gpu::ScanoutReader> reader;
        ~Scanout() {
            reader.reset();  // a device may have imported the mapping: it goes first
            if (map != MAP_FAILED) munmap(map, length);
        }
        gpu::ScanoutBuffer buffer() const {
            return gpu::ScanoutBuffer{fd.get(), static_cast<const uint8_t*>(map),
                                      length,   size,
                                      stride,   format == kDrmXbgr8888 || format == kDrmAbgr8888,
                                      y0_top};
        }
    };
    std::shared_ptr<Scanout> scanout;
    // The compositor's backend (null until the server runs): scanouts are read on its device.
    std::shared_ptr<gpu::GpuBackend> gpu;
    std::string scanout_method;  // the last one logged
    // A guest whose buffers alternate between importable and not would change the method at
    // its flip rate: those lines share a budget.
    LogLimiter scanout_method_limiter;

    void open_scanout_reader();
    void read_scanout(const Region& area, Frame& out);

    // Read by the display source under mailbox_mutex.
    std::mutex mailbox_mutex;
    DeviceMailbox mailbox;
    std::atomic<uint32_t> max_monitors{1};
};

QxlDevice::QxlDevice(QXLInstance* instance, OnPublish on_publish)
    : instance_(instance), worker_(std::make_unique<Worker>(instance, std::move(on_publish))) {
    worker_->init();
    thread_ = start_service_thread("spiced-qxl" + std::to_string(instance->id),
                                   [worker = worker_.get()] { worker->run(); });
}

QxlDevice::~QxlDevice() {
    {
        std::lock_guard lock(worker_->mutex);
        worker_->stopping = true;
    }
    worker_->wake.notify_one();
    if (thread_.joinable()) thread_.join();
}

void QxlDevice::attach() {
    // As spice-server does: the device hears of its "worker" on the host's thread, once the
    // instance is fully registered. Xspice adds its memslots from inside this callback; hosts
    // that keep the pointer get the instance itself, as spice-server gives them.
    const auto* qif = worker_->qif;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (qif->attache_worker)
        qif->attache_worker(instance_, reinterpret_cast<QXLWorker*>(instance_));
#pragma GCC diagnostic pop
}

void QxlDevice::post(std::function<void(Worker&)> task, bool wait) {
    if (std::this_thread::get_id() == worker_->thread.load()) {
        // The host called back into us from a QXLInterface callback on the worker.
        task(*worker_);
        return;
    }
    std::promise<void> done;
    auto finished = done.get_future();
    {
        std::lock_guard lock(worker_->mutex);
        if (wait) {
            worker_->tasks.push_back([task = std::move(task), &done](Worker& w) {
                task(w);
                done.set_value();
            });
        } else {
            worker_->tasks.push_back(std::move(task));
        }
    }
    worker_->wake.notify_one();
    if (wait) finished.wait();
}

void QxlDevice::Worker::init() {
    QXLDevInitInfo info{};
    qif->get_init_info(instance, &info);
    auto made = MemSlots::create(info);
    if (!made) {
        LOG_ERROR("qxl", "qxl %d: %s; its commands are not served", instance->id,
                  made.error().c_str());
    } else {
        slots = std::make_unique<MemSlots>(std::move(*made));
        parser = std::make_unique<CommandParser>(*slots);
    }
}

void QxlDevice::Worker::run() {
    thread = std::this_thread::get_id();
    if (qif->base.major_version == 3 && qif->base.minor_version >= 2 &&
        qif->set_client_capabilities) {
        // We draw every command ourselves, whatever the clients can: tell the driver what our
        // renderer takes (A8 surfaces and composite let Xspice and Linux use RENDER).
        uint8_t caps[SPICE_CAPABILITIES_SIZE] = {};
        for (int cap : {SPICE_DISPLAY_CAP_COMPOSITE, SPICE_DISPLAY_CAP_A8_SURFACE,
                        SPICE_DISPLAY_CAP_MONITORS_CONFIG}) {
            caps[cap / 8] |= uint8_t(1u << (cap % 8));
        }
        qif->set_client_capabilities(instance, 1, caps);
    }
    std::unique_lock lock(mutex);
    while (!stopping) {
        run_tasks(lock);
        if (stopping) break;
        bool idle = true;
        // A wake-up that came before this point is served by this round.
        woken = false;
        if (running && parser) {
            lock.unlock();
            idle = poll_rings();
            if ((!pending.is_empty() || !pending_moves.empty()) &&
                (idle || Clock::now() - last_publish >= kPublishInterval)) {
                publish_frame();
            }
            lock.lock();
        }
        if (idle) wake.wait(lock, [this] { return stopping || woken || !tasks.empty(); });
    }
    // What the rate limit held back is counted in here.
    if (rejected > 0) {
        LOG_WARN("qxl", "qxl %d: %llu guest commands rejected in all", instance->id,
                 static_cast<unsigned long long>(rejected));
    }
}

void QxlDevice::Worker::run_tasks(std::unique_lock<std::mutex>& lock) {
    while (!tasks.empty()) {
        auto task = std::move(tasks.front());
        tasks.pop_front();
        lock.unlock();
        task(*this);
        lock.lock();
    }
}

bool QxlDevice::Worker::poll_rings() {
    bool commands_idle = false;
    for (int i = 0; i < kCommandBatch; ++i) {
        QXLCommandExt ext{};
        if (qif->get_command(instance, &ext)) {
            handle(ext, false);
            continue;
        }
        // Armed: the host calls spice_qxl_wakeup when more come. Not armed: more came meanwhile.
        commands_idle = qif->req_cmd_notification(instance) != 0;
        if (commands_idle) break;
    }
    bool cursor_idle = false;
    for (int i = 0; i < kCommandBatch; ++i) {
        QXLCommandExt ext{};
        if (qif->get_cursor_command(instance, &ext)) {
            handle(ext, true);
            continue;
        }
        cursor_idle = qif->req_cursor_notification(instance) != 0;
        if (cursor_idle) break;
    }
    return commands_idle && cursor_idle;
}

void QxlDevice::Worker::flush_rings() {
    {
        // A stopped VM's rings are not read (spice-server neither), only a running one's.
        std::lock_guard lock(mutex);
        if (!running) return;
    }
    if (!parser) return;
    // A ring holds a few hundred commands; a guest refilling it as fast as we read cannot
    // hold us here for long.
    constexpr int kMaxFlushed = 100000;
    QXLCommandExt ext{};
    for (int i = 0; i < kMaxFlushed && qif->get_command(instance, &ext); ++i) handle(ext, false);
    for (int i = 0; i < kMaxFlushed && qif->get_cursor_command(instance, &ext); ++i)
        handle(ext, true);
}

void QxlDevice::Worker::log_rejected(const std::string& what) {
    ++rejected;
    uint64_t held = 0;
    if (rejected_limiter.allow(held)) {
        LOG_WARN("qxl", "qxl %d: %s (%llu more since the last report)", instance->id, what.c_str(),
                 static_cast<unsigned long long>(held));
    }
}

void QxlDevice::Worker::reject(const QXLCommandExt& ext, const std::string& why) {
    log_rejected("command rejected: " + why);
    // Every command starts with its QXLReleaseInfo: give it back when that much is readable,
    // so a bad command does not leak the guest's resources too.
    if (auto ticket = parser->release_ticket(ext)) release(*ticket);
}

void QxlDevice::Worker::handle(const QXLCommandExt& ext, bool cursor_ring) {
    auto parsed = cursor_ring ? parser->parse_cursor(ext) : parser->parse(ext);
    if (!parsed) {
        reject(ext, parsed.error());
        return;
    }
    Command& command = *parsed;
    bool release_now = true;
    if (auto* drawable = std::get_if<Drawable>(&command.body)) {
        std::optional<MoveHint> move = move_of(*drawable);
        if (move && !pending_moves.empty()) {
            publish_frame();  // one move per frame
        }
        auto damage = renderer->draw(*drawable);
        if (!damage) {
            log_rejected("drawable rejected: " + damage.error());
        } else {
            if (auto it = surfaces.find(drawable->surface_id); it != surfaces.end())
                it->second.dirty.add_region(*damage);
            if (move) {
                // What was damaged before the copy: where it fell inside the source, it
                // travels with the move; where it fell inside the destination, it is gone.
                const Point delta{move->dest.left() - move->src.x, move->dest.top() - move->src.y};
                Region carried = pending;
                carried.intersect_with(Rect::MakeXYWH(move->src.x, move->src.y, move->dest.width(),
                                                      move->dest.height()));
                carried.translate(delta.x, delta.y);
                pending.subtract(move->dest);
                pending.add_region(carried);
                pending_moves.push_back(*move);
            } else if (primary_id && drawable->surface_id == *primary_id && !scanout) {
                pending.add_region(*damage);
            }
        }
    } else if (auto* surface = std::get_if<SurfaceCommand>(&command.body)) {
        if (surface->kind == SurfaceCommand::Kind::kCreate) {
            if (primary_id && surface->surface_id == *primary_id) {
                log_rejected("surface create for the primary surface's id " +
                             std::to_string(surface->surface_id));
            } else {
                const bool keep = surface->flags & QXL_SURF_FLAG_KEEP_DATA;
                auto created = renderer->create_surface(
                    surface->surface_id, surface->format,
                    Size{int32_t(surface->width), int32_t(surface->height)},
                    keep ? surface->memory : GuestBytes{}, surface->stride);
                if (!created) {
                    log_rejected("surface create rejected: " + created.error());
                } else {
                    GuestSurface guest;
                    guest.memory = surface->memory;
                    guest.stride = surface->stride;
                    guest.create_release = command.release;
                    surfaces[surface->surface_id] = std::move(guest);
                    release_now = false;
                }
            }
        } else {
            destroy_surface(surface->surface_id);
        }
    } else if (auto* update = std::get_if<UpdateCommand>(&command.body)) {
        write_back(update->surface_id, update->area);
    } else if (auto* message = std::get_if<MessageCommand>(&command.body)) {
        std::string text(message->text.begin(), message->text.end());
        text.erase(std::find(text.begin(), text.end(), '\0'), text.end());
        uint64_t held = 0;
        if (message_limiter.allow(held)) {
            LOG_INFO("qxl", "qxl %d: driver says: %s (%llu more since the last report)",
                     instance->id, text.substr(0, 200).c_str(),
                     static_cast<unsigned long long>(held));
        }
    } else if (auto* cursor = std::get_if<CursorCommand>(&command.body)) {
        handle_cursor(*cursor);
    }
    if (release_now) release(command.release);
}

void QxlDevice::Worker::handle_cursor(const CursorCommand& command) {
    std::lock_guard lock(mailbox_mutex);
    switch (command.kind) {
        case CursorCommand::Kind::kSet: {
            auto shape = command.shape ? pointer_shape_of(*command.shape)
                                       : Expected<std::shared_ptr<const PointerShape>, std::string>(
                                             std::shared_ptr<const PointerShape>());
            if (!shape) {
                log_rejected("cursor shape rejected: " + shape.error());
                return;
            }
            mailbox.cursor_shape = std::move(*shape);
            mailbox.cursor_position = command.position;
            mailbox.cursor_visible = command.visible && mailbox.cursor_shape;
            break;
        }
        case CursorCommand::Kind::kMove:
            mailbox.cursor_position = command.position;
            if (mailbox.cursor_shape) mailbox.cursor_visible = true;
            break;
        case CursorCommand::Kind::kHide:
            mailbox.cursor_visible = false;
            break;
        case CursorCommand::Kind::kTrail:
            return;  // a hint for local pointers; clients draw their own
    }
    mailbox.cursor_changed = true;
    on_publish();
}

void QxlDevice::Worker::create_primary(uint32_t surface_id, const QXLDevSurfaceCreate& create) {
    if (!slots) return;
    if (primary_id) destroy_surface(*primary_id);
    if (surfaces.count(surface_id)) destroy_surface(surface_id);
    const Size size{int32_t(std::min<uint32_t>(create.width, 1u << 15)),
                    int32_t(std::min<uint32_t>(create.height, 1u << 15))};
    const uint64_t bytes = uint64_t(std::abs(int64_t{create.stride})) * create.height;
    auto memory = slots->translate(create.group_id, create.mem, bytes);
    if (!memory) {
        log_rejected("primary surface rejected: " + memory.error());
        return;
    }
    GuestBytes guest(*memory, bytes);
    auto created = renderer->create_surface(surface_id, create.format, size, guest, create.stride);
    if (!created) {
        log_rejected("primary surface rejected: " + created.error());
        return;
    }
    GuestSurface record;
    record.memory = guest;
    record.stride = create.stride;
    surfaces[surface_id] = std::move(record);
    primary_id = surface_id;
    primary_size = size;
    heads.clear();
    ring.reset();
    pending = Region(Rect::MakeSize(size));
    pending_moves.clear();
    LOG_INFO("qxl", "qxl %d: primary surface %dx%d (format %u)", instance->id, size.width,
             size.height, create.format);
    publish_layout();
    publish_frame();
}

void QxlDevice::Worker::destroy_surface(uint32_t surface_id) {
    auto it = surfaces.find(surface_id);
    if (it == surfaces.end()) {
        if (renderer->has_surface(surface_id)) renderer->destroy_surface(surface_id);
        return;
    }
    renderer->destroy_surface(surface_id);
    if (it->second.create_release) release(*it->second.create_release);
    surfaces.erase(it);
    if (primary_id && *primary_id == surface_id) {
        primary_id.reset();
        primary_size = {};
        heads.clear();
        pending.clear();
        pending_moves.clear();
        ring.reset();
        publish_layout();
    }
}

void QxlDevice::Worker::destroy_all() {
    while (!surfaces.empty()) destroy_surface(surfaces.begin()->first);
    renderer->destroy_all_surfaces();
}

void QxlDevice::Worker::write_back(uint32_t surface_id, const Rect& area) {
    auto it = surfaces.find(surface_id);
    if (it == surfaces.end() || it->second.memory.empty()) return;
    // The guest's own surface memory: update_area promises it holds what we drew (spice-server
    // draws into it directly).
    std::span<uint8_t> memory(const_cast<uint8_t*>(it->second.memory.data()),
                              it->second.memory.size());
    renderer->write_back(surface_id, area, memory, it->second.stride);
}

void QxlDevice::Worker::set_monitors(uint64_t address, int group) {
    if (!slots) return;
    auto header = slots->read<QXLMonitorsConfig>(uint32_t(group), address);
    if (!header) {
        log_rejected("monitors config rejected: " + header.error());
        return;
    }
    const uint32_t count = std::min<uint32_t>(header->count, kMaxHeads);
    auto heads_memory = slots->translate(uint32_t(group), address + sizeof(QXLMonitorsConfig),
                                         size_t(count) * sizeof(QXLHead));
    if (!heads_memory) {
        log_rejected("monitors config rejected: " + heads_memory.error());
        return;
    }
    std::vector<Head> next;
    const Rect surface = Rect::MakeSize(primary_size);
    for (uint32_t i = 0; i < count; ++i) {
        QXLHead head;
        std::memcpy(&head, *heads_memory + i * sizeof(QXLHead), sizeof(head));
        if (head.width == 0 || head.height == 0) continue;  // switched off
        const Rect rect = Rect::MakeXYWH(int32_t(std::min<uint32_t>(head.x, 1u << 15)),
                                         int32_t(std::min<uint32_t>(head.y, 1u << 15)),
                                         int32_t(std::min<uint32_t>(head.width, 1u << 15)),
                                         int32_t(std::min<uint32_t>(head.height, 1u << 15)))
                              .intersect(surface);
        if (rect.is_empty()) continue;
        next.push_back(Head{std::min<uint32_t>(head.id, kMaxHeads - 1), rect});
    }
    if (header->max_allowed) max_monitors = std::clamp<uint32_t>(header->max_allowed, 1, kMaxHeads);
    if (next == heads) return;
    heads = std::move(next);
    if (primary_id) {
        publish_layout();
        pending = Region(Rect::MakeSize(primary_size));
        pending_moves.clear();
        publish_frame();
    }
}

void QxlDevice::Worker::publish_layout() {
    DisplayLayout layout;
    const Size size = scanout ? scanout->size : primary_size;
    if (primary_id || scanout) {
        layout.surface = size;
        layout.heads = heads.empty() ? std::vector<Head>{Head{0, Rect::MakeSize(size)}} : heads;
    }
    {
        std::lock_guard lock(mailbox_mutex);
        mailbox.layout_changed = true;
        mailbox.layout = std::move(layout);
        mailbox.frame.reset();
        mailbox.moves.clear();
        mailbox.damage.clear();
    }
    on_publish();
}

std::optional<MoveHint> QxlDevice::Worker::move_of(const Drawable& drawable) const {
    const auto* copy = std::get_if<CopyBits>(&drawable.op);
    if (!copy || !primary_id || drawable.surface_id != *primary_id || scanout) return {};
    const Rect surface = Rect::MakeSize(primary_size);
    Rect dest = drawable.bbox.intersect(surface);
    if (drawable.clip.has_rects) {
        // Several clip rects would make several moves whose sources and destinations
        // overlap: those copies go to clients as pixels.
        if (drawable.clip.rects.size() != 1) return {};
        dest = dest.intersect(drawable.clip.rects.front());
    }
    if (dest.is_empty()) return {};
    const int64_t dx = int64_t{copy->src_pos.x} - drawable.bbox.left();
    const int64_t dy = int64_t{copy->src_pos.y} - drawable.bbox.top();
    const int64_t sx = dest.left() + dx;
    const int64_t sy = dest.top() + dy;
    if (sx < 0 || sy < 0 || sx + dest.width() > surface.right() ||
        sy + dest.height() > surface.bottom())
        return {};
    return MoveHint{dest, Point{int32_t(sx), int32_t(sy)}};
}

void QxlDevice::Worker::publish_frame() {
    last_publish = Clock::now();
    if (pending.is_empty() && pending_moves.empty()) return;
    // The frame's pixels change where the damage is and where moves landed.
    Region changed = pending;
    for (const MoveHint& move : pending_moves) changed.add_rect(move.dest);
    std::shared_ptr<const Frame> frame;
    if (scanout) {
        const Scanout& s = *scanout;
        // A real dmabuf wants CPU reads bracketed so caches are coherent with the GPU's
        // writes; a memfd (tests) answers ENOTTY, which changes nothing.
        // The bracket also waits for the GPU's pending writes (implicit sync), which a device
        // import would not.
        dma_buf_sync sync{DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ};
        ioctl(s.fd.get(), DMA_BUF_IOCTL_SYNC, &sync);
        frame = ring.next(s.size, changed,
                          [this](const Region& area, Frame& out) { read_scanout(area, out); });
        sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
        ioctl(s.fd.get(), DMA_BUF_IOCTL_SYNC, &sync);
    } else {
        if (!primary_id) {
            pending.clear();
            pending_moves.clear();
            return;
        }
        const uint32_t id = *primary_id;
        Renderer& r = *renderer;
        frame = ring.next(primary_size, changed, [&r, id](const Region& area, Frame& out) {
            for (const Rect& rect : area.rects()) r.read(id, rect, out);
        });
    }
    {
        std::lock_guard lock(mailbox_mutex);
        mailbox.frame = std::move(frame);
        if (mailbox.moves.empty() && mailbox.damage.is_empty()) {
            mailbox.moves = std::move(pending_moves);
        } else {
            // The source has not taken the previous frame: its moves stay first, these ones
            // become damage (the client repaints them from this newer frame).
            for (const MoveHint& move : pending_moves) mailbox.damage.add_rect(move.dest);
        }
        mailbox.damage.add_region(pending);
    }
    pending.clear();
    pending_moves.clear();
    on_publish();
}

void QxlDevice::Worker::open_scanout_reader() {
    Scanout& s = *scanout;
    s.reader.reset();
    const gpu::ScanoutBuffer buffer = s.buffer();
    std::string why;
    if (gpu) {
        auto imported = gpu->import_scanout(buffer);
        if (imported) {
            s.reader = std::move(*imported);
        } else {
            why = " (" + imported.error() + ")";
        }
    }
    if (!s.reader) s.reader = gpu::make_mapped_scanout_reader(buffer);
    // Once per change of method (a guest that flips between buffers sets a scanout per frame),
    // and not before the server runs: the backend is not chosen yet.
    if (gpu && s.reader->method() != scanout_method) {
        scanout_method = s.reader->method();
        uint64_t held = 0;
        if (scanout_method_limiter.allow(held)) {
            const std::string changes =
                held ? " (" + std::to_string(held) + " changes since the last report)" : "";
            LOG_INFO("qxl", "qxl %d: GL scanouts are read through %s%s%s", instance->id,
                     scanout_method.c_str(), why.c_str(), changes.c_str());
        }
    }
}

void QxlDevice::Worker::read_scanout(const Region& area, Frame& out) {
    Scanout& s = *scanout;
    auto read = s.reader->read(area, out);
    if (read) return;
    // A lost device: the mapping always works, and the scanout goes on from it.
    LOG_ERROR("qxl",
              "qxl %d: reading the GL scanout through %s failed (%s); reading its CPU "
              "mapping from now on",
              instance->id, s.reader->method().c_str(), read.error().c_str());
    gpu.reset();
    s.reader = gpu::make_mapped_scanout_reader(s.buffer());
    scanout_method = s.reader->method();
    (void)s.reader->read(area, out);
}

// -- The host's calls ------------------------------------------------------------------------

void QxlDevice::wakeup() {
    {
        std::lock_guard lock(worker_->mutex);
        worker_->woken = true;
    }
    worker_->wake.notify_one();
}

void QxlDevice::oom() {
    post(
        [](Worker& w) {
            // Releases are pushed to the guest as we go; let the device flush its batch.
            if (w.qif->flush_resources) w.qif->flush_resources(w.instance);
        },
        false);
    wakeup();
}

void QxlDevice::set_running(bool running) {
    {
        std::lock_guard lock(worker_->mutex);
        worker_->running = running;
        worker_->woken = true;
    }
    worker_->wake.notify_one();
}

void QxlDevice::add_memslot(const QXLDevMemSlot& slot, std::optional<uint64_t> cookie) {
    post(
        [slot, cookie](Worker& w) {
            LOG_DEBUG("qxl",
                      "qxl %d: memslot %u of group %u: host 0x%lx-0x%lx, delta 0x%llx, "
                      "generation %u",
                      w.instance->id, slot.slot_id, slot.slot_group_id,
                      static_cast<unsigned long>(slot.virt_start),
                      static_cast<unsigned long>(slot.virt_end),
                      static_cast<unsigned long long>(slot.addr_delta), slot.generation);
            if (w.slots) {
                if (auto added = w.slots->add(slot); !added)
                    w.log_rejected("memslot rejected: " + added.error());
            }
            w.complete(cookie);
        },
        !cookie);
}

void QxlDevice::del_memslot(uint32_t group, uint32_t slot) {
    post(
        [group, slot](Worker& w) {
            if (!w.slots) return;
            if (auto removed = w.slots->remove(group, slot); !removed)
                w.log_rejected("memslot removal rejected: " + removed.error());
        },
        true);
}

void QxlDevice::reset_memslots() {
    post(
        [](Worker& w) {
            LOG_DEBUG("qxl", "qxl %d: memslots reset", w.instance->id);
            if (w.slots) w.slots->reset();
        },
        true);
}

void QxlDevice::create_primary(uint32_t surface_id, const QXLDevSurfaceCreate& create,
                               std::optional<uint64_t> cookie) {
    post(
        [surface_id, create, cookie](Worker& w) {
            w.create_primary(surface_id, create);
            w.complete(cookie);
        },
        !cookie);
}

void QxlDevice::destroy_primary(uint32_t surface_id, std::optional<uint64_t> cookie) {
    post(
        [surface_id, cookie](Worker& w) {
            w.flush_rings();
            if (w.primary_id && *w.primary_id == surface_id) w.destroy_surface(surface_id);
            w.complete(cookie);
        },
        !cookie);
}

void QxlDevice::destroy_surfaces(std::optional<uint64_t> cookie) {
    post(
        [cookie](Worker& w) {
            w.flush_rings();
            w.destroy_all();
            w.complete(cookie);
        },
        !cookie);
}

void QxlDevice::destroy_surface(uint32_t surface_id, std::optional<uint64_t> cookie) {
    post(
        [surface_id, cookie](Worker& w) {
            w.flush_rings();
            w.destroy_surface(surface_id);
            w.complete(cookie);
        },
        !cookie);
}

void QxlDevice::update_area(uint32_t surface_id, const QXLRect& area, QXLRect* dirty,
                            uint32_t dirty_count, bool clear_dirty) {
    post(
        [&](Worker& w) {
            w.write_back(surface_id, rect_of(area));
            auto it = w.surfaces.find(surface_id);
            std::vector<Rect> rects;
            if (it != w.surfaces.end()) {
                rects = it->second.dirty.rects();
                if (clear_dirty) it->second.dirty.clear();
            }
            for (uint32_t i = 0; dirty && i < dirty_count; ++i) {
                QXLRect out{};
                if (i < rects.size()) {
                    out.top = rects[i].top();
                    out.left = rects[i].left();
                    out.bottom = rects[i].bottom();
                    out.right = rects[i].right();
                }
                dirty[i] = out;
            }
        },
        true);
}

void QxlDevice::update_area_async(uint32_t surface_id, const QXLRect& area, bool clear_dirty,
                                  uint64_t cookie) {
    post(
        [surface_id, area, clear_dirty, cookie](Worker& w) {
            w.write_back(surface_id, rect_of(area));
            if (clear_dirty) {
                if (auto it = w.surfaces.find(surface_id); it != w.surfaces.end())
                    it->second.dirty.clear();
            }
            w.complete(cookie);
        },
        false);
}

void QxlDevice::flush_surfaces(uint64_t cookie) {
    post(
        [cookie](Worker& w) {
            for (const auto& [id, surface] : w.surfaces) {
                if (w.renderer->has_surface(id))
                    w.write_back(id, Rect::MakeSize(w.renderer->surface_size(id)));
            }
            w.complete(cookie);
        },
        false);
}

void QxlDevice::monitors_config(uint64_t address, int group, uint64_t cookie) {
    post(
        [address, group, cookie](Worker& w) {
            w.set_monitors(address, group);
            w.complete(cookie);
        },
        false);
}

void QxlDevice::reset_image_cache() {
    post([](Worker& w) { w.renderer->reset_image_cache(); }, true);
}

void QxlDevice::reset_cursor() {
    post(
        [](Worker& w) {
            {
                std::lock_guard lock(w.mailbox_mutex);
                w.mailbox.cursor_visible = false;
                w.mailbox.cursor_shape.reset();
                w.mailbox.cursor_changed = true;
            }
            w.on_publish();
        },
        true);
}

void QxlDevice::driver_unload() {
    post(
        [](Worker& w) {
            // The guest driver is gone and the device is back in VGA mode: its monitors
            // config no longer holds.
            if (!w.heads.empty()) {
                w.heads.clear();
                w.publish_layout();
            }
        },
        false);
}

void QxlDevice::set_max_monitors(uint32_t max_monitors) {
    worker_->max_monitors = std::clamp<uint32_t>(max_monitors, 1, kMaxHeads);
}

uint32_t QxlDevice::max_monitors() const {
    return worker_->max_monitors;
}

void QxlDevice::loadvm_commands(const QXLCommandExt* commands, uint32_t count) {
    std::vector<QXLCommandExt> copy(commands, commands + count);
    post(
        [copy = std::move(copy)](Worker& w) {
            if (!w.parser) return;
            for (const QXLCommandExt& ext : copy) w.handle(ext, ext.cmd.type == QXL_CMD_CURSOR);
            w.publish_frame();
        },
        true);
}

void QxlDevice::gl_scanout(int fd, uint32_t width, uint32_t height, uint32_t stride,
                           uint32_t format, bool y0_top) {
    auto next = std::make_unique<Worker::Scanout>();
    UniqueFd owned(fd);  // closed here on refusal, else by the scanout that replaces this one
    if (owned.valid()) {
        const bool known = format == kDrmXrgb8888 || format == kDrmArgb8888 ||
                           format == kDrmXbgr8888 || format == kDrmAbgr8888;
        const uint64_t length = uint64_t(stride) * height;
        if (!known || width == 0 || height == 0 || width > (1u << 14) || height > (1u << 14) ||
            stride < width * 4 || length == 0) {
            LOG_WARN("qxl", "qxl %d: GL scanout %ux%u stride %u format 0x%08x refused",
                     instance_->id, width, height, stride, format);
            return;
        }
        // Reading past the end of a shorter buffer would be SIGBUS in our worker, not an error:
        // both memfds and dmabufs report their size.
        struct stat st {};
        if (fstat(owned.get(), &st) == 0 && st.st_size > 0 && uint64_t(st.st_size) < length) {
            LOG_WARN("qxl",
                     "qxl %d: GL scanout %ux%u stride %u needs %llu bytes, the buffer has "
                     "%lld: refused",
                     instance_->id, width, height, stride, static_cast<unsigned long long>(length),
                     static_cast<long long>(st.st_size));
            return;
        }
        next->map = mmap(nullptr, length, PROT_READ, MAP_SHARED, owned.get(), 0);
        if (next->map == MAP_FAILED) {
            LOG_WARN("qxl", "qxl %d: GL scanout cannot be mapped: %s", instance_->id,
                     std::strerror(errno));
            return;
        }
        next->fd = std::move(owned);
        next->length = length;
        next->stride = stride;
        next->format = format;
        next->y0_top = y0_top;
        next->size = Size{int32_t(width), int32_t(height)};
    } else {
        next.reset();
    }
    post(
        [next = std::shared_ptr<Worker::Scanout>(std::move(next))](Worker& w) {
            w.scanout = next;
            if (w.scanout) w.open_scanout_reader();
            w.ring.reset();
            w.publish_layout();
            const Size size = w.scanout ? w.scanout->size : w.primary_size;
            w.pending = Region(Rect::MakeSize(size));
            w.pending_moves.clear();
            w.publish_frame();
        },
        true);
}

void QxlDevice::use_gpu(std::shared_ptr<gpu::GpuBackend> backend) {
    post(
        [backend = std::move(backend)](Worker& w) {
            w.gpu = backend;
            if (w.scanout) w.open_scanout_reader();
        },
        false);
}

void QxlDevice::gl_draw(const Rect& rect, uint64_t cookie) {
    post(
        [rect, cookie](Worker& w) {
            if (w.scanout) {
                const Size size = w.scanout->size;
                w.pending.add_rect(rect.intersect(Rect::MakeSize(size)));
                if (!w.scanout->y0_top) {
                    // QEMU passes the guest's flush rectangle unchanged; for a bottom-up
                    // scanout nothing says whether it counts rows from the top of the picture
                    // (as we read it) or from the first row in memory. Both are read; the
                    // differ drops whatever did not change.
                    const Rect mirrored = Rect::MakeLTRB(rect.left(), size.height - rect.bottom(),
                                                         rect.right(), size.height - rect.top());
                    w.pending.add_rect(mirrored.intersect(Rect::MakeSize(size)));
                }
                w.publish_frame();
            }
            // QEMU holds the guest's GPU queue until this comes back: we read the picture
            // already, so it comes back at once.
            w.complete(cookie);
        },
        false);
}

DeviceMailbox QxlDevice::take_mailbox() {
    std::lock_guard lock(worker_->mailbox_mutex);
    DeviceMailbox taken = std::move(worker_->mailbox);
    // The cursor is state: it stays for the next take, only the flag is consumed.
    worker_->mailbox = DeviceMailbox{};
    worker_->mailbox.cursor_visible = taken.cursor_visible;
    worker_->mailbox.cursor_position = taken.cursor_position;
    worker_->mailbox.cursor_shape = taken.cursor_shape;
    return taken;
}

}  // namespace spiced::qxl
