// The drop-in libspice-server.so.1 as QEMU uses it: loaded with dlopen, its versioned symbols
// looked up, driven through a host event loop (SpiceCoreInterface timers and watches run on
// the test's thread), a QXL device in the test's memory pushing real QXL commands, and
// spice-gtk's spicy-screenshot as the client; then destroyed and unloaded.
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spice.h>

#include "pixels/ppm.h"
#include "tests/support/spice_host_loop.h"

namespace {

using Clock = std::chrono::steady_clock;

// -- The host's event loop and QXL interface: tests/support/spice_host_loop.h ---------------

// HostLoop, g_host_loop, make_core, idle_qxl_interface.
using namespace spiced::testing_support;

// -- A QXL device in the test's memory ---------------------------------------------------------

// Guest "physical" addresses are host pointers in memslot 0 of group 0 (generation 0), as
// Xspice does it: the slot bits at the top are zero.
struct FakeDevice {
    QXLInstance instance{};
    std::vector<uint8_t> memory = std::vector<uint8_t>(8 << 20);
    size_t used = 0;
    std::mutex mutex;
    std::deque<QXLCommandExt> commands;
    std::atomic<int> released{0};
    std::atomic<int> attached{0};
    std::vector<uint64_t> completed;

    uint64_t phys(const void* p) const { return reinterpret_cast<uintptr_t>(p); }
    template <class T>
    T* alloc(size_t extra = 0) {
        used = (used + 15) & ~size_t(15);
        auto* p = reinterpret_cast<T*>(memory.data() + used);
        used += sizeof(T) + extra;
        std::memset(static_cast<void*>(p), 0, sizeof(T) + extra);
        return p;
    }
    void push(uint32_t type, uint64_t data) {
        QXLCommandExt ext{};
        ext.cmd.type = type;
        ext.cmd.data = data;
        ext.group_id = 0;
        std::lock_guard lock(mutex);
        commands.push_back(ext);
    }
};

FakeDevice* device_of(QXLInstance* qin) {
    return reinterpret_cast<FakeDevice*>(reinterpret_cast<char*>(qin) -
                                         offsetof(FakeDevice, instance));
}

QXLInterface make_qxl_interface() {
    QXLInterface qif = idle_qxl_interface("test qxl");
    qif.attached_worker = [](QXLInstance* qin) { ++device_of(qin)->attached; };
    qif.get_init_info = [](QXLInstance* qin, QXLDevInitInfo* info) {
        idle_init_info(qin, info);
        info->internal_groupslot_id = 0;
        info->qxl_ram_size = 8 << 20;
        info->n_surfaces = 64;
    };
    qif.get_command = [](QXLInstance* qin, QXLCommandExt* ext) -> int {
        FakeDevice* d = device_of(qin);
        std::lock_guard lock(d->mutex);
        if (d->commands.empty()) return 0;
        *ext = d->commands.front();
        d->commands.pop_front();
        return 1;
    };
    qif.req_cmd_notification = [](QXLInstance* qin) -> int {
        FakeDevice* d = device_of(qin);
        std::lock_guard lock(d->mutex);
        return d->commands.empty() ? 1 : 0;
    };
    qif.release_resource = [](QXLInstance* qin, QXLReleaseInfoExt) { ++device_of(qin)->released; };
    qif.async_complete = [](QXLInstance* qin, uint64_t cookie) {
        FakeDevice* d = device_of(qin);
        std::lock_guard lock(d->mutex);
        d->completed.push_back(cookie);
    };
    return qif;
}

uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

// The library's entry points, looked up by name and version as the dynamic linker does for
// QEMU's modules.
struct Api {
    void* handle = nullptr;
    template <class F>
    F get(const char* name, const char* version) {
        void* symbol = dlvsym(handle, name, version);
        EXPECT_NE(symbol, nullptr) << name << "@" << version;
        return reinterpret_cast<F>(symbol);
    }
};

constexpr int kWidth = 320;
constexpr int kHeight = 240;

// A DRAW_COPY of a w x h 32-bit top-down bitmap (colour `rgb` with a diagonal) to (x, y).
uint64_t make_copy(FakeDevice& d, int x, int y, int w, int h, uint32_t rgb) {
    auto* pixels = d.alloc<uint32_t>(size_t(w) * h * 4);
    for (int row = 0; row < h; ++row)
        for (int col = 0; col < w; ++col) pixels[row * w + col] = (row == col) ? 0xffffff : rgb;
    auto* image = d.alloc<QXLImage>();
    image->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
    image->descriptor.width = uint32_t(w);
    image->descriptor.height = uint32_t(h);
    image->bitmap.format = SPICE_BITMAP_FMT_32BIT;
    image->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
    image->bitmap.x = uint32_t(w);
    image->bitmap.y = uint32_t(h);
    image->bitmap.stride = uint32_t(w * 4);
    image->bitmap.data = d.phys(pixels);
    auto* drawable = d.alloc<QXLDrawable>();
    drawable->release_info.id = 1;
    drawable->surface_id = 0;
    drawable->effect = QXL_EFFECT_OPAQUE;
    drawable->type = QXL_DRAW_COPY;
    drawable->bbox = QXLRect{y, x, y + h, x + w};
    drawable->clip.type = SPICE_CLIP_TYPE_NONE;
    for (int i = 0; i < 3; ++i) drawable->surfaces_dest[i] = -1;
    drawable->u.copy.src_bitmap = d.phys(image);
    drawable->u.copy.src_area = QXLRect{0, 0, h, w};
    drawable->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
    return d.phys(drawable);
}

// Commands a hostile guest may send; each must be rejected with a log line and change nothing.
// Returns how many were pushed; all but the first carry a readable release info.
int push_hostile(FakeDevice& d) {
    int pushed = 0;
    // An address outside every memslot (wrong generation in its top bits).
    d.push(QXL_CMD_DRAW, uint64_t{0x00ff123400000000});
    ++pushed;
    // A drawable for a surface that does not exist.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        reinterpret_cast<QXLDrawable*>(cmd)->surface_id = 999;
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    // A bitmap whose stride is smaller than its rows.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        auto* image =
            reinterpret_cast<QXLImage*>(reinterpret_cast<QXLDrawable*>(cmd)->u.copy.src_bitmap);
        image->bitmap.stride = 4;
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    // Bitmap rows in a chunk chain that loops back on itself.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        auto* image =
            reinterpret_cast<QXLImage*>(reinterpret_cast<QXLDrawable*>(cmd)->u.copy.src_bitmap);
        auto* chunk = d.alloc<QXLDataChunk>(16);
        chunk->data_size = 16;
        chunk->next_chunk = d.phys(chunk);
        image->bitmap.flags = QXL_BITMAP_TOP_DOWN;  // data is a chunk chain now
        image->bitmap.data = d.phys(chunk);
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    // An image whose size wraps 32 bits when multiplied out.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        auto* image =
            reinterpret_cast<QXLImage*>(reinterpret_cast<QXLDrawable*>(cmd)->u.copy.src_bitmap);
        image->descriptor.width = 0x40000001;
        image->descriptor.height = 0x40000001;
        image->bitmap.x = 0x40000001;
        image->bitmap.y = 0x40000001;
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    // An 8-bit bitmap whose palette lies outside guest memory.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        auto* image =
            reinterpret_cast<QXLImage*>(reinterpret_cast<QXLDrawable*>(cmd)->u.copy.src_bitmap);
        image->bitmap.format = SPICE_BITMAP_FMT_8BIT;
        image->bitmap.stride = 8;
        image->bitmap.palette = uint64_t{0x0000700000000000};
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    // A bbox turned inside out.
    {
        uint64_t cmd = make_copy(d, 0, 0, 8, 8, 0xff0000);
        reinterpret_cast<QXLDrawable*>(cmd)->bbox = QXLRect{50, 50, 10, 10};
        d.push(QXL_CMD_DRAW, cmd);
        ++pushed;
    }
    return pushed;
}

// The library loaded, a server on a free port with a QXL device whose memslot 0 is the
// device's memory, driven from the test's host loop; torn down and unloaded after each test.
class DropInTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (access("/usr/bin/spicy-screenshot", X_OK) != 0)
            GTEST_SKIP() << "spicy-screenshot (package spice-client-gtk) is not installed";
        g_host_loop = &loop_;
        api_.handle = dlopen(SPICED_DROPIN_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(api_.handle, nullptr) << dlerror();
        auto server_new = api_.get<SpiceServer* (*)()>("spice_server_new", "SPICE_SERVER_0.6.0");
        auto set_port =
            api_.get<int (*)(SpiceServer*, int)>("spice_server_set_port", "SPICE_SERVER_0.6.0");
        auto set_addr = api_.get<void (*)(SpiceServer*, const char*, int)>("spice_server_set_addr",
                                                                           "SPICE_SERVER_0.6.0");
        auto set_noauth =
            api_.get<int (*)(SpiceServer*)>("spice_server_set_noauth", "SPICE_SERVER_0.6.0");
        auto init = api_.get<int (*)(SpiceServer*, SpiceCoreInterface*)>("spice_server_init",
                                                                         "SPICE_SERVER_0.6.0");
        auto add_interface = api_.get<int (*)(SpiceServer*, SpiceBaseInstance*)>(
            "spice_server_add_interface", "SPICE_SERVER_0.6.0");
        auto vm_start =
            api_.get<void (*)(SpiceServer*)>("spice_server_vm_start", "SPICE_SERVER_0.11.2");
        destroy_ = api_.get<void (*)(SpiceServer*)>("spice_server_destroy", "SPICE_SERVER_0.6.0");
        auto add_memslot = api_.get<void (*)(QXLInstance*, QXLDevMemSlot*)>("spice_qxl_add_memslot",
                                                                            "SPICE_SERVER_0.8.2");
        create_primary_ = api_.get<void (*)(QXLInstance*, uint32_t, QXLDevSurfaceCreate*)>(
            "spice_qxl_create_primary_surface", "SPICE_SERVER_0.8.2");
        wakeup_ = api_.get<void (*)(QXLInstance*)>("spice_qxl_wakeup", "SPICE_SERVER_0.8.2");
        ASSERT_FALSE(HasFailure());

        server_ = server_new();
        port_ = free_port();
        ASSERT_EQ(set_port(server_, port_), 0);
        EXPECT_EQ(set_port(server_, 70000), -1);
        set_addr(server_, "127.0.0.1", 0);
        ASSERT_EQ(set_noauth(server_), 0);
        ASSERT_EQ(init(server_, &core_), 0);
        device_->instance.base.sif = &qif_.base;
        ASSERT_EQ(add_interface(server_, &device_->instance.base), 0);
        QXLDevMemSlot slot{};
        slot.virt_start = reinterpret_cast<uintptr_t>(device_->memory.data());
        slot.virt_end = slot.virt_start + device_->memory.size();
        add_memslot(&device_->instance, &slot);
        vm_start(server_);
    }

    void TearDown() override {
        if (server_) {
            destroy_(server_);
            EXPECT_TRUE(loop_.watches.empty()) << "a watch was left registered";
            EXPECT_TRUE(loop_.timers.empty()) << "a timer was left registered";
            EXPECT_EQ(loop_.foreign_calls.load(), 0)
                << "timers or watches were added from our threads";
        }
        if (api_.handle) {
            EXPECT_EQ(dlclose(api_.handle), 0);
        }
        g_host_loop = nullptr;
    }

    void create_primary(int width, int height) {
        auto* primary = device_->alloc<uint8_t>(size_t(width) * height * 4 - 1);
        QXLDevSurfaceCreate create{};
        create.width = uint32_t(width);
        create.height = uint32_t(height);
        create.stride = width * 4;
        create.format = SPICE_SURFACE_FMT_32_xRGB;
        create.type = QXL_SURF_TYPE_PRIMARY;
        create.mem = device_->phys(primary);
        create_primary_(&device_->instance, 0, &create);
    }

    // Runs the host loop until `done` or 20 s.
    template <class Pred>
    bool run_until(Pred done) {
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        while (!done() && Clock::now() < deadline) loop_.run_once(std::chrono::milliseconds(20));
        return done();
    }

    // spicy-screenshot's picture, taken while the host loop runs.
    std::unique_ptr<spiced::Frame> take_picture() {
        char dir[] = "/tmp/spiced-dropin-XXXXXX";
        if (!mkdtemp(dir)) return nullptr;
        const std::string out = std::string(dir) + "/client.ppm";
        std::atomic<int> status{-1};
        std::thread client([&] {
            const std::string command = "timeout 30 /usr/bin/spicy-screenshot -h 127.0.0.1 -p " +
                                        std::to_string(port_) + " -o " + out + " >/dev/null 2>&1";
            status = std::system(command.c_str());
        });
        run_until([&] { return status.load() != -1; });
        client.join();
        EXPECT_EQ(status.load(), 0) << "spicy-screenshot failed";
        auto picture = spiced::read_ppm(out);
        std::filesystem::remove_all(dir);
        if (!picture) {
            ADD_FAILURE() << picture.error();
            return nullptr;
        }
        return std::move(*picture);
    }

    HostLoop loop_;
    Api api_;
    SpiceCoreInterface core_ = make_core("test host");
    QXLInterface qif_ = make_qxl_interface();
    std::unique_ptr<FakeDevice> device_ = std::make_unique<FakeDevice>();
    SpiceServer* server_ = nullptr;
    uint16_t port_ = 0;
    void (*destroy_)(SpiceServer*) = nullptr;
    void (*create_primary_)(QXLInstance*, uint32_t, QXLDevSurfaceCreate*) = nullptr;
    void (*wakeup_)(QXLInstance*) = nullptr;
};

TEST_F(DropInTest, OnlyTheVersionedApiIsVisible) {
    EXPECT_EQ(dlsym(api_.handle, "_ZN6spiced6Server5startEv"), nullptr);
    auto replay_new = api_.get<void* (*)(FILE*, int)>("spice_replay_new", "SPICE_SERVER_0.12.6");
    auto get_codecs = api_.get<const char* (*)(SpiceServer*)>("spice_server_get_video_codecs",
                                                              "SPICE_SERVER_0.14.3");
    auto free_codecs = api_.get<void (*)(SpiceServer*, const char*)>(
        "spice_server_free_video_codecs", "SPICE_SERVER_0.14.3");
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(replay_new(nullptr, 0), nullptr);  // documented failure: not supported
    const char* codecs = get_codecs(server_);
    ASSERT_NE(codecs, nullptr);
    free_codecs(server_, codecs);
    EXPECT_EQ(device_->attached.load(), 1);
}

TEST_F(DropInTest, VideoStreamSettersCheckTheirValues) {
    auto set_streaming = api_.get<int (*)(SpiceServer*, int)>("spice_server_set_streaming_video",
                                                              "SPICE_SERVER_0.6.0");
    auto set_codecs = api_.get<int (*)(SpiceServer*, const char*)>("spice_server_set_video_codecs",
                                                                   "SPICE_SERVER_0.13.2");
    auto get_codecs = api_.get<const char* (*)(SpiceServer*)>("spice_server_get_video_codecs",
                                                              "SPICE_SERVER_0.14.3");
    auto free_codecs = api_.get<void (*)(SpiceServer*, const char*)>(
        "spice_server_free_video_codecs", "SPICE_SERVER_0.14.3");
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(set_streaming(server_, SPICE_STREAM_VIDEO_ALL), 0);
    EXPECT_EQ(set_streaming(server_, SPICE_STREAM_VIDEO_OFF), 0);
    EXPECT_EQ(set_streaming(server_, 7), -1);
    EXPECT_EQ(set_codecs(server_, "spice:mjpeg;gstreamer:vp8"), 0);  // vp8 skipped, logged
    EXPECT_EQ(set_codecs(server_, "ffmpeg:h264"), -1);
    EXPECT_EQ(set_codecs(server_, "gstreamer:vp9"), -1);  // nothing we encode
    EXPECT_EQ(set_codecs(server_, nullptr), -1);
    const char* codecs = get_codecs(server_);
    ASSERT_NE(codecs, nullptr);
    EXPECT_STREQ(codecs, "spice:mjpeg;gstreamer:vp8");  // the refused ones changed nothing
    free_codecs(server_, codecs);
}

TEST_F(DropInTest, QxlCommandsPixelExactAndHostileOnesRejected) {
    create_primary(kWidth, kHeight);
    // Our log lines go to stderr: keep them to count the rejections.
    char log_path[] = "/tmp/spiced-dropin-log-XXXXXX";
    const int log_fd = mkstemp(log_path);
    ASSERT_GE(log_fd, 0);
    const int saved_stderr = dup(2);
    dup2(log_fd, 2);

    device_->push(QXL_CMD_DRAW, make_copy(*device_, 10, 20, 100, 50, 0x3366cc));
    // Hostile commands between the good ones, each rejected on its own.
    const int hostile = push_hostile(*device_);
    device_->push(QXL_CMD_DRAW, make_copy(*device_, 200, 100, 64, 64, 0xcc6633));
    wakeup_(&device_->instance);

    auto frame = take_picture();
    ASSERT_TRUE(frame);
    ASSERT_EQ(frame->width(), kWidth);
    ASSERT_EQ(frame->height(), kHeight);
    int differing = 0;
    for (int y = 0; y < kHeight; ++y) {
        for (int x = 0; x < kWidth; ++x) {
            uint32_t want = 0;
            if (x >= 10 && x < 110 && y >= 20 && y < 70)
                want = (y - 20 == x - 10) ? 0xffffff : 0x3366cc;
            if (x >= 200 && x < 264 && y >= 100 && y < 164)
                want = (y - 100 == x - 200) ? 0xffffff : 0xcc6633;
            if (frame->pixel(x, y) != want) ++differing;
        }
    }
    EXPECT_EQ(differing, 0) << "pixels differ between the client's picture and the drawing";
    // The good commands and every hostile one whose release info was readable went back.
    EXPECT_EQ(device_->released.load(), 2 + hostile - 1);

    destroy_(server_);  // the device logs its final count as it goes
    server_ = nullptr;
    EXPECT_TRUE(loop_.watches.empty() && loop_.timers.empty());
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    // One line right away (more are held back while a second has not passed), and the
    // device's final count when it goes: every hostile command is accounted for.
    std::ifstream log_file(log_path);
    std::string line;
    std::string log_text;
    int rejection_lines = 0;
    uint64_t in_all = 0;
    while (std::getline(log_file, line)) {
        log_text += line + "\n";
        if (line.find("[qxl]") == std::string::npos) continue;
        if (line.find("command rejected") != std::string::npos ||
            line.find("drawable rejected") != std::string::npos)
            ++rejection_lines;
        if (const auto at = line.find("qxl 0: "); line.find("rejected in all") != std::string::npos)
            in_all = std::strtoull(line.c_str() + at + 7, nullptr, 10);
    }
    close(log_fd);
    unlink(log_path);
    EXPECT_GE(rejection_lines, 1) << log_text;
    EXPECT_EQ(in_all, uint64_t(hostile)) << log_text;
}

// QEMU's virtio-gpu with gl=on hands over a dmabuf; none exists here, so a memfd stands in
// for it, as the test recipes say. The draw's cookie must come back, and the client must see
// the buffer's pixels (bottom-up when y_0_top is false).
TEST_F(DropInTest, GlScanoutIsReadOnTheCpu) {
    auto gl_scanout =
        api_.get<void (*)(QXLInstance*, int, uint32_t, uint32_t, uint32_t, uint32_t, int)>(
            "spice_qxl_gl_scanout", "SPICE_SERVER_0.13.1");
    auto gl_draw =
        api_.get<void (*)(QXLInstance*, uint32_t, uint32_t, uint32_t, uint32_t, uint64_t)>(
            "spice_qxl_gl_draw_async", "SPICE_SERVER_0.13.1");
    ASSERT_FALSE(HasFailure());
    constexpr uint32_t kW = 96, kH = 64, kStride = kW * 4 + 64;
    const int fd = memfd_create("scanout", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kStride * kH), 0);
    auto* pixels = static_cast<uint8_t*>(
        mmap(nullptr, kStride * kH, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ASSERT_NE(pixels, MAP_FAILED);
    auto colour = [](uint32_t x, uint32_t y) { return (x * 2) << 16 | (y * 3) << 8 | 0x40; };
    for (uint32_t y = 0; y < kH; ++y)
        for (uint32_t x = 0; x < kW; ++x)
            reinterpret_cast<uint32_t*>(pixels + y * kStride)[x] = colour(x, y);
    constexpr uint32_t kDrmXrgb8888 = 0x34325258;
    gl_scanout(&device_->instance, fd, kW, kH, kStride, kDrmXrgb8888, /*y_0_top=*/0);
    gl_draw(&device_->instance, 0, 0, kW, kH, 4242);
    ASSERT_TRUE(run_until([&] {
        std::lock_guard lock(device_->mutex);
        return std::find(device_->completed.begin(), device_->completed.end(), 4242u) !=
               device_->completed.end();
    })) << "the draw's cookie never came back";
    auto frame = take_picture();
    ASSERT_TRUE(frame);
    ASSERT_EQ(frame->width(), int(kW));
    ASSERT_EQ(frame->height(), int(kH));
    int differing = 0;
    for (uint32_t y = 0; y < kH; ++y)
        for (uint32_t x = 0; x < kW; ++x)
            if (frame->pixel(int(x), int(y)) != colour(x, kH - 1 - y)) ++differing;
    EXPECT_EQ(differing, 0) << "the client's picture is not the scanout's";
    munmap(pixels, kStride * kH);
    close(fd);
}

}  // namespace
