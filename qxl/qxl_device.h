// QxlDevice: one QXL instance of the host (a QEMU qxl/VGA/virtio display head, Xspice's
// screen) served by its own worker thread, as spice-server serves each with a red worker.
//
// The worker pulls commands from the device's rings (QXLInterface::get_command and
// get_cursor_command, on the worker thread only: the host expects them there), parses them
// against the memslots (qxl/command_parser.h: the guest is hostile), draws them with a
// Renderer, releases them, and publishes what the primary surface looks like now into a
// mailbox: the layout (surface size and monitors), a frame with its exact damage, the cursor.
// The display source (qxl/qxl_display_source.h) takes the mailbox on the desktop thread.
//
// The spice_qxl_* entry points come from the host's threads (a vCPU thread, the I/O thread).
// Those spice-server runs synchronously block until the worker has done them; the _async ones
// return at once and the worker calls QXLInterface::async_complete with the cookie.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// clang-format off
#define SPICE_H_INSIDE 1
#include <spice-server/spice-qxl.h>
#undef SPICE_H_INSIDE
// clang-format on

#include "display/types.h"
#include "pixels/frame.h"
#include "pixels/region.h"

namespace spiced::gpu {
class GpuBackend;
}

namespace spiced::qxl {

// What the device has published since the display source last took it.
struct DeviceMailbox {
    // The primary surface was (re)created or destroyed, or the monitors changed: the source
    // republishes the layout (an empty surface: the display has no surface now).
    bool layout_changed = false;
    DisplayLayout layout;
    // The newest picture of the primary surface and where it differs from the previous one
    // taken (accumulated while the source did not take it).
    std::shared_ptr<const Frame> frame;
    // A client showing the previous frame taken applies `moves` (the guest's COPY_BITS), then
    // repaints `damage`.
    std::vector<MoveHint> moves;
    Region damage;
    bool cursor_changed = false;
    bool cursor_visible = false;
    Point cursor_position;
    std::shared_ptr<const PointerShape> cursor_shape;
};

class QxlDevice {
public:
    // Called from the worker thread whenever the mailbox gained something.
    using OnPublish = std::function<void()>;

    // Asks the device for its memslot layout (on the calling thread, the host's) and starts
    // the worker. `instance` belongs to the host and outlives the device.
    QxlDevice(QXLInstance* instance, OnPublish on_publish);
    ~QxlDevice();  // stops and joins the worker
    QxlDevice(const QxlDevice&) = delete;
    QxlDevice& operator=(const QxlDevice&) = delete;

    QXLInstance* instance() const { return instance_; }
    // On the host's thread once the instance is registered: QXLInterface::attache_worker.
    void attach();

    // Any thread: what spice_qxl_* ask. A cookie means "asynchronous: complete it".
    void wakeup();
    void oom();
    void set_running(bool running);
    void add_memslot(const QXLDevMemSlot& slot, std::optional<uint64_t> cookie);
    void del_memslot(uint32_t group, uint32_t slot);
    void reset_memslots();
    void create_primary(uint32_t surface_id, const QXLDevSurfaceCreate& create,
                        std::optional<uint64_t> cookie);
    void destroy_primary(uint32_t surface_id, std::optional<uint64_t> cookie);
    void destroy_surfaces(std::optional<uint64_t> cookie);
    void destroy_surface(uint32_t surface_id, std::optional<uint64_t> cookie);
    // Synchronous update_area: renders (we already have) and writes `area` back to the
    // surface's guest memory; fills `dirty` with what changed since the last clear.
    void update_area(uint32_t surface_id, const QXLRect& area, QXLRect* dirty, uint32_t dirty_count,
                     bool clear_dirty);
    void update_area_async(uint32_t surface_id, const QXLRect& area, bool clear_dirty,
                           uint64_t cookie);
    void flush_surfaces(uint64_t cookie);
    void monitors_config(uint64_t address, int group, uint64_t cookie);
    void reset_image_cache();
    void reset_cursor();
    void driver_unload();
    void set_max_monitors(uint32_t max_monitors);
    void loadvm_commands(const QXLCommandExt* commands, uint32_t count);
    // A GL scanout (QEMU's virtio-gpu/virgl with gl=on): the picture is in a dmabuf. We map it
    // and read it (see use_gpu). `fd` becomes ours (as in spice-server: QEMU hands over a fresh
    // or dup()ed fd each time) and is closed when the next scanout replaces it; -1 ends the
    // scanout.
    void gl_scanout(int fd, uint32_t width, uint32_t height, uint32_t stride, uint32_t format,
                    bool y0_top);
    void gl_draw(const Rect& rect, uint64_t cookie);
    // GL scanouts are read on this backend's device where it can import them (see
    // gpu/scanout.h), else through their mapping; until this is called, through the mapping.
    void use_gpu(std::shared_ptr<gpu::GpuBackend> backend);

    // Desktop thread: takes what was published (and clears it).
    DeviceMailbox take_mailbox();
    // The most heads the driver said it shows (spice_qxl_set_max_monitors / device info).
    uint32_t max_monitors() const;

    struct Worker;  // the worker thread's state (qxl_device.cpp)

private:
    void post(std::function<void(Worker&)> task, bool wait);

    QXLInstance* instance_;
    std::unique_ptr<Worker> worker_;
    std::thread thread_;  // last: it runs on the members above
};

}  // namespace spiced::qxl
