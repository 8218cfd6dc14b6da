#!/usr/bin/python3
"""Who may use the desktop, and what it costs while nobody looks.

  - --multi-client off (the default, as spice-server): a second client replaces the first,
    which is disconnected with one log line; the newcomer gets a pixel-exact picture.
  - --multi-client view: the first client drives; a later one watches: its keys do not reach
    the desktop (one log line says so), yet it sees what the driver types, pixel for pixel.
  - --multi-client shared: both clients' keys reach the desktop.
  - No work without watchers: with nobody connected, the server uses at most 1 % of a core
    over 10 s (from /proc), and the first client then gets the current picture. The same is
    measured with a client watching a still desktop, and for the record with an animating one.
  - --mouse-mode server: only server mode is offered (MAIN_INIT and MOUSE_MODE say so), and
    spice-gtk stays in it.

Figures printed here (idle CPU) go to docs/benchmarks.md.
"""

import os
import re
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

BASE_ARGS = ["--disable-ticketing", "--demo-freeze", "0", "--demo-size", "800x600"]
TYPE_A = [0x1E]  # 'a'
TYPE_B = [0x30]  # 'b'


def connect(port, name):
    client = H.SpiceClient(port=port, name=name).connect()
    client.wait_primary(15.0)
    client.wait_inputs(15.0)
    return client


def wait_equal_to_dump(client, dump, what):
    ok, fb, exp = client.wait_framebuffer_equals(lambda: H.try_read_ppm(dump), 15.0)
    H.check(ok, "%s: %s" % (what, H.diff_report(fb, exp, client.name, "dump")))
    return exp


def typed_changes_dump(client, dump, keys, timeout=3.0):
    """Types `keys`; True when the dump changed within `timeout`."""
    before = H.try_read_ppm(dump)
    client.tap_keys(keys)
    return H.wait_until(lambda: not H.same_picture(H.try_read_ppm(dump), before), timeout)


def case_multi_client_off(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mc-") as d:
        dump = os.path.join(d, "f.ppm")
        with H.ServerProcess(args.server, BASE_ARGS + ["--dump-frame", dump], workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            first = connect(srv.port, "first")
            wait_equal_to_dump(first, dump, "first client")
            second = connect(srv.port, "second")
            H.check(H.wait_until(lambda: first.failed(), 10.0),
                    "the first client was not disconnected when the second connected; "
                    "events: %s" % first.events_text())
            H.check(not second.failed(), "the second client lost its session too: %s"
                    % second.events_text())
            wait_equal_to_dump(second, dump, "the second client")
            H.check(typed_changes_dump(second, dump, TYPE_A), "the newcomer's keys did nothing")
            wait_equal_to_dump(second, dump, "after the newcomer typed")
            lines = [line for line in srv.log().splitlines() if "a new client connected" in line]
            H.check(len(lines) == 1, "want one line about the replaced session, got %r" % lines)
            print("  %s" % lines[0].split("] ", 1)[1])
            second.disconnect()


def case_multi_client_view(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mc-") as d:
        dump = os.path.join(d, "f.ppm")
        extra = BASE_ARGS + ["--dump-frame", dump, "--multi-client", "view"]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            driver = connect(srv.port, "driver")
            watcher = connect(srv.port, "watcher")
            wait_equal_to_dump(watcher, dump, "watcher at start")
            H.check(not typed_changes_dump(watcher, dump, TYPE_B),
                    "the watcher's keys reached the desktop")
            H.check(typed_changes_dump(driver, dump, TYPE_A), "the driver's keys did nothing")
            wait_equal_to_dump(watcher, dump, "the watcher after the driver typed")
            wait_equal_to_dump(driver, dump, "the driver after typing")
            lines = [line for line in srv.log().splitlines() if "its input is ignored" in line]
            H.check(len(lines) == 1, "want one line about the watcher's input, got %r" % lines)
            print("  %s" % lines[0].split("] ", 1)[1])
            H.check(not driver.failed() and not watcher.failed(), "a client lost its session")
            # The driver leaves: the watcher drives now.
            driver.disconnect()
            H.pump(0.5)
            H.check(typed_changes_dump(watcher, dump, TYPE_B),
                    "after the driver left, the remaining client's keys did nothing")
            watcher.disconnect()


def case_multi_client_shared(args):
    with tempfile.TemporaryDirectory(prefix="spiced-mc-") as d:
        dump = os.path.join(d, "f.ppm")
        extra = BASE_ARGS + ["--dump-frame", dump, "--multi-client", "shared"]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            a = connect(srv.port, "a")
            b = connect(srv.port, "b")
            H.check(typed_changes_dump(a, dump, TYPE_A), "client a's keys did nothing")
            H.check(typed_changes_dump(b, dump, TYPE_B), "client b's keys did nothing")
            wait_equal_to_dump(a, dump, "client a")
            wait_equal_to_dump(b, dump, "client b")
            H.check(not a.failed() and not b.failed(), "a client lost its session")
            a.disconnect()
            b.disconnect()


def cpu_share(pid, seconds):
    """Share of one core the process used over the next `seconds` (GLib keeps running)."""
    c0, t0 = H.cpu_seconds(pid), time.monotonic()
    H.pump(seconds)
    return (H.cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def case_idle_cpu(args):
    """Nothing rendered, diffed or encoded with no client: at most 1 % of a core."""
    with tempfile.TemporaryDirectory(prefix="spiced-idle-") as d:
        # The default animating 1080p demo, no dump hook (a hook counts as a watcher).
        with H.ServerProcess(args.server, ["--disable-ticketing"], workdir=d) as srv:
            H.pump(1.0)  # start-up: frame 0, key pool
            share = cpu_share(srv.proc.pid, 10.0)
            print("  idle CPU, no client, animating 1080p demo: %.2f %% of a core over 10 s"
                  % (100 * share))
            H.check(share <= 0.01, "idle server used %.2f %% of a core (limit 1 %%)"
                    % (100 * share))
            client = H.SpiceClient(port=srv.port, name="late").connect()
            client.wait_primary(15.0)
            client.wait_first_invalidate(15.0)
            fb = client.framebuffer()
            H.check(fb is not None and fb.shape == (1080, 1920, 3) and int(fb.max()) > 0,
                    "the first client got no picture")
            # The clock ran on while nobody watched: the first picture is the current frame
            # (the status line shows the frame number), not frame 0.
            frames = [int(n) for n in re.findall(r"demo frozen at frame (\d+)", srv.log())]
            busy = cpu_share(srv.proc.pid, 3.0)
            print("  with one client watching the animating demo: %.1f %% of a core" % (100 * busy))
            client.disconnect()
            H.pump(1.0)
            after = cpu_share(srv.proc.pid, 3.0)
            print("  after the client left: %.2f %% of a core" % (100 * after))
            H.check(after <= 0.01, "the server kept working after its last client left: "
                    "%.2f %% of a core" % (100 * after))
            H.check(not frames, "the demo froze without --demo-freeze")
    with tempfile.TemporaryDirectory(prefix="spiced-idle-") as d:
        dump = os.path.join(d, "f.ppm")
        with H.ServerProcess(args.server, ["--disable-ticketing", "--demo-freeze", "0",
                                           "--dump-frame", dump], workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            client = connect(srv.port, "still")
            wait_equal_to_dump(client, dump, "a still desktop")
            # Steady state, not the tail of the first picture (freeing its buffers, the
            # client's acks): on a loaded CI machine that tail alone was 70 ms.
            H.pump(1.0)
            share = cpu_share(srv.proc.pid, 10.0)
            print("  one client watching a still desktop: %.2f %% of a core" % (100 * share))
            H.check(share <= 0.01, "a still desktop with one client cost %.2f %% of a core"
                    % (100 * share))
            client.disconnect()


def case_mouse_mode_server(args):
    with H.ServerProcess(args.server, ["--disable-ticketing", "--mouse-mode", "server",
                                       "--multi-client", "shared"]) as srv:
        raw = H.RawMainSession(srv.port)
        supported, current = raw.init[2], raw.init[3]
        raw.close()
        H.check((supported, current) == (H.MOUSE_MODE_SERVER, H.MOUSE_MODE_SERVER),
                "MAIN_INIT offers mouse modes %d (current %d), want server only" % (supported,
                                                                                   current))
        client = H.SpiceClient(port=srv.port, name="server-mode").connect()
        client.wait_main_opened(15.0)
        client.wait_primary(15.0)
        # spice-gtk asks for client mode whenever the server offers it; offered nothing but
        # server mode, it must stay there.
        H.pump(2.0)
        mode = client.mouse_mode()
        H.check(mode == H.MOUSE_MODE_SERVER, "spice-gtk's mouse mode is %s, want server (1)"
                % mode)
        client.main.request_mouse_mode(H.MOUSE_MODE_CLIENT)  # asking anyway changes nothing
        H.pump(1.0)
        H.check(client.mouse_mode() == H.MOUSE_MODE_SERVER,
                "a client mode request switched a --mouse-mode server desktop to mode %s"
                % client.mouse_mode())
        client.disconnect()
    with H.ServerProcess(args.server, ["--disable-ticketing"]) as srv:
        client = H.SpiceClient(port=srv.port, name="client-mode").connect()
        client.wait_main_opened(15.0)
        H.check(H.wait_until(lambda: client.mouse_mode() == H.MOUSE_MODE_CLIENT, 10.0),
                "by default spice-gtk should get client mode (the demo takes absolute positions)")
        client.disconnect()


def main():
    args = H.parse_args(__doc__)
    cases = [
        ("multi_client_off", case_multi_client_off),
        ("multi_client_view", case_multi_client_view),
        ("multi_client_shared", case_multi_client_shared),
        ("idle_cpu", case_idle_cpu),
        ("mouse_mode_server", case_mouse_mode_server),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
