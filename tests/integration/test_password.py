#!/usr/bin/python3
"""SPICE ticket authentication of spiced-gpu with real clients: --password, --password-file,
SPICED_PASSWORD in the environment, and --password-expiry.

A right password must give the demo picture (pixel-equal to the server's dump); a wrong one must
make spicy-screenshot exit non-zero (spice-gtk 0.42 exits 1 when the main channel reports an
error) and make SpiceClientGLib's main channel report SPICE_CHANNEL_ERROR_AUTH.
"""

import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

PASSWORD = "s3cret"


def base_args(dump):
    return ["--demo-seed", "7", "--demo-freeze", "0", "--dump-frame", dump]


def expect_screenshot_ok(srv, d, dump, password, label):
    shot = os.path.join(d, "shot-%s.ppm" % label)
    rc, out = H.run_spicy_screenshot(srv.port, shot, password=password)
    H.check(rc == 0, "%s: spicy-screenshot -w %r exit code %s, want 0\n%s\n--- server stderr ---"
            "\n%s" % (label, password, rc, out, srv.log()))
    got = H.try_read_ppm(shot)
    H.check(got is not None, "%s: spicy-screenshot wrote no picture\n%s" % (label, out))
    report = H.diff_report(got, H.try_read_ppm(dump), "spicy-screenshot", "dump")
    H.check(not report, "%s: picture mismatch: %s" % (label, report))


def expect_screenshot_refused(srv, d, password, label):
    shot = os.path.join(d, "refused-%s.ppm" % label)
    rc, out = H.run_spicy_screenshot(srv.port, shot, password=password, timeout=30.0)
    H.check(rc is not None, "%s: spicy-screenshot with password %r hung (killed after 30 s)\n%s"
            % (label, password, out))
    H.check(rc != 0, "%s: spicy-screenshot with password %r succeeded (exit 0), want failure\n%s"
            % (label, password, out))
    H.check(not os.path.exists(shot), "%s: spicy-screenshot with password %r wrote a picture"
            % (label, password))
    print("  %s: spicy-screenshot -w %r refused (exit %s: %s)"
          % (label, password, rc, out.strip().splitlines()[-1] if out.strip() else ""))


def expect_glib_auth_error(srv, password, label, timeout=10.0):
    c = H.SpiceClient(port=srv.port, password=password, name="glib-" + label).connect()
    try:
        ok = H.wait_until(c.failed, timeout)
        H.check(ok, "%s: no main channel error within %.0f s with password %r; events: %s"
                % (label, timeout, password, c.events_text()))
        H.check(c.has_event(H.CHANNEL_ERROR_AUTH, "main"),
                "%s: main channel events %s, want ERROR_AUTH" % (label, c.events_text()))
        H.check(c.primary is None, "%s: got a primary surface despite the auth error" % label)
    finally:
        c.disconnect()


def expect_glib_ok(srv, password, label, dump=None, timeout=15.0):
    c = H.SpiceClient(port=srv.port, password=password, name="glib-" + label).connect()
    try:
        c.wait_main_opened(timeout)
        c.wait_primary(timeout)
        if dump is not None:
            ok, fb, exp = c.wait_framebuffer_equals(lambda: H.try_read_ppm(dump), timeout)
            H.check(ok, "%s: client framebuffer != dump after %.0f s: %s"
                    % (label, timeout, H.diff_report(fb, exp, "client", "dump")))
        H.check(not c.failed(), "%s: channel error: %s" % (label, c.events_text()))
    finally:
        c.disconnect()


def case_password_option(args):
    with tempfile.TemporaryDirectory(prefix="spiced-pw-") as d:
        dump = os.path.join(d, "frame.ppm")
        with H.ServerProcess(args.server, ["--password", PASSWORD] + base_args(dump),
                             workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            expect_screenshot_ok(srv, d, dump, PASSWORD, "right")
            expect_screenshot_refused(srv, d, "wrong", "wrong")
            expect_screenshot_refused(srv, d, None, "none")
            expect_glib_auth_error(srv, "wrong", "wrong")
            expect_glib_auth_error(srv, "", "empty")
            expect_glib_ok(srv, PASSWORD, "right", dump)
            # A failed attempt must not lock the right password out.
            expect_screenshot_ok(srv, d, dump, PASSWORD, "right-again")


def case_password_file(args):
    with tempfile.TemporaryDirectory(prefix="spiced-pwfile-") as d:
        dump = os.path.join(d, "frame.ppm")
        pwfile = os.path.join(d, "password.txt")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, PASSWORD.encode())
        os.close(fd)
        with H.ServerProcess(args.server, ["--password-file", pwfile] + base_args(dump),
                             workdir=d) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            expect_screenshot_ok(srv, d, dump, PASSWORD, "file-right")
            expect_glib_auth_error(srv, "wrong", "file-wrong")
            expect_screenshot_refused(srv, d, "wrong", "file-wrong")


def case_password_env(args):
    with tempfile.TemporaryDirectory(prefix="spiced-pwenv-") as d:
        dump = os.path.join(d, "frame.ppm")
        env = dict(os.environ)
        env["SPICED_PASSWORD"] = PASSWORD
        with H.ServerProcess(args.server, base_args(dump), workdir=d, env=env) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            expect_screenshot_ok(srv, d, dump, PASSWORD, "env-right")
            expect_glib_auth_error(srv, "wrong", "env-wrong")
            expect_screenshot_refused(srv, d, None, "env-none")


def case_password_expiry(args):
    if H.reference_mode():
        print("  reference mode: Xspice has no password expiry; skipped")
        return
    with tempfile.TemporaryDirectory(prefix="spiced-pwexp-") as d:
        dump = os.path.join(d, "frame.ppm")
        srv = H.ServerProcess(args.server, ["--password", PASSWORD, "--password-expiry", "1"]
                              + base_args(dump), workdir=d)
        with srv:
            listening_after = time.monotonic() - srv.start_time
            print("  server listening %.2f s after start" % listening_after)
            # Immediately: must work (all channels authenticate before the 1 s expiry).
            c = H.SpiceClient(port=srv.port, password=PASSWORD, name="early").connect()
            try:
                ok = H.wait_until(lambda: c.primary is not None or c.failed(), 10.0)
                H.check(ok and c.primary is not None and not c.failed(),
                        "connection right after start (server listening %.2f s after start) "
                        "failed; events: %s" % (listening_after, c.events_text()))
            finally:
                c.disconnect()
            # 2.5 s after start the password has expired.
            delay = srv.start_time + 2.5 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            expect_glib_auth_error(srv, PASSWORD, "expired")
            expect_screenshot_refused(srv, d, PASSWORD, "expired")


def main():
    args = H.parse_args(__doc__)
    cases = [
        ("password_option", case_password_option),
        ("password_file", case_password_file),
        ("password_env", case_password_env),
        ("password_expiry", case_password_expiry),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
