// GL scanout readers (gpu/scanout.h): the CPU mapping reader against the buffer layout written
// out here pixel by pixel (stride padding, bottom-up rows, XBGR), and the Vulkan device reader
// (lavapipe here: the memfd taken in as host memory) against the mapping reader, byte for byte,
// also while compositors use the same device on another thread. The dmabuf import runs where
// the device has it and /dev/udmabuf can turn a memfd into a real dmabuf; elsewhere it SKIPs,
// as the Vulkan cases do without a Vulkan device.
#include <fcntl.h>
#include <linux/udmabuf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "gpu/compositor.h"
#include "gpu/scanout.h"
#include "gpu/vulkan_compositor.h"
#include "gpu/vulkan_context.h"
#include "tests/unit/compositor_pair.h"

namespace spiced::gpu {
namespace {

// What memory row `row`, column `x` of the test buffers holds.
uint32_t stored_pixel(int32_t row, int32_t x) {
    return uint32_t(row) * 0x010203u + uint32_t(x) * 0x0a0b0cu + (uint32_t(x ^ row) << 24);
}

// A memfd filled with stored_pixel, mapped read-only as QxlDevice maps a scanout.
class ScanoutMemory {
public:
    ScanoutMemory(Size size, uint32_t stride, bool bgr, bool y0_top, bool sealed = false) {
        buffer_.size = size;
        buffer_.stride = stride;
        buffer_.bgr = bgr;
        buffer_.y0_top = y0_top;
        buffer_.length = size_t(stride) * size_t(size.height);
        // udmabuf wants whole pages and a memfd that cannot shrink.
        const size_t page = size_t(sysconf(_SC_PAGESIZE));
        allocated_ = sealed ? (buffer_.length + page - 1) / page * page : buffer_.length;
        memfd_ = memfd_create("scanout-test", MFD_CLOEXEC | (sealed ? MFD_ALLOW_SEALING : 0));
        EXPECT_GE(memfd_, 0);
        EXPECT_EQ(0, ftruncate(memfd_, off_t(allocated_)));
        if (sealed) {
            EXPECT_EQ(0, fcntl(memfd_, F_ADD_SEALS, F_SEAL_SHRINK));
        }
        void* writable = mmap(nullptr, allocated_, PROT_WRITE, MAP_SHARED, memfd_, 0);
        EXPECT_NE(MAP_FAILED, writable);
        for (int32_t row = 0; row < size.height; ++row) {
            auto* pixels =
                reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(writable) + size_t(row) * stride);
            for (int32_t x = 0; x < size.width; ++x) pixels[x] = stored_pixel(row, x);
        }
        munmap(writable, allocated_);
        buffer_.fd = memfd_;
        map_fd(memfd_);
    }
    ~ScanoutMemory() {
        if (mapping_ != MAP_FAILED) munmap(mapping_, buffer_.length);
        if (dmabuf_ >= 0) close(dmabuf_);
        if (memfd_ >= 0) close(memfd_);
    }
    ScanoutMemory(const ScanoutMemory&) = delete;
    ScanoutMemory& operator=(const ScanoutMemory&) = delete;

    // Makes the buffer a real dmabuf over the same pages (false where /dev/udmabuf is missing).
    bool become_dmabuf(std::string& why) {
        const int device = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
        if (device < 0) {
            why = std::string("/dev/udmabuf: ") + std::strerror(errno);
            return false;
        }
        udmabuf_create create{};
        create.memfd = uint32_t(memfd_);
        create.flags = UDMABUF_FLAGS_CLOEXEC;
        create.size = allocated_;
        dmabuf_ = ioctl(device, UDMABUF_CREATE, &create);
        close(device);
        if (dmabuf_ < 0) {
            why = std::string("UDMABUF_CREATE: ") + std::strerror(errno);
            return false;
        }
        munmap(mapping_, buffer_.length);
        buffer_.fd = dmabuf_;
        map_fd(dmabuf_);
        return true;
    }

    const ScanoutBuffer& buffer() const { return buffer_; }

    // The picture as a reader must give it: top-down, BGRX.
    uint32_t expected(int32_t x, int32_t y) const {
        const int32_t row = buffer_.y0_top ? y : buffer_.size.height - 1 - y;
        const uint32_t p = stored_pixel(row, x);
        if (!buffer_.bgr) return p;
        return (p & 0xff00ff00u) | ((p >> 16) & 0xffu) | ((p & 0xffu) << 16);
    }

private:
    void map_fd(int fd) {
        mapping_ = mmap(nullptr, buffer_.length, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_NE(MAP_FAILED, mapping_);
        buffer_.mapping = static_cast<const uint8_t*>(mapping_);
    }

    ScanoutBuffer buffer_;
    size_t allocated_ = 0;
    int memfd_ = -1;
    int dmabuf_ = -1;
    void* mapping_ = MAP_FAILED;
};

constexpr uint32_t kUntouched = 0x5a5a5a5au;

std::unique_ptr<Frame> untouched_frame(Size size) {
    auto frame = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x) frame->row(y)[x] = kUntouched;
    return frame;
}

// Several rects, one reaching past the picture (clipped by the readers).
Region test_area(Size size) {
    Region area(Rect::MakeXYWH(0, 0, 5, 3));
    area.add_rect(Rect::MakeXYWH(7, 4, size.width - 9, 11));
    area.add_rect(Rect::MakeXYWH(size.width - 3, size.height - 6, 20, 20));
    return area;
}

void expect_picture(const ScanoutMemory& memory, const Region& area, const Frame& frame) {
    const Size size = memory.buffer().size;
    for (int32_t y = 0; y < size.height; ++y) {
        for (int32_t x = 0; x < size.width; ++x) {
            const uint32_t want = area.contains(Point{x, y}) ? memory.expected(x, y) : kUntouched;
            ASSERT_EQ(want, frame.row(y)[x]) << "at " << x << "," << y;
        }
    }
}

struct Layout {
    bool bgr;
    bool y0_top;
};
constexpr Layout kLayouts[] = {{false, true}, {true, true}, {false, false}, {true, false}};

TEST(ScanoutReaderTest, TheMappingReaderFollowsStridesRowOrderAndChannelOrder) {
    const Size size{61, 37};
    for (const Layout& layout : kLayouts) {
        SCOPED_TRACE(testing::Message() << "bgr " << layout.bgr << " y0_top " << layout.y0_top);
        ScanoutMemory memory(size, 61 * 4 + 12, layout.bgr, layout.y0_top);
        auto reader = make_mapped_scanout_reader(memory.buffer());
        EXPECT_EQ("its CPU mapping", reader->method());
        auto frame = untouched_frame(size);
        const Region area = test_area(size);
        ASSERT_TRUE(reader->read(area, *frame));
        expect_picture(memory, area, *frame);
        // The CPU backend's reader is this one.
        auto cpu = make_cpu_backend()->import_scanout(memory.buffer());
        ASSERT_TRUE(cpu);
        EXPECT_EQ("its CPU mapping", (*cpu)->method());
    }
}

std::unique_ptr<GpuBackend> open_device_or_skip_reason(std::string& why) {
    auto vulkan = make_vulkan_backend(GpuChoice{test_device(), "libvulkan.so.1"});
    if (!vulkan) {
        why = vulkan.error();
        return nullptr;
    }
    return std::move(*vulkan);
}

TEST(ScanoutReaderTest, TheDeviceReaderGivesTheMappingReadersBytes) {
    std::string why;
    auto device = open_device_or_skip_reason(why);
    if (!device) GTEST_SKIP() << "no Vulkan device: " << why;
    // Sizes whose buffers end inside a page and on one.
    for (const Size size : {Size{61, 37}, Size{1024, 8}, Size{1, 1}}) {
        for (const Layout& layout : kLayouts) {
            SCOPED_TRACE(testing::Message() << size.width << "x" << size.height << " bgr "
                                            << layout.bgr << " y0_top " << layout.y0_top);
            ScanoutMemory memory(size, uint32_t(size.width) * 4 + 4, layout.bgr, layout.y0_top);
            auto reader = device->import_scanout(memory.buffer());
            // A memfd is no dmabuf; a GPU leaves host memory to the CPU (its dmabuf import is
            // the next test), a CPU-type device takes it in.
            if (!reader && reader.error().find("read faster by the CPU") != std::string::npos)
                GTEST_SKIP() << "a GPU does not import host memory: " << reader.error();
            ASSERT_TRUE(reader) << reader.error();
            EXPECT_NE(std::string::npos, (*reader)->method().find("host-memory import on "))
                << (*reader)->method();
            const Region area = size.width > 8 ? test_area(size) : Region(Rect::MakeSize(size));
            auto from_device = untouched_frame(size);
            auto from_mapping = untouched_frame(size);
            ASSERT_TRUE((*reader)->read(area, *from_device));
            ASSERT_TRUE(make_mapped_scanout_reader(memory.buffer())->read(area, *from_mapping));
            expect_picture(memory, area, *from_device);
            EXPECT_EQ(0, std::memcmp(from_device->row(0), from_mapping->row(0),
                                     size_t(from_device->stride()) * size_t(size.height)));
            // Read again (the read-back buffer is reused), the whole picture this time.
            ASSERT_TRUE((*reader)->read(Region(Rect::MakeSize(size)), *from_device));
            expect_picture(memory, Region(Rect::MakeSize(size)), *from_device);
        }
    }
}

TEST(ScanoutReaderTest, ADeviceImportsARealDmabufWhereItCan) {
    std::string why;
    auto device = open_device_or_skip_reason(why);
    if (!device) GTEST_SKIP() << "no Vulkan device: " << why;
    const Size size{300, 200};
    ScanoutMemory memory(size, 300 * 4 + 64, true, false, /*sealed=*/true);
    if (!memory.become_dmabuf(why)) GTEST_SKIP() << "no dmabuf can be made here: " << why;
    auto reader = device->import_scanout(memory.buffer());
    ASSERT_TRUE(reader) << reader.error();
    if ((*reader)->method().find("dmabuf import on ") == std::string::npos)
        GTEST_SKIP() << "the device did not import the dmabuf: read through "
                     << (*reader)->method();
    auto frame = untouched_frame(size);
    const Region area = test_area(size);
    ASSERT_TRUE((*reader)->read(area, *frame));
    expect_picture(memory, area, *frame);
}

// The QXL worker reads scanouts while the desktop thread composes on the same device.
TEST(ScanoutReaderTest, ReadsAndCompositionShareOneDeviceFromTwoThreads) {
    std::string why;
    auto device = open_device_or_skip_reason(why);
    if (!device) GTEST_SKIP() << "no Vulkan device: " << why;
    const Size size{128, 96};
    ScanoutMemory memory(size, 128 * 4, false, true);
    auto reader = device->import_scanout(memory.buffer());
    ASSERT_TRUE(reader) << reader.error();
    auto compositor = device->create_compositor(16);
    ASSERT_TRUE(compositor) << compositor.error();

    std::shared_ptr<Frame> layer = Frame::create(size);
    for (int32_t y = 0; y < size.height; ++y)
        for (int32_t x = 0; x < size.width; ++x) layer->row(y)[x] = uint32_t(x * 7 + y);
    constexpr int kRounds = 40;
    bool composed_all = true;
    std::thread composing([&] {
        for (int i = 0; i < kRounds; ++i) {
            CompositionStep step;
            step.output_size = size;
            step.layers.push_back(Layer{layer, Rect::MakeSize(size), Point{0, 0}});
            step.hint = Region(Rect::MakeSize(size));
            composed_all &= bool((*compositor)->compose(step));
        }
    });
    for (int i = 0; i < kRounds; ++i) {
        auto frame = untouched_frame(size);
        auto read = (*reader)->read(Region(Rect::MakeSize(size)), *frame);
        EXPECT_TRUE(read) << read.error();
        if (!read) break;  // not ASSERT: the other thread must be joined
        expect_picture(memory, Region(Rect::MakeSize(size)), *frame);
    }
    composing.join();
    EXPECT_TRUE(composed_all);
}

}  // namespace
}  // namespace spiced::gpu
