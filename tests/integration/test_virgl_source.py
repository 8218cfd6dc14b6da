#!/usr/bin/python3
"""--source virgl: moving rectangles that virglrenderer renders (EGL surfaceless, Mesa's llvmpipe
where there is no GPU) from our own virgl command stream. A SpiceClientGLib client follows the
animation and must equal the frozen frame's --dump-frame pixel for pixel, and the frame must be
the picture the scene describes: the grey background and each rectangle in its colour at its
place (so a blank or misplaced virgl output fails). Exit code 77 when virglrenderer cannot start
here (no EGL, or a build without libvirglrenderer-dev)."""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

# virgl/scene.h: background, then the rectangles in order (later ones cover earlier ones).
BACKGROUND = 0x333333
COLORS = [0xFF0000, 0x00FF00, 0x0000FF, 0xFFFF00, 0xFF00FF]


def bounce(t, span):
    if span <= 0:
        return 0
    period = 2 * span
    phase = t % period
    return phase if phase <= span else period - phase


def rects_at(width, height, index):
    """Scene::rects_at: (x, y, w, h) of each rectangle in frame `index`."""
    rw, rh = max(width // 6, 1), max(height // 6, 1)
    span_x, span_y = width - rw, height - rh
    rects = []
    for n in range(len(COLORS)):
        speed_x = max(1, width * (3 + n) // 400)
        speed_y = max(1, height * (5 - n % 3) // 400)
        start_x = span_x * n // len(COLORS)
        start_y = span_y * ((n * 3) % len(COLORS)) // len(COLORS)
        rects.append((bounce(start_x + index * speed_x, span_x),
                      bounce(start_y + index * speed_y, span_y), rw, rh))
    return rects


def rgb(color):
    return [(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF]


def expected_picture(width, height, index):
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:, :] = rgb(BACKGROUND)
    for (x, y, w, h), color in zip(rects_at(width, height, index), COLORS):
        img[y:y + h, x:x + w] = rgb(color)
    return img


def virgl_starts(server):
    """None when --source virgl starts here, else why not."""
    with tempfile.TemporaryDirectory(prefix="spiced-virgl-probe-") as d:
        srv = H.ServerProcess(server, ["--disable-ticketing", "--source", "virgl",
                                       "--demo-size", "320x240"], workdir=d)
        try:
            srv.start()
        except H.TestFailure:
            log = srv.log() if srv.stderr_path else ""
            why = re.search(r"cannot start: (--source virgl: .*)", log)
            if why:
                return why.group(1)
            raise
        srv.stop()
    return None


def animation_case(size, freeze, compression):
    def run(args):
        width, height = (int(v) for v in size.split("x"))
        with tempfile.TemporaryDirectory(prefix="spiced-virgl-") as d:
            dump = os.path.join(d, "frame.ppm")
            extra = ["--disable-ticketing", "--source", "virgl", "--demo-size", size,
                     "--demo-freeze", str(freeze), "--dump-frame", dump,
                     "--image-compression", compression]
            with H.ServerProcess(args.server, extra, workdir=d) as srv:
                H.check(H.wait_until(lambda: "virglrenderer on EGL surfaceless" in srv.log(), 5.0),
                        "no virgl source in the start-up line:\n" + srv.log())
                client = H.SpiceClient(port=srv.port, name="virgl").connect()
                client.wait_first_invalidate(15.0)
                H.check(not os.path.exists(dump), "the source froze before the client connected")
                H.check(H.wait_until(lambda: os.path.exists(dump), 60.0), "the source never froze")
                ok, fb, exp = client.wait_framebuffer_equals(lambda: H.try_read_ppm(dump), 15.0)
                H.check(ok, "after %d animated frames: %s"
                        % (freeze, H.diff_report(fb, exp, "client", "dump")))
                updates = client.invalidate_count
                client.disconnect()
                H.pump(0.3)
                H.check("frozen at frame %d" % freeze in srv.log(), "no freeze line in the log")
            dumped = H.read_ppm(dump)
            model = expected_picture(width, height, freeze)
            report = H.diff_report(dumped, model, "virgl frame", "scene model")
            H.check(not report, "the virgl frame is not the scene: " + report)
            # And the model itself shows every colour (no rectangle hidden entirely).
            for color in COLORS + [BACKGROUND]:
                H.check(np.any(np.all(dumped == rgb(color), axis=2)),
                        "colour %06x missing from the frame" % color)
            print("  %s, frame %d: client equals the dump and the scene; %d invalidates"
                  % (size, freeze, updates))
    return run


def main():
    args = H.parse_args(__doc__)
    H._make_self_headless()
    why = virgl_starts(args.server)
    if why:
        print("SKIP: %s" % why)
        return 77
    cases = [
        ("follow_animation_then_freeze_640x480_lz4", animation_case("640x480", 90, "lz4")),
        ("follow_animation_then_freeze_1280x720_auto_glz",
         animation_case("1280x720", 60, "auto_glz")),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
