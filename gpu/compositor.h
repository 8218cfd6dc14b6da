// The compositor: turns a display's source surfaces into output frames, finds where each output
// differs from the previous one, and converts outputs to the YUV the video encoders take.
//
// Two backends implement it and must agree byte for byte on every result (tests check frames,
// damage regions and YUV planes): Vulkan compute on any Vulkan 1.2 device (gpu/vulkan_*), and
// the CPU (gpu/cpu_compositor.*, built on pixels/). A GpuBackend is a chosen device; it makes
// one DisplayCompositor per display, which keeps that display's last output (on the device for
// Vulkan) between steps, so damage and colour conversion read it without a copy back.
//
// Composition: the output starts black; layers are painted in order, opaque (all four bytes
// copied), each clipped to its frame and to the output; then the cursor, if any, is blended
// with straight alpha: c = (s * a + d * (255 - a) + 127) / 255 per colour byte, the X byte of
// the output kept. Damage is kDamageTileSize-style tiles of `tile_size` (clipped to the
// output) holding a changed pixel (low 24 bits only, as pixels/damage.h), comparing only tiles
// the hint touches, against the previous output with the step's moves applied; the first
// output and a new output size are all damage. One compositor serves one display on one
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "display/types.h"
#include "gpu/scanout.h"
#include "pixels/damage.h"
#include "pixels/frame.h"
#include "pixels/region.h"
#include "pixels/yuv.h"

namespace spiced::gpu {

// One source surface placed on the output.
struct Layer {
    std::shared_ptr<const Frame> frame;
    Rect source;  // the part of `frame` shown
    Point dest;   // where its top-left lands on the output
};

struct CursorOverlay {
    std::shared_ptr<const PointerShape> shape;
    Point position;  // of the hotspot, in output coordinates
};

struct CompositionStep {
    Size output_size;
    std::vector<Layer> layers;
    std::optional<CursorOverlay> cursor;
    // How the previous output's pixels moved (applied in order, before the comparison).
    std::vector<MoveHint> moves;
    // Where the new output may differ from the previous one after the moves; the sources'
    // contract: outside it (and outside the moves' destinations) the layers did not change.
    Region hint;
    // False when the caller knows the damage (a QXL device's exact damage, a first frame):
    // the output is still composed and kept, the comparison skipped (compose returns empty).
    bool want_damage = true;
};

class DisplayCompositor {
public:
    virtual ~DisplayCompositor() = default;

    // Composes the next output and returns its damage (see the file comment).
    virtual Expected<Region, std::string> compose(const CompositionStep& step) = 0;
    // Copies the tiles of the current output that `region` touches into `out` (the output's
    // size); only those tiles travel from the device.
    virtual Expected<void, std::string> read_back(const Region& region, Frame& out) = 0;
    // Converts `area` of the current output as pixels/yuv.h does (even size, inside).
    virtual Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) = 0;
    virtual Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) = 0;

    virtual Size output_size() const = 0;
    virtual int32_t tile_size() const = 0;
};

// A compositor's current output as video encoders read it: 4:2:0 comes from the compositor
// (a shader on the device), the BGRX frame (for MJPEG) is the host frame it was composed from.
class OutputPicture final : public PictureSource {
public:
    OutputPicture(const Frame& frame, DisplayCompositor& compositor)
        : frame_(frame), compositor_(compositor) {}
    const Frame& frame() const override { return frame_; }
    Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) override {
        return compositor_.to_i420(area, out);
    }
    Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) override {
        return compositor_.to_nv12(area, out);
    }

private:
    const Frame& frame_;
    DisplayCompositor& compositor_;
};

enum class GpuBackendKind { kCpu, kVulkan };

class GpuBackend {
public:
    virtual ~GpuBackend() = default;
    virtual GpuBackendKind kind() const = 0;
    // What runs: "cpu", or "vulkan: <device name> (<driver>)".
    virtual std::string describe() const = 0;
    // `tile_size` in 4..256, a multiple of 4.
    virtual Expected<std::unique_ptr<DisplayCompositor>, std::string> create_compositor(
        int32_t tile_size) = 0;
    // A reader of a GL scanout on this backend's device (gpu/scanout.h), or why the device
    // cannot take the buffer in (the caller then reads it through its mapping). The CPU
    // backend reads the mapping. Any thread.
    virtual Expected<std::unique_ptr<ScanoutReader>, std::string> import_scanout(
        const ScanoutBuffer& buffer) = 0;
};

// --gpu: "auto" (the best Vulkan device with a compute queue, else the CPU), "none" (the
// CPU), or a device: its index among the Vulkan devices or a case-insensitive part of its name.
struct GpuChoice {
    std::string device = "auto";
    // The Vulkan loader to open; tests and operators with a private loader set it.
    std::string vulkan_loader = "libvulkan.so.1";
};

inline constexpr int32_t kMinCompositorTile = 4;
inline constexpr int32_t kMaxCompositorTile = 256;
bool valid_compositor_tile(int32_t tile_size);

// The backend `choice` asks for. "auto" and "none" always give one (the CPU when no Vulkan
// device is usable) with `note` saying why; a named device that is missing or unusable is an
// error naming the devices there are.
struct ChosenBackend {
    std::unique_ptr<GpuBackend> backend;
    std::string note;  // one line: what was chosen and, for a fallback, why
};
Expected<ChosenBackend, std::string> choose_gpu_backend(const GpuChoice& choice);

std::unique_ptr<GpuBackend> make_cpu_backend();

}  // namespace spiced::gpu
