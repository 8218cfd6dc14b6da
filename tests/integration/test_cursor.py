#!/usr/bin/python3
"""The cursor channel as a real client (SpiceClientGLib's SpiceCursorChannel) sees it:
CURSOR_INIT with the demo's alpha arrow, CURSOR_SET with the text I-beam when the pointer
enters the editor (pixels the first time, from the client's cache afterwards), CURSOR_HIDE
while typing, and CURSOR_MOVE as server-mode motion moves the pointer.
"""

import ctypes
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402
from gi.repository import GObject  # noqa: E402

SERVER_ARGS = ["--disable-ticketing", "--demo-freeze", "0"]
IN_EDITOR = (600, 800)      # inside the editor window of the frozen 1080p demo
ON_DESKTOP = (1700, 150)    # wallpaper, top right


class CursorWatcher:
    def __init__(self, client):
        self.sets = []     # (w, h, hot_x, hot_y, rgba bytes)
        self.hides = 0
        self.moves = []
        H._gconnect(client.session, "channel-new", self._on_channel_new)

    def _on_channel_new(self, session, channel):
        if isinstance(channel, H.SpiceClientGLib.CursorChannel):
            GObject.Object.connect(channel, "cursor-set", self._on_set)
            GObject.Object.connect(channel, "cursor-hide", self._on_hide)
            GObject.Object.connect(channel, "cursor-move", self._on_move)

    def _on_set(self, channel, w, h, hot_x, hot_y, rgba):
        data = ctypes.string_at(rgba, w * h * 4) if rgba else b""
        self.sets.append((w, h, hot_x, hot_y, data))

    def _on_hide(self, channel):
        self.hides += 1

    def _on_move(self, channel, x, y):
        self.moves.append((x, y))


def wait_sets(watcher, count, what):
    ok = H.wait_until(lambda: len(watcher.sets) >= count, 10.0)
    H.check(ok, "%s: %d cursor-set events, want %d" % (what, len(watcher.sets), count))
    return watcher.sets[count - 1]


def case_shapes_cache_and_hide(args):
    with H.ServerProcess(args.server, SERVER_ARGS) as srv:
        client = H.SpiceClient(port=srv.port, name="cursor")
        watcher = CursorWatcher(client)
        client.connect()
        client.wait_first_invalidate(15.0)
        client.wait_inputs(15.0)
        w, h, hx, hy, arrow = wait_sets(watcher, 1, "CURSOR_INIT")
        H.check((w, h, hx, hy) == (32, 32, 0, 0), "initial cursor %r, want 32x32 arrow at 0,0"
                % ((w, h, hx, hy),))
        H.check(len(arrow) == 32 * 32 * 4 and arrow[3] == 0xff,
                "arrow tip pixel should be opaque")
        H.check(any(0 < arrow[i + 3] < 0xff for i in range(0, len(arrow), 4)),
                "the arrow's shadow should be translucent (alpha cursor)")

        client.position(*IN_EDITOR)
        w, h, hx, hy, beam = wait_sets(watcher, 2, "pointer into the editor")
        H.check((hx, hy) == (3, 9) and beam != arrow, "want the I-beam (hotspot 3,9), got %r"
                % ((w, h, hx, hy),))

        client.position(*ON_DESKTOP)
        _, _, hx, hy, again = wait_sets(watcher, 3, "pointer back on the desktop")
        H.check((hx, hy) == (0, 0) and again == arrow,
                "back on the desktop the arrow comes from the client's cache, same pixels")

        client.position(*IN_EDITOR)
        _, _, hx, hy, beam_again = wait_sets(watcher, 4, "pointer into the editor again")
        H.check(beam_again == beam, "cached I-beam has the same pixels")

        client.tap_keys([0x23])  # 'h'
        ok = H.wait_until(lambda: watcher.hides >= 1, 10.0)
        H.check(ok, "typing should hide the pointer (CURSOR_HIDE)")
        client.position(IN_EDITOR[0] + 5, IN_EDITOR[1])
        wait_sets(watcher, 5, "moving after typing shows the pointer again")
        client.disconnect()


def case_server_mode_moves(args):
    with H.ServerProcess(args.server, SERVER_ARGS + ["--mouse-mode", "server"]) as srv:
        client = H.SpiceClient(port=srv.port, name="cursor-server-mode")
        watcher = CursorWatcher(client)
        client.connect()
        client.wait_first_invalidate(15.0)
        client.wait_inputs(15.0)
        wait_sets(watcher, 1, "CURSOR_INIT")
        # spice-gtk asks for client mode whenever the server offers it; ask back for server.
        client.main.request_mouse_mode(H.MOUSE_MODE_SERVER)
        ok = H.wait_until(lambda: client.mouse_mode() == H.MOUSE_MODE_SERVER, 5.0)
        H.check(ok, "the server should grant server mouse mode (MAIN_MOUSE_MODE)")
        # Moves of one update merge into one CURSOR_MOVE when the server is busy (a sanitizer
        # build): keep moving until four have come, at most 80 motions.
        for _ in range(80):
            client.motion(-5, -3, 0)
            H.pump(0.05)
            if len(watcher.moves) >= 4:
                break
        ok = H.wait_until(lambda: len(watcher.moves) >= 4, 10.0)
        H.check(ok, "server-mode motion should produce CURSOR_MOVE (got %d)" % len(watcher.moves))
        client.disconnect()


def main():
    args = H.parse_args(__doc__)
    return H.run_cases([("cursor_shapes_cache_and_hide", case_shapes_cache_and_hide),
                        ("cursor_server_mode_moves", case_server_mode_moves)], args)


if __name__ == "__main__":
    sys.exit(main())
