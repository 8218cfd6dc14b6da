#!/usr/bin/python3
"""A Linux guest drawing with OpenGL ES through virgl, served by OUR libspice-server.so.1 in QEMU.

QEMU runs `-device virtio-vga-gl -display egl-headless,rendernode=/dev/null -spice port=...`
under TCG: the guest's GL commands go through the virtio-gpu device to virglrenderer on the
host, which renders on Mesa's llvmpipe (no GPU needed; the fake render node makes egl-headless
fall back to it), and egl-headless reads each GL scanout back into the console's 2D surface,
which QEMU's SPICE display hands to the library as QXL drawing commands, as for any 2D device.
(QEMU 7.2 refuses `gl=on` with a SPICE port; `gl=on` would also need a dmabuf, which swrast
cannot export.) The guest (virgl_guest.py: Debian 12's kernel, its virtio_gpu DRM driver and a
GBM + EGL + GLES2 program on Mesa's virgl driver, all copied from the host's Debian 12) draws
a still picture (three solid triangles and a grey gradient band on dark blue), then on the
test's command a second one whose triangles' colours turned.

Checks:
  - QEMU mapped our library and no other libspice-server (a run on Debian's library fails).
  - The guest's GL_RENDERER says virgl.
  - The guest's own read-back of each picture (glReadPixels, dumped gzipped over a second serial
    port) equals, pixel for pixel, the picture of a SpiceClientGLib client that watched the
    boot, for the first GL frame and for the second (a partial update); the second also equals
    spicy-screenshot's picture, taken afterwards. QEMU's `screendump` is no reference here:
    QEMU 7.2 answers "no surface" for a console that shows a GL scanout.
  - Each picture is the expected one, not a blank or stale frame: the background, the three
    triangles' colours in the expected amounts and places, the gradient band at the bottom
    running from dark to light.
  - The guest powers off and QEMU exits with 0, with no sanitizer report from our library.
Figures printed: QEMU start to SPICE listening, to "GUEST GL READY", to the client's GL picture;
the second frame's time to the client; the bytes the client received.

A sanitizer build of the library runs the same way: its runtimes are LD_PRELOADed into QEMU
(test_dropin_linux.Qemu.start).

Run it (after building spiced-gpu and spiced_spice_server):
    GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 /usr/bin/python3 \\
        tests/integration/test_dropin_virgl.py --server build/host/spiced-gpu \\
        --library build/qxl/libspice-server.so.1 --cache build/linux-guest-virgl
or `ctest --test-dir build -R integration_dropin_virgl`. The first run downloads the kernel
package and builds the initramfs into --cache (about 75 MB; 30 s); later runs reuse it.
Skips (exit 77) when qemu-system-x86_64 or its virtio-vga-gl device (package qemu-system-gui)
is missing or the kernel package cannot be downloaded.
"""

import gzip
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402
import test_dropin_linux as L  # noqa: E402
import virgl_guest  # noqa: E402

SKIP = 77
BOOT_TIMEOUT = 240.0     # TCG on 2 shared cores; seen: "GUEST GL READY" ~18 s after start


def parse_args():
    return L.parse_args(__doc__, watchdog=550.0, qxl_debug=False)


class VirglQemu(L.Qemu):
    # The initramfs unpacks to about 220 MB (Mesa's driver and LLVM).
    memory_mb = 1024

    def display_argv(self):
        return ["-device", "virtio-vga-gl", "-display", "egl-headless,rendernode=/dev/null"]


def dump_guest_frame(console, qemu, size):
    """The guest's glReadPixels of its picture -> (h, w, 3) RGB."""
    width, height = size
    offset = os.path.getsize(qemu.fb_path)
    console.send("dump")
    m = console.wait_for(r"GUEST DUMPED (\d+)", 60.0, qemu)
    raw = gzip.decompress(L.read_serial(qemu.fb_path, offset, int(m.group(1)), 60.0, qemu))
    H.check(len(raw) == width * height * 4, "the guest's frame has %d bytes, want %dx%dx4"
            % (len(raw), width, height))
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()


COLOURS = (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255)))


def check_picture(frame, number):
    """Frame `number` of virgl_guest_gl.c, in the right places: not blank, not stale, not
    flipped. `frame` is (h, w, 3) RGB, top row first."""
    h, w = frame.shape[:2]
    total = h * w

    def mask(rgb):
        return np.all(frame == np.array(rgb, dtype=np.uint8), axis=2)
    background = int(mask((0, 0, 64)).sum())
    print("  picture: %.1f%% dark blue background" % (100.0 * background / total), flush=True)
    H.check(background > 0.4 * total, "the background (0,0,64) covers only %d of %d pixels"
            % (background, total))
    # Each triangle covers 7.5% of the picture, apex up (more pixels in its lower half). Frame
    # 0 has red on the left, green in the middle, blue on the right; each frame turns them.
    for third in range(3):
        name, rgb = COLOURS[(third + number) % 3]
        m = mask(rgb)
        n = int(m.sum())
        ys, xs = np.nonzero(m)
        H.check(0.06 * total < n < 0.09 * total, "%s triangle: %d pixels, want about %d"
                % (name, n, int(0.075 * total)))
        cx, cy = xs.mean() / w, ys.mean() / h
        H.check(third / 3.0 < cx < (third + 1) / 3.0, "%s triangle centred at x=%.2f of the "
                "width, want its third" % (name, cx))
        H.check(0.35 < cy < 0.6 and (ys > (ys.min() + ys.max()) / 2).sum() > n / 2,
                "%s triangle: centre y=%.2f of the height, or apex not up (flipped?)"
                % (name, cy))
        print("  picture: %s triangle %d pixels centred at (%.2f, %.2f)" % (name, n, cx, cy),
              flush=True)
    # The band: rows 80..95% of the height, x 5..95% of the width, grey from dark to light.
    row = frame[int(0.875 * h), int(0.06 * w):int(0.94 * w)].astype(int)
    grey = bool(np.all(row[:, 0] == row[:, 1]) and np.all(row[:, 1] == row[:, 2]))
    levels = len(np.unique(row[:, 0]))
    H.check(grey and levels > 200 and row[0, 0] < 40 and row[-1, 0] > 215
            and np.all(np.diff(row[:, 0]) >= 0),
            "the gradient band is not a rising grey ramp at the bottom (grey=%s, %d levels, "
            "%d..%d)" % (grey, levels, row[0, 0], row[-1, 0]))
    print("  picture: gradient band %d grey levels, %d..%d left to right"
          % (levels, row[0, 0], row[-1, 0]), flush=True)


def case_linux_virgl_guest(args):
    files = L.prepare_guest(args, virgl_guest.prepare)
    workdir = tempfile.mkdtemp(prefix="spiced-dropin-virgl-")
    qemu = VirglQemu(args, files, workdir)
    console = L.GuestConsole(qemu.console_path, os.path.join(workdir, "ttyS0.log"))
    problems = []
    with L.guest_session(qemu, console, workdir) as session:
        t_listen = L.start_guest(qemu, console, args.library)

        # A client watches the whole boot: SeaBIOS, the virtio_gpu console, the GL picture.
        session.watcher = watcher = L.connect_watcher(qemu)

        m = console.wait_for(r"GUEST GL (READY (\d+)x(\d+) renderer=([^\n]*)|FAIL[^\n]*)\n",
                             BOOT_TIMEOUT, qemu)
        H.check(m.group(1).startswith("READY"), "the guest's GL program failed: GUEST GL %s"
                % m.group(1))
        size = (int(m.group(2)), int(m.group(3)))
        renderer = m.group(4).strip()
        t_ready = qemu.elapsed()
        print("  guest GL: %dx%d, GL_RENDERER %s" % (size[0], size[1], renderer), flush=True)
        H.check(re.search(r"\bvirgl\b", renderer), "the guest did not render through virgl: "
                "GL_RENDERER is %r" % renderer)

        frame = dump_guest_frame(console, qemu, size)
        H.write_ppm(os.path.join(workdir, "guest-gl-0.ppm"), frame)
        check_picture(frame, 0)
        ok, fb, _ = watcher.wait_framebuffer_equals(lambda: frame, 60.0)
        # The picture holds still: the last update the client got is the one that completed it.
        t_picture = watcher.last_invalidate - qemu.t0
        L.compare("guest-gl-0", frame, "watcher-client", fb, workdir, problems)
        print("  FIGURES (seconds from QEMU's start): SPICE listening %.2f; guest GL picture "
              "shown (READY read on ttyS0) %.2f; its last update at the client %s" % (
                  t_listen, t_ready, "%.2f" % t_picture if ok else "never"), flush=True)
        display_bytes = watcher.bytes_read("display")
        print("  FIGURES (bytes the watching client received): display %d, main %d, cursor %d, "
              "inputs %d" % (display_bytes, watcher.bytes_read("main"),
                             watcher.bytes_read("cursor"), watcher.bytes_read("inputs")),
              flush=True)

        # The next GL frame (only the triangles change) reaches the same client.
        console.send("next")
        console.wait_for(r"GUEST GL FRAME 1\n", 60.0, qemu)
        t_shown = time.monotonic()
        frame = dump_guest_frame(console, qemu, size)
        H.write_ppm(os.path.join(workdir, "guest-gl-1.ppm"), frame)
        check_picture(frame, 1)
        ok, fb, _ = watcher.wait_framebuffer_equals(lambda: frame, 60.0)
        L.compare("guest-gl-1", frame, "watcher-client", fb, workdir, problems)
        print("  FIGURES (second GL frame): its last update at the client %s after FRAME 1 was "
              "read on ttyS0, %d display bytes" % (
                  "%+.2f s" % (watcher.last_invalidate - t_shown) if ok else "never",
                  watcher.bytes_read("display") - display_bytes), flush=True)

        # spicy-screenshot replaces the watcher (one client at a time, as spice-server).
        shot_path = os.path.join(workdir, "spicy-screenshot.ppm")
        rc, out = H.run_spicy_screenshot(qemu.port, shot_path, timeout=60.0)
        H.check(rc == 0, "spicy-screenshot exited %s: %s" % (rc, out))
        L.compare("guest-gl-1", frame, "spicy-screenshot", H.read_ppm(shot_path), workdir,
                  problems)
        watcher.disconnect()
        session.watcher = None

        L.power_off_guest(console, qemu, problems)
        H.check(not problems, "; ".join(problems))


# What QEMU says when the device or the display is not built or not installed (Debian: the
# virtio-gpu-gl module is in qemu-system-gui).
MISSING_VIRGL = ("missing object type", "is not a valid device model name",
                 "does not accept value 'egl-headless'", "Display 'egl-headless' is not available")


def qemu_virgl_missing(qemu):
    """None when this QEMU starts with virtio-vga-gl on egl-headless (paused, then told to
    quit); else what it said, when that says the device or display is missing (the test
    skips). Any other failure is left for the test to report."""
    p = subprocess.run([qemu, "-S", "-nodefaults", "-no-user-config", "-machine", "pc,accel=tcg",
                        "-display", "egl-headless,rendernode=/dev/null",
                        "-device", "virtio-vga-gl", "-monitor", "stdio"],
                       input=b"quit\n", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120)
    said = p.stderr.decode("utf-8", "replace")
    lines = [l for l in said.splitlines() if l.startswith("qemu-system")]
    if p.returncode != 0 and any(m in l for l in lines for m in MISSING_VIRGL):
        return lines[-1]
    return None


def main():
    args = parse_args()
    L.require_qemu(args)
    missing = qemu_virgl_missing(args.qemu)
    if missing:
        L.skip("QEMU cannot run virtio-vga-gl on egl-headless (Debian: install "
               "qemu-system-gui): %s" % missing)
    return L.run_guest_cases(args, [("linux_virgl_guest", case_linux_virgl_guest)],
                             virgl_guest.prepare)


if __name__ == "__main__":
    sys.exit(main())
