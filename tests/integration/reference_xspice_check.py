#!/usr/bin/python3
"""Validate the integration-test harness against the REFERENCE SPICE server (Debian's
libspice-server 0.15.1, driven by Xspice). Not registered in CTest.

    /usr/bin/python3 tests/integration/reference_xspice_check.py [--only direct|scripts]

It needs packages xserver-xspice, x11-apps (xwd), xterm. Two parts:

1. direct checks with an xterm on Xspice: SpiceClientGLib's framebuffer and spicy-screenshot's
   picture equal `xwd -root`; typing through SpiceInputsChannel reaches X; a wrong password gives
   SPICE_CHANNEL_ERROR_AUTH and spicy-screenshot exit code 1; raw link replies (bad magic, huge
   size, version mismatch, unknown channel type) as the reference server sends them.

2. the real test scripts (test_*.py) run with `--server` pointing at THIS file, which then acts
   as a stand-in for spiced-gpu (role "server", chosen by SPICED_XSPICE_ROLE): it accepts
   spiced-gpu's options, starts Xorg+Xspice on the port, runs a small X client (role "demo":
   a deterministic scene, an editor area that shows typed text, marks where the pointer moves
   and presses, a moving box unless --demo-freeze) and writes --dump-frame from `xwd -root`
   whenever the picture changes. SPICED_IT_REFERENCE_SERVER=1 tells the scripts about the
   reference's known differences (no reply for an unknown channel type, no spiced `[link]` log
   lines, one client at a time, no password expiry).

Debian 12 quirk found here: Xspice (xserver-xspice 0.1.5+git20200331-3 on Xorg 21.1) segfaults
in xf86InitViewport at start unless QXL_NUM_HEADS=1 (or Option "NumHeads" "1") is set, besides
the FrameBufferSize/SurfaceBufferSize/CommandBufferSize options.
"""

import argparse
import ctypes
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

XORG = "/usr/lib/xorg/Xorg"

XORG_CONF = """
Section "ServerFlags"
  Option "AutoAddDevices" "False"
  Option "AutoEnableDevices" "False"
EndSection
Section "Device"
  Identifier "XSPICE"
  Driver "spiceqxl"
  Option "FrameBufferSize" "16"
  Option "SurfaceBufferSize" "128"
  Option "CommandBufferSize" "128"
  Option "NumHeads" "1"
EndSection
Section "InputDevice"
  Identifier "XSPICE POINTER"
  Driver "xspice pointer"
EndSection
Section "InputDevice"
  Identifier "XSPICE KEYBOARD"
  Driver "xspice keyboard"
EndSection
Section "Monitor"
  Identifier "Configured Monitor"
EndSection
Section "Screen"
  Identifier "XSPICE Screen"
  Monitor "Configured Monitor"
  Device "XSPICE"
  DefaultDepth 24
EndSection
Section "ServerLayout"
  Identifier "XSPICE Example"
  Screen "XSPICE Screen"
  InputDevice "XSPICE KEYBOARD"
  InputDevice "XSPICE POINTER"
EndSection
"""


def _die_with_parent():
    # Xorg and the demo client must not outlive us, even on SIGKILL.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


def free_display():
    for n in range(90, 200):
        if not os.path.exists("/tmp/.X11-unix/X%d" % n) and not os.path.exists(
                "/tmp/.X%d-lock" % n):
            return n
    raise RuntimeError("no free X display number")


def read_xwd(data):
    """xwd -root output (32 bpp, LSB first) -> (h, w, 3) RGB."""
    f = struct.unpack(">25I", data[:100])
    header_size, bpp, bpl, byte_order = f[0], f[11], f[12], f[7]
    w, h, ncolors = f[4], f[5], f[19]
    if bpp not in (24, 32) or byte_order != 0:
        raise ValueError("unsupported xwd: bpp %d byte order %d" % (bpp, byte_order))
    off = header_size + ncolors * 12
    step = bpp // 8
    a = np.frombuffer(data, np.uint8, bpl * h, off).reshape(h, bpl)[:, :w * step]
    return a.reshape(h, w, step)[:, :, [2, 1, 0]].copy()


def xwd_root(display):
    out = subprocess.run(["xwd", "-root", "-silent", "-display", ":%d" % display],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20)
    return read_xwd(out.stdout)


class Xspice:
    """Xorg with the spiceqxl driver (Debian's libspice-server) on display :N."""

    def __init__(self, port, password=None, compression=None, workdir=None, library_dir=None,
                 extra_env=None):
        self.port = port
        self.display = free_display()
        self.dir = workdir or tempfile.mkdtemp(prefix="xspice-")
        self.conf = os.path.join(self.dir, "xorg.conf")
        with open(self.conf, "w") as f:
            f.write(XORG_CONF)
        env = dict(os.environ)
        env.update(XSPICE_PORT=str(port), XSPICE_ADDR="127.0.0.1", QXL_NUM_HEADS="1")
        if password is None:
            env["XSPICE_DISABLE_TICKETING"] = "1"
        else:
            env["XSPICE_PASSWORD"] = password
        if compression:
            env["XSPICE_IMAGE_COMPRESSION"] = compression
        if library_dir:
            # Which libspice-server.so.1 serves: ours (the drop-in tests) or Debian's.
            env["LD_LIBRARY_PATH"] = library_dir
        env.update(extra_env or {})
        self.log_path = os.path.join(self.dir, "xorg.log")
        self.out = open(os.path.join(self.dir, "xorg.out"), "wb")
        self.proc = subprocess.Popen(
            [XORG, "-config", self.conf, "-noreset", "-nolisten", "tcp", "-logfile",
             self.log_path, ":%d" % self.display], stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=self.out, env=env, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 20
        sock = "/tmp/.X11-unix/X%d" % self.display
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Xorg exited (%s); see %s" % (self.proc.returncode,
                                                                 self.log_path))
            if os.path.exists(sock):
                import spiced_harness as H
                if H.port_is_listening(port):
                    return
            time.sleep(0.05)
        raise RuntimeError("Xorg/Xspice did not come up on :%d port %d" % (self.display, port))

    def env(self):
        e = dict(os.environ)
        e["DISPLAY"] = ":%d" % self.display
        return e

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()

    def output(self):
        try:
            with open(os.path.join(self.dir, "xorg.out"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# role "demo": a tiny Xlib client drawn through ctypes

class XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("pad", ctypes.c_long * 24)]


class XInputEventHead(ctypes.Structure):
    # Common head of XKeyEvent / XButtonEvent / XMotionEvent (LP64 layout).
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("root", ctypes.c_ulong), ("subwindow", ctypes.c_ulong),
                ("time", ctypes.c_ulong), ("x", ctypes.c_int), ("y", ctypes.c_int),
                ("x_root", ctypes.c_int), ("y_root", ctypes.c_int), ("state", ctypes.c_uint),
                ("detail", ctypes.c_uint)]


def demo_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--freeze", action="store_true")
    a = ap.parse_args(argv)
    X = ctypes.CDLL("libX11.so.6")
    X.XOpenDisplay.restype = ctypes.c_void_p
    X.XOpenDisplay.argtypes = [ctypes.c_char_p]
    X.XDefaultScreen.argtypes = [ctypes.c_void_p]
    X.XRootWindow.restype = ctypes.c_ulong
    X.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
    X.XDisplayWidth.argtypes = X.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    X.XCreateSimpleWindow.restype = ctypes.c_ulong
    X.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                                      ctypes.c_ulong, ctypes.c_ulong]
    X.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
    X.XMapRaised.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    X.XCreateGC.restype = ctypes.c_void_p
    X.XCreateGC.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    X.XSetForeground.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong]
    X.XFillRectangle.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int,
                                 ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
    X.XDrawString.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    X.XPending.argtypes = [ctypes.c_void_p]
    X.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(XEvent)]
    X.XLookupString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                ctypes.c_void_p]
    X.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    X.XFlush.argtypes = X.XConnectionNumber.argtypes = [ctypes.c_void_p]
    X.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]

    dpy = X.XOpenDisplay(None)
    if not dpy:
        print("demo: cannot open display", file=sys.stderr)
        return 1
    scr = X.XDefaultScreen(dpy)
    root = X.XRootWindow(dpy, scr)
    W, Hh = X.XDisplayWidth(dpy, scr), X.XDisplayHeight(dpy, scr)
    win = X.XCreateSimpleWindow(dpy, root, 0, 0, W, Hh, 0, 0, 0x203040)
    X.XSelectInput(dpy, win, (1 << 0) | (1 << 2) | (1 << 6) | (1 << 15) | (1 << 17))
    X.XMapRaised(dpy, win)
    gc = X.XCreateGC(dpy, win, 0, None)
    rnd = random.Random(a.seed)
    rects = [(rnd.randrange(W), rnd.randrange(Hh), rnd.randrange(20, 200), rnd.randrange(20, 150),
              rnd.randrange(1 << 24)) for _ in range(12)]
    editor = (40, 40, 500, 120)
    text = []
    marks = []  # (x, y, size, colour)
    box = [0]

    def fill(x, y, w, h, c):
        X.XSetForeground(dpy, gc, c)
        X.XFillRectangle(dpy, win, gc, x, y, w, h)

    def draw_editor():
        ex, ey, ew, eh = editor
        fill(ex, ey, ew, eh, 0xFFFFFF)
        X.XSetForeground(dpy, gc, 0x000000)
        s = "".join(text).encode()
        X.XDrawString(dpy, win, gc, ex + 8, ey + 20, s, len(s))

    def draw_all():
        fill(0, 0, W, Hh, 0x203040)
        for r in rects:
            fill(*r)
        draw_editor()
        for m in marks:
            fill(m[0] - m[2] // 2, m[1] - m[2] // 2, m[2], m[2], m[3])

    def draw_box():
        t = box[0]
        x = 600 + (t * 7) % 300
        fill(600, 600, 400, 60, 0x000000)
        fill(x, 610, 40, 40, 0xFF8000)

    ev = XEvent()
    mapped = False
    fd = X.XConnectionNumber(dpy)
    last_anim = time.monotonic()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *a_: running.__setitem__(0, False))
    while running[0]:
        while X.XPending(dpy):
            X.XNextEvent(dpy, ctypes.byref(ev))
            head = ctypes.cast(ctypes.byref(ev), ctypes.POINTER(XInputEventHead)).contents
            t = ev.type
            if t == 19 and not mapped:  # MapNotify
                mapped = True
                X.XSetInputFocus(dpy, win, 2, 0)
                draw_all()
                X.XSync(dpy, 0)
                print("ready", flush=True)
            elif t == 12:  # Expose
                draw_all()
            elif t == 2:  # KeyPress
                buf = ctypes.create_string_buffer(16)
                n = X.XLookupString(ctypes.byref(ev), buf, 16, None, None)
                if n > 0:
                    text.append(buf.raw[:n].decode("latin-1"))
                    draw_editor()
            elif t == 6:  # MotionNotify
                marks.append((head.x, head.y, 3, 0x00FF00))
                fill(head.x - 1, head.y - 1, 3, 3, 0x00FF00)
            elif t == 4:  # ButtonPress
                marks.append((head.x, head.y, 11, 0xFF0000))
                fill(head.x - 5, head.y - 5, 11, 11, 0xFF0000)
        X.XFlush(dpy)
        if mapped and not a.freeze and time.monotonic() - last_anim > 0.04:
            last_anim = time.monotonic()
            box[0] += 1
            draw_box()
            X.XFlush(dpy)
        select.select([fd], [], [], 0.02)
    return 0


# ---------------------------------------------------------------------------------------------
# role "server": spiced-gpu's command line on top of Xspice

def server_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--disable-ticketing", action="store_true")
    ap.add_argument("--password")
    ap.add_argument("--password-file")
    ap.add_argument("--password-expiry", type=float)
    ap.add_argument("--demo-seed", type=int, default=1)
    ap.add_argument("--demo-freeze", type=float)
    ap.add_argument("--demo-size")
    ap.add_argument("--dump-frame")
    ap.add_argument("--image-compression")
    a = ap.parse_args(argv)
    log = lambda msg: print("%s reference-shim %s" % (time.strftime("%H:%M:%S"), msg),  # noqa
                            file=sys.stderr, flush=True)
    password = a.password
    if a.password_file:
        with open(a.password_file) as f:
            password = f.read()
    if password is None and not a.disable_ticketing:
        password = os.environ.get("SPICED_PASSWORD")
    if a.password_expiry is not None:
        log("note: --password-expiry is not supported by Xspice; ignored")
    if a.demo_size and a.demo_size != "1024x768":
        log("note: Xspice starts at 1024x768; --demo-size %s ignored" % a.demo_size)
    compression = {"off": "off", "lz4": None}.get(a.image_compression, None)
    if a.image_compression:
        log("note: --image-compression %s -> XSPICE_IMAGE_COMPRESSION=%s"
            % (a.image_compression, compression))
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *x: stop.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *x: stop.__setitem__(0, True))
    work = tempfile.mkdtemp(prefix="xspice-shim-")
    xs = None
    demo = None
    try:
        xs = Xspice(a.port, password=None if a.disable_ticketing else password,
                    compression=compression, workdir=work)
        demo_args = [sys.executable, os.path.abspath(__file__), "--seed", str(a.demo_seed)]
        if a.demo_freeze is not None:
            demo_args.append("--freeze")
        env = xs.env()
        env["SPICED_XSPICE_ROLE"] = "demo"
        demo = subprocess.Popen(demo_args, stdout=subprocess.PIPE, env=env,
                                preexec_fn=_die_with_parent)
        line = demo.stdout.readline()
        if line.strip() != b"ready":
            log("demo client failed to start")
            return 1
        log("Xspice :%d port %d ready" % (xs.display, a.port))
        last = None
        while not stop[0]:
            if a.dump_frame:
                try:
                    img = xwd_root(xs.display)
                except (subprocess.SubprocessError, ValueError) as e:
                    log("xwd failed: %s" % e)
                    img = None
                if img is not None and (last is None or not np.array_equal(img, last)):
                    tmp = a.dump_frame + ".tmp"
                    with open(tmp, "wb") as f:
                        f.write(b"P6\n%d %d\n255\n" % (img.shape[1], img.shape[0]))
                        f.write(img.tobytes())
                    os.replace(tmp, a.dump_frame)
                    last = img
            if xs.proc.poll() is not None:
                log("Xorg exited: %s" % xs.output()[-2000:])
                return 1
            time.sleep(0.05)
        return 0
    finally:
        if demo is not None and demo.poll() is None:
            demo.terminate()
            try:
                demo.wait(5)
            except subprocess.TimeoutExpired:
                demo.kill()
        if xs is not None:
            xs.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# role "check": the direct checks, then the scripts

def direct_checks():
    import spiced_harness as H
    H._make_self_headless()
    results = []

    def record(name, ok, detail=""):
        results.append((name, ok))
        print("%s %s %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)

    work = tempfile.mkdtemp(prefix="xspice-check-")
    port = H.free_port()
    os.makedirs(os.path.join(work, "a"))
    xs = Xspice(port, workdir=os.path.join(work, "a"))
    xterm = subprocess.Popen(["xterm", "-geometry", "80x24+10+10", "-e", "sh", "-c",
                              "sleep 600"], env=xs.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        time.sleep(2.0)
        # 1. GLib client framebuffer vs xwd
        c = H.SpiceClient(port=port, name="ref").connect()
        c.wait_primary()
        c.wait_first_invalidate()
        H.pump(0.5)
        first_inv = c.invalidates[0][1:] if c.invalidates else None
        ref = xwd_root(xs.display)
        rep = H.diff_report(c.framebuffer(), ref, "client", "xwd")
        record("glib_primary_equals_xwd", not rep, rep or "(%dx%d, primary %s, first invalidate "
               "%s, mouse mode %s)" % (ref.shape[1], ref.shape[0], c.primary, first_inv,
                                       c.mouse_mode()))
        # 2. spicy-screenshot vs xwd (reference serves one client: this drops the GLib one)
        shot = os.path.join(work, "shot.ppm")
        rc, out = H.run_spicy_screenshot(port, shot)
        got = H.try_read_ppm(shot)
        rep = H.diff_report(got, xwd_root(xs.display), "spicy-screenshot", "xwd")
        record("spicy_screenshot_equals_xwd", rc == 0 and not rep, "rc=%s %s" % (rc, rep))
        H.pump(0.5)
        print("  GLib client after a second client connected: %s" % c.events_text())
        c.disconnect()
        # 3. typing reaches the xterm
        c = H.SpiceClient(port=port, name="typer").connect()
        c.wait_primary()
        c.wait_first_invalidate()
        c.wait_inputs()
        c.position(100, 100, 0, 0)
        H.pump(0.3)
        before = c.framebuffer()
        c.tap_keys([H.SCANCODES["h"], H.SCANCODES["i"]])
        ok = H.wait_until(lambda: not H.same_picture(c.framebuffer(), before), 5.0)
        H.pump(0.3)
        rep = H.diff_report(before, c.framebuffer(), "before", "after")
        same = H.same_picture(c.framebuffer(), xwd_root(xs.display))
        record("typing_changes_xterm", ok and same, "%s; client==xwd afterwards: %s"
               % (rep, same))
        # 4. raw link replies while the GLib client watches
        cases = [("bad magic", b"\0" + os.urandom(4095), H.LINK_ERR_INVALID_MAGIC),
                 ("size 0x7fffffff", H.link_header(0x7FFFFFFF) + H.link_mess(),
                  H.LINK_ERR_INVALID_DATA),
                 ("major 3", H.link_header(22, major=3) + H.link_mess(),
                  H.LINK_ERR_VERSION_MISMATCH)]
        for name, payload, want in cases:
            res = H.link_exchange(port, payload)
            try:
                H.check_link_error_reply(res, want, name)
                record("link_reply_" + name.replace(" ", "_"), True, res.describe())
            except H.TestFailure as e:
                record("link_reply_" + name.replace(" ", "_"), False, str(e))
        res = H.link_exchange(port, H.full_link(channel_type=200))
        print("  info: channel type 200, connection_id 0: %s" % res.describe())
        for i in range(100):
            s = H.raw_connect(port)
            if i % 2:
                s.sendall(H.full_link())
            s.close()
            H.iterate()
        n0 = c.invalidate_count
        c.tap_keys([H.SCANCODES["a"]])
        H.wait_until(lambda: c.invalidate_count > n0, 5.0)
        record("glib_client_survives_raw_abuse", not c.failed() and c.invalidate_count > n0,
               c.events_text())
        c.disconnect()
    finally:
        xterm.terminate()
        xs.stop()

    # 5. password
    port = H.free_port()
    os.makedirs(os.path.join(work, "b"))
    xs = Xspice(port, password="s3cret", workdir=os.path.join(work, "b"))
    try:
        rc, out = H.run_spicy_screenshot(port, os.path.join(work, "wrong.ppm"), password="wrong")
        record("spicy_screenshot_wrong_password_fails", rc not in (0, None) and not
               os.path.exists(os.path.join(work, "wrong.ppm")), "rc=%s %s" % (rc, out.strip()))
        rc, out = H.run_spicy_screenshot(port, os.path.join(work, "right.ppm"),
                                         password="s3cret")
        record("spicy_screenshot_right_password", rc == 0, "rc=%s %s" % (rc, out.strip()))
        c = H.SpiceClient(port=port, password="wrong", name="wrongpw").connect()
        H.wait_until(c.failed, 10)
        record("glib_wrong_password_error_auth", c.has_event(H.CHANNEL_ERROR_AUTH),
               c.events_text())
        c.disconnect()
        try:
            m = H.RawMainSession(port, password="s3cret")
            record("raw_main_session_rsa_ticket", True, "session id 0x%08x" % m.session_id)
            m.close()
        except H.TestFailure as e:
            record("raw_main_session_rsa_ticket", False, str(e))
    finally:
        xs.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def run_scripts():
    env = dict(os.environ)
    env["SPICED_XSPICE_ROLE"] = "server"
    env["SPICED_IT_REFERENCE_SERVER"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    rcs = {}
    for name in ("screenshot", "password", "input", "robustness"):
        print("\n##### test_%s.py against the reference (Xspice)" % name, flush=True)
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "test_%s.py" % name),
                            "--server", os.path.abspath(__file__)], env=env, timeout=600)
        rcs[name] = p.returncode
    return rcs


def main():
    role = os.environ.get("SPICED_XSPICE_ROLE")
    if role == "server":
        return server_main(sys.argv[1:])
    if role == "demo":
        return demo_main(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("direct", "scripts"))
    a = ap.parse_args()
    for tool in (XORG, "/usr/lib/xorg/modules/drivers/spiceqxl_drv.so", "/usr/bin/xwd",
                 "/usr/bin/xterm"):
        if not os.path.exists(tool):
            print("missing %s (apt-get install xserver-xspice x11-apps xterm)" % tool)
            return 2
    failed = 0
    if a.only in (None, "direct"):
        res = direct_checks()
        failed += sum(1 for _, ok in res if not ok)
        print("direct checks: %d passed, %d failed" % (sum(1 for _, ok in res if ok),
                                                       sum(1 for _, ok in res if not ok)))
    if a.only in (None, "scripts"):
        rcs = run_scripts()
        print("\nscripts against the reference: %s" % rcs)
        failed += sum(1 for rc in rcs.values() if rc != 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
