#!/usr/bin/python3
"""Monitors (multihead and resize) as a real client sees them: SpiceClientGLib 0.42 asks for a
layout through the agent (MainChannel.update_display / update_display_enabled /
send_monitor_config, a VD_AGENT_MONITORS_CONFIG that the built-in agent turns into the demo's
request_monitors), and spiced-gpu must destroy and re-create the primary surface at the new
size, send the new SPICE MONITORS_CONFIG and the whole picture again. After every layout the
client's framebuffer must equal the server's --dump-frame files pixel for pixel, head by head
(head 0 in FILE, head N in FILE-headN.ppm).

Checked:
  - resize of one head to 1280x720 (primary destroy, then create at 1280x720; pixel-exact);
  - a second display switched on (one surface 1824x768, heads side by side, tops aligned, the
    uncovered corner black; a monitors config with both heads) and off again;
  - --demo-monitors 2 in both models: one display channel with a 1600x600 surface (QXL's way),
    or display channels 0 and 1 with one 800x600 surface each; every head pixel-exact;
  - client mouse mode position(x, y, display_id=1, buttons) with the left button held draws
    ink on head 1 only, in both models;
  - resize latency: send_monitor_config() to the first display-invalidate on the new surface,
    over 20 resizes (p50 and max printed for docs/benchmarks.md);
  - refused layouts (a 9000x9000 head through spice-gtk; 17 monitors through a hand-made
    agent message from a second session, since spice-gtk only has ids 0..15) change nothing
    and are logged once; 16 heads (the most) still work afterwards.

spice-gtk notes (see /work/notes/spice-facts.md sections 3 and 4):
  - send_monitor_config() needs the main channel's agent-connected; with the agent's
    SPARSE_MONITORS_CONFIG cap received it sends 16 entries, the disabled ones zero.
  - by default spice-gtk re-aligns the entries left to right (disable-display-align False),
    which is the layout the server makes anyway.
  - DisplayChannel.monitors cannot be read through PyGObject (it always returns []), so it is
    read with g_object_get through ctypes.
  - the harness's SpiceClient follows display channel 0 only; MultiDisplayClient below follows
    every display channel.
"""

import ctypes
import os
import re
import statistics
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np  # noqa: E402
    import spiced_harness as H  # noqa: E402
    from gi.repository import GLib, SpiceClientGLib  # noqa: E402
except (ImportError, ValueError) as missing:
    # Never pass silently: no case can run without the client library.
    print("FAIL all cases: a tool is missing: %s (run with Debian's /usr/bin/python3 with "
          "python3-gi, gir1.2-spiceclientglib-2.0 and python3-numpy)" % missing)
    print("0 passed, 1 failed")
    sys.exit(1)

VD_AGENT_CAP_SPARSE_MONITORS_CONFIG = 7
VD_AGENT_MONITORS_CONFIG = 2
SPICE_MSGC_MAIN_AGENT_START = 106
SPICE_MSGC_MAIN_AGENT_DATA = 107

BASE_ARGS = ["--disable-ticketing", "--demo-seed", "5", "--demo-freeze", "0"]


# --------------------------------------------------------------------------------------------
# DisplayChannel.monitors through ctypes (PyGObject returns [] for this GArray)

class _GArray(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_uint)]


class _MonitorConfig(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint) for n in ("id", "surface_id", "x", "y", "width", "height")]


_LIBS = {}


def _libs():
    if not _LIBS:
        try:
            _LIBS["gobject"] = ctypes.CDLL("libgobject-2.0.so.0")
            _LIBS["glib"] = ctypes.CDLL("libglib-2.0.so.0")
        except OSError as e:
            raise H.TestFailure("cannot read DisplayChannel.monitors: libgobject/libglib not "
                                "loadable through ctypes (%s)" % e)
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype = ctypes.c_void_p
        get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        _LIBS["capsule"] = get_pointer
    return _LIBS


def read_monitors(channel):
    """DisplayChannel.monitors as a list of dicts (id, surface_id, x, y, width, height)."""
    libs = _libs()
    address = libs["capsule"](channel.__gpointer__, None)
    array = ctypes.POINTER(_GArray)()
    libs["gobject"].g_object_get(ctypes.c_void_p(address), b"monitors", ctypes.byref(array),
                                 None)
    if not array:
        return []
    entries = ctypes.cast(array.contents.data, ctypes.POINTER(_MonitorConfig))
    out = [{name: getattr(entries[i], name) for name, _ in _MonitorConfig._fields_}
           for i in range(array.contents.len)]
    libs["glib"].g_array_unref(array)
    return out


# --------------------------------------------------------------------------------------------
# A client that follows every display channel


class MultiDisplayClient(H.SpiceClient):
    """SpiceClient that connects every display channel and keeps, per channel id, its primary
    surface and a time-stamped history of creates, destroys and invalidates. Channel 0 also
    feeds the base class's fields (primary, invalidate_count, ...)."""

    HISTORY_CAP = 50000

    def __init__(self, **kw):
        self.displays = {}     # channel id -> DisplayChannel
        self.primaries = {}    # channel id -> dict(format, width, height, stride, data) or None
        self.history = {}      # channel id -> [(time, "create", w, h) | (time, "destroy") |
        #                                       (time, "invalidate", x, y, w, h)]
        self.agent_updates = 0
        super().__init__(**kw)

    def _on_channel_new(self, session, channel):
        if not isinstance(channel, SpiceClientGLib.DisplayChannel):
            super()._on_channel_new(session, channel)
            if isinstance(channel, SpiceClientGLib.MainChannel):
                H._gconnect(channel, "main-agent-update", self._on_agent_update)
            return
        cid = channel.get_property("channel-id")
        self.channels[("display", cid)] = channel
        H._gconnect(channel, "channel-event", self._on_channel_event, "display", cid)
        self.displays[cid] = channel
        self.primaries[cid] = None
        self.history.setdefault(cid, [])
        H._gconnect(channel, "display-primary-create", self._on_create_n, cid)
        H._gconnect(channel, "display-primary-destroy", self._on_destroy_n, cid)
        H._gconnect(channel, "display-invalidate", self._on_invalidate_n, cid)
        if cid == 0:
            self.display = channel
            H._gconnect(channel, "display-mark", self._on_mark)
        channel.connect()

    def _on_channel_destroy(self, session, channel):
        for cid, ch in list(self.displays.items()):
            if ch is channel:
                del self.displays[cid]
                self.primaries[cid] = None
        super()._on_channel_destroy(session, channel)

    def _on_agent_update(self, channel):
        self.agent_updates += 1

    def _record(self, cid, entry):
        hist = self.history[cid]
        if len(hist) < self.HISTORY_CAP:
            hist.append(entry)

    def _on_create_n(self, channel, fmt, width, height, stride, shmid, data, cid):
        self.primaries[cid] = dict(format=int(fmt), width=int(width), height=int(height),
                                   stride=int(stride), data=int(data or 0))
        self._record(cid, (time.monotonic(), "create", int(width), int(height)))
        if cid == 0:
            self._on_primary_create(channel, fmt, width, height, stride, shmid, data)

    def _on_destroy_n(self, channel, cid):
        self.primaries[cid] = None
        self._record(cid, (time.monotonic(), "destroy"))
        if cid == 0:
            self._on_primary_destroy(channel)

    def _on_invalidate_n(self, channel, x, y, w, h, cid):
        self._record(cid, (time.monotonic(), "invalidate", int(x), int(y), int(w), int(h)))
        if cid == 0:
            self._on_invalidate(channel, x, y, w, h)

    # -- pixels --
    def surface(self, cid):
        """Copy of display channel `cid`'s primary surface as (h, w, 3) RGB, or None."""
        p = self.primaries.get(cid)
        if p is None or p["data"] == 0:
            return None
        H.check(p["format"] in (H.SURFACE_FMT_32_xRGB, H.SURFACE_FMT_32_ARGB),
                "%s: display %d: unexpected surface format %d" % (self.name, cid, p["format"]))
        size = p["stride"] * p["height"]
        buf = (ctypes.c_uint8 * size).from_address(p["data"])
        arr = np.frombuffer(buf, dtype=np.uint8).reshape(p["height"], p["stride"])
        arr = arr[:, :p["width"] * 4].reshape(p["height"], p["width"], 4)
        return arr[:, :, [2, 1, 0]].copy()

    def surface_size(self, cid):
        p = self.primaries.get(cid)
        return None if p is None else (p["width"], p["height"])

    def monitors(self, cid):
        ch = self.displays.get(cid)
        return [] if ch is None else read_monitors(ch)

    def count(self, cid, kind, since=0.0):
        return sum(1 for e in self.history.get(cid, ()) if e[1] == kind and e[0] >= since)

    # -- agent and monitors config --
    def agent_ready(self):
        m = self.main
        return (m is not None and bool(m.get_property("agent-connected"))
                and bool(m.agent_test_capability(VD_AGENT_CAP_SPARSE_MONITORS_CONFIG)))

    def wait_agent(self, timeout=15.0):
        ok = H.wait_until(lambda: self.agent_ready() or self.failed(), timeout)
        m = self.main
        H.check(ok and self.agent_ready(),
                "%s: the agent is not ready within %.0f s (agent-connected=%s, SPARSE cap=%s, "
                "%d main-agent-update); events: %s"
                % (self.name, timeout, m and m.get_property("agent-connected"),
                   m and m.agent_test_capability(VD_AGENT_CAP_SPARSE_MONITORS_CONFIG),
                   self.agent_updates, self.events_text()))

    def send_layout(self, layout):
        """layout: {display id: (x, y, w, h) or None (switched off)}. Returns the time just
        before send_monitor_config()."""
        m = self.main
        for did, geo in sorted(layout.items()):
            if geo is None:
                m.update_display_enabled(did, False, False)
            else:
                m.update_display_enabled(did, True, False)
                m.update_display(did, geo[0], geo[1], geo[2], geo[3], False)
        t0 = time.monotonic()
        H.check(m.send_monitor_config(), "%s: send_monitor_config() returned False" % self.name)
        return t0


# --------------------------------------------------------------------------------------------
# Helpers


def head_path(dump, number):
    if number == 0:
        return dump
    base, ext = os.path.splitext(dump)
    return "%s-head%d%s" % (base, number, ext)


def wait_precise(predicate, timeout):
    """Like H.wait_until, but blocks in the GLib main context (woken by the client's sockets,
    or every 5 ms) so that event timestamps are not quantised by a polling sleep."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    source = GLib.timeout_add(5, lambda: True)
    try:
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            ctx.iteration(True)
    finally:
        GLib.source_remove(source)


class Heads:
    """The expected picture: heads = [(number, channel id, x, y, w, h)] plus the surface size
    of each display channel. check() waits until the client shows every head exactly as its
    dump file, at the right surface sizes."""

    def __init__(self, heads, surfaces):
        self.heads = list(heads)
        self.surfaces = dict(surfaces)   # channel id -> (w, h)

    @staticmethod
    def one_surface(sizes):
        heads, x = [], 0
        for n, (w, h) in enumerate(sizes):
            heads.append((n, 0, x, 0, w, h))
            x += w
        return Heads(heads, {0: (x, max(h for _, h in sizes))})

    @staticmethod
    def per_channel(sizes):
        return Heads([(n, n, 0, 0, w, h) for n, (w, h) in enumerate(sizes)],
                     {n: (w, h) for n, (w, h) in enumerate(sizes)})

    def describe(self):
        return ", ".join("head %d on display %d at (%d,%d) %dx%d" % h for h in self.heads)

    def compare(self, client, dump):
        """'' when the client shows exactly the dumps, else what differs."""
        problems = []
        shots = {}
        for cid, size in self.surfaces.items():
            got = client.surface_size(cid)
            if got != size:
                problems.append("display %d surface is %s, want %dx%d"
                                % (cid, "missing" if got is None else "%dx%d" % got, *size))
                continue
            shots[cid] = client.surface(cid)
        for number, cid, x, y, w, h in self.heads:
            exp = H.try_read_ppm(head_path(dump, number))
            if exp is None:
                problems.append("no readable %s" % os.path.basename(head_path(dump, number)))
                continue
            if exp.shape[:2] != (h, w):
                problems.append("%s is %dx%d, want %dx%d" % (
                    os.path.basename(head_path(dump, number)), exp.shape[1], exp.shape[0], w, h))
                continue
            shot = shots.get(cid)
            if shot is None:
                continue
            report = H.diff_report(shot[y:y + h, x:x + w], exp, "client head %d" % number,
                                   "dump head %d" % number)
            if report:
                problems.append(report)
        return "; ".join(problems)

    def check(self, client, dump, what, timeout=15.0):
        state = {"why": "not checked"}

        def pred():
            state["why"] = self.compare(client, dump)
            return not state["why"] or client.failed()
        ok = H.wait_until(pred, timeout, interval=0.02)
        H.check(ok and not state["why"], "%s: after %.0f s the client does not show the expected "
                "picture (%s): %s; client events: %s"
                % (what, timeout, self.describe(), state["why"], client.events_text()))
        sizes = ", ".join("display %d %dx%d" % (cid, w, h)
                          for cid, (w, h) in sorted(self.surfaces.items()))
        print("  %s: %s; %d heads equal their dumps pixel for pixel"
              % (what, sizes, len(self.heads)), flush=True)


def check_monitors(client, cid, want, what, timeout=5.0):
    """DisplayChannel.monitors of channel `cid` must become `want`:
    [(id, x, y, w, h)], all on surface 0."""
    state = {"got": None}

    def pred():
        mons = client.monitors(cid)
        state["got"] = [(m["id"], m["x"], m["y"], m["width"], m["height"]) for m in mons
                        if m["surface_id"] == 0]
        state["all"] = mons
        return state["got"] == list(want) and len(mons) == len(want)
    ok = H.wait_until(pred, timeout, interval=0.02)
    H.check(ok, "%s: display %d monitors config is %s, want %s (id, x, y, w, h)"
            % (what, cid, state.get("all"), list(want)))
    print("  %s: display %d monitors config %s" % (what, cid, state["got"]), flush=True)


def check_black(client, cid, x, y, w, h, what):
    shot = client.surface(cid)
    H.check(shot is not None, "%s: no surface on display %d" % (what, cid))
    area = shot[y:y + h, x:x + w]
    nonzero = int(np.any(area != 0, axis=2).sum())
    H.check(nonzero == 0, "%s: the area of display %d at (%d,%d) %dx%d that no head covers has "
            "%d non-black pixels" % (what, cid, x, y, w, h, nonzero))
    print("  %s: uncovered area (%d,%d) %dx%d is black" % (what, x, y, w, h), flush=True)


class Session:
    """Server with --dump-frame + a MultiDisplayClient showing the expected heads."""

    def __init__(self, args, workdir, extra, expected, name="monitors"):
        self.dump = os.path.join(workdir, "frame.ppm")
        self.srv = H.ServerProcess(args.server, BASE_ARGS + ["--dump-frame", self.dump] + extra,
                                   workdir=workdir)
        self.expected = expected
        self.name = name
        self.client = None

    def __enter__(self):
        self.srv.__enter__()
        try:
            H.wait_for_ppm(self.dump, 20.0, self.srv)
            self.client = MultiDisplayClient(port=self.srv.port, name=self.name).connect()
            self.client.wait_primary(15.0)
            self.expected.check(self.client, self.dump, "connected")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.disconnect()
        return self.srv.__exit__(*exc)


def relayout(s, layout, expected, what, timeout=15.0):
    """Send `layout` and wait for the client to get a destroyed + re-created primary surface at
    the expected size and to show every head exactly. Returns the send time."""
    c = s.client
    t0 = c.send_layout(layout)
    want = expected.surfaces[0]

    def created():
        hist = c.history.get(0, [])
        destroyed = [e[0] for e in hist if e[1] == "destroy" and e[0] >= t0]
        return bool(destroyed) and any(e[1] == "create" and e[0] >= destroyed[0]
                                       and (e[2], e[3]) == want for e in hist)
    ok = H.wait_until(lambda: created() or c.failed(), timeout)
    H.check(ok and created(), "%s: no primary destroy followed by a %dx%d primary create within "
            "%.0f s; display 0 history since the send: %s; client events: %s\n"
            "--- server log tail ---\n%s"
            % (what, want[0], want[1], timeout,
               [e[1:] for e in c.history.get(0, []) if e[0] >= t0 and e[1] != "invalidate"],
               c.events_text(), "\n".join(s.srv.log().splitlines()[-15:])))
    expected.check(c, s.dump, what, timeout)
    return t0


def require_client_mouse_mode(client):
    if client.mouse_mode() != H.MOUSE_MODE_CLIENT:
        client.main.request_mouse_mode(H.MOUSE_MODE_CLIENT)
        H.wait_until(lambda: client.mouse_mode() == H.MOUSE_MODE_CLIENT, 5.0)
    H.check(client.mouse_mode() == H.MOUSE_MODE_CLIENT,
            "the session is not in client mouse mode (mouse-mode %s)" % client.mouse_mode())


def warnings_about_monitors(log):
    return [line for line in log.splitlines() if "monitors config" in line]


# --------------------------------------------------------------------------------------------
# Cases


def case_resize_guest_to_1280x720(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        with Session(args, d, ["--demo-size", "1024x768"],
                     Heads.one_surface([(1024, 768)])) as s:
            c = s.client
            c.wait_agent()
            destroys = c.count(0, "destroy")
            relayout(s, {0: (0, 0, 1280, 720)}, Heads.one_surface([(1280, 720)]),
                     "resize to 1280x720")
            H.check(c.count(0, "destroy") == destroys + 1,
                    "one resize destroyed the primary %d times" % (c.count(0, "destroy")
                                                                  - destroys))
            check_monitors(c, 0, [(0, 0, 0, 1280, 720)], "resize to 1280x720")
            H.check("monitors now 1280x720" in s.srv.log(),
                    "the server did not log the new layout ('monitors now 1280x720')")


def case_enable_second_display_then_disable(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        with Session(args, d, ["--demo-size", "1024x768"],
                     Heads.one_surface([(1024, 768)])) as s:
            c = s.client
            c.wait_agent()
            two = Heads.one_surface([(1024, 768), (800, 600)])
            relayout(s, {0: (0, 0, 1024, 768), 1: (1024, 0, 800, 600)}, two,
                     "display 1 on (800x600)")
            H.check(two.surfaces[0] == (1824, 768), "test bug: %s" % (two.surfaces,))
            check_black(c, 0, 1024, 600, 800, 168, "display 1 on")
            check_monitors(c, 0, [(0, 0, 0, 1024, 768), (1, 1024, 0, 800, 600)],
                           "display 1 on")
            relayout(s, {1: None}, Heads.one_surface([(1024, 768)]), "display 1 off")
            check_monitors(c, 0, [(0, 0, 0, 1024, 768)], "display 1 off")


def case_two_demo_monitors_one_surface(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        expected = Heads.one_surface([(800, 600), (800, 600)])
        with Session(args, d, ["--demo-monitors", "2", "--demo-size", "800x600"],
                     expected) as s:
            c = s.client
            check_monitors(c, 0, [(0, 0, 0, 800, 600), (1, 800, 0, 800, 600)], "one surface")
            H.pump(0.3)   # a second display channel would have shown up by now
            H.check(sorted(c.displays) == [0], "display channels %s, want only 0"
                    % sorted(c.displays))
            mons = c.monitors(0)
            H.check(all(m["surface_id"] == 0 for m in mons), "heads not on surface 0: %s" % mons)


def case_two_demo_monitors_channel_per_head(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        expected = Heads.per_channel([(800, 600), (800, 600)])
        with Session(args, d, ["--demo-monitors", "2", "--demo-monitor-model",
                               "channel-per-head", "--demo-size", "800x600"], expected) as s:
            c = s.client
            H.check(sorted(c.displays) == [0, 1], "display channels %s, want 0 and 1"
                    % sorted(c.displays))
            for cid in (0, 1):
                check_monitors(c, cid, [(0, 0, 0, 800, 600)], "channel per head")


def pointer_case(model):
    def run(args):
        with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
            if model == "one-surface":
                expected = Heads.one_surface([(800, 600), (800, 600)])
            else:
                expected = Heads.per_channel([(800, 600), (800, 600)])
            with Session(args, d, ["--demo-monitors", "2", "--demo-monitor-model", model,
                                   "--demo-size", "800x600"], expected) as s:
                c = s.client
                c.wait_inputs(15.0)
                require_client_mouse_mode(c)
                # Whatever the inputs channel's start (keyboard LEDs) changes, let it settle.
                H.pump(0.3)
                expected.check(c, s.dump, "before the pointer")
                head0 = H.try_read_ppm(head_path(s.dump, 0))
                head1 = H.try_read_ppm(head_path(s.dump, 1))
                x0, y0, steps, step = 200, 300, 8, 12
                c.position(x0, y0, 1, 0)
                H.pump(0.05)
                c.button_press(H.MOUSE_BUTTON_LEFT, H.MOUSE_BUTTON_MASK_LEFT)
                H.pump(0.05)
                for i in range(1, steps + 1):
                    c.position(x0 + step * i, y0, 1, H.MOUSE_BUTTON_MASK_LEFT)
                    H.pump(0.03)
                c.button_release(H.MOUSE_BUTTON_LEFT, 0)
                x1 = x0 + step * steps
                mid = (x0 + x1) // 2

                def inked():
                    now = H.try_read_ppm(head_path(s.dump, 1))
                    return (now is not None and now.shape == head1.shape
                            and all(H.changed_near(now, head1, x, y0, 4)
                                    for x in (x0, mid, x1)))
                ok = H.wait_until(inked, 10.0, interval=0.02)
                after1 = H.try_read_ppm(head_path(s.dump, 1))
                H.check(ok, "no ink on head 1 along (%d..%d, %d) within 10 s: %s"
                        % (x0, x1, y0, H.diff_report(head1, after1, "before", "after")))
                expected.check(c, s.dump, "after the stroke on head 1")
                after0 = H.try_read_ppm(head_path(s.dump, 0))
                H.check(H.same_picture(after0, head0), "head 0 changed although the pointer "
                        "only moved on head 1: %s" % H.diff_report(head0, after0, "before",
                                                                 "after"))
                mask = np.any(after1 != head1, axis=2)
                ys, xs = np.nonzero(mask)
                print("  ink on head 1: %d pixels changed in x=%d..%d y=%d..%d; head 0 unchanged"
                      % (int(mask.sum()), xs.min(), xs.max(), ys.min(), ys.max()), flush=True)
                H.check(xs.min() <= x0 and xs.max() >= x1 and ys.min() <= y0 <= ys.max(),
                        "the change on head 1 does not cover the stroke (%d..%d, %d)"
                        % (x0, x1, y0))
    return run


def case_resize_latency(args):
    sizes = [(1024, 768), (800, 600)]
    rounds = 20
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        with Session(args, d, ["--demo-size", "800x600"],
                     Heads.one_surface([(800, 600)])) as s:
            c = s.client
            c.wait_agent()
            latencies = []
            for i in range(rounds):
                w, h = sizes[i % 2]
                t0 = c.send_layout({0: (0, 0, w, h)})
                state = {}

                def first_invalidate():
                    create = None
                    for e in c.history.get(0, []):
                        if e[0] < t0:
                            continue
                        if e[1] == "create" and (e[2], e[3]) == (w, h):
                            create = e[0]
                        elif e[1] == "invalidate" and create is not None:
                            state["t"] = e[0]
                            return True
                    return c.failed()
                ok = wait_precise(first_invalidate, 10.0)
                H.check(ok and "t" in state, "resize %d to %dx%d: no display-invalidate on a new "
                        "%dx%d primary within 10 s; history: %s"
                        % (i + 1, w, h, w, h, [e[1:] for e in c.history.get(0, [])
                                               if e[0] >= t0][:10]))
                latencies.append((state["t"] - t0) * 1000.0)
                # Every resize must end pixel-exact too (not part of the timing).
                exp = Heads.one_surface([(w, h)])
                okp = H.wait_until(lambda: not exp.compare(c, s.dump), 10.0, interval=0.01)
                H.check(okp, "resize %d to %dx%d: %s" % (i + 1, w, h, exp.compare(c, s.dump)))
            p50 = statistics.median(latencies)
            print("  latencies (ms): %s" % ", ".join("%.1f" % v for v in latencies))
            print("resize: p50 %.1f ms, max %.1f ms over %d (send_monitor_config() to the first "
                  "display-invalidate on the new primary; %s <-> %s, one head)"
                  % (p50, max(latencies), rounds, "%dx%d" % sizes[0], "%dx%d" % sizes[1]),
                  flush=True)
            H.check(c.count(0, "destroy") >= rounds, "fewer primary destroys than resizes")


def send_raw_monitors_config(port, monitors, timeout=10.0):
    """A second session (hand-linked main channel) sends AGENT_START and one AGENT_DATA with a
    VD_AGENT_MONITORS_CONFIG of `monitors` [(w, h, x, y)], no physical sizes. Returns the
    session (close it later)."""
    raw = H.RawMainSession(port, timeout=timeout)
    body = struct.pack("<II", len(monitors), 0)
    for w, h, x, y in monitors:
        body += struct.pack("<IIIii", h, w, 32, x, y)   # VDAgentMonConfig: height first
    msg = struct.pack("<IIQI", 1, VD_AGENT_MONITORS_CONFIG, 0, len(body)) + body
    H.check(len(msg) <= 2048, "test bug: agent message of %d bytes" % len(msg))
    # The server offers the mini header and full_link() asks for it.
    raw.sock.sendall(struct.pack("<HI", SPICE_MSGC_MAIN_AGENT_START, 4)
                     + struct.pack("<I", 0xFFFFFFFF))
    raw.sock.sendall(struct.pack("<HI", SPICE_MSGC_MAIN_AGENT_DATA, len(msg)) + msg)
    return raw


def case_refused_layouts(args):
    """A 9000x9000 head (through spice-gtk) and 17 monitors (hand-made agent message from a
    second session: --multi-client shared keeps the spice-gtk client) are refused: one log
    line each, no surface change, the picture as it was; 16 heads (the most) work afterwards."""
    with tempfile.TemporaryDirectory(prefix="spiced-mon-") as d:
        start = Heads.one_surface([(800, 600)])
        with Session(args, d, ["--demo-size", "800x600", "--multi-client", "shared"],
                     start) as s:
            c = s.client
            c.wait_agent()
            before_dump = H.try_read_ppm(s.dump)

            def refused(what, send):
                log_before = warnings_about_monitors(s.srv.log())
                creates = c.count(0, "create")
                destroys = c.count(0, "destroy")
                result = send()
                ok = H.wait_until(lambda: len(warnings_about_monitors(s.srv.log()))
                                  > len(log_before), 10.0)
                H.check(ok, "%s: the server logged nothing about the refused monitors config "
                        "within 10 s\n--- server log tail ---\n%s"
                        % (what, "\n".join(s.srv.log().splitlines()[-15:])))
                H.pump(1.0)   # anything the server might (wrongly) still do
                new = warnings_about_monitors(s.srv.log())[len(log_before):]
                H.check(len(new) == 1, "%s: %d log lines about it, want 1: %s"
                        % (what, len(new), new))
                H.check(re.search(r"refused|at most", new[0]),
                        "%s: the log line does not say it was refused: %s" % (what, new[0]))
                print("  %s: logged once: %s" % (what, new[0].strip()), flush=True)
                H.check(c.count(0, "destroy") == destroys and c.count(0, "create") == creates,
                        "%s: the primary surface was destroyed/created (%d/%d) although the "
                        "layout was refused" % (what, c.count(0, "destroy") - destroys,
                                                c.count(0, "create") - creates))
                H.check(s.srv.alive(), "%s: the server died" % what)
                start.check(c, s.dump, "%s refused" % what, 5.0)
                now = H.try_read_ppm(s.dump)
                H.check(H.same_picture(now, before_dump),
                        "%s: the served picture changed: %s"
                        % (what, H.diff_report(before_dump, now, "before", "after")))
                check_monitors(c, 0, [(0, 0, 0, 800, 600)], "%s refused" % what)
                return result

            refused("9000x9000 head", lambda: c.send_layout({0: (0, 0, 9000, 9000)}))
            raw = refused("17 monitors", lambda: send_raw_monitors_config(
                s.srv.port, [(320, 240, 320 * i, 0) for i in range(17)]))
            try:
                # No harm done: the most the server takes, 16 heads, still goes through.
                relayout(s, {i: (320 * i, 0, 320, 240) for i in range(16)},
                         Heads.one_surface([(320, 240)] * 16), "then 16 heads of 320x240")
                check_monitors(c, 0, [(i, 320 * i, 0, 320, 240) for i in range(16)],
                               "16 heads", 5.0)
            finally:
                raw.close()


def main():
    args = H.parse_args(__doc__)
    # The server runs in its own work directory: a relative --server must not depend on it.
    args.server = os.path.abspath(args.server)
    cases = [
        ("resize_guest_to_1280x720", case_resize_guest_to_1280x720),
        ("enable_second_display_then_disable", case_enable_second_display_then_disable),
        ("two_demo_monitors_one_surface", case_two_demo_monitors_one_surface),
        ("two_demo_monitors_channel_per_head", case_two_demo_monitors_channel_per_head),
        ("pointer_on_second_head_one_surface", pointer_case("one-surface")),
        ("pointer_on_second_head_channel_per_head", pointer_case("channel-per-head")),
        ("resize_latency", case_resize_latency),
        ("refused_layouts_change_nothing", case_refused_layouts),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
