/* The GL program of the virgl test guest (tests/integration/virgl_guest.py builds it on the
 * host and copies it, with its shared libraries and Mesa's virtio_gpu driver, into the guest's
 * initramfs).
 *
 * On /dev/dri/card0 (the virtio_gpu DRM driver) it renders a still picture with GLES2 through
 * GBM + EGL, which Mesa's virgl driver turns into commands for the host's virglrenderer, shows
 * that buffer with drmModeSetCrtc, prints
 *     GUEST GL READY <width>x<height> renderer=<GL_RENDERER>
 * and holds still. Each SIGUSR1 renders and shows the next frame, then prints
 *     GUEST GL FRAME <n>
 * Between those the picture never changes, and the process keeps the DRM device open (closing
 * it would give the display back to the fbcon console).
 *
 * Frame n (from 0): a dark blue background, three solid triangles whose colours are red, green
 * and blue from left to right turned n places (frame 1: green, blue, red), and a band across
 * the bottom whose colour runs from black to white (a GLES gradient: the interpolation is done
 * by the host's GPU). Later frames change only the triangles.
 *
 * Before showing a frame it reads it back with glReadPixels (through virgl: from the host's
 * render target) and writes it to the file named by its second argument, top row first, 4 bytes
 * a pixel (R, G, B, A): the guest's own view of its GL output, which the test compares with what
 * the remote client received. (QEMU 7.2's screendump cannot read a console that shows a GL
 * scanout: "no surface".)
 * Failures print "GUEST GL FAIL <what>" and exit 1.
 */
#define _GNU_SOURCE
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <fcntl.h>
#include <gbm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

static void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("GUEST GL FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(1);
}

struct output {
    uint32_t connector;
    uint32_t crtc;
    drmModeModeInfo mode;
};

/* The first connected connector, its preferred mode and a CRTC that can drive it. */
static struct output find_output(int fd) {
    struct output out;
    memset(&out, 0, sizeof(out));
    drmModeRes* res = drmModeGetResources(fd);
    if (!res) {
        fail("drmModeGetResources");
    }
    for (int i = 0; i < res->count_connectors && !out.connector; i++) {
        drmModeConnector* conn = drmModeGetConnector(fd, res->connectors[i]);
        if (!conn) {
            continue;
        }
        if (conn->connection == DRM_MODE_CONNECTED && conn->count_modes > 0) {
            out.mode = conn->modes[0];
            for (int m = 0; m < conn->count_modes; m++) {
                if (conn->modes[m].type & DRM_MODE_TYPE_PREFERRED) {
                    out.mode = conn->modes[m];
                    break;
                }
            }
            for (int e = 0; e < conn->count_encoders && !out.crtc; e++) {
                drmModeEncoder* enc = drmModeGetEncoder(fd, conn->encoders[e]);
                if (!enc) {
                    continue;
                }
                for (int c = 0; c < res->count_crtcs; c++) {
                    if (enc->possible_crtcs & (1u << c)) {
                        out.crtc = res->crtcs[c];
                        break;
                    }
                }
                drmModeFreeEncoder(enc);
            }
            if (out.crtc) {
                out.connector = conn->connector_id;
            }
        }
        drmModeFreeConnector(conn);
    }
    drmModeFreeResources(res);
    if (!out.connector) {
        fail("no connected connector with a mode and a CRTC");
    }
    return out;
}

static GLuint shader(GLenum type, const char* source) {
    GLuint s = glCreateShader(type);
    glShaderSource(s, 1, &source, NULL);
    glCompileShader(s);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[512] = "";
        glGetShaderInfoLog(s, sizeof(log), NULL, log);
        fail("shader: %s", log);
    }
    return s;
}

static const char* VERTEX_SHADER =
    "attribute vec2 position;\n"
    "attribute vec3 colour;\n"
    "varying vec3 v_colour;\n"
    "void main() {\n"
    "    v_colour = colour;\n"
    "    gl_Position = vec4(position, 0.0, 1.0);\n"
    "}\n";

static const char* FRAGMENT_SHADER =
    "precision mediump float;\n"
    "varying vec3 v_colour;\n"
    "void main() { gl_FragColor = vec4(v_colour, 1.0); }\n";

/* x, y (clip space), r, g, b; the triangles' colours are set per frame. */
#define TRIANGLES 3
// clang-format off
static const GLfloat VERTICES[] = {
    -0.90f, -0.40f, 0, 0, 0,   -0.40f, -0.40f, 0, 0, 0,   -0.65f, 0.80f, 0, 0, 0,
    -0.25f, -0.40f, 0, 0, 0,    0.25f, -0.40f, 0, 0, 0,    0.00f, 0.80f, 0, 0, 0,
     0.40f, -0.40f, 0, 0, 0,    0.90f, -0.40f, 0, 0, 0,    0.65f, 0.80f, 0, 0, 0,
    /* the gradient band: two triangles, black on the left, white on the right */
    -0.90f, -0.90f, 0, 0, 0,    0.90f, -0.90f, 1, 1, 1,    0.90f, -0.60f, 1, 1, 1,
    -0.90f, -0.90f, 0, 0, 0,    0.90f, -0.60f, 1, 1, 1,   -0.90f, -0.60f, 0, 0, 0,
};
// clang-format on
#define VERTEX_COUNT (sizeof(VERTICES) / sizeof(VERTICES[0]) / 5)

static const GLfloat PALETTE[TRIANGLES][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};

/* The frame glReadPixels gives (bottom row first) written top row first. */
static void save_frame(const char* path, uint32_t width, uint32_t height) {
    size_t row = (size_t)width * 4;
    unsigned char* pixels = malloc(row * height);
    if (!pixels) {
        fail("out of memory");
    }
    glPixelStorei(GL_PACK_ALIGNMENT, 4);
    glReadPixels(0, 0, (GLsizei)width, (GLsizei)height, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
    if (glGetError() != GL_NO_ERROR) {
        fail("glReadPixels");
    }
    FILE* f = fopen(path, "wb");
    if (!f) {
        fail("cannot write %s", path);
    }
    for (uint32_t y = height; y-- > 0;) {
        if (fwrite(pixels + (size_t)y * row, 1, row, f) != row) {
            fail("cannot write %s", path);
        }
    }
    if (fclose(f) != 0) {
        fail("cannot write %s", path);
    }
    free(pixels);
}

static GLuint make_program(void) {
    GLuint program = glCreateProgram();
    glAttachShader(program, shader(GL_VERTEX_SHADER, VERTEX_SHADER));
    glAttachShader(program, shader(GL_FRAGMENT_SHADER, FRAGMENT_SHADER));
    glBindAttribLocation(program, 0, "position");
    glBindAttribLocation(program, 1, "colour");
    glLinkProgram(program);
    GLint ok = 0;
    glGetProgramiv(program, GL_LINK_STATUS, &ok);
    if (!ok) {
        fail("program link");
    }
    return program;
}

static void draw(GLuint program, unsigned frame) {
    GLfloat vertices[sizeof(VERTICES) / sizeof(VERTICES[0])];
    memcpy(vertices, VERTICES, sizeof(vertices));
    for (unsigned t = 0; t < TRIANGLES; t++) {
        for (unsigned v = 3 * t; v < 3 * t + 3; v++) {
            memcpy(&vertices[5 * v + 2], PALETTE[(t + frame) % TRIANGLES], 3 * sizeof(GLfloat));
        }
    }
    glUseProgram(program);
    glClearColor(0.0f, 0.0f, 0.25f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), vertices);
    glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), vertices + 2);
    glEnableVertexAttribArray(0);
    glEnableVertexAttribArray(1);
    glDrawArrays(GL_TRIANGLES, 0, (GLsizei)VERTEX_COUNT);
    glFinish();
    if (glGetError() != GL_NO_ERROR) {
        fail("GL error while drawing");
    }
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DRM-DEVICE FRAME-FILE\n", argv[0]);
        return 2;
    }
    const char* device = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fail("open %s", device);
    }
    struct output out = find_output(fd);
    uint32_t width = out.mode.hdisplay;
    uint32_t height = out.mode.vdisplay;

    struct gbm_device* gbm = gbm_create_device(fd);
    if (!gbm) {
        fail("gbm_create_device");
    }
    struct gbm_surface* surface = gbm_surface_create(gbm, width, height, GBM_FORMAT_XRGB8888,
                                                     GBM_BO_USE_SCANOUT | GBM_BO_USE_RENDERING);
    if (!surface) {
        fail("gbm_surface_create %ux%u", width, height);
    }

    EGLDisplay dpy = eglGetPlatformDisplay(EGL_PLATFORM_GBM_KHR, gbm, NULL);
    EGLint major = 0, minor = 0;
    if (dpy == EGL_NO_DISPLAY || !eglInitialize(dpy, &major, &minor)) {
        fail("eglInitialize (0x%x)", eglGetError());
    }
    if (!eglBindAPI(EGL_OPENGL_ES_API)) {
        fail("eglBindAPI");
    }
    static const EGLint config_attribs[] = {EGL_SURFACE_TYPE,
                                            EGL_WINDOW_BIT,
                                            EGL_RENDERABLE_TYPE,
                                            EGL_OPENGL_ES2_BIT,
                                            EGL_RED_SIZE,
                                            8,
                                            EGL_GREEN_SIZE,
                                            8,
                                            EGL_BLUE_SIZE,
                                            8,
                                            EGL_ALPHA_SIZE,
                                            0,
                                            EGL_NONE};
    EGLConfig configs[64];
    EGLint count = 0;
    if (!eglChooseConfig(dpy, config_attribs, configs, 64, &count) || count == 0) {
        fail("eglChooseConfig");
    }
    /* The config whose native format is the GBM surface's. */
    EGLConfig config = NULL;
    for (EGLint i = 0; i < count && !config; i++) {
        EGLint visual = 0;
        eglGetConfigAttrib(dpy, configs[i], EGL_NATIVE_VISUAL_ID, &visual);
        if ((uint32_t)visual == GBM_FORMAT_XRGB8888) {
            config = configs[i];
        }
    }
    if (!config) {
        fail("no EGL config for XRGB8888");
    }
    static const EGLint context_attribs[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
    EGLContext ctx = eglCreateContext(dpy, config, EGL_NO_CONTEXT, context_attribs);
    if (ctx == EGL_NO_CONTEXT) {
        fail("eglCreateContext (0x%x)", eglGetError());
    }
    EGLSurface egl_surface = eglCreatePlatformWindowSurface(dpy, config, surface, NULL);
    if (egl_surface == EGL_NO_SURFACE) {
        fail("eglCreatePlatformWindowSurface (0x%x)", eglGetError());
    }
    if (!eglMakeCurrent(dpy, egl_surface, egl_surface, ctx)) {
        fail("eglMakeCurrent (0x%x)", eglGetError());
    }

    glViewport(0, 0, (GLsizei)width, (GLsizei)height);
    GLuint program = make_program();
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);

    struct gbm_bo* shown = NULL;
    for (unsigned frame = 0;; frame++) {
        draw(program, frame);
        save_frame(argv[2], width, height);
        if (!eglSwapBuffers(dpy, egl_surface)) {
            fail("eglSwapBuffers (0x%x)", eglGetError());
        }
        struct gbm_bo* bo = gbm_surface_lock_front_buffer(surface);
        if (!bo) {
            fail("gbm_surface_lock_front_buffer");
        }
        uint32_t fb = 0;
        if (drmModeAddFB(fd, width, height, 24, 32, gbm_bo_get_stride(bo),
                         gbm_bo_get_handle(bo).u32, &fb)) {
            fail("drmModeAddFB");
        }
        if (drmModeSetCrtc(fd, out.crtc, fb, 0, 0, &out.connector, 1, &out.mode)) {
            fail("drmModeSetCrtc");
        }
        if (shown) {
            /* Off the screen now: its framebuffer goes, the surface may reuse it. */
            drmModeRmFB(fd, (uint32_t)(uintptr_t)gbm_bo_get_user_data(shown));
            gbm_surface_release_buffer(surface, shown);
        }
        gbm_bo_set_user_data(bo, (void*)(uintptr_t)fb, NULL);
        shown = bo;
        if (frame == 0) {
            printf("GUEST GL READY %ux%u renderer=%s\n", width, height,
                   (const char*)glGetString(GL_RENDERER));
        } else {
            printf("GUEST GL FRAME %u\n", frame);
        }
        int sig = 0;
        sigwait(&usr1, &sig);
    }
}
