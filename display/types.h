// The vocabulary of the display model: what a source publishes about its screens and what
// clients ask of them. Plain values; nothing here knows SPICE's wire format or any source.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pixels/geometry.h"

namespace spiced {

// Most heads one desktop may have (SPICE clients show up to 16 monitors).
inline constexpr uint32_t kMaxHeads = 16;
// Most pixels one surface may have: 16 heads of 1920x1080 (or one 7680x4320). A request for
// more is refused; it bounds what one frame can cost in memory.
inline constexpr int64_t kMaxSurfacePixels = int64_t{7680} * 4320;

// The area `dest` of the new frame holds what was at `src` (top-left, same size) in the
// previous frame of the same display (SPICE's COPY_BITS). The moves of one frame never have
// one's dest overlapping another's src, so they can be applied in any order, each reading the
// previous frame.
struct MoveHint {
    Rect dest;
    Point src;
    friend bool operator==(const MoveHint&, const MoveHint&) = default;
};

// Straight (not premultiplied) alpha, 0xAARRGGBB, row-major, width * height pixels.
struct CursorImage {
    int32_t width = 0;
    int32_t height = 0;
    Point hotspot;
    std::vector<uint32_t> argb;
};

// A pointer shape. `id` names it for clients' cursor caches: the same id always means the
// same pixels, so a source gives a changed shape a new id.
struct PointerShape {
    uint64_t id = 0;
    CursorImage image;
};

// How a source's heads map onto SPICE display channels.
enum class MonitorModel : uint8_t {
    // One display channel; its primary surface holds every head side by side and carries a
    // monitors config (QXL's model, and spice-gtk's "one display, N monitors").
    kOneSurface,
    // One display channel per head, ids 0..N-1, each surface one head (QEMU's model for
    // multihead devices other than QXL).
    kChannelPerHead,
};

// One monitor on a display's surface: the id clients know it by (SPICE's monitor_id: the head
// number in kOneSurface, always 0 in kChannelPerHead) and where it is on the surface.
struct Head {
    uint32_t monitor = 0;
    Rect rect;
    friend bool operator==(const Head&, const Head&) = default;
};

// One display channel's screen: its primary surface and the heads (monitors) on it, in
// surface coordinates. A display whose surface is empty has no surface right now (a head that
// is switched off in kChannelPerHead).
struct DisplayLayout {
    Size surface;
    std::vector<Head> heads;
    friend bool operator==(const DisplayLayout&, const DisplayLayout&) = default;
};

// A client's wish for one monitor (from a VDAgent monitors config). `index` counts monitors
// as clients do (their "display id"): the monitor id in kOneSurface, the display channel in
// kChannelPerHead; in both models that is the head number.
struct MonitorRequest {
    uint32_t index = 0;
    bool enabled = true;
    Rect rect;  // position (when the client gave one) and size
};

// Who sent something, for replies: the SPICE session id, or 0 for "every session".
using ClientId = uint32_t;

}  // namespace spiced
