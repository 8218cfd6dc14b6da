#!/usr/bin/python3
"""The drop-in libspice-server.so.1 under the real hosts that load it, with real clients.

Xspice (Debian's xserver-xspice, whose driver links libspice-server.so.1) runs on our library
through LD_LIBRARY_PATH: X clients draw (xterm text, xeyes, glxgears, a moved window) and
spicy-screenshot's picture must equal `xwd -root` pixel for pixel once drawing settles; keys
and pointer positions sent by a SpiceClientGLib client must reach X (checked with xdotool).

QEMU (Debian's qemu-system-x86, no disk, TCG) with -vga qxl, -vga std and -device virtio-vga
shows its SeaBIOS/iPXE screen: spicy-screenshot's picture must equal QEMU's own screendump.

Each case first checks that the host really loaded OUR library (its path in /proc/PID/maps):
a case that ran on Debian's library fails. Missing hosts (Xorg, QEMU) make the whole script
print SKIP and exit 77.

    /usr/bin/python3 tests/integration/test_dropin.py --server build/host/spiced-gpu \\
        --library build/qxl/libspice-server.so.1
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import spiced_harness as H  # noqa: E402
import reference_xspice_check as X  # noqa: E402

QEMU = "/usr/bin/qemu-system-x86_64"
SKIP = 77


def sanitizer_env(library):
    """The library of a sanitizer build needs its runtime loaded first into hosts that were
    not built with it (Xorg, QEMU): LD_PRELOAD it. Leak checks stay off there (the hosts'
    own allocations at exit are not ours; dropin_embed_test checks our leaks)."""
    out = subprocess.run(["ldd", library], capture_output=True, text=True).stdout
    preload = [line.split("=>")[1].split()[0] for line in out.splitlines()
               if "=>" in line and ("libasan" in line or "libubsan" in line)]
    if not preload:
        return {}
    return {"LD_PRELOAD": " ".join(preload),
            # Hosts' malloc is not filled with garbage: QEMU hands over buffers it never wrote
            # (a primary surface's bottom rows) and shows them as black, as glibc's zeroed
            # pages are; our own code is checked with filling on in the unit tests.
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:verify_asan_link_order=0:"
                            "max_malloc_fill_size=0",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def library_loaded(pid, library):
    """True when process `pid` mapped `library` (resolved: the symlink's target)."""
    target = os.path.realpath(library)
    try:
        with open("/proc/%d/maps" % pid) as f:
            return any(target in line for line in f)
    except OSError:
        return False


def check_ours(pid, args, what):
    H.check(library_loaded(pid, args.library),
            "%s did not load %s (another libspice-server.so.1 served it)" %
            (what, os.path.realpath(args.library)))


def x_env(xs):
    env = xs.env()
    for name in ("LD_LIBRARY_PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(name, None)
    return env


def screenshot(port, d, name, unix_path=None):
    out = os.path.join(d, name + ".ppm")
    if unix_path:
        p = subprocess.run([H.SPICY_SCREENSHOT, "--uri=spice+unix://" + unix_path, "-o", out],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30, env=H.headless_env())
        rc, text = p.returncode, p.stdout.decode("utf-8", "replace")
    else:
        rc, text = H.run_spicy_screenshot(port, out)
    H.check(rc == 0, "spicy-screenshot failed (%s): %s" % (rc, text.strip()[-300:]))
    return H.read_ppm(out)


def settled_pair(take_reference, take_client, attempts=20, pause=0.5):
    """Takes the host's own picture, the client's, and the host's again, until the client's
    equals one of the two host pictures around it (the host may still change: a text cursor
    blinks, a clock ticks) and returns (that host picture, client); the last attempt's
    (host, client) if they never meet."""
    host = client = None
    for _ in range(attempts):
        before = take_reference()
        client = take_client()
        host = take_reference()
        for reference in (host, before):
            if H.same_picture(reference, client):
                return reference, client
        time.sleep(pause)
    return host, client


def compare(host, client, what, ignore=None):
    """`ignore`: (x, y, w, h) left out of the comparison, said in the output."""
    H.check(host.shape == client.shape, "%s: host picture %s, client picture %s" %
            (what, host.shape, client.shape))
    if ignore:
        x, y, w, h = ignore
        host = host.copy()
        client = client.copy()
        client[y:y + h, x:x + w] = host[y:y + h, x:x + w]
        print("  %s: the %dx%d square at (%d,%d) is left out" % (what, w, h, x, y), flush=True)
    differing = int(np.any(host != client, axis=2).sum())
    if differing:
        ys, xs = np.nonzero(np.any(host != client, axis=2))
        print("  %s: %d pixels differ, within x %d..%d y %d..%d" %
              (what, differing, xs.min(), xs.max(), ys.min(), ys.max()), flush=True)
    H.check(differing == 0, "%s: the client's picture is not the host's (%d pixels differ)" %
            (what, differing))
    lit = int(np.any(host != host[0, 0], axis=2).sum())
    print("  %s: %dx%d, pixel-exact (%d pixels differ from the corner colour)" %
          (what, host.shape[1], host.shape[0], lit), flush=True)
    return lit


# --------------------------------------------------------------------------------------------
# Xspice

class XspiceOnUs:
    def __init__(self, args, agent=False, extra_env=None):
        self.dir = tempfile.mkdtemp(prefix="spiced-dropin-x-")
        self.port = H.free_port()
        extra = dict(extra_env or {})
        if agent:
            # Xspice opens a vdagent char device on this socket once spice-vdagentd connects.
            extra.update({"XSPICE_VDAGENT_ENABLED": "1",
                          "XSPICE_VDAGENT_VIRTIO_PATH": self.path("vdagent.virtio"),
                          "XSPICE_VDAGENT_UINPUT_PATH": self.path("vdagent.uinput"),
                          "XSPICE_VDAGENT_UID": str(os.getuid()),
                          "XSPICE_VDAGENT_GID": str(os.getgid())})
        extra.update(sanitizer_env(args.library))
        for attempt in (1, 2):
            try:
                self.xs = X.Xspice(self.port, workdir=self.dir,
                                   library_dir=os.path.dirname(os.path.abspath(args.library)),
                                   extra_env=extra)
                break
            except RuntimeError as e:
                # A display number or port taken between our check and Xorg's start: once
                # more on fresh ones, and say so.
                if attempt == 2:
                    raise
                print("  Xspice did not start (%s); once more" % e, flush=True)
                self.port = H.free_port()
        self.clients = []
        check_ours(self.xs.proc.pid, args, "Xspice")
        if agent:
            # The real guest agent, as Xspice's launcher starts it (no session manager here:
            # -X; one virtio session: -o).
            self.run(["spice-vdagentd", "-f", "-x", "-X", "-o", "-S", self.path("vdagent.udcs"),
                      "-s", self.path("vdagent.virtio"), "-u", self.path("vdagent.uinput")])
            H.check(H.wait_until(lambda: os.path.exists(self.path("vdagent.udcs")), 10.0),
                    "spice-vdagentd did not come up")
            self.run(["spice-vdagent", "-x", "-s", self.path("vdagent.virtio"), "-S",
                      self.path("vdagent.udcs")])

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, argv, **kw):
        p = subprocess.Popen(argv, env=x_env(self.xs), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=os.setpgrp, **kw)
        self.clients.append(p)
        return p

    def xdotool(self, *argv):
        out = subprocess.run(["xdotool"] + list(argv), env=x_env(self.xs),
                             capture_output=True, timeout=20)
        return out.stdout.decode()

    def wait_window(self, name, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.xdotool("search", "--name", name).split()
            if ids:
                return ids[0]
            time.sleep(0.2)
        raise H.TestFailure("window %r never appeared" % name)

    # X draws pointers that have no ARGB image (xterm's I-beam, the root's X) into the
    # framebuffer itself (Xspice's driver takes only ARGB cursors to the cursor channel), and
    # `xwd` leaves them out: the pointer is parked in the bottom-right corner, away from every
    # window, and that corner is not compared.
    POINTER_CORNER = 32

    def park_pointer(self):
        h, w = X.xwd_root(self.xs.display).shape[:2]
        self.xdotool("mousemove", str(w - 1), str(h - 1))
        time.sleep(0.3)
        c = self.POINTER_CORNER
        return (w - c, h - c, c, c)

    def pair(self, name):
        # X first finishes what its clients asked (a loaded machine scrolls for a while):
        # its picture holds still for a second, then the client is compared.
        last = X.xwd_root(self.xs.display)
        still_since = time.monotonic()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and time.monotonic() - still_since < 1.0:
            time.sleep(0.25)
            now = X.xwd_root(self.xs.display)
            if not H.same_picture(now, last):
                last, still_since = now, time.monotonic()
        return settled_pair(lambda: X.xwd_root(self.xs.display),
                            lambda: screenshot(self.port, self.dir, name))

    def close(self, expect_exit=False):
        if self.xs.proc.poll() is not None and not expect_exit:
            print("  Xorg exited with %s:\n    %s" % (self.xs.proc.returncode, "\n    ".join(
                self.xs.output().splitlines()[-25:])), flush=True)
        for p in self.clients:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(5)
        self.xs.stop()
        log = self.xs.output()
        shutil.rmtree(self.dir, ignore_errors=True)
        return log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        log = self.close()
        ours = [line for line in log.splitlines() if " spiced " in line]
        bad = [line for line in ours if "warning" in line or "error" in line]
        if bad:
            print("  library warnings:\n    " + "\n    ".join(bad[-10:]), flush=True)


def case_xspice_xterm_text(args):
    with XspiceOnUs(args) as x:
        x.run(["xterm", "-geometry", "100x40+20+20", "-title", "scroller", "-e", "sh", "-c",
               "seq 1 4000; ls -la /usr/lib; echo settled; sleep 600"])
        x.wait_window("scroller")
        corner = x.park_pointer()
        host, client = x.pair("xterm")
        lit = compare(host, client, "xterm scrolling", ignore=corner)
        H.check(lit > 2000, "the xterm text did not show (%d lit pixels)" % lit)


def case_xspice_scene(args):
    """A short X session recorded by the library (an xterm scrolling, i.e. COPY_BITS moves; a
    window moved; xeyes; text) is replayed through both compositor backends."""
    scenes = tempfile.mkdtemp(prefix="spiced-scene-")
    scene = os.path.join(scenes, "xspice-session.scene")
    try:
        with XspiceOnUs(args, extra_env={"SPICED_RECORD_SCENE": scene}) as x:
            watcher = H.SpiceClient(port=x.port, name="scene-watcher")
            watcher.connect()
            watcher.wait_primary(20.0)
            x.run(["xterm", "-geometry", "80x24+10+10", "-title", "scroller", "-e", "sh", "-c",
                   "for i in $(seq 1 60); do echo line $i of a scrolling xterm; sleep 0.02;"
                   " done; sleep 600"])
            x.run(["xeyes", "-geometry", "150x100+650+40"])
            mover = x.wait_window("scroller")
            time.sleep(2.0)
            for i in range(4):
                x.xdotool("windowmove", mover, str(60 + 60 * i), str(250 + 50 * i))
                time.sleep(0.2)
            x.park_pointer()
            time.sleep(0.5)
            watcher.disconnect()
        H.replay_scene(args.scene_replay, scene, "Xspice session", args.keep_scene)
    finally:
        shutil.rmtree(scenes, ignore_errors=True)


def case_xspice_windows(args):
    with XspiceOnUs(args) as x:
        x.run(["xterm", "-geometry", "60x10+10+10", "-title", "mover", "-e", "sh", "-c",
               "echo a window that moves; sleep 600"])
        x.run(["xeyes", "-geometry", "200x150+600+20"])
        gears = x.run(["glxgears", "-geometry", "300x300+600+300"])
        mover = x.wait_window("mover")
        time.sleep(1.0)
        for i in range(6):
            x.xdotool("windowmove", mover, str(40 + 50 * i), str(200 + 40 * i))
            time.sleep(0.15)
        x.wait_window("glxgears")
        time.sleep(2.0)  # the gears turn for a while through our library
        os.kill(gears.pid, signal.SIGSTOP)
        corner = x.park_pointer()
        host, client = x.pair("windows")
        # X itself reads a GL window as black (xwd -root and xwd -id alike, on Debian's
        # spice-server too: Mesa's software GLX output never reaches what GetImage reads), so
        # the gears window is checked for its gears and left out of the X comparison.
        gx, gy, gw, gh = 600, 300, 300, 300
        gl = client[gy:gy + gh, gx:gx + gw].astype(int)
        red = int(((gl[:, :, 0] > 150) & (gl[:, :, 1] < 80) & (gl[:, :, 2] < 80)).sum())
        green = int(((gl[:, :, 1] > 150) & (gl[:, :, 0] < 80) & (gl[:, :, 2] < 80)).sum())
        blue = int(((gl[:, :, 2] > 150) & (gl[:, :, 0] < 80) & (gl[:, :, 1] < 80)).sum())
        print("  glxgears window: %d red, %d green, %d blue gear pixels" % (red, green, blue),
              flush=True)
        H.check(min(red, green, blue) > 500, "the client does not show the three gears")
        client = client.copy()
        client[gy:gy + gh, gx:gx + gw] = host[gy:gy + gh, gx:gx + gw]
        lit = compare(host, client, "xterm moved, xeyes", ignore=corner)
        H.check(lit > 5000, "the windows did not show (%d lit pixels)" % lit)
        os.kill(gears.pid, signal.SIGCONT)


def case_xspice_input(args):
    with XspiceOnUs(args) as x:
        out = os.path.join(x.dir, "typed.txt")
        x.run(["xterm", "-geometry", "60x10+100+100", "-title", "typist", "-e", "sh", "-c",
               "read line; echo \"$line\" > %s; sleep 600" % out])
        x.wait_window("typist")
        client = H.SpiceClient(port=x.port, name="input")
        client.connect()
        try:
            client.wait_inputs()
            client.wait_primary()
            H.pump(0.5)
            # Into the xterm (no window manager: focus follows the pointer).
            client.position(300, 160)
            ok = H.wait_until(lambda: "x:300 y:160" in x.xdotool("getmouselocation"), 10.0)
            H.check(ok, "the pointer did not reach X: xdotool says %r" %
                    x.xdotool("getmouselocation").strip())
            print("  pointer: client position (300,160) -> X %s" %
                  x.xdotool("getmouselocation").strip(), flush=True)
            client.tap_keys([H.SCANCODES[c] for c in "spiced\n"])
            ok = H.wait_until(lambda: os.path.exists(out) and open(out).read().strip(), 10.0)
            typed = open(out).read().strip() if os.path.exists(out) else ""
            H.check(typed == "spiced", "keys typed through the client gave %r in X" % typed)
            print("  keys: typed 'spiced' + Enter, the xterm read %r" % typed, flush=True)
        finally:
            client.disconnect()


def case_xspice_agent(args):
    import test_agent as A
    import test_monitors as M
    with XspiceOnUs(args, agent=True) as x:
        client = A.AgentClient(port=x.port, name="agent")
        client.connect()
        try:
            client.wait_primary()
            client.wait_agent(15.0)
            print("  spice-vdagent connected through our library; its caps 0x%x" %
                  client.agent_caps(), flush=True)
            # Client -> X: the client grabs, xclip asks X, spice-vdagent asks the client.
            client.offer = b"from the SPICE client"
            client.main.clipboard_selection_grab(0, [A.VD_AGENT_CLIPBOARD_UTF8_TEXT])
            H.pump(0.5)
            reader = subprocess.Popen(["xclip", "-o", "-selection", "clipboard"],
                                      env=x_env(x.xs), stdout=subprocess.PIPE)
            H.wait_until(lambda: reader.poll() is not None, 10.0)
            got = reader.stdout.read() if reader.poll() is not None else b"(xclip hung)"
            H.check(got == client.offer, "X's clipboard holds %r" % got)
            print("  client -> X clipboard: %r" % got, flush=True)
            # X -> client: xclip owns the clipboard, spice-vdagent grabs for the client.
            writer = subprocess.Popen(["xclip", "-i", "-selection", "clipboard"],
                                      env=x_env(x.xs), stdin=subprocess.PIPE)
            x.clients.append(writer)
            writer.stdin.write(b"from X")
            writer.stdin.close()
            ok = H.wait_until(lambda: any(c[3] == b"from X" for c in client.clips), 10.0)
            H.check(ok, "the client never got X's clipboard: %r" % [c[3] for c in client.clips])
            print("  X -> client clipboard: 'from X'", flush=True)
            # A resize: the layout reaches spice-vdagent (Xspice's QXL takes none), which sets
            # X's mode; the new primary surface reaches the client.
            t0 = time.monotonic()
            M.MultiDisplayClient.send_layout(client, {0: (0, 0, 800, 600)})
            ok = H.wait_until(lambda: client.primary and (client.primary["width"],
                                                          client.primary["height"]) == (800, 600),
                              15.0)
            H.check(ok, "the client's surface stayed %sx%s after asking for 800x600" %
                    ((client.primary or {}).get("width"), (client.primary or {}).get("height")))
            print("  resize to 800x600 through the agent: %.0f ms" %
                  ((time.monotonic() - t0) * 1000), flush=True)
        finally:
            client.disconnect()


def case_xspice_exit_on_disconnect(args):
    x = XspiceOnUs(args, extra_env={"XSPICE_EXIT_ON_DISCONNECT": "1"})
    try:
        client = screenshot(x.port, x.dir, "once")
        H.check(client.shape[0] > 0, "no picture")
        ok = H.wait_until(lambda: x.xs.proc.poll() is not None, 10.0)
        H.check(ok, "Xspice kept running after its client left (exit on disconnect)")
        H.check(x.xs.proc.returncode == 0, "Xspice exited with %s" % x.xs.proc.returncode)
        print("  the client left; Xspice exited with 0, as spice-server makes it", flush=True)
    finally:
        x.close(expect_exit=True)


# --------------------------------------------------------------------------------------------
# QEMU

class Qmp:
    def __init__(self, path, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.events = []  # asynchronous QMP events seen so far
        self.sock.settimeout(timeout)
        self._read()  # greeting
        self.command("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise H.TestFailure("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, **arguments):
        self.sock.sendall(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
            if "return" in reply or "error" in reply:
                if "error" in reply:
                    raise H.TestFailure("QMP %s: %s" % (name, reply["error"]))
                return reply["return"]


def qemu_case(display_args, what, unix=False):
    def run(args):
        d = tempfile.mkdtemp(prefix="spiced-dropin-qemu-")
        port = H.free_port()
        qmp_path = os.path.join(d, "qmp.sock")
        unix_path = os.path.join(d, "spice.sock") if unix else None
        spice = ("unix=on,addr=%s,disable-ticketing=on" % unix_path if unix else
                 "port=%d,addr=127.0.0.1,disable-ticketing=on" % port)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(args.library))
        env.update(sanitizer_env(args.library))
        argv = [QEMU, "-machine", "pc,accel=tcg", "-m", "128", "-display", "none",
                "-nic", "none", "-boot", "menu=off",
                "-spice", spice,
                "-qmp", "unix:%s,server=on,wait=off" % qmp_path] + display_args
        log = open(os.path.join(d, "qemu.log"), "wb")
        qemu = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=os.setpgrp)
        try:
            qmp = Qmp(qmp_path)
            check_ours(qemu.pid, args, "QEMU")
            if unix:
                H.check(H.wait_until(lambda: os.path.exists(unix_path), 20.0),
                        "QEMU's SPICE unix socket never appeared")
            else:
                H.check(H.wait_until(lambda: H.port_is_listening(port), 20.0),
                        "QEMU's SPICE port never listened")
            # SeaBIOS, then "No bootable device": a still screen but for the text cursor.
            time.sleep(4.0)
            n = [0]

            def host():
                n[0] += 1
                path = os.path.join(d, "host%d.ppm" % n[0])
                qmp.command("screendump", filename=path)
                return H.read_ppm(path)

            t0 = time.monotonic()
            pair = settled_pair(host, lambda: screenshot(port, d, "client%d" % n[0], unix_path))
            lit = compare(pair[0], pair[1], what)
            H.check(lit > 500, "%s: the BIOS text did not show (%d lit pixels)" % (what, lit))
            print("  %s: settled and compared in %.1f s" % (what, time.monotonic() - t0),
                  flush=True)
            # The host heard of the clients' channels (SpiceCoreInterface::channel_event):
            # QEMU turns them into QMP events, with the addresses.
            time.sleep(0.5)
            qmp.command("query-status")
            seen = {}
            for e in qmp.events:
                seen.setdefault(e["event"], []).append(e.get("data", {}))
            inits = seen.get("SPICE_INITIALIZED", [])
            H.check(inits and len(seen.get("SPICE_CONNECTED", [])) == len(inits) and
                    len(seen.get("SPICE_DISCONNECTED", [])) == len(inits),
                    "QMP SPICE events: %s" % {k: len(v) for k, v in seen.items()})
            main = [d for d in inits if d.get("client", {}).get("channel-type") == 1]
            H.check(main, "no SPICE_INITIALIZED for a main channel: %s" % inits[:2])
            print("  QMP: %d channels connected, initialized and disconnected; main from %s" %
                  (len(inits), main[0]["client"].get("host")), flush=True)
        finally:
            try:
                os.killpg(qemu.pid, signal.SIGKILL)
            except OSError:
                pass
            qemu.wait(10)
            log.close()
            with open(os.path.join(d, "qemu.log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            bad = [line for line in text.splitlines() if "warning" in line or "error" in line]
            if bad:
                print("  QEMU/library said:\n    " + "\n    ".join(bad[-10:]), flush=True)
            shutil.rmtree(d, ignore_errors=True)
    return run


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", required=True)
    ap.add_argument("--library", required=True, help="our libspice-server.so.1")
    ap.add_argument("-k", dest="filter", default=None)
    ap.add_argument("--watchdog", type=float, default=580.0)
    ap.add_argument("--scene-replay", required=True,
                    help="scene_replay_test of this build (replays what the library recorded)")
    ap.add_argument("--keep-scene", default=None,
                    help="copy the recorded scene here (scripts/record-qxl-scenes.sh)")
    args = ap.parse_args()
    args.library = os.path.abspath(args.library)
    missing = [p for p in (X.XORG, QEMU, "/usr/bin/xdotool", "/usr/bin/xwd", "/usr/bin/xterm",
                           "/usr/bin/glxgears", "/usr/bin/xeyes", "/usr/bin/xclip",
                           "/usr/sbin/spice-vdagentd", "/usr/bin/spice-vdagent",
                           H.SPICY_SCREENSHOT)
               if not os.access(p, os.X_OK)]
    if missing:
        print("SKIP: not installed: %s (scripts/setup-deps.sh installs them)" %
              ", ".join(missing))
        return SKIP
    cases = [
        ("xspice_xterm_text", case_xspice_xterm_text),
        ("xspice_windows", case_xspice_windows),
        ("xspice_scene", case_xspice_scene),
        ("xspice_input", case_xspice_input),
        ("xspice_agent", case_xspice_agent),
        ("xspice_exit_on_disconnect", case_xspice_exit_on_disconnect),
        ("qemu_vga_qxl_bios", qemu_case(["-vga", "qxl"], "QEMU -vga qxl")),
        ("qemu_vga_std_bios", qemu_case(["-vga", "std"], "QEMU -vga std")),
        ("qemu_virtio_vga_bios", qemu_case(["-vga", "none", "-device", "virtio-vga"],
                                           "QEMU virtio-vga")),
        ("qemu_unix_socket", qemu_case(["-vga", "qxl"], "QEMU -spice unix=on", unix=True)),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
