#!/usr/bin/env python3
"""Out of file descriptors (issue 14 item 2), before any login: the server runs with 64
descriptors while 190 clients connect and hold their sockets. Accept fails with EMFILE: the
server must not spin (it used to take 100 % of a core and log a line per try, ~1.6 million
lines in 6 s) and must serve again once the clients are gone.

Not registered in sanitizer builds: UBSan's vptr check probes memory through a pipe it opens
on the spot, so with no descriptor free it reports every virtual call it has not cached as a
bad vptr (seen on Connection and shared_ptr control blocks that were alive and well).
"""

import os
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402


def case_out_of_descriptors(args):
    """The server runs with 64 descriptors; 150 clients connect and hold their sockets (no
    login needed). Accept fails with EMFILE: the server must not spin (it used to take 100 %
    of a core and log a line per try) and must serve again once the clients are gone."""
    if H.reference_mode():
        print("  reference mode: not measured against spice-server")
        return
    import resource

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    with tempfile.TemporaryDirectory(prefix="spiced-emfile-") as d:
        with H.ServerProcess(args.server, ["--disable-ticketing", "--shards", "1"], workdir=d,
                             preexec=low_nofile) as srv:
            held = []

            def knock(timeout):
                """One more client that holds its socket; False when it could not connect."""
                s = socket.socket()
                s.settimeout(timeout)
                try:
                    s.connect(("127.0.0.1", srv.port))
                    held.append(s)
                    return True
                except OSError:
                    s.close()
                    return False

            deadline = time.monotonic() + 2.0
            while len(held) < 150 and time.monotonic() < deadline and knock(2.0):
                pass
            H.pump(0.5)
            c0, t0 = H.cpu_seconds(srv.proc.pid), time.monotonic()
            # Keep knocking while descriptors are exhausted: a few new clients a second.
            while time.monotonic() - t0 < 4.0:
                knock(0.5)
                time.sleep(0.1)
            share = (H.cpu_seconds(srv.proc.pid) - c0) / (time.monotonic() - t0)
            lines = [line for line in srv.log().splitlines() if "accept failed" in line]
            print("  %d clients connected; server CPU %.1f %% of a core over 4 s while out of "
                  "descriptors; %d 'accept failed' lines" % (len(held), 100 * share, len(lines)))
            H.check(lines, "the server never ran out of descriptors (test did not happen)")
            H.check(share < 0.25, "the server spins while out of descriptors: %.0f %% of a core"
                    % (100 * share))
            H.check(len(lines) <= 3, "accept failures are not rate-limited: %d lines" % len(lines))
            for s in held:
                s.close()
            # Once the clients are gone the server accepts and serves again.
            H.pump(2.0)
            def links():
                reply = H.link_exchange(srv.port, H.full_link()).reply
                return reply is not None and reply["error"] == 0
            ok = H.wait_until(links, 15.0, interval=0.5)
            H.check(ok, "no link accepted after the clients left:\n" + srv.log()[-2000:])


def main():
    args = H.parse_args(__doc__)
    return H.run_cases([("descriptors_out_of_descriptors", case_out_of_descriptors)], args)


if __name__ == "__main__":
    sys.exit(main())
