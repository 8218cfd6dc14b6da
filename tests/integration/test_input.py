#!/usr/bin/python3
"""Input from a real client (SpiceClientGLib's SpiceInputsChannel) reaches spiced-gpu's demo
desktop, and the changed picture reaches the client: after each input the client's framebuffer
must equal the server's new frame dump pixel for pixel.

The demo draws typed text into an editor window and leaves marks where the pointer goes and
where buttons are pressed.

spice-gtk note: the inputs channel stops sending pointer messages after 8 unacknowledged
MOUSE_MOTION/MOUSE_POSITION messages (SPICE_INPUT_MOTION_ACK_BUNCH = 4, window of two bunches);
the server must answer with SPICE_MSG_INPUTS_MOUSE_MOTION_ACK every 4 messages.
"""

import os
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

X, Y = 400, 300
SERVER_ARGS = ["--disable-ticketing", "--demo-seed", "3", "--demo-freeze", "0"]


class Session:
    """Server + connected client whose framebuffer equals the dump."""

    def __init__(self, args, d):
        self.dump = os.path.join(d, "f.ppm")
        self.srv = H.ServerProcess(args.server, SERVER_ARGS + ["--dump-frame", self.dump],
                                   workdir=d)
        self.client = None

    def __enter__(self):
        self.srv.__enter__()
        try:
            H.wait_for_ppm(self.dump, 20.0, self.srv)
            self.client = H.SpiceClient(port=self.srv.port, name="input").connect()
            self.client.wait_primary(15.0)
            self.client.wait_inputs(15.0)
            ok, fb, exp = self.client.wait_framebuffer_equals(self.dump_now, 15.0)
            H.check(ok, "initial client framebuffer != dump after 15 s: %s"
                    % H.diff_report(fb, exp, "client", "dump"))
            self.current = exp
            print("  connected; %dx%d; mouse mode %s" % (exp.shape[1], exp.shape[0],
                                                          self.client.mouse_mode()))
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.disconnect()
        return self.srv.__exit__(*exc)

    def dump_now(self):
        return H.try_read_ppm(self.dump)

    def wait_update(self, what, near=None, timeout=10.0):
        """Wait until the dump differs from self.current, the client shows exactly the dump,
        and (if near=(x, y)) the change includes that point's neighbourhood."""
        before = self.current
        state = {}

        def pred():
            exp = self.dump_now()
            fb = self.client.framebuffer()
            state["exp"], state["fb"] = exp, fb
            if exp is None or H.same_picture(exp, before):
                return False
            if near is not None and not H.changed_near(exp, before, near[0], near[1]):
                return False
            return H.same_picture(fb, exp)
        ok = H.wait_until(pred, timeout, interval=0.02)
        exp, fb = state.get("exp"), state.get("fb")
        if not ok:
            if exp is None or H.same_picture(exp, before):
                msg = "the server's dump did not change"
            elif near is not None and not H.changed_near(exp, before, near[0], near[1]):
                msg = ("the dump changed (%s) but not near (%d,%d)"
                       % (H.diff_report(before, exp, "before", "after"), near[0], near[1]))
            else:
                msg = ("the dump changed but the client's framebuffer does not equal it: %s"
                       % H.diff_report(fb, exp, "client", "dump"))
            H.check(False, "%s: within %.0f s %s; client events: %s; invalidates: %d"
                    % (what, timeout, msg, self.client.events_text(),
                       self.client.invalidate_count))
        H.check(not H.same_picture(fb, before), "%s: picture did not change" % what)
        print("  %s: %s" % (what, H.diff_report(before, exp, "before", "after")))
        self.current = exp
        return exp


def type_hi(s):
    c = s.client
    c.tap_keys([H.SCANCODES["h"], H.SCANCODES["i"]])
    s.wait_update('typing "hi"')


def case_typing(args):
    with tempfile.TemporaryDirectory(prefix="spiced-input-") as d:
        with Session(args, d) as s:
            first = s.current
            type_hi(s)
            H.check(not H.same_picture(s.current, first), "typing did not change the picture")


def case_pointer_position(args):
    """Client mouse mode: absolute position() then a click at (400, 300)."""
    with tempfile.TemporaryDirectory(prefix="spiced-input-") as d:
        with Session(args, d) as s:
            type_hi(s)
            c = s.client
            mode = c.mouse_mode()
            if mode != H.MOUSE_MODE_CLIENT:
                print("  note: mouse mode is %s, not client (2); position() anyway" % mode)
            # Approach the target over a few steps, as a real pointer would.
            for i in range(1, 6):
                c.position(X - 50 + 10 * i, Y - 50 + 10 * i, 0, 0)
                H.pump(0.02)
            H.pump(0.1)
            c.button_press(H.MOUSE_BUTTON_LEFT, H.MOUSE_BUTTON_MASK_LEFT)
            H.pump(0.05)
            c.button_release(H.MOUSE_BUTTON_LEFT, 0)
            s.wait_update("position()+click at (%d,%d)" % (X, Y), near=(X, Y))


def case_pointer_motion(args):
    """Server mouse mode (requested; the demo must also follow motion() in any mode):
    relative motion() to the top-left corner, then to (400, 300), then a click."""
    with tempfile.TemporaryDirectory(prefix="spiced-input-") as d:
        with Session(args, d) as s:
            c = s.client
            if c.main is not None and c.mouse_mode() != H.MOUSE_MODE_SERVER:
                c.main.request_mouse_mode(H.MOUSE_MODE_SERVER)
                H.wait_until(lambda: c.mouse_mode() == H.MOUSE_MODE_SERVER, 3.0)
            print("  mouse mode after requesting server mode: %s" % c.mouse_mode())
            # Far up-left: the pointer clamps at (0, 0) whatever its start.
            for _ in range(10):
                c.motion(-400, -400, 0)
                H.pump(0.02)
            # Let that settle into a picture before the real move.
            H.pump(0.5)
            H.wait_until(lambda: H.same_picture(c.framebuffer(), s.dump_now()), 5.0)
            s.current = s.dump_now()
            for _ in range(10):
                c.motion(X // 10, Y // 10, 0)
                H.pump(0.02)
            H.pump(0.1)
            c.button_press(H.MOUSE_BUTTON_LEFT, H.MOUSE_BUTTON_MASK_LEFT)
            H.pump(0.05)
            c.button_release(H.MOUSE_BUTTON_LEFT, 0)
            if H.reference_mode():
                print("  reference mode: Xspice ignores server-mode motion/buttons (the messages "
                      "are sent, seen on the wire); not checked")
                return
            s.wait_update("motion()+click at (%d,%d)" % (X, Y), near=(X, Y))


def main():
    args = H.parse_args(__doc__)
    cases = [
        ("input_typing", case_typing),
        ("input_pointer_position", case_pointer_position),
        ("input_pointer_motion", case_pointer_motion),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
