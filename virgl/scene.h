// VirglScene: the picture VirglSource shows, rendered by virglrenderer from our own command
// stream: a grey background and kRects solid rectangles in fixed colours that bounce around
// the screen, each moving a fixed number of pixels per frame (so frame N is the same picture on
// every run and every machine). Every frame is CLEAR of the render target and one
// RESOURCE_COPY_REGION per rectangle from a small texture that was cleared to its colour once.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "base/expected.h"
#include "pixels/frame.h"
#include "pixels/geometry.h"
#include "pixels/region.h"
#include "virgl/renderer.h"

namespace spiced::virgl {

class Scene {
public:
    static constexpr size_t kRects = 5;
    // 0xXXRRGGBB as a BGRX frame holds them.
    static constexpr uint32_t kBackground = 0x333333;
    static constexpr std::array<uint32_t, kRects> kColors = {0xff0000, 0x00ff00, 0x0000ff, 0xffff00,
                                                             0xff00ff};

    static Expected<std::unique_ptr<Scene>, std::string> create(Size size);

    Size size() const { return renderer_->size(); }
    const std::string& description() const { return renderer_->description(); }

    // Where rectangle i lies in frame `index` (later ones cover earlier ones).
    static std::array<Rect, kRects> rects_at(Size size, int64_t index);

    // Renders frame `index` and reads it into `frame` (of size()). `changed` gets where it may
    // differ from the frame rendered before (everything the first time).
    Expected<void, std::string> render(int64_t index, Frame& frame, Region& changed);

private:
    explicit Scene(std::unique_ptr<Renderer> renderer) : renderer_(std::move(renderer)) {}

    std::unique_ptr<Renderer> renderer_;
    bool rendered_ = false;
    std::array<Rect, kRects> last_{};
};

}  // namespace spiced::virgl
