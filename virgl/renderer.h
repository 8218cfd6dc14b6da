// VirglRenderer: virglrenderer (the library QEMU's virtio-gpu runs guests' GL through) driven
// by us as if we were a guest: one virgl context, one B8G8R8X8 2D render target of the display
// size, command streams in (virgl/command_encoder.h), pixels out with a transfer read.
//
// The library keeps process-global state, so there is at most one VirglRenderer at a time. It
// runs on EGL surfaceless (Mesa's llvmpipe where there is no GPU; no DRM device, no GBM). Its
// GL contexts are made current only inside submit() and read() and released again, so the
// object may be created on one thread (the server's main thread, to refuse to start with a
// clear error) and used on another (the desktop thread) — one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "pixels/frame.h"
#include "pixels/geometry.h"

namespace spiced::virgl {

class Renderer {
public:
    static Expected<std::unique_ptr<Renderer>, std::string> create(Size size);
    ~Renderer();
    Renderer(const Renderer&) = delete;
    Renderer& operator=(const Renderer&) = delete;

    Size size() const { return size_; }
    // The render target's resource handle (what surfaces and CLEAR_TEXTURE name).
    uint32_t target() const { return kTarget; }
    // "virglrenderer, EGL surfaceless, capset virgl2 v<N>".
    const std::string& description() const { return description_; }

    // Another B8G8R8X8 2D texture (render target and sampler) the context may use, of handle
    // `handle` (not target()'s).
    Expected<void, std::string> create_texture(uint32_t handle, Size size);

    // Runs `commands` on the context. An error is the library's refusal (a malformed stream).
    Expected<void, std::string> submit(std::span<const uint32_t> commands);
    // Reads the whole render target into `frame` (of size(); any stride).
    Expected<void, std::string> read(Frame& frame);

private:
    static constexpr uint32_t kContext = 1;
    static constexpr uint32_t kTarget = 1;
    explicit Renderer(Size size) : size_(size) {}

    Size size_;
    std::string description_;
    bool initialised_ = false;
    bool context_created_ = false;
    std::vector<uint32_t> resources_;  // created, attached to the context
    std::vector<uint32_t> submitted_;  // the command stream being submitted
};

}  // namespace spiced::virgl
