#!/usr/bin/python3
"""A Linux guest whose qxl DRM driver draws, served by OUR libspice-server.so.1 inside QEMU.

QEMU's SPICE module loads libspice-server.so.1 through the normal search path, so with the
directory of the drop-in library first in LD_LIBRARY_PATH it runs on spiced-gpu. The guest
(linux_guest.py: Debian 12's kernel, busybox, an /init that writes coloured text on the fbcon
console) is booted under TCG (Linux guests hang under KVM on these machines).

Checks:
  - QEMU mapped our library (from /proc/PID/maps) and no other libspice-server: a run on
    Debian's library fails.
  - The guest's /dev/fb0 (dumped raw through a second serial port) equals spicy-screenshot's
    picture pixel for pixel, and equals the picture of a SpiceClientGLib client that watched the
    boot.
  - Keys typed through SpiceClientGLib reach the guest's console (it echoes the line on ttyS0),
    and the console's echo of them reaches the client pixel-exact.
Figures printed: QEMU start to SPICE listening, to the client's first picture, to the guest's
console picture, and the bytes the client received.

Skips (exit 77) when qemu-system-x86_64 is missing or the kernel package cannot be downloaded.
"""

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402
import linux_guest  # noqa: E402

SKIP = 77
BOOT_TIMEOUT = 300.0     # TCG on 2 shared cores; seen: /dev/fb0 ~3-10 s after start
TYPED_TEXT = "hello spice"


def parse_args(doc=__doc__, watchdog=850.0, qxl_debug=True):
    """The options of a drop-in guest test (`doc`: its module's docstring); `qxl_debug`: it
    offers --qxl-debug (else args.qxl_debug is False)."""
    ap = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    ap.add_argument("--server", required=True, help="spiced-gpu binary (harness convention)")
    ap.add_argument("--library", required=True, help="our libspice-server.so.1")
    ap.add_argument("--cache", required=True, help="directory for the kernel and initramfs")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "")
    if qxl_debug:
        ap.add_argument("--qxl-debug", action="store_true",
                        help="QEMU logs the guest's QXL commands (cmdlog=1, -trace qxl_*)")
    ap.add_argument("-k", dest="filter", default=None)
    ap.add_argument("--watchdog", type=float, default=watchdog)
    ap.add_argument("--scene-replay", default=None,
                    help="scene_replay_test: the library records the guest's scene "
                         "(SPICED_RECORD_SCENE) and it is replayed through both compositors")
    ap.add_argument("--keep-scene", default=None,
                    help="copy the recorded scene here (scripts/record-qxl-scenes.sh)")
    args = ap.parse_args()
    args.qxl_debug = getattr(args, "qxl_debug", False)
    args.server = os.path.abspath(args.server)
    args.library = os.path.realpath(args.library)
    args.cache = os.path.abspath(args.cache)  # QEMU runs in a temporary directory
    return args


# --------------------------------------------------------------------------------------------
# The guest's serial ports


class GuestConsole:
    """ttyS0 over a unix socket: everything the guest prints goes to `log_path` too."""

    def __init__(self, path, log_path):
        self.path = path
        self.log = open(log_path, "wb")
        self.sock = None
        self.text = ""
        self.consumed = 0   # wait_for() searches only what arrived after the last match

    def connect(self, qemu, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.path)
                s.setblocking(False)
                self.sock = s
                return
            except OSError:
                s.close()
            H.check(qemu.alive(), "QEMU exited before its console socket opened\n%s"
                    % qemu.stderr_tail())
            time.sleep(0.02)
        raise H.TestFailure("QEMU's console socket %s did not open" % self.path)

    def poll(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not data:
                return
            self.log.write(data)
            self.log.flush()
            self.text += data.decode("utf-8", "replace").replace("\r", "")

    def wait_for(self, pattern, timeout, qemu):
        """The first match of `pattern` after the previous match; fails with the console."""
        found = {}

        def pred():
            self.poll()
            m = re.compile(pattern).search(self.text, self.consumed)
            if m:
                found["m"] = m
            return m is not None or not qemu.alive()
        H.wait_until(pred, timeout, interval=0.02)
        m = found.get("m")
        H.check(m is not None, "guest did not print /%s/ within %.0f s (QEMU %s)\n"
                "--- guest console (last 2000 chars) ---\n%s\n%s"
                % (pattern, timeout, "alive" if qemu.alive() else "exited",
                   self.text[-2000:], qemu.stderr_tail()))
        self.consumed = m.end()
        return m

    def send(self, line):
        self.sock.setblocking(True)
        self.sock.sendall(line.encode() + b"\n")
        self.sock.setblocking(False)

    def close(self):
        if self.sock:
            self.sock.close()
        self.log.close()


def read_serial(path, offset, nbytes, timeout, qemu):
    """`nbytes` the guest wrote to a serial port's file from `offset` on. (QEMU keeps its own
    file offset, so the file only grows: truncating it would leave a hole.)"""
    end = offset + nbytes
    ok = H.wait_until(lambda: os.path.getsize(path) >= end or not qemu.alive(), timeout)
    size = os.path.getsize(path) - offset
    H.check(ok and size >= nbytes, "serial dump has %d of %d bytes" % (size, nbytes))
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(nbytes)


def read_dump(path, offset, nbytes, geometry, timeout, qemu):
    """The raw fb bytes the guest wrote to ttyS1 from `offset` on -> (h, w, 3) RGB. The fb is
    32 bpp xRGB, little-endian (B, G, R, X in memory), rows `stride` bytes apart."""
    width, height, stride, bpp = geometry
    H.check(bpp == 32, "guest fb has %d bits per pixel; this test reads 32" % bpp)
    raw = np.frombuffer(read_serial(path, offset, nbytes, timeout, qemu), dtype=np.uint8)
    rows = raw.reshape(height, stride)[:, :width * 4].reshape(height, width, 4)
    return rows[:, :, [2, 1, 0]].copy()


# --------------------------------------------------------------------------------------------
# QEMU


def sanitizer_runtimes(library):
    """The ASan/UBSan runtimes a sanitizer build of our library links (from ldd), ASan first.
    Loaded only with QEMU's SPICE module, ASan would abort ("ASan runtime does not come first
    in initial library list")."""
    p = subprocess.run(["ldd", library], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    found = dict(re.findall(r"^\s*(libasan|libubsan)\S*\s+=>\s+(\S+)",
                            p.stdout.decode("utf-8", "replace"), re.M))
    return [found[name] for name in ("libasan", "libubsan") if name in found]


class Qemu:
    memory_mb = 512

    def __init__(self, args, files, workdir):
        self.args = args
        self.workdir = workdir
        self.port = H.free_port()
        self.console_path = os.path.join(workdir, "ttyS0.sock")
        self.fb_path = os.path.join(workdir, "fb.raw")
        self.stderr_path = os.path.join(workdir, "qemu.stderr")
        self.scene_path = (os.path.join(workdir, "linux-console.scene")
                           if getattr(args, "scene_replay", None) else None)
        self.files = files
        self.proc = None
        self.t0 = None

    def display_argv(self):
        """The display device and QEMU's own display; the virgl test overrides this."""
        if self.args.qxl_debug:
            return ["-vga", "none", "-device", "qxl-vga,cmdlog=1", "-display", "none",
                    "-trace", "qxl_*"]
        return ["-vga", "qxl", "-display", "none"]

    def argv(self):
        return [self.args.qemu, "-nodefaults", "-no-user-config", "-machine", "accel=tcg",
                "-m", str(self.memory_mb), *self.display_argv(), "-net", "none", "-no-reboot",
                "-spice", "port=%d,addr=127.0.0.1,disable-ticketing=on" % self.port,
                "-kernel", self.files.kernel, "-initrd", self.files.initrd,
                # quiet + consoleblank=0: nothing but our text on tty1, and it never blanks.
                "-append", "console=ttyS0 consoleblank=0 quiet panic=-1",
                # wait=on: the VM starts only once we listen, so no console line is lost.
                "-chardev", "socket,id=con,path=%s,server=on,wait=on" % self.console_path,
                "-serial", "chardev:con", "-serial", "file:%s" % self.fb_path]

    def start(self):
        env = H.headless_env()
        env["LD_LIBRARY_PATH"] = os.path.dirname(self.args.library) + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        runtimes = sanitizer_runtimes(self.args.library)
        if runtimes:
            # QEMU is not instrumented: the runtimes must come first, and its own leaks at exit
            # are not ours to report. Errors in our library still abort and show on stderr.
            env["LD_PRELOAD"] = ":".join(runtimes)
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
            print("  sanitizer build: LD_PRELOAD=%s" % env["LD_PRELOAD"], flush=True)
        if self.scene_path:
            env["SPICED_RECORD_SCENE"] = self.scene_path
        err = open(self.stderr_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=err,
                                     stderr=err, env=env, cwd=self.workdir)
        err.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def elapsed(self):
        return time.monotonic() - self.t0

    def stderr_text(self):
        return H.read_log_file(self.stderr_path, self.alive())

    def stderr_tail(self, lines=40):
        tail = self.stderr_text().splitlines()[-lines:]
        return "--- QEMU stderr (last %d lines) ---\n%s" % (len(tail), "\n".join(tail))

    def wait_listening(self, timeout=60.0):
        ok = H.wait_until(lambda: H.port_is_listening(self.port) or not self.alive(), timeout,
                          interval=0.02)
        H.check(ok and self.alive(), "QEMU's SPICE port %d did not listen within %.0f s\n%s"
                % (self.port, timeout, self.stderr_tail()))

    def spice_libraries(self):
        """Paths of every libspice-server QEMU has mapped."""
        with open("/proc/%d/maps" % self.proc.pid) as f:
            return sorted({line.split(None, 5)[5].strip() for line in f
                           if "libspice-server" in line and len(line.split(None, 5)) == 6})

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --------------------------------------------------------------------------------------------
# Steps of the run


def check_our_library(qemu, library):
    """A run on Debian's libspice-server must fail here, not pass."""
    mapped = qemu.spice_libraries()
    print("  QEMU mapped: %s" % ", ".join(mapped), flush=True)
    H.check(mapped == [library], "QEMU did not load our library %s; mapped: %s"
            % (library, mapped or "no libspice-server"))
    # The library prints it once QEMU has added the qxl device, a moment after listening.
    def banner_lines():
        return [l for l in qemu.stderr_text().splitlines() if "spiced-gpu serving" in l]
    H.wait_until(lambda: banner_lines() or not qemu.alive(), 30.0, interval=0.05)
    banner = banner_lines()
    H.check(banner, "our library's start line ('spiced-gpu serving ...') is not on QEMU's "
            "stderr\n%s" % qemu.stderr_tail())
    print("  %s" % banner[0].strip(), flush=True)


# Said at every start by design, not about this guest.
EXPECTED_WARNINGS = ("SASL authentication is not supported", "migration is not supported")


def report_library_warnings(qemu):
    """Print what our library complained about while serving the guest (not a failure: the
    pictures decide), so a rejected command is seen next to the figures."""
    lines = [l for l in qemu.stderr_text().splitlines()
             if re.search(r"spiced (warning|error)", l)
             and not any(w in l for w in EXPECTED_WARNINGS)]
    for line in lines[:10]:
        print("  library said: %s" % line.strip(), flush=True)
    if len(lines) > 10:
        print("  library said %d more warnings" % (len(lines) - 10), flush=True)


def client_bytes(client):
    return sum(client.bytes_read(t, i) for (t, i) in list(client.channels))


def wait_quiet_picture(client, geometry, timeout, quiet=1.5):
    """Wait until the client's primary surface has the guest fb's size and no invalidate came
    for `quiet` seconds: the guest's console picture has arrived."""
    width, height = geometry[0], geometry[1]

    def pred():
        p = client.primary
        return (p is not None and p["width"] == width and p["height"] == height
                and client.last_invalidate is not None
                and time.monotonic() - client.last_invalidate >= quiet) or client.failed()
    ok = H.wait_until(pred, timeout, interval=0.05)
    H.check(ok and not client.failed(), "client did not get a quiet %dx%d picture within "
            "%.0f s; primary=%s; events: %s" % (width, height, timeout, client.primary,
                                               client.events_text()))
    return client.last_invalidate


def dump_guest_fb(console, qemu, geometry):
    offset = os.path.getsize(qemu.fb_path)
    console.send("dump")
    m = console.wait_for(r"GUEST DUMPED (\d+)", 120.0, qemu)
    return read_dump(qemu.fb_path, offset, int(m.group(1)), geometry, 60.0, qemu)


def compare(name_a, a, name_b, b, workdir, problems):
    report = H.diff_report(a, b, name_a, name_b)
    if report:
        tag = "%s-vs-%s" % (name_a, name_b)
        H.write_ppm(os.path.join(workdir, tag + "-" + name_a + ".ppm"), a)
        H.write_ppm(os.path.join(workdir, tag + "-" + name_b + ".ppm"), b)
        problems.append("%s differs from %s: %s" % (name_a, name_b, report))
        print("  MISMATCH %s vs %s: %s" % (name_a, name_b, report), flush=True)
    else:
        print("  %s == %s (%dx%d, 0 pixels differ)" % (name_a, name_b, a.shape[1], a.shape[0]),
              flush=True)


def type_keys(port, console, qemu, workdir, geometry, problems):
    """A fresh client (spicy-screenshot replaced the first one) types a line on tty1."""
    client = H.SpiceClient(port=port, name="typist").connect()
    try:
        client.wait_primary(30.0)
        client.wait_inputs(30.0)
        console.send("keys")
        console.wait_for(r"GUEST WAITING KEYS", 60.0, qemu)
        client.tap_keys([H.SCANCODES[c] for c in TYPED_TEXT + "\n"])
        m = console.wait_for(r"GUEST TYPED:([^\n]*)\n", 60.0, qemu)
        if m.group(1) != TYPED_TEXT:
            problems.append("guest read %r from the keyboard, want %r" % (m.group(1),
                                                                          TYPED_TEXT))
        print("  keys: the guest read %r" % m.group(1), flush=True)
        # tty1 echoed the line: that update must reach the client pixel-exact too.
        wait_quiet_picture(client, geometry, 60.0)
        after = dump_guest_fb(console, qemu, geometry)
        ok, fb, _ = client.wait_framebuffer_equals(lambda: after, 10.0)
        compare("guest-fb-after-keys", after, "typist-client", fb, workdir, problems)
        print("  typist client received %d bytes" % client_bytes(client), flush=True)
    finally:
        client.disconnect()


class GuestSession:
    """What guest_session hands its body: the watching client (disconnected at the end if still
    set) and whether to keep the work directory after a pass."""

    def __init__(self):
        self.watcher = None
        self.keep_workdir = False


@contextlib.contextmanager
def guest_session(qemu, console, workdir):
    """Around a guest case: on failure the work directory is kept (and said) with QEMU's
    stderr tail; in any case the watcher is disconnected, QEMU stopped, the console closed."""
    session = GuestSession()
    try:
        yield session
    except BaseException:
        print("  kept for inspection: %s (ttyS0.log, qemu.stderr, *.ppm)" % workdir, flush=True)
        print(qemu.stderr_tail(), flush=True)
        session.keep_workdir = True
        raise
    finally:
        if session.watcher is not None:
            session.watcher.disconnect()
        qemu.stop()
        console.close()
        if not session.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def start_guest(qemu, console, library):
    """Starts QEMU, attaches the console, waits for SPICE to listen and checks that QEMU loaded
    our library. Returns when SPICE listened (seconds from QEMU's start)."""
    qemu.start()
    console.connect(qemu)
    qemu.wait_listening()
    t_listen = qemu.elapsed()
    check_our_library(qemu, library)
    return t_listen


def connect_watcher(qemu):
    """A client that watches the whole boot, once it has its first picture."""
    watcher = H.SpiceClient(port=qemu.port, name="watcher").connect()
    watcher.wait_first_invalidate(60.0)
    return watcher


def power_off_guest(console, qemu, problems):
    """Tells the guest to power off: QEMU must exit cleanly with our library still loaded (a
    crash or sanitizer abort in it at shutdown shows here)."""
    console.send("off")
    if not H.wait_until(lambda: not qemu.alive(), 30.0):
        problems.append("QEMU did not exit within 30 s of the guest's poweroff")
    elif qemu.proc.returncode != 0:
        problems.append("QEMU exited with %s after the guest's poweroff"
                        % qemu.proc.returncode)
    report_library_warnings(qemu)
    for pattern in H.SANITIZER_PATTERNS:
        if pattern in qemu.stderr_text():
            problems.append("QEMU's stderr holds %r (our library, sanitizer build)" % pattern)


def case_linux_qxl_guest(args):
    files = prepare_guest(args)
    workdir = tempfile.mkdtemp(prefix="spiced-dropin-linux-")
    qemu = Qemu(args, files, workdir)
    console = GuestConsole(qemu.console_path, os.path.join(workdir, "ttyS0.log"))
    problems = []
    with guest_session(qemu, console, workdir) as session:
        t_listen = start_guest(qemu, console, args.library)

        # A client watches the whole boot: first picture (SeaBIOS/VGA text), then the guest's.
        session.watcher = watcher = connect_watcher(qemu)
        t_first = watcher.invalidates[0][0] - qemu.t0
        bytes_first = client_bytes(watcher)

        m = console.wait_for(r"GUEST GEOMETRY (\d+),(\d+) (\d+) (\d+)", BOOT_TIMEOUT, qemu)
        geometry = tuple(int(g) for g in m.groups())
        console.wait_for(r"GUEST READY", 60.0, qemu)
        t_ready = qemu.elapsed()
        t_picture = wait_quiet_picture(watcher, geometry, 120.0) - qemu.t0
        bytes_picture = client_bytes(watcher)
        print("  guest fb %dx%d stride %d, %d bpp" % geometry, flush=True)
        print("  FIGURES (seconds from QEMU's start): SPICE listening %.2f; the client's first "
              "picture (VGA text) %.2f; guest console drawn (READY on ttyS0) %.2f; that picture "
              "complete at the client %.2f" % (t_listen, t_first, t_ready, t_picture), flush=True)
        # The main channel's share is mostly the link-speed test at connect (256 KiB).
        print("  FIGURES (bytes the watching client received): %d by the first picture, %d by "
              "the guest's picture: display %d, main %d, inputs %d, cursor %d"
              % (bytes_first, bytes_picture, watcher.bytes_read("display"),
                 watcher.bytes_read("main"), watcher.bytes_read("inputs"),
                 watcher.bytes_read("cursor")), flush=True)

        t = time.monotonic()
        dump = dump_guest_fb(console, qemu, geometry)
        print("  fb dump over ttyS1 took %.2f s" % (time.monotonic() - t), flush=True)
        H.write_ppm(os.path.join(workdir, "guest-fb.ppm"), dump)
        ok, fb, _ = watcher.wait_framebuffer_equals(lambda: dump, 10.0)
        compare("guest-fb", dump, "watcher-client", fb, workdir, problems)

        # spicy-screenshot replaces the watcher (one client at a time, as spice-server).
        shot_path = os.path.join(workdir, "spicy-screenshot.ppm")
        rc, out = H.run_spicy_screenshot(qemu.port, shot_path, timeout=60.0)
        H.check(rc == 0, "spicy-screenshot exited %s: %s" % (rc, out))
        compare("guest-fb", dump, "spicy-screenshot", H.read_ppm(shot_path), workdir, problems)
        watcher.disconnect()
        session.watcher = None

        type_keys(qemu.port, console, qemu, workdir, geometry, problems)
        power_off_guest(console, qemu, problems)
        if args.qxl_debug:
            print("  QXL command log kept in %s/qemu.stderr" % workdir, flush=True)
            session.keep_workdir = True
        H.check(not problems, "; ".join(problems))
        if args.scene_replay:
            # The guest is off: the whole boot, console and typing was recorded.
            H.replay_scene(args.scene_replay, qemu.scene_path, "the Linux guest's console",
                           args.keep_scene)


def prepare_guest(args, prepare=linux_guest.prepare):
    """`prepare`: linux_guest.prepare or another kind of guest's (virgl_guest.prepare)."""
    t = time.monotonic()
    files = prepare(args.cache, log=lambda s: print("  " + s, flush=True))
    print("  guest: %s %s (%s, %.1f s)" % (files.package, files.version,
                                          "built" if files.built else "cached",
                                          time.monotonic() - t), flush=True)
    return files


def skip(reason):
    print("SKIP: %s" % reason, flush=True)
    sys.exit(SKIP)


def require_qemu(args):
    if not args.qemu or not os.access(args.qemu, os.X_OK):
        skip("qemu-system-x86_64 not found (install qemu-system-x86)")


def run_guest_cases(args, cases, prepare=linux_guest.prepare):
    """Runs `cases` (as H.run_cases) once the library exists and `prepare` (linux_guest's or
    another kind of guest's) has made the guest's files."""
    if not os.path.exists(args.library):
        print("library %s does not exist" % args.library)
        return 2
    try:
        # Prepared before run_cases so that "cannot download" is a skip, not a failure.
        prepare(args.cache, log=lambda s: print(s, flush=True))
    except linux_guest.GuestUnavailable as e:
        skip("cannot prepare the Linux guest: %s" % e)
    return H.run_cases(cases, args)


def main():
    args = parse_args()
    require_qemu(args)
    return run_guest_cases(args, [("linux_qxl_guest", case_linux_qxl_guest)])


if __name__ == "__main__":
    sys.exit(main())
