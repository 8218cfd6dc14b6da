#!/usr/bin/python3
"""The same Xspice workloads on Debian's libspice-server1 (the baseline) and on our drop-in
libspice-server.so.1, in the same run, with the same client (issue #11).

For each workload and each library, alternating (Debian, ours, Debian, ours, ...), a fresh
Xorg+Xspice starts on that library (LD_LIBRARY_PATH; the library actually mapped is checked in
/proc/PID/maps, by inode: a run on the wrong library aborts the script), ONE SpiceClientGLib
client connects (main, display, inputs, cursor channels), the scene is set up and the picture
settles, and then the workload runs:

  text    an xterm (default jump scroll) fed by a rate-limited producer: a fixed number of
          deterministic lines, in batches on a fixed clock (the same lines per second on both
          servers, unless X cannot keep up, which shows as a longer duration);
  move    an xterm with text moved by `xdotool windowmove` along a fixed ellipse, N steps at a
          fixed interval, over a background xterm full of text (exposes redraw text);
  gears   glxgears (400x400) running for a fixed duration (it renders as fast as it can: its
          own frames per second are printed as context, they depend on the CPU left to it).

Measured over the workload window (from its start until the client's bytes stop growing for
0.5 s after its end, at most 5 s):
  * server CPU seconds: utime+stime of the Xorg process from /proc/PID/stat, which counts all
    of its threads (the library's threads live in the Xorg process; exited threads too); the
    per-thread split (/proc/PID/task/*/stat) separates X's main thread, which also runs the
    library's calls from the driver, from the library's own threads. X's own work is the same
    on both sides and is NOT subtracted;
  * bytes the client received (total-read-bytes; the display channel and all channels);
  * updates the client saw: display-invalidate signals, and distinct frames (the client's
    framebuffer sampled at most every 20 ms after an invalidate, counted when its CRC changed;
    so at most 50 per second).

Medians over the rounds; ratios ours / Debian.

    /usr/bin/python3 bench/dropin_bench.py --library build/qxl/libspice-server.so.1 \\
        [--rounds 3] [--seconds 12] [--only text,move,gears] [--quick] [--keep-logs DIR]

--quick: 1 round, 5 s per workload. Exit code 0 when it ran; 1 when a run failed or used the
wrong library; 77 when Xorg/Xspice is missing.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import spiced_harness as H  # noqa: E402
import reference_xspice_check as X  # noqa: E402

DEBIAN_LIBRARY = "/usr/lib/x86_64-linux-gnu/libspice-server.so.1"
SKIP = 77
CLK_TCK = os.sysconf("SC_CLK_TCK")


class WrongLibrary(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# /proc

def mapped_spice_servers(pid):
    """{(st_dev, st_ino): path} of every libspice-server file mapped by `pid`."""
    found = {}
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and "libspice-server" in parts[5]:
                path = parts[5].strip()
                try:
                    st = os.stat(path)
                    found[(st.st_dev, st.st_ino)] = path
                except OSError:
                    found[("missing", path)] = path
    return found


def verify_library(pid, library):
    st = os.stat(os.path.realpath(library))
    found = mapped_spice_servers(pid)
    if list(found) != [(st.st_dev, st.st_ino)]:
        raise WrongLibrary("Xorg (pid %d) should map only %s but maps %s" %
                           (pid, os.path.realpath(library), sorted(found.values()) or "none"))
    return list(found.values())[0]


def _stat_times(path):
    with open(path) as f:
        text = f.read()
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_cpu(pid):
    return _stat_times("/proc/%d/stat" % pid)[1]


def thread_cpu(pid):
    """{tid: (name, cpu seconds)} of the live threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = _stat_times("/proc/%d/task/%s/stat" % (pid, tid))
        except (OSError, ValueError):
            pass
    return out


# --------------------------------------------------------------------------------------------
# Workloads

TEXT_PRODUCER = r"""
import sys, time
lines, per_tick, tick = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
words = ("spice qxl surface glyph xterm drop-in library server client channel display "
         "cursor inputs render scroll damage encode glz quic lz4 frame window").split()
state = 12345
out = sys.stdout
start = time.monotonic()
n = 0
while n < lines:
    chunk = []
    for _ in range(min(per_tick, lines - n)):
        line = "%07d" % n
        for _ in range(4 + n % 9):
            state = (state * 1103515245 + 12345) & 0x7fffffff
            line += " " + words[state % len(words)]
        chunk.append(line)
        n += 1
    out.write("\n".join(chunk) + "\n")
    out.flush()
    wait = start + (n // per_tick) * tick - time.monotonic()
    if wait > 0:
        time.sleep(wait)
open(sys.argv[4], "w").close()
"""

MOVER = r"""
import math, subprocess, sys, time
wid, steps, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cx, cy, rx, ry = (int(v) for v in sys.argv[4:8])
start = time.monotonic()
for i in range(steps):
    a = 2 * math.pi * i / 150.0
    subprocess.run(["xdotool", "windowmove", wid, str(int(cx + rx * math.cos(a))),
                    str(int(cy + ry * math.sin(a)))], stdout=subprocess.DEVNULL)
    wait = start + (i + 1) * interval - time.monotonic()
    if wait > 0:
        time.sleep(wait)
open(sys.argv[8], "w").close()
"""


class Session:
    """Xorg+Xspice on one library, one SpiceClientGLib client, and the X clients."""

    def __init__(self, library, label, extra_env=None):
        self.library = library
        self.label = label
        self.clients = []
        self.client = None
        # Other engineers' tests start X servers too: a display number or port taken between
        # our check and Xorg's start makes Xorg exit; try again on a fresh one.
        for attempt in range(4):
            self.dir = tempfile.mkdtemp(prefix="spiced-dropin-bench-")
            self.port = H.free_port()
            try:
                self.xs = X.Xspice(self.port, workdir=self.dir,
                                   library_dir=os.path.dirname(os.path.abspath(library)),
                                   extra_env=extra_env)
                break
            except RuntimeError as e:
                with open(os.path.join(self.dir, "xorg.out"), "rb") as f:
                    out = f.read().decode("utf-8", "replace")
                shutil.rmtree(self.dir, ignore_errors=True)
                if attempt == 3 or "already active" not in out and "EADDRINUSE" not in out \
                        and "in use" not in out:
                    raise RuntimeError("%s: %s" % (e, out.strip()[-300:]))
                print("  (Xorg could not start: display or port taken; trying again)",
                      flush=True)
                time.sleep(1.0)
        self.pid = self.xs.proc.pid
        self.mapped = verify_library(self.pid, library)

    def x_env(self):
        env = self.xs.env()
        env.pop("LD_LIBRARY_PATH", None)
        return env

    def run(self, argv, stdout=subprocess.DEVNULL):
        p = subprocess.Popen(argv, env=self.x_env(), stdin=subprocess.DEVNULL, stdout=stdout,
                             stderr=subprocess.DEVNULL, preexec_fn=os.setpgrp)
        self.clients.append(p)
        return p

    def xdotool(self, *argv):
        """Runs xdotool while the client's main loop keeps running (X may wait for it)."""
        out = tempfile.TemporaryFile()
        p = subprocess.Popen(["xdotool"] + list(argv), env=self.x_env(), stdout=out,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if not H.wait_until(lambda: p.poll() is not None, 20.0, interval=0.002):
            p.kill()
            p.wait()
            raise H.TestFailure("xdotool %s did not finish in 20 s" % " ".join(argv))
        out.seek(0)
        return out.read().decode()

    def wait_window(self, name, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.xdotool("search", "--name", name).split()
            if ids:
                return ids[0]
            H.pump(0.2)
        raise H.TestFailure("window %r never appeared" % name)

    def connect(self):
        self.client = H.SpiceClient(port=self.port, name=self.label)
        self.client.connect()
        self.client.wait_primary(timeout=20)
        return self.client.primary["width"], self.client.primary["height"]

    def total_bytes(self):
        return sum(self.client.bytes_read(t, cid) for (t, cid) in list(self.client.channels))

    def close(self):
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:  # noqa: BLE001 - teardown
                pass
        for p in self.clients:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        alive = self.xs.proc.poll() is None
        self.xs.stop()
        return alive, self.xs.output()


class Meter:
    """Pumps the client's main loop and samples what it sees."""

    SAMPLE_INTERVAL = 0.02

    def __init__(self, session):
        self.s = session
        self.c = session.client
        self.frames = 0
        self.last_crc = None
        self.last_sample = 0.0
        self.seen_invalidates = self.c.invalidate_count

    def sample(self):
        now = time.monotonic()
        if self.c.invalidate_count == self.seen_invalidates or \
                now - self.last_sample < self.SAMPLE_INTERVAL:
            return
        p = self.c.primary
        if p is None or not p["data"]:
            return
        import ctypes
        buf = (ctypes.c_uint8 * (p["stride"] * p["height"])).from_address(p["data"])
        crc = zlib.crc32(buf)
        self.seen_invalidates = self.c.invalidate_count
        self.last_sample = now
        if crc != self.last_crc:
            if self.last_crc is not None:
                self.frames += 1
            self.last_crc = crc

    def pump_until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            H.iterate()
            self.sample()
            if predicate():
                return True
            time.sleep(0.002)
        return False

    def pump(self, seconds):
        self.pump_until(lambda: False, seconds)

    def quiet(self, quiet_for=0.5, timeout=5.0):
        """Pump until the client's bytes have not grown for `quiet_for` seconds."""
        state = {"bytes": self.s.total_bytes(), "since": time.monotonic()}

        def still():
            b = self.s.total_bytes()
            now = time.monotonic()
            if b != state["bytes"]:
                state["bytes"], state["since"] = b, now
            return now - state["since"] >= quiet_for
        return self.pump_until(still, timeout)

    def start(self):
        self.sample()
        self.frames = 0
        self.t0 = time.monotonic()
        self.cpu0 = process_cpu(self.s.pid)
        self.threads0 = thread_cpu(self.s.pid)
        self.display0 = self.c.bytes_read("display")
        self.bytes0 = self.s.total_bytes()
        self.inval0 = self.c.invalidate_count

    def end_workload(self):
        self.t1 = time.monotonic()
        self.inval1 = self.c.invalidate_count
        self.frames1 = self.frames

    def finish(self):
        drained = self.quiet()
        t2 = time.monotonic()
        cpu = process_cpu(self.s.pid) - self.cpu0
        threads = thread_cpu(self.s.pid)
        by_name = {}
        main_thread = 0.0
        for tid, (name, sec) in threads.items():
            delta = sec - self.threads0.get(tid, (name, 0.0))[1]
            if tid == self.s.pid:
                main_thread = delta
            else:
                by_name[name] = by_name.get(name, 0.0) + delta
        workload = self.t1 - self.t0
        return {
            "workload_s": workload, "window_s": t2 - self.t0, "drained": drained,
            "cpu_s": cpu, "cpu_main_thread_s": main_thread,
            "cpu_other_threads_s": {k: round(v, 3) for k, v in sorted(by_name.items())},
            "display_bytes": self.c.bytes_read("display") - self.display0,
            "total_bytes": self.s.total_bytes() - self.bytes0,
            "invalidates": self.c.invalidate_count - self.inval0,
            "invalidates_per_s": (self.inval1 - self.inval0) / workload,
            "frames": self.frames, "frames_per_s": self.frames1 / workload,
        }


def park_pointer(s, width, height):
    s.xdotool("mousemove", str(width - 1), str(height - 1))


def workload_text(s, m, width, height, seconds):
    go = os.path.join(s.dir, "go")
    done = os.path.join(s.dir, "done")
    producer = os.path.join(s.dir, "producer.py")
    with open(producer, "w") as f:
        f.write(TEXT_PRODUCER)
    tick, per_tick = 0.02, 30  # 1500 lines per second
    lines = int(seconds / tick) * per_tick
    s.run(["xterm", "-geometry", "120x45+10+10", "-title", "scroller", "-e", "sh", "-c",
           "while [ ! -e %s ]; do sleep 0.02; done; exec /usr/bin/python3 %s %d %d %s %s; "
           % (go, producer, lines, per_tick, tick, done) + "sleep 600"])
    s.wait_window("scroller")
    park_pointer(s, width, height)
    m.pump(1.0)
    m.quiet()
    m.start()
    open(go, "w").close()
    ok = m.pump_until(lambda: os.path.exists(done), seconds * 6 + 30)
    H.check(ok, "the text producer did not finish")
    m.end_workload()
    r = m.finish()
    r["detail"] = "%d lines, %d per %.0f ms" % (lines, per_tick, tick * 1000)
    return r


def workload_move(s, m, width, height, seconds):
    done = os.path.join(s.dir, "done")
    mover = os.path.join(s.dir, "mover.py")
    with open(mover, "w") as f:
        f.write(MOVER)
    interval = 0.04
    steps = int(seconds / interval)
    s.run(["xterm", "-geometry", "150x48+0+0", "-title", "background", "-e", "sh", "-c",
           "ls -la /usr/bin | head -60; sleep 600"])
    s.wait_window("background")
    s.run(["xterm", "-geometry", "80x24+200+150", "-title", "mover", "-bg", "navy", "-fg",
           "yellow", "-e", "sh", "-c", "ls -la /usr/lib | head -30; sleep 600"])
    wid = s.wait_window("mover")
    park_pointer(s, width, height)
    m.pump(1.0)
    m.quiet()
    # The window (about 484x316 in xterm's default font) goes round an ellipse inside the
    # screen, away from the parked pointer.
    cx, cy = width // 2 - 250, height // 2 - 170
    rx, ry = min(200, cx - 5), min(150, cy - 5)
    m.start()
    s.run(["/usr/bin/python3", mover, wid, str(steps), str(interval), str(cx), str(cy),
           str(rx), str(ry), done])
    ok = m.pump_until(lambda: os.path.exists(done), seconds * 6 + 30)
    H.check(ok, "the window mover did not finish")
    m.end_workload()
    r = m.finish()
    r["detail"] = "%d moves every %.0f ms" % (steps, interval * 1000)
    return r


def workload_gears(s, m, width, height, seconds):
    out_path = os.path.join(s.dir, "glxgears.out")
    out = open(out_path, "wb")
    gears = s.run(["glxgears", "-geometry", "400x400+300+150"], stdout=out)
    s.wait_window("glxgears")
    park_pointer(s, width, height)
    m.pump(1.5)
    m.start()
    m.pump(seconds)
    m.end_workload()
    os.kill(gears.pid, signal.SIGSTOP)
    r = m.finish()
    os.kill(gears.pid, signal.SIGCONT)
    out.close()
    with open(out_path, "rb") as f:
        fps = [float(v) for v in re.findall(rb"= ([0-9.]+) FPS", f.read())]
    r["glxgears_fps"] = statistics.median(fps) if fps else None
    # glxgears renders as fast as the CPU left to it allows, so the X side's work differs
    # between runs: the server's CPU per glxgears frame (its FPS lines x the duration) too.
    if fps:
        r["cpu_ms_per_gears_frame"] = 1000.0 * r["cpu_s"] / (r["glxgears_fps"] * r["workload_s"])
    r["detail"] = "glxgears 400x400 for %.0f s" % seconds
    return r


WORKLOADS = {"text": workload_text, "move": workload_move, "gears": workload_gears}


def one_run(workload, library, label, seconds, extra_env, keep_logs, tag):
    s = Session(library, label, extra_env)
    result = None
    try:
        width, height = s.connect()
        m = Meter(s)
        result = WORKLOADS[workload](s, m, width, height, seconds)
        verify_library(s.pid, library)  # still the same library at the end
        result["size"] = "%dx%d" % (width, height)
        result["mapped"] = s.mapped
    finally:
        alive, log = s.close()
        ours = [line for line in log.splitlines() if " spiced " in line or
                line.startswith("spiced")]
        if result is not None:
            result["xorg_alive"] = alive
            result["log_lines"] = len(ours)
            result["log_warnings"] = [ln for ln in ours if "warn" in ln or "error" in ln][-5:]
        if keep_logs:
            os.makedirs(keep_logs, exist_ok=True)
            for name in ("xorg.out", "xorg.log"):
                src = os.path.join(s.dir, name)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(keep_logs, "%s-%s" % (tag, name)))
        shutil.rmtree(s.dir, ignore_errors=True)
    if not alive:
        raise H.TestFailure("Xorg on %s died during the run" % label)
    return result


# --------------------------------------------------------------------------------------------
# Report

METRICS = [
    ("workload duration", "workload_s", "s", 1),
    ("server CPU (Xorg, all threads)", "cpu_s", "s", 1),
    ("  of it X's main thread", "cpu_main_thread_s", "s", 1),
    ("  of it other threads", "cpu_other_s", "s", 1),
    ("server CPU per wall second", "cpu_share", "%", 100),
    ("bytes to the client, display", "display_bytes", "MB", 1e-6),
    ("bytes to the client, all channels", "total_bytes", "MB", 1e-6),
    ("display-invalidate / s", "invalidates_per_s", "/s", 1),
    ("display-invalidate, total", "invalidates", "", 1),
    ("distinct frames / s (<= 50)", "frames_per_s", "/s", 1),
    ("glxgears' own FPS", "glxgears_fps", "", 1),
    ("server CPU per glxgears frame", "cpu_ms_per_gears_frame", "ms", 1),
]


def derive(r):
    r["cpu_other_s"] = sum(r["cpu_other_threads_s"].values())
    r["cpu_share"] = r["cpu_s"] / r["window_s"]
    return r


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def print_table(workload, runs_by_lib):
    deb, ours = runs_by_lib["debian"], runs_by_lib["ours"]
    print("\n%s (%s), median of %d / %d runs:" % (workload, deb[0]["detail"], len(deb),
                                                  len(ours)))
    print("  %-36s %14s %14s %12s" % ("", "Debian 0.15.1", "ours", "ours/Debian"))
    summary = {}
    for title, key, unit, scale in METRICS:
        a, b = med(deb, key), med(ours, key)
        if a is None and b is None:
            continue
        ratio = (b / a) if a and b is not None else None
        fmt = "%.2f" if scale != 1e-6 else "%.3f"
        cell = lambda v: "-" if v is None else (fmt % (v * scale)) + (" " + unit if unit else "")
        print("  %-36s %14s %14s %12s" % (title, cell(a), cell(b),
                                          "-" if ratio is None else "%.2f" % ratio))
        summary[key] = {"debian": a, "ours": b, "ratio": ratio}
    for lib, runs in (("Debian", deb), ("ours", ours)):
        names = {}
        for r in runs:
            for n, v in r["cpu_other_threads_s"].items():
                names.setdefault(n, []).append(v)
        print("  %s threads besides X's main thread (median s): %s" % (
            lib, ", ".join("%s %.2f" % (n, statistics.median(v)) for n, v in names.items())
            or "none"))
    warned = [w for r in ours for w in r["log_warnings"]]
    print("  our library's log: %s lines per run (median), %d warning/error lines%s" % (
        med(ours, "log_lines"), len(warned),
        ("; last: " + warned[-1][:160]) if warned else ""))
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", required=True, help="our libspice-server.so.1")
    ap.add_argument("--baseline-library", default=DEBIAN_LIBRARY)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--only", default="text,move,gears")
    ap.add_argument("--quick", action="store_true", help="1 round, 5 s per workload")
    ap.add_argument("--log-level", help="SPICED_LOG_LEVEL for our library")
    ap.add_argument("--keep-logs", help="copy each run's Xorg stderr and log here")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 5.0
    workloads = [w for w in args.only.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %r" % w)
    if not os.path.exists(X.XORG) or not os.path.exists(args.baseline_library):
        print("SKIP: needs Xorg with xserver-xspice and Debian's libspice-server1")
        return SKIP
    libs = {"debian": os.path.abspath(args.baseline_library),
            "ours": os.path.abspath(args.library)}
    if not os.path.exists(libs["ours"]):
        print("no such library: %s" % libs["ours"])
        return 1
    if os.path.samefile(libs["debian"], libs["ours"]):
        print("--library is Debian's library")
        return 1
    env = {"debian": None, "ours": {"SPICED_LOG_LEVEL": args.log_level}
           if args.log_level else None}

    print("Xspice on Debian's %s (baseline) vs ours %s" % (
        os.path.realpath(libs["debian"]), os.path.realpath(libs["ours"])))
    print("%d round(s) of %.0f s per workload, alternating Debian, ours; one SpiceClientGLib "
          "client; CPU is the whole Xorg process (X's own work included, the same on both "
          "sides, not subtracted)" % (args.rounds, args.seconds), flush=True)
    results = {w: {"debian": [], "ours": []} for w in workloads}
    try:
        for rnd in range(args.rounds):
            for w in workloads:
                for lib in ("debian", "ours"):
                    r = derive(one_run(w, libs[lib], lib, args.seconds, env[lib],
                                       args.keep_logs, "%s-%s-%d" % (w, lib, rnd)))
                    results[w][lib].append(r)
                    print("  round %d %-5s %-6s %5.1f s  cpu %5.2f s (main %5.2f)  display "
                          "%7.2f MB  inval/s %7.1f  frames/s %5.1f%s  [%s]" % (
                              rnd + 1, w, lib, r["workload_s"], r["cpu_s"],
                              r["cpu_main_thread_s"], r["display_bytes"] / 1e6,
                              r["invalidates_per_s"], r["frames_per_s"],
                              "  gears %.0f fps" % r["glxgears_fps"]
                              if r.get("glxgears_fps") else "", r["mapped"]), flush=True)
    except WrongLibrary as e:
        print("ABORT: %s" % e, flush=True)
        return 1
    except (H.TestFailure, RuntimeError) as e:
        print("FAILED: %s" % e, flush=True)
        return 1

    summary = {}
    for w in workloads:
        summary[w] = print_table(w, results[w])
    print("\njson: " + json.dumps({"rounds": args.rounds, "seconds": args.seconds,
                                   "summary": summary}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
