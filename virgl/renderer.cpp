#include "virgl/renderer.h"

#include <EGL/egl.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

extern "C" {
#include <virglrenderer.h>
}

#include "base/log.h"
#include "virgl/command_encoder.h"

// virglrenderer.h only declares it; the library takes it as six 32-bit words.
struct virgl_box {
    uint32_t x, y, z, w, h, d;
};

namespace spiced::virgl {

namespace {
// Process-global library state: one renderer at a time.
std::atomic<bool> g_in_use{false};

// Capability set 2 ("virgl2"): what a guest driver asks for first. Everything this source
// sends (surfaces, CLEAR, RESOURCE_COPY_REGION) is in every version of it.
constexpr uint32_t kCapsetVirgl2 = 2;

void write_fence(void*, uint32_t) {}

// The library's own messages (why it could not start, what it refused): kept, the last few,
// for the error we return, and logged at debug level.
std::string g_messages;

void library_message(const char* format, va_list args) {
    char line[512];
    std::vsnprintf(line, sizeof(line), format, args);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.empty()) return;
    LOG_DEBUG("virgl", "virglrenderer: %s", text.c_str());
    if (g_messages.size() < 2048) g_messages += (g_messages.empty() ? "" : "; ") + text;
}

std::string library_says() {
    return g_messages.empty() ? std::string() : ": " + g_messages;
}

virgl_renderer_callbacks g_callbacks = {
    .version = 1,
    .write_fence = write_fence,
    .create_gl_context = nullptr,
    .destroy_gl_context = nullptr,
    .make_current = nullptr,
    .get_drm_fd = nullptr,
};

// The library makes its GL context current on the calling thread and expects it to stay so;
// we let go of it after every call, and ask the library to bind it again before the next.
void release_gl() {
    EGLDisplay display = eglGetCurrentDisplay();
    if (display != EGL_NO_DISPLAY)
        eglMakeCurrent(display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
}

struct GlScope {
    GlScope() { virgl_renderer_force_ctx_0(); }
    ~GlScope() { release_gl(); }
    GlScope(const GlScope&) = delete;
    GlScope& operator=(const GlScope&) = delete;
};
}  // namespace

Expected<std::unique_ptr<Renderer>, std::string> Renderer::create(Size size) {
    if (size.width <= 0 || size.height <= 0 || size.width > 8192 || size.height > 8192)
        return unexpected(std::string("the render target must be 1..8192 pixels a side"));
    if (g_in_use.exchange(true))
        return unexpected(std::string("virglrenderer is already in use in this process"));
    std::unique_ptr<Renderer> renderer(new Renderer(size));
    g_messages.clear();
    virgl_set_debug_callback(library_message);
    const int flags = VIRGL_RENDERER_USE_EGL | VIRGL_RENDERER_USE_SURFACELESS;
    if (int error = virgl_renderer_init(renderer.get(), flags, &g_callbacks); error != 0) {
        g_in_use = false;
        return unexpected(
            "virglrenderer cannot start on EGL surfaceless (virgl_renderer_init " +
            std::to_string(error) + library_says() +
            "; it needs EGL_MESA_platform_surfaceless and a GL driver such as Mesa's llvmpipe)");
    }
    renderer->initialised_ = true;

    uint32_t max_version = 0;
    uint32_t caps_size = 0;
    virgl_renderer_get_cap_set(kCapsetVirgl2, &max_version, &caps_size);
    if (max_version == 0 || caps_size == 0) {
        release_gl();
        return unexpected(std::string("virglrenderer offers no virgl2 capability set"));
    }
    static constexpr char kName[] = "spiced-virgl-source";
    if (int error = virgl_renderer_context_create(kContext, sizeof(kName) - 1, kName); error != 0) {
        release_gl();
        return unexpected("virglrenderer cannot create a context (" +
                          std::string(std::strerror(error < 0 ? -error : error)) + ")");
    }
    renderer->context_created_ = true;

    if (auto target = renderer->create_texture(kTarget, size); !target) {
        release_gl();
        return unexpected(target.error());
    }
    renderer->description_ =
        "virglrenderer on EGL surfaceless, capset virgl2 v" + std::to_string(max_version);
    release_gl();
    return renderer;
}

Renderer::~Renderer() {
    if (initialised_) {
        {
            GlScope scope;
            for (uint32_t handle : resources_) {
                virgl_renderer_ctx_detach_resource(int(kContext), int(handle));
                virgl_renderer_resource_unref(handle);
            }
            if (context_created_) virgl_renderer_context_destroy(kContext);
        }
        virgl_renderer_force_ctx_0();
        virgl_renderer_cleanup(this);
        release_gl();
    }
    g_in_use = false;
}

Expected<void, std::string> Renderer::create_texture(uint32_t handle, Size size) {
    if (size.width <= 0 || size.height <= 0 || size.width > 8192 || size.height > 8192)
        return unexpected(std::string("a texture must be 1..8192 pixels a side"));
    GlScope scope;  // the library makes the GL texture at once
    virgl_renderer_resource_create_args args{};
    args.handle = handle;
    args.target = kTargetTexture2D;
    args.format = kFormatB8G8R8X8Unorm;
    args.bind = kBindRenderTarget | kBindSamplerView;
    args.width = uint32_t(size.width);
    args.height = uint32_t(size.height);
    args.depth = 1;
    args.array_size = 1;
    if (int error = virgl_renderer_resource_create(&args, nullptr, 0); error != 0)
        return unexpected("virglrenderer cannot create a " + std::to_string(size.width) + "x" +
                          std::to_string(size.height) + " texture (" +
                          std::string(std::strerror(error < 0 ? -error : error)) + ")");
    resources_.push_back(handle);
    virgl_renderer_ctx_attach_resource(int(kContext), int(handle));
    return {};
}

Expected<void, std::string> Renderer::submit(std::span<const uint32_t> commands) {
    // The library takes a mutable buffer (a guest's copy, in QEMU); give it ours.
    submitted_.assign(commands.begin(), commands.end());
    g_messages.clear();
    GlScope scope;
    if (int error =
            virgl_renderer_submit_cmd(submitted_.data(), int(kContext), int(submitted_.size()));
        error != 0)
        return unexpected("virglrenderer refused the command stream (" +
                          std::string(std::strerror(error < 0 ? -error : error)) + library_says() +
                          ")");
    return {};
}

Expected<void, std::string> Renderer::read(Frame& frame) {
    if (frame.size() != size_) return unexpected(std::string("frame size is not the target's"));
    GlScope scope;
    virgl_box box{0, 0, 0, uint32_t(size_.width), uint32_t(size_.height), 1};
    iovec iov{frame.data(), size_t(frame.stride()) * size_t(size_.height)};
    if (int error = virgl_renderer_transfer_read_iov(kTarget, kContext, 0, uint32_t(frame.stride()),
                                                     0, &box, 0, &iov, 1);
        error != 0)
        return unexpected("virglrenderer cannot read the render target back (" +
                          std::string(std::strerror(error < 0 ? -error : error)) + ")");
    return {};
}

}  // namespace spiced::virgl
