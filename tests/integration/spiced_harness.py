"""Shared helpers for the real-client integration tests of spiced-gpu.

Runs under Debian's /usr/bin/python3 (it has `gi`); stdlib + gi + numpy only.

Pieces:
  - free_port(), ServerProcess: start the server binary on a free 127.0.0.1 port, wait for it
    to listen, stop it with SIGTERM and check exit code and sanitizer output.
  - read_ppm(), diff_report(): binary PPM (P6) into numpy, pixel comparison with a readable report.
  - SpiceClient: a SpiceClientGLib session run from a GLib main context with hard timeouts; records
    channel events, the primary surface of display 0 and invalidates, and sends input.
  - wait_until(): iterate the GLib main context until a predicate holds or a timeout expires.
  - run_spicy_screenshot(): the spice-gtk command line client.
  - raw SPICE link protocol: link_header(), link_mess(), link_exchange() -> LinkResult,
    check_link_error_reply(), RawMainSession (a hand-linked main channel with an RSA-OAEP
    ticket, to learn a session id).
  - run_cases(): tiny runner printing "N passed, M failed" last.

spice-gtk 0.42 facts these helpers rely on (seen on this machine):
  - SpiceSession.connect / SpiceChannel.connect in GI are spice_*_connect(); GObject signals
    need GObject.Object.connect(obj, ...) (see _gconnect).
  - spicy-screenshot writes its PPM at the FIRST display-invalidate after display-primary-create
    and exits 0; on a main-channel error (e.g. ERROR_AUTH = 23) it prints
    "main channel event: N" and exits 1 without writing a file.
  - SpiceInputsChannel sends KEY_DOWN(scancode), KEY_UP(scancode | 0x80), MOUSE_POSITION in any
    mouse mode, MOUSE_MOTION in any mode; it holds back pointer messages after 8 unacknowledged
    ones until the server sends INPUTS_MOUSE_MOTION_ACK.
"""

import argparse
import ctypes
import faulthandler
import hashlib
import os
import shutil
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

import gi

gi.require_version("SpiceClientGLib", "2.0")
from gi.repository import GLib, GObject, SpiceClientGLib  # noqa: E402

# SpiceChannelEvent values (spice-gtk's spice-channel.h).
CHANNEL_NONE = 0
CHANNEL_OPENED = 10
CHANNEL_SWITCHING = 11
CHANNEL_CLOSED = 12
CHANNEL_ERROR_CONNECT = 20
CHANNEL_ERROR_TLS = 21
CHANNEL_ERROR_LINK = 22
CHANNEL_ERROR_AUTH = 23
CHANNEL_ERROR_IO = 24
EVENT_NAMES = {
    0: "NONE", 10: "OPENED", 11: "SWITCHING", 12: "CLOSED", 20: "ERROR_CONNECT",
    21: "ERROR_TLS", 22: "ERROR_LINK", 23: "ERROR_AUTH", 24: "ERROR_IO",
}

# SPICE surface format (spice-protocol enums.h): 32-bit xRGB, little-endian bytes B,G,R,X.
SURFACE_FMT_32_xRGB = 32
SURFACE_FMT_32_ARGB = 96

# SPICE mouse modes and buttons (spice-protocol enums.h).
MOUSE_MODE_SERVER = 1
MOUSE_MODE_CLIENT = 2
MOUSE_BUTTON_LEFT = 1
MOUSE_BUTTON_MIDDLE = 2
MOUSE_BUTTON_RIGHT = 3
MOUSE_BUTTON_MASK_LEFT = 1
MOUSE_BUTTON_MASK_MIDDLE = 2
MOUSE_BUTTON_MASK_RIGHT = 4

def read_log_file(path, writer_alive):
    """The text of a log file our code writes. A live server hands lines to a log thread
    when stderr is slow to take them (base/log.h), so a line logged before something a test
    saw (a close, a reply) may reach the file a moment later: while the writer lives, read once
    the file has stopped growing for 40 ms (at most 2 s). GLib clients of the test keep running meanwhile (a client
    that stopped reading for 40 ms would skew what it measures, such as the bandwidth test)."""
    def size():
        try:
            return os.stat(path).st_size
        except OSError:
            return -1
    if writer_alive:
        deadline = time.monotonic() + 2.0
        last, stable_since = size(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - stable_since < 0.04:
            iterate(max_seconds=0.01)
            time.sleep(0.005)
            now = size()
            if now != last:
                last, stable_since = now, time.monotonic()
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ThreadSanitizer builds: reports in stderr (the pattern below fails the test), the
# suppressions of code we do not build (tests/tsan.supp says which and why).
TSAN_OPTIONS = "second_deadlock_stack=1:suppressions=" + os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tsan.supp")
SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")

SPICY_SCREENSHOT = "/usr/bin/spicy-screenshot"


class TestFailure(AssertionError):
    pass


class TestSkipped(Exception):
    """What the case names could not run here (e.g. io_uring refused by the kernel)."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


# --------------------------------------------------------------------------------------------
# Environment for anything GLib based: no X display, no dconf, no accessibility bus.

def headless_env(base=None):
    env = dict(os.environ if base is None else base)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.setdefault("GSETTINGS_BACKEND", "memory")
    env.setdefault("NO_AT_BRIDGE", "1")
    return env


def _make_self_headless():
    os.environ.pop("DISPLAY", None)
    os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ.setdefault("GSETTINGS_BACKEND", "memory")
    os.environ.setdefault("NO_AT_BRIDGE", "1")


# --------------------------------------------------------------------------------------------
# Ports and the server process


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_listening(port, host="127.0.0.1"):
    """True when a socket listens on host:port. Reads /proc/net/tcp so no connection is made
    (a probe connection would show up in the server log as a bad/short connection)."""
    try:
        want_ip = "".join("%02X" % int(b) for b in reversed(host.split(".")))
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state = parts[1], parts[3]
                ip, p = local.split(":")
                if int(p, 16) == port and state == "0A" and ip in (want_ip, "00000000"):
                    return True
        with open("/proc/net/tcp6") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state = parts[1], parts[3]
                ip, p = local.rsplit(":", 1)
                if int(p, 16) == port and state == "0A":
                    return True
        return False
    except OSError:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False


class ServerProcess:
    """The spiced-gpu binary. Use as a context manager or call start()/stop()."""

    def __init__(self, binary, args=(), workdir=None, env=None, port=None, name="server",
                 preexec=None):
        self.binary = binary
        self.preexec = preexec  # run in the child before exec (e.g. to lower a limit)
        self.extra_args = list(args)
        # CTest runs every integration test once per I/O backend (io_uring, then epoll).
        backend = os.environ.get("SPICED_TEST_IO_BACKEND")
        self.io_backend = None
        if backend and "--io-backend" not in self.extra_args:
            self.extra_args += ["--io-backend", backend]
            self.io_backend = backend
        # ... and some once with the compositor on a Vulkan device (lavapipe): the server must
        # then say it runs there, or the run would pass on the CPU backend unseen.
        self.gpu = os.environ.get("SPICED_TEST_GPU")
        if self.gpu and "--gpu" not in self.extra_args:
            self.extra_args += ["--gpu", self.gpu]
        else:
            self.gpu = None
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="spiced-it-")
        if env is None:
            env = {k: v for k, v in os.environ.items() if k != "SPICED_PASSWORD"}
        self.env = dict(env)
        # Sanitizer builds: make reports land in stderr with stacks; keep the user's settings.
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.env.setdefault("TSAN_OPTIONS", TSAN_OPTIONS)
        self.port = port
        self.name = name
        self.proc = None
        self.stderr_path = None
        self.start_time = None
        self.stopped = False

    # -- life cycle --
    def start(self, timeout=20.0):
        try:
            return self._start(timeout)
        except BaseException:
            self.cleanup()  # messages already hold the log; remove our temp dir
            raise

    def _start(self, timeout):
        fixed_port = self.port is not None
        attempts = 1 if fixed_port else 3
        last_error = None
        for attempt in range(attempts):
            if not fixed_port:
                self.port = free_port()
            self.stderr_path = os.path.join(self.workdir, "%s-%d.stderr" % (self.name, attempt))
            argv = [self.binary, "--port", str(self.port), "--addr", "127.0.0.1"] + self.extra_args
            self.argv = argv
            errf = open(self.stderr_path, "wb")
            self.start_time = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf,
                                         stderr=errf, env=self.env, cwd=self.workdir,
                                         preexec_fn=self.preexec)
            errf.close()
            deadline = self.start_time + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if port_is_listening(self.port):
                    self._check_io_backend()
                    self._check_gpu()
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                # Timed out while still running: that is a real failure, no retry.
                self.proc.kill()
                self.proc.wait(5)
                raise TestFailure("server did not listen on 127.0.0.1:%d within %.0f s\n"
                                  "argv: %s\n--- server stderr ---\n%s"
                                  % (self.port, timeout, " ".join(argv), self.log()))
            last_error = ("server exited with code %s before listening on port %d\n"
                          "argv: %s\n--- server stderr ---\n%s"
                          % (self.proc.returncode, self.port, " ".join(argv), self.log()))
            # Maybe someone grabbed the port between free_port() and bind(): try another one.
        raise TestFailure(last_error)

    def _check_io_backend(self):
        # The server falls back to epoll where the kernel refuses io_uring: the io_uring
        # variant of a test then did not run, and must not pass.
        if self.io_backend != "io_uring":
            return
        wait_until(lambda: "listening on" in self.log(), 10.0)
        if "io_uring unavailable" in self.log():
            line = [l for l in self.log().splitlines() if "io_uring unavailable" in l][0]
            raise TestSkipped(line.split("] ", 1)[-1])

    def _check_gpu(self):
        if not self.gpu:
            return
        def line():
            return [l for l in self.log().splitlines() if "[gpu] compositor:" in l]
        wait_until(line, 10.0)
        found = line()
        if not found or "compositor: vulkan" not in found[0]:
            raise TestFailure("SPICED_TEST_GPU=%s but the compositor is not on Vulkan: %s"
                              % (self.gpu, found or "no compositor line"))

    def log(self):
        if not self.stderr_path:
            return ""
        return read_log_file(self.stderr_path, self.alive())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM; the server must exit with code 0 within `timeout` and its stderr must hold
        no sanitizer report. Raises TestFailure (with the log) otherwise."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        problems = []
        if self.proc.poll() is not None:
            problems.append("server had already exited with code %s before SIGTERM"
                            % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                problems.append("server did not exit within %.0f s of SIGTERM (killed)" % timeout)
        rc = self.proc.returncode
        if rc != 0 and not problems:
            problems.append("server exit code after SIGTERM is %s, want 0" % rc)
        text = self.log()
        for pat in SANITIZER_PATTERNS:
            if pat in text:
                problems.append("server stderr contains %r" % pat)
        if problems:
            raise TestFailure("; ".join(problems) + "\nargv: %s\n--- server stderr ---\n%s"
                              % (" ".join(self.argv), text))

    def kill_quietly(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self):
        self.kill_quietly()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            else:
                # Already failing: still report sanitizer findings/exit problems, but do not
                # hide the original exception.
                try:
                    self.stop()
                except TestFailure as e:
                    print("(also) %s" % str(e).split("\n", 1)[0], flush=True)
                tail = self.log().splitlines()[-80:]
                print("--- server stderr (last %d lines) ---\n%s\n--- end of server stderr ---"
                      % (len(tail), "\n".join(tail)), flush=True)
        finally:
            self.cleanup()
        return False


# --------------------------------------------------------------------------------------------
# Pictures


def read_ppm(path):
    """Binary PPM (P6, maxval 255) -> numpy uint8 array of shape (h, w, 3), RGB.
    Raises ValueError on a malformed or short file (e.g. still being written)."""
    with open(path, "rb") as f:
        data = f.read()
    tokens = []
    i = 0
    n = len(data)
    while len(tokens) < 4:
        while i < n and data[i:i + 1].isspace():
            i += 1
        if i >= n:
            raise ValueError("%s: truncated PPM header" % path)
        if data[i:i + 1] == b"#":
            while i < n and data[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        j = i
        while j < n and not data[j:j + 1].isspace():
            j += 1
        tokens.append(data[i:j])
        i = j
    if tokens[0] != b"P6":
        raise ValueError("%s: not a binary PPM (magic %r)" % (path, tokens[0]))
    w, h, maxval = int(tokens[1]), int(tokens[2]), int(tokens[3])
    if maxval != 255:
        raise ValueError("%s: maxval %d unsupported" % (path, maxval))
    i += 1  # exactly one whitespace after maxval
    need = w * h * 3
    if n - i < need:
        raise ValueError("%s: short PPM data (%d of %d bytes)" % (path, n - i, need))
    return np.frombuffer(data, dtype=np.uint8, count=need, offset=i).reshape(h, w, 3).copy()


def try_read_ppm(path):
    try:
        return read_ppm(path)
    except (OSError, ValueError):
        return None


def wait_for_ppm(path, timeout=20.0, server=None, previous=None):
    """Wait until `path` is a complete PPM (and differs from `previous` if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        img = try_read_ppm(path)
        if img is not None and (previous is None or not same_picture(img, previous)):
            return img
        if server is not None and not server.alive():
            raise TestFailure("server exited while waiting for %s\n--- server stderr ---\n%s"
                              % (path, server.log()))
        time.sleep(0.05)
    raise TestFailure("%s did not %s within %.0f s%s"
                      % (path, "appear" if previous is None else "change", timeout,
                         ("\n--- server stderr ---\n" + server.log()) if server else ""))


def same_picture(a, b):
    return a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b)


def diff_report(a, b, name_a="a", name_b="b"):
    """'' when equal, else a description: sizes, count of differing pixels, first coordinates."""
    if a is None or b is None:
        return "%s is %s, %s is %s" % (name_a, "missing" if a is None else "present",
                                       name_b, "missing" if b is None else "present")
    if a.shape != b.shape:
        return "size differs: %s is %dx%d, %s is %dx%d" % (
            name_a, a.shape[1], a.shape[0], name_b, b.shape[1], b.shape[0])
    mask = np.any(a != b, axis=2)
    count = int(mask.sum())
    if count == 0:
        return ""
    ys, xs = np.nonzero(mask)
    first = list(zip(xs[:8].tolist(), ys[:8].tolist()))
    y0, x0 = int(ys[0]), int(xs[0])
    return ("%d of %d pixels differ; bounding box x=%d..%d y=%d..%d; first (x,y): %s; "
            "at (%d,%d) %s=%s %s=%s" % (
                count, mask.size, xs.min(), xs.max(), ys.min(), ys.max(), first, x0, y0,
                name_a, tuple(a[y0, x0].tolist()), name_b, tuple(b[y0, x0].tolist())))


def changed_near(a, b, x, y, radius=24):
    """True when a and b differ in the square of `radius` around (x, y)."""
    h, w = a.shape[:2]
    x0, x1 = max(0, x - radius), min(w, x + radius + 1)
    y0, y1 = max(0, y - radius), min(h, y + radius + 1)
    return bool(np.any(a[y0:y1, x0:x1] != b[y0:y1, x0:x1]))


def write_ppm(path, img):
    h, w = img.shape[:2]
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(np.ascontiguousarray(img[..., :3]).tobytes())


# --------------------------------------------------------------------------------------------
# GLib main context


def iterate(max_iterations=1000, max_seconds=0.05):
    """Dispatch pending GLib events (bounded in count and time so callers keep control)."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + max_seconds
    for _ in range(max_iterations):
        if not ctx.pending():
            break
        ctx.iteration(False)
        if time.monotonic() >= end:
            break


def wait_until(predicate, timeout, interval=0.005):
    """Iterate the default GLib main context until predicate() is true (-> True) or
    `timeout` seconds pass (-> False)."""
    deadline = time.monotonic() + timeout
    while True:
        iterate()
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pump(seconds):
    """Iterate the main context for `seconds`."""
    wait_until(lambda: False, seconds)


# --------------------------------------------------------------------------------------------
# SpiceClientGLib client


def _gconnect(obj, signal_name, handler, *data):
    """GObject signal connect. SpiceSession.connect / SpiceChannel.connect are the SPICE
    connect methods in GI, shadowing GObject.Object.connect."""
    return GObject.Object.connect(obj, signal_name, handler, *data)


class SpiceClient:
    """One SPICE session from SpiceClientGLib. Only main, display and inputs channels are
    connected (cursor too, it is cheap); audio, USB, smartcard, webdav, ports are not."""

    WANTED = ("main", "display", "inputs", "cursor")

    def __init__(self, host="127.0.0.1", port=None, password=None, name="client",
                 channels=WANTED, session_props=None):
        self.name = name
        self.host = host
        self.port = port
        self.password = password
        self.wanted = set(channels)
        self.session = SpiceClientGLib.Session()
        props = {"host": host, "port": str(port)}
        if password is not None:
            props["password"] = password
        props.update(session_props or {})
        for k, v in props.items():
            self.session.set_property(k, v)
        for k, v in (("enable-audio", False), ("enable-usbredir", False),
                     ("enable-smartcard", False)):
            try:
                self.session.set_property(k, v)
            except (TypeError, AttributeError):
                pass
        self.events = []           # (time, channel type name, channel id, event int)
        self.channels = {}         # (type name, id) -> channel
        self.main = None
        self.display = None
        self.inputs = None
        self.primary = None        # dict(format, width, height, stride, shmid, data)
        self.primary_creates = 0
        self.primary_destroys = 0
        self.invalidates = []      # (time, x, y, w, h); capped
        self.invalidate_count = 0
        self.last_invalidate = None
        self.marks = 0
        self.inputs_opened = False
        self._handlers = []
        _gconnect(self.session, "channel-new", self._on_channel_new)
        _gconnect(self.session, "channel-destroy", self._on_channel_destroy)

    # -- signal handlers --
    def _type_name(self, channel):
        t = channel.get_property("channel-type")
        return SpiceClientGLib.Channel.type_to_string(t)

    def _on_channel_new(self, session, channel):
        tname = self._type_name(channel)
        cid = channel.get_property("channel-id")
        self.channels[(tname, cid)] = channel
        _gconnect(channel, "channel-event", self._on_channel_event, tname, cid)
        if isinstance(channel, SpiceClientGLib.MainChannel):
            self.main = channel
            return  # the session connects the main channel itself
        if tname not in self.wanted:
            return
        if isinstance(channel, SpiceClientGLib.DisplayChannel):
            if cid != 0:
                return
            self.display = channel
            _gconnect(channel, "display-primary-create", self._on_primary_create)
            _gconnect(channel, "display-primary-destroy", self._on_primary_destroy)
            _gconnect(channel, "display-invalidate", self._on_invalidate)
            _gconnect(channel, "display-mark", self._on_mark)
        elif isinstance(channel, SpiceClientGLib.InputsChannel):
            self.inputs = channel
        channel.connect()

    def _on_channel_destroy(self, session, channel):
        if channel is self.display:
            self.display = None
            self.primary = None
        if channel is self.inputs:
            self.inputs = None
            self.inputs_opened = False

    def _on_channel_event(self, channel, event, tname, cid):
        ev = int(event)
        self.events.append((time.monotonic(), tname, cid, ev))
        if tname == "inputs" and ev == CHANNEL_OPENED:
            self.inputs_opened = True

    def _on_primary_create(self, channel, fmt, width, height, stride, shmid, data):
        self.primary = dict(format=int(fmt), width=int(width), height=int(height),
                            stride=int(stride), shmid=int(shmid), data=int(data or 0))
        self.primary_creates += 1

    def _on_primary_destroy(self, channel):
        self.primary = None
        self.primary_destroys += 1

    def _on_invalidate(self, channel, x, y, w, h):
        now = time.monotonic()
        self.invalidate_count += 1
        self.last_invalidate = now
        if len(self.invalidates) < 10000:
            self.invalidates.append((now, int(x), int(y), int(w), int(h)))

    def _on_mark(self, channel, mark):
        self.marks += 1

    # -- connection --
    def connect(self):
        ok = self.session.connect()
        check(ok, "%s: spice_session_connect() returned FALSE" % self.name)
        return self

    def disconnect(self, timeout=5.0):
        if self.session is None:
            return
        self.session.disconnect()
        wait_until(lambda: not self.session.get_channels(), timeout)
        iterate()

    def main_events(self):
        return [e[3] for e in self.events if e[1] == "main"]

    def events_text(self):
        t0 = self.events[0][0] if self.events else 0
        return ", ".join("%s%d:%s@%.2fs" % (t, c, EVENT_NAMES.get(e, e), ts - t0)
                         for ts, t, c, e in self.events)

    def has_event(self, ev, channel_type="main"):
        return any(e[3] == ev and (channel_type is None or e[1] == channel_type)
                   for e in self.events)

    def failed(self):
        """The main channel reported an error or closed."""
        return any(e >= CHANNEL_ERROR_CONNECT or e == CHANNEL_CLOSED for e in self.main_events())

    def wait_main_opened(self, timeout=15.0):
        ok = wait_until(lambda: CHANNEL_OPENED in self.main_events() or self.failed(), timeout)
        check(ok and CHANNEL_OPENED in self.main_events(),
              "%s: main channel did not open within %.0f s; events: %s"
              % (self.name, timeout, self.events_text()))

    def wait_primary(self, timeout=15.0):
        ok = wait_until(lambda: (self.primary is not None and self.primary["data"] != 0)
                        or self.failed(), timeout)
        check(ok and self.primary is not None,
              "%s: no primary surface within %.0f s; events: %s"
              % (self.name, timeout, self.events_text()))
        return self.primary

    def wait_first_invalidate(self, timeout=15.0):
        ok = wait_until(lambda: self.invalidate_count > 0 or self.failed(), timeout)
        check(ok and self.invalidate_count > 0,
              "%s: no display-invalidate within %.0f s; primary=%s events: %s"
              % (self.name, timeout, self.primary, self.events_text()))

    def wait_inputs(self, timeout=15.0):
        ok = wait_until(lambda: self.inputs is not None and self.inputs_opened or self.failed(),
                        timeout)
        check(ok and self.inputs_opened, "%s: inputs channel did not open within %.0f s; "
              "events: %s" % (self.name, timeout, self.events_text()))

    # -- pixels --
    def framebuffer(self):
        """Copy of the client's primary surface as (h, w, 3) RGB uint8, or None."""
        p = self.primary
        if p is None or p["data"] == 0:
            return None
        check(p["format"] in (SURFACE_FMT_32_xRGB, SURFACE_FMT_32_ARGB),
              "%s: unexpected primary surface format %d" % (self.name, p["format"]))
        size = p["stride"] * p["height"]
        buf = (ctypes.c_uint8 * size).from_address(p["data"])
        arr = np.frombuffer(buf, dtype=np.uint8).reshape(p["height"], p["stride"])
        arr = arr[:, :p["width"] * 4].reshape(p["height"], p["width"], 4)
        return arr[:, :, [2, 1, 0]].copy()  # BGRX -> RGB

    def wait_framebuffer_equals(self, expected_fn, timeout=10.0):
        """Wait until framebuffer() equals expected_fn() (re-evaluated each time; may return
        None while not ready). Returns (ok, framebuffer, expected)."""
        state = {"fb": None, "exp": None}

        def pred():
            exp = expected_fn()
            fb = self.framebuffer()
            state["fb"], state["exp"] = fb, exp
            return same_picture(fb, exp)
        ok = wait_until(pred, timeout, interval=0.02)
        return ok, state["fb"], state["exp"]

    # -- input --
    def mouse_mode(self):
        if self.main is None:
            return None
        try:
            return int(self.main.get_property("mouse-mode"))
        except TypeError:
            return None

    def key_press(self, scancode):
        self.inputs.key_press(scancode)
        iterate()

    def key_release(self, scancode):
        self.inputs.key_release(scancode)
        iterate()

    def tap_keys(self, scancodes, delay=0.03):
        for sc in scancodes:
            self.key_press(sc)
            pump(delay)
            self.key_release(sc)
            pump(delay)

    def position(self, x, y, display_id=0, button_state=0):
        self.inputs.position(x, y, display_id, button_state)
        iterate()

    def motion(self, dx, dy, button_state=0):
        self.inputs.motion(dx, dy, button_state)
        iterate()

    def button_press(self, button, button_state):
        self.inputs.button_press(button, button_state)
        iterate()

    def button_release(self, button, button_state=0):
        self.inputs.button_release(button, button_state)
        iterate()

    def bytes_read(self, channel_type="display", cid=0):
        ch = self.channels.get((channel_type, cid))
        if ch is None:
            return 0
        try:
            return int(ch.get_property("total-read-bytes"))
        except TypeError:
            return 0


# --------------------------------------------------------------------------------------------
# Raw SPICE link protocol (spice-protocol protocol.h), for robustness tests

SPICE_MAGIC = 0x51444552          # "REDQ" little-endian
SPICE_VERSION_MAJOR = 2
SPICE_VERSION_MINOR = 2
LINK_HEADER_SIZE = 16             # magic, major, minor, size (u32 each)
LINK_MESS_SIZE = 18               # connection_id u32, type u8, id u8, 3 x u32
LINK_REPLY_SIZE = 178             # error u32, pub_key[162], 3 x u32

CHANNEL_MAIN = 1
CHANNEL_DISPLAY = 2
CHANNEL_INPUTS = 3

LINK_ERR_OK = 0
LINK_ERR_ERROR = 1
LINK_ERR_INVALID_MAGIC = 2
LINK_ERR_INVALID_DATA = 3
LINK_ERR_VERSION_MISMATCH = 4
LINK_ERR_NEED_SECURED = 5
LINK_ERR_NEED_UNSECURED = 6
LINK_ERR_PERMISSION_DENIED = 7
LINK_ERR_BAD_CONNECTION_ID = 8
LINK_ERR_CHANNEL_NOT_AVAILABLE = 9
LINK_ERR_NAMES = {0: "OK", 1: "ERROR", 2: "INVALID_MAGIC", 3: "INVALID_DATA",
                  4: "VERSION_MISMATCH", 5: "NEED_SECURED", 6: "NEED_UNSECURED",
                  7: "PERMISSION_DENIED", 8: "BAD_CONNECTION_ID", 9: "CHANNEL_NOT_AVAILABLE"}

# Common caps a spice-gtk client announces: PROTOCOL_AUTH_SELECTION, AUTH_SPICE, MINI_HEADER.
DEFAULT_COMMON_CAPS = (1 << 0) | (1 << 1) | (1 << 3)


def link_header(size, major=SPICE_VERSION_MAJOR, minor=SPICE_VERSION_MINOR, magic=SPICE_MAGIC):
    return struct.pack("<IIII", magic, major, minor, size)


def link_mess(connection_id=0, channel_type=CHANNEL_MAIN, channel_id=0,
              common_caps=(DEFAULT_COMMON_CAPS,), channel_caps=()):
    body = struct.pack("<IBBIII", connection_id, channel_type, channel_id, len(common_caps),
                       len(channel_caps), LINK_MESS_SIZE)
    for c in tuple(common_caps) + tuple(channel_caps):
        body += struct.pack("<I", c)
    return body


def full_link(**kw):
    """A complete, valid link header + message (by default for the main channel)."""
    mess = link_mess(**kw)
    return link_header(len(mess)) + mess


def raw_connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_some(sock, want, timeout, pump_glib=True):
    """Receive until `want` bytes, EOF, or timeout; iterates the GLib main context meanwhile.
    The socket is always drained before the deadline is checked, so a slow GLib iteration cannot
    make us miss data that did arrive. Returns (data, eof) where eof is False, "fin" (orderly
    close) or "reset"."""
    deadline = time.monotonic() + timeout
    data = b""
    sock.setblocking(False)
    try:
        while len(data) < want:
            try:
                chunk = sock.recv(want - len(data))
            except (ConnectionResetError, BrokenPipeError):
                return data, "reset"
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                return data, "fin"
            if chunk:
                data += chunk
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return data, False
            if pump_glib:
                iterate()
            select.select([sock], [], [], min(left, 0.01 if pump_glib else 0.05))
        return data, False
    finally:
        sock.setblocking(True)


def wait_closed(sock, timeout, pump_glib=True):
    """(eof, extra): eof is "fin"/"reset" when the peer closes within `timeout`, else False;
    extra is whatever arrived meanwhile."""
    deadline = time.monotonic() + timeout
    extra = b""
    while True:
        data, eof = recv_some(sock, 65536, max(0.0, min(0.2, deadline - time.monotonic())),
                              pump_glib)
        extra += data
        if eof:
            return eof, extra
        if time.monotonic() >= deadline:
            return False, extra


def parse_link_reply(data):
    """SpiceLinkHeader + start of SpiceLinkReply -> dict, or None if too short."""
    if len(data) < LINK_HEADER_SIZE + 4:
        return None
    magic, major, minor, size = struct.unpack_from("<IIII", data, 0)
    (error,) = struct.unpack_from("<I", data, LINK_HEADER_SIZE)
    return dict(magic=magic, major=major, minor=minor, size=size, error=error)


class LinkResult:
    """Outcome of one raw link attempt: reply (dict or None), raw bytes, how the server ended
    the connection ("fin", "reset" or False), timings, our local port."""

    def __init__(self):
        self.reply = None
        self.data = b""
        self.closed = False
        self.local_port = None
        self.send_error = None
        self.t_reply = None
        self.t_closed = None

    def describe(self):
        parts = [describe_reply(self.reply, self.data)]
        parts.append("first bytes after %s" % ("%.3f s" % self.t_reply if self.t_reply is not None
                                              else "never"))
        parts.append("server %s%s" % (
            {"fin": "closed (FIN)", "reset": "reset the connection",
             False: "did not close"}.get(self.closed, self.closed),
            (" after %.3f s" % self.t_closed) if self.t_closed is not None else ""))
        if self.send_error:
            parts.append("our send failed: %s" % self.send_error)
        parts.append("client port %s" % self.local_port)
        return "; ".join(parts)


def link_exchange(port, payload, timeout=5.0, pump_glib=True):
    """Send `payload` on a fresh connection; read a link reply (header + error field) and wait
    for the server to close. Returns a LinkResult."""
    res = LinkResult()
    s = raw_connect(port)
    t0 = time.monotonic()
    try:
        res.local_port = s.getsockname()[1]
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError) as e:
            res.send_error = str(e)
        data, eof = recv_some(s, LINK_HEADER_SIZE + 4, timeout, pump_glib)
        if data:
            res.t_reply = time.monotonic() - t0
        reply = parse_link_reply(data)
        if reply is not None and not eof:
            # Rest of the announced reply, then the server should close.
            rest = max(0, min(reply["size"], 4096) - 4)
            more, eof = recv_some(s, rest, timeout, pump_glib)
            data += more
        if not eof:
            eof, extra = wait_closed(s, timeout, pump_glib)
            if extra and res.t_reply is None:
                res.t_reply = time.monotonic() - t0
            data += extra
            if reply is None:
                reply = parse_link_reply(data)
        if eof:
            res.t_closed = time.monotonic() - t0
        res.reply, res.data, res.closed = reply, data, eof
        return res
    finally:
        s.close()


SPICE_MSG_MAIN_INIT = 103
COMMON_CAP_PROTOCOL_AUTH_SELECTION = 0
COMMON_CAP_AUTH_SPICE = 1
COMMON_CAP_MINI_HEADER = 3


def _der_tlv(buf, pos):
    """(tag, value start, value end) of the DER element at pos."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        length = int.from_bytes(buf[pos:pos + nbytes], "big")
        pos += nbytes
    return tag, pos, pos + length


def rsa_public_key_from_spki(der):
    """(n, e) from a DER SubjectPublicKeyInfo holding an RSA key (SPICE's 162-byte pub_key)."""
    tag, s, e = _der_tlv(der, 0)                 # SubjectPublicKeyInfo SEQUENCE
    check(tag == 0x30, "pub_key: not a DER SEQUENCE")
    tag, s1, e1 = _der_tlv(der, s)               # AlgorithmIdentifier
    tag, s2, e2 = _der_tlv(der, e1)              # BIT STRING
    check(tag == 0x03, "pub_key: no BIT STRING")
    inner = der[s2 + 1:e2]                        # skip the unused-bits byte
    tag, s3, e3 = _der_tlv(inner, 0)             # RSAPublicKey SEQUENCE
    tag, s4, e4 = _der_tlv(inner, s3)            # modulus INTEGER
    n = int.from_bytes(inner[s4:e4], "big")
    tag, s5, e5 = _der_tlv(inner, e4)            # publicExponent INTEGER
    exp = int.from_bytes(inner[s5:e5], "big")
    return n, exp


def _mgf1_sha1(seed, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def rsa_oaep_sha1_encrypt(n, e, message):
    """RSAES-OAEP (SHA-1, MGF1-SHA-1, empty label), as SPICE tickets use."""
    k = (n.bit_length() + 7) // 8
    hlen = 20
    check(len(message) <= k - 2 * hlen - 2, "ticket too long for the key")
    db = hashlib.sha1(b"").digest() + b"\0" * (k - len(message) - 2 * hlen - 2) + b"\x01" \
        + message
    seed = os.urandom(hlen)
    masked_db = bytes(a ^ b for a, b in zip(db, _mgf1_sha1(seed, k - hlen - 1)))
    masked_seed = bytes(a ^ b for a, b in zip(seed, _mgf1_sha1(masked_db, hlen)))
    em = b"\0" + masked_seed + masked_db
    return pow(int.from_bytes(em, "big"), e, n).to_bytes(k, "big")


class RawMainSession:
    """A main channel linked by hand (RSA-OAEP ticket with `password`, empty when ticketing is
    disabled), read up to SPICE_MSG_MAIN_INIT to learn the session id (connection_id for other channels).
    Keep it open while the session id is needed; close() ends the session."""

    def __init__(self, port, password="", timeout=10.0):
        self.sock = raw_connect(port)
        self.sock.sendall(full_link())
        data, eof = recv_some(self.sock, LINK_HEADER_SIZE, timeout)
        check(len(data) == LINK_HEADER_SIZE, "raw main link: no reply header (%d bytes)"
              % len(data))
        magic, major, minor, size = struct.unpack("<IIII", data)
        check(magic == SPICE_MAGIC and size >= LINK_REPLY_SIZE,
              "raw main link: bad reply header %s" % data.hex())
        body, eof = recv_some(self.sock, size, timeout)
        check(len(body) == size, "raw main link: short reply (%d of %d)" % (len(body), size))
        error, = struct.unpack_from("<I", body, 0)
        check(error == LINK_ERR_OK, "raw main link: error %d" % error)
        ncommon, nchan, caps_off = struct.unpack_from("<III", body, 4 + 162)
        caps = struct.unpack_from("<%dI" % (ncommon + nchan), body, caps_off)
        common = caps[:ncommon]
        word0 = common[0] if common else 0
        mini = bool(word0 & (1 << COMMON_CAP_MINI_HEADER))
        self.mini = mini
        if word0 & (1 << COMMON_CAP_PROTOCOL_AUTH_SELECTION):
            self.sock.sendall(struct.pack("<I", COMMON_CAP_AUTH_SPICE))
        n, exp = rsa_public_key_from_spki(body[4:4 + 162])
        self.sock.sendall(rsa_oaep_sha1_encrypt(n, exp, password.encode() + b"\0"))
        res, eof = recv_some(self.sock, 4, timeout)
        check(len(res) == 4, "raw main link: no link result")
        result, = struct.unpack("<I", res)
        check(result == LINK_ERR_OK, "raw main link: link result %d (%s); is ticketing on?"
              % (result, LINK_ERR_NAMES.get(result, "?")))
        self.session_id = None
        deadline = time.monotonic() + timeout
        while self.session_id is None and time.monotonic() < deadline:
            mtype, msg = read_raw_message(self.sock, mini, timeout)
            if mtype == SPICE_MSG_MAIN_INIT:
                self.session_id, = struct.unpack_from("<I", msg, 0)
                # session_id, display_channels_hint, supported_mouse_modes, current_mouse_mode,
                # agent_connected, agent_tokens, multi_media_time, ram_hint
                self.init = struct.unpack_from("<8I", msg, 0)
        check(self.session_id is not None, "raw main link: no MAIN_INIT")

    def read_message(self, timeout=10.0):
        """The next message as (type, body)."""
        return read_raw_message(self.sock, self.mini, timeout)

    def send_message(self, mtype, body):
        self.sock.sendall(raw_message(mtype, body, self.mini))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_message(mtype, body, mini=True):
    """A client message with the mini header (or the full one, serial 0, no sub-list)."""
    if mini:
        return struct.pack("<HI", mtype, len(body)) + body
    return struct.pack("<QHII", 0, mtype, len(body), 0) + body


def read_raw_message(sock, mini, timeout=10.0):
    hsize = 6 if mini else 18
    hdr, eof = recv_some(sock, hsize, timeout)
    check(len(hdr) == hsize, "raw channel: short message header")
    if mini:
        mtype, msize = struct.unpack("<HI", hdr)
    else:
        _serial, mtype, msize, _sub = struct.unpack("<QHII", hdr)
    msg, eof = recv_some(sock, msize, timeout)
    check(len(msg) == msize, "raw channel: short message body")
    return mtype, msg


def raw_link_channel(port, session_id, channel_type, rcvbuf=None, timeout=10.0,
                     channel_caps=()):
    """Links a non-main channel of `session_id` (ticketing disabled) and returns the socket,
    without reading anything after the link result."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.sendall(full_link(connection_id=session_id, channel_type=channel_type,
                        channel_caps=channel_caps))
    data, eof = recv_some(s, LINK_HEADER_SIZE, timeout, pump_glib=False)
    check(len(data) == LINK_HEADER_SIZE, "channel link: no reply header")
    size = struct.unpack("<IIII", data)[3]
    body, eof = recv_some(s, size, timeout, pump_glib=False)
    check(len(body) == size, "channel link: short reply")
    check(struct.unpack_from("<I", body, 0)[0] == LINK_ERR_OK, "channel link refused")
    s.sendall(struct.pack("<I", COMMON_CAP_AUTH_SPICE))
    n, e = rsa_public_key_from_spki(body[4:4 + 162])
    s.sendall(rsa_oaep_sha1_encrypt(n, e, b"\0"))
    result, eof = recv_some(s, 4, timeout, pump_glib=False)
    check(len(result) == 4 and struct.unpack("<I", result)[0] == LINK_ERR_OK,
          "channel link: bad link result %r" % result)
    return s


def describe_reply(reply, data):
    if reply is None:
        return "no link reply (got %d bytes: %s)" % (len(data), data[:32].hex())
    return ("reply magic=0x%08x major=%d minor=%d size=%d error=%d(%s)"
            % (reply["magic"], reply["major"], reply["minor"], reply["size"], reply["error"],
               LINK_ERR_NAMES.get(reply["error"], "?")))


def check_link_error_reply(res, want_error, what):
    """res: LinkResult. The server must answer SpiceLinkHeader(REDQ, 2, 2, size) +
    SpiceLinkReply.error == want_error, then close."""
    reply = res.reply
    desc = res.describe()
    check(reply is not None, "%s: %s" % (what, desc))
    check(reply["magic"] == SPICE_MAGIC, "%s: bad reply magic; %s" % (what, desc))
    check(reply["major"] == SPICE_VERSION_MAJOR and reply["minor"] == SPICE_VERSION_MINOR,
          "%s: reply version is not 2.2; %s" % (what, desc))
    check(reply["size"] >= 4, "%s: reply size too small; %s" % (what, desc))
    check(reply["error"] == want_error, "%s: want error %d(%s); %s"
          % (what, want_error, LINK_ERR_NAMES.get(want_error), desc))
    check(res.closed, "%s: server did not close the connection after the error reply; %s"
          % (what, desc))
    print("  %s: %s" % (what, desc), flush=True)
    if res.t_reply is not None and res.t_reply > 1.0:
        print("  note: %s: the reply took %.2f s" % (what, res.t_reply), flush=True)


# --------------------------------------------------------------------------------------------
# spicy-screenshot


def run_spicy_screenshot(port, out, password=None, timeout=30.0, host="127.0.0.1"):
    """Run spicy-screenshot; returns (returncode, combined output). returncode is None on
    timeout (the process is killed)."""
    argv = [SPICY_SCREENSHOT, "-h", host, "-p", str(port), "-o", out]
    if password is not None:
        argv += ["-w", password]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=headless_env())
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out_text = (e.stdout or b"").decode("utf-8", "replace")
        return None, out_text + "\n[spicy-screenshot killed after %.0f s]" % timeout


# --------------------------------------------------------------------------------------------
# Runner


def reference_mode():
    """True when reference_xspice_check.py runs a script against Debian's spice-server
    (through Xspice) instead of spiced-gpu: the scripts then accept the reference's known
    differences and say so."""
    return os.environ.get("SPICED_IT_REFERENCE_SERVER") == "1"


def parse_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--server", required=True, help="path of the spiced-gpu binary")
    ap.add_argument("-k", dest="filter", default=None,
                    help="run only cases whose name contains this text")
    ap.add_argument("--watchdog", type=float, default=280.0,
                    help="abort the whole script after this many seconds")
    args = ap.parse_args()
    # ServerProcess runs the binary from a temporary directory: a relative path must not
    # depend on that.
    args.server = os.path.abspath(args.server)
    if not os.access(args.server, os.X_OK):
        print("server binary %r is not executable" % args.server)
        sys.exit(2)
    return args


def proc_status_kib(pid, field="VmRSS"):
    """A kB figure of a process from /proc/PID/status (VmRSS: resident now, VmHWM: peak)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure("no %s in /proc/%d/status" % (field, pid))


def cpu_seconds(pid):
    """utime + stime of a process (all threads) in seconds, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitizer_env(binary):
    """For an AddressSanitizer build: no quarantine of freed memory, so RSS measures what the
    server holds rather than what ASan keeps back. None (the harness default) otherwise."""
    try:
        with open(binary, "rb") as f:
            is_asan = b"__asan_init" in f.read()
    except OSError:
        is_asan = False
    if not is_asan:
        return None
    env = {k: v for k, v in os.environ.items() if k != "SPICED_PASSWORD"}
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
                           + ":quarantine_size_mb=0")
    print("  AddressSanitizer build: ASAN_OPTIONS=%s for the RSS check" % env["ASAN_OPTIONS"])
    return env



def replay_scene(replay_binary, scene, what, keep_dir=None):
    """A scene our server or library recorded (--record-scene, SPICED_RECORD_SCENE) replays
    through both compositor backends with scene_replay_test (the Vulkan one on lavapipe unless
    SPICED_TEST_GPU says otherwise, and the CPU one), byte for byte at two tile sizes."""
    check(os.path.exists(scene) and os.path.getsize(scene) > 0, "%s: nothing was recorded" % what)
    if keep_dir:
        shutil.copy(scene, keep_dir)
    env = dict(os.environ, SPICED_TEST_SCENES=scene)
    env.setdefault("SPICED_TEST_GPU", "llvmpipe")
    out = subprocess.run([replay_binary], env=env, capture_output=True, text=True, timeout=300)
    summary = [line for line in out.stdout.splitlines() if ": identical" in line]
    if out.returncode == 0 and "no Vulkan device" in out.stdout:
        raise TestSkipped("%s: recorded, but no Vulkan device to replay it on" % what)
    check(out.returncode == 0 and "SKIPPED" not in out.stdout and len(summary) == 2,
          "%s: the recorded scene does not replay identically:\n%s" % (what, out.stdout[-4000:]))
    for line in summary:
        print("  replayed: %s" % os.path.basename(line), flush=True)


def run_cases(cases, args):
    """cases: list of (name, fn). Prints per-case results and 'N passed, M failed' last."""
    _make_self_headless()
    # Hard stop for anything stuck inside C code: dump stacks and exit non-zero.
    faulthandler.dump_traceback_later(args.watchdog, exit=True)
    passed = failed = skipped = 0
    failures = []
    for name, fn in cases:
        if args.filter and args.filter not in name:
            continue
        t0 = time.monotonic()
        print("=== %s" % name, flush=True)
        try:
            fn(args)
        except TestSkipped as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            failures.append(name)
            if isinstance(e, TestFailure):
                print("FAIL %s (%.1f s): %s" % (name, time.monotonic() - t0, e), flush=True)
            else:
                print("FAIL %s (%.1f s): unexpected exception" % (name, time.monotonic() - t0))
                traceback.print_exc(file=sys.stdout)
                sys.stdout.flush()
        else:
            passed += 1
            print("PASS %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
    faulthandler.cancel_dump_traceback_later()
    if failures:
        print("failed cases: %s" % ", ".join(failures))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    if failed == 0 and skipped > 0:
        return 77  # CTest's SKIP_RETURN_CODE: something here did not run
    return 0 if failed == 0 and passed > 0 else 1


# PC XT set-1 make codes for the letters used by the tests (release = make | 0x80 on the wire;
# spice-gtk's key_release takes the make code).
SCANCODES = {
    "a": 0x1E, "b": 0x30, "c": 0x2E, "d": 0x20, "e": 0x12, "f": 0x21, "g": 0x22, "h": 0x23,
    "i": 0x17, "j": 0x24, "k": 0x25, "l": 0x26, "m": 0x32, "n": 0x31, "o": 0x18, "p": 0x19,
    "q": 0x10, "r": 0x13, "s": 0x1F, "t": 0x14, "u": 0x16, "v": 0x2F, "w": 0x11, "x": 0x2D,
    "y": 0x15, "z": 0x2C, " ": 0x39, "\n": 0x1C,
}
