#!/usr/bin/python3
"""GL scanouts (QEMU's `-spice unix=on,addr=PATH,gl=on`, virgl) served to REMOTE clients by the
drop-in libspice-server.so.1 on its own TCP/TLS port (SPICED_REMOTE_PORT, SPICED_REMOTE_TLS_PORT,
or a config file), while the host's unix socket keeps serving local clients.

gl_scanout_host (built beside this test) links our library, runs its own SpiceCoreInterface loop,
hands the library a memfd as the "dmabuf" (rows padded past width*4; top-down and bottom-up;
XRGB and XBGR) and calls spice_qxl_gl_scanout / spice_qxl_gl_draw_async for a sequence of
pictures, waiting for every cookie as QEMU does. A SpiceClientGLib client over TCP on 127.0.0.1
must see each picture pixel for pixel before the host draws the next; each cookie's time is
printed (figures for docs), and the only timing requirement is the one QEMU has: it came back
before the next draw (the host calls a cookie lost after one second).

Exit code 77 only when SpiceClientGLib (python3-gi, gir1.2-spiceclientglib-2.0) or openssl is
missing.
"""

import glob
import os
import select
import subprocess
import sys
import tempfile
import time

SKIP = 77

try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import spiced_harness as H  # noqa: E402
except (ImportError, ValueError) as e:  # gi or SpiceClientGLib missing
    print("SKIP: SpiceClientGLib is not available (%s)" % e)
    sys.exit(SKIP)

PASSWORD = "gl-s3cret"


class Host:
    """gl_scanout_host with a line protocol on stdin/stdout (see the program's header)."""

    def __init__(self, binary, d, env_extra, password=PASSWORD, extra_args=()):
        self.unix_path = os.path.join(d, "spice.sock")
        self.out = os.path.join(d, "pictures")
        os.makedirs(self.out, exist_ok=True)
        env = H.headless_env()
        for k in list(env):
            if k.startswith("SPICED_"):
                del env[k]
        env.update(env_extra)
        argv = [binary, "--unix", self.unix_path, "--out", self.out]
        if password is not None:
            argv += ["--password", password]
        argv += list(extra_args)
        self.stderr_path = os.path.join(d, "host.log")
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, text=True, bufsize=1)
        self.lines = []
        # Raw reads and our own line split: a buffered readline() could swallow two lines
        # while select() only knows about the fd.
        self._pending = b""

    def log(self):
        return H.read_log_file(self.stderr_path, self.proc.poll() is None)

    def read_line(self, timeout=20.0):
        """Next stdout line, running the GLib loop meanwhile (clients live in it)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            if b"\n" not in self._pending:
                ready, _, _ = select.select([fd], [], [], 0.01)
                if ready:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        raise H.TestFailure("host exited (%s); log:\n%s"
                                            % (self.proc.wait(5), self.log()[-3000:]))
                    self._pending += chunk
            if b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                self.lines.append(line)
                H.check(not line.startswith("FAIL"), "host: %s\nlog:\n%s"
                        % (line, self.log()[-3000:]))
                return line
            H.iterate()
        raise H.TestFailure("host said nothing for %.0f s; log:\n%s" % (timeout,
                                                                        self.log()[-3000:]))

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout=20.0):
        try:
            self.send("quit")
        except BrokenPipeError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._stderr.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


def expect_step(client, step_line, timeout=15.0):
    """Waits until the client's framebuffer equals the step's picture; returns seconds taken."""
    _, n, name, path, cookie_us = step_line.split()
    want = H.read_ppm(path)
    t0 = time.monotonic()
    ok, fb, exp = client.wait_framebuffer_equals(lambda: want, timeout)
    if not ok:
        report = H.diff_report(fb, exp, "client", "host") if fb is not None and \
            fb.shape == exp.shape else "client picture %s, host %s" % (
                None if fb is None else fb.shape, exp.shape)
        raise H.TestFailure("step %s (%s): %s sees a different picture: %s"
                            % (n, name, client.name, report))
    return name, float(cookie_us), time.monotonic() - t0


def client_sees_first_step(host, client):
    """After the host's READY, `client` connects and must show the host's first picture; then
    it disconnects. Returns what expect_step returns."""
    H.check(host.read_line() == "READY", "host not ready")
    step = host.read_line()
    client.connect()
    client.wait_primary(20.0)
    seen = expect_step(client, step)
    client.disconnect()
    return seen


def run_sequence(host, client_factory, label):
    """Drives the host through all its pictures, each checked on the client; returns the
    cookie times (us) reported with each step."""
    H.check(host.read_line() == "READY", "host not ready: %s" % host.lines)
    line = host.read_line()
    H.check(line.startswith("STEP 0 "), "unexpected: %s" % line)
    client = client_factory()
    client.connect()
    client.wait_primary(20.0)
    cookies = []
    while line.startswith("STEP "):
        name, cookie_us, seen_after = expect_step(client, line)
        cookies.append(cookie_us)
        print("  %s: step %-18s cookie %6.0f us, on the client after %.0f ms"
              % (label, name, cookie_us, seen_after * 1000), flush=True)
        host.send("next")
        line = host.read_line()
    H.check(line.startswith("COOKIES "), "unexpected: %s" % line)
    print("  %s: all cookies (steps and a 30-frame burst at 60 fps): %s" % (label, line),
          flush=True)
    done = host.read_line()
    H.check(done.startswith("DONE "), "unexpected: %s" % done)
    memfds = int(done.split("memfds=")[1])
    # Ours (the current buffer) and the library's current scanout: every earlier fd the
    # library was given is closed (spice-server owns them too).
    H.check(memfds == 2, "%d scanout fds open at the end, want 2 (fds leak)" % memfds)
    return client, cookies


def remote_sequence(args, d, label, extra_env=None):
    """The host with a remote TCP port (and `extra_env`) through all its pictures, each exact
    at a remote client, every cookie in time. Returns (host, client, port); the caller kills
    the host when done."""
    port = H.free_port()
    env = {"SPICED_REMOTE_PORT": str(port), "SPICED_REMOTE_ADDR": "127.0.0.1"}
    env.update(extra_env or {})
    host = Host(args.host, d, env)
    try:
        client, cookies = run_sequence(
            host, lambda: H.SpiceClient(port=port, password=PASSWORD, name="remote"), label)
        H.check(max(cookies) < 1e6, "a cookie took a second or more")
    except BaseException:
        host.kill()
        raise
    return host, client, port


def case_remote_tcp_pictures(args):
    """Env-set remote port with a password; every picture exact over TCP; cookies in time;
    a client without the password is refused; the unix socket still serves a local client."""
    with tempfile.TemporaryDirectory(prefix="spiced-gl-") as d:
        host, client, port = remote_sequence(args, d, "tcp")
        try:
            log = host.log()
            H.check("remote clients: port %d on 127.0.0.1 (password as the host set it)" % port
                    in log, "no log line for the remote port:\n" + log)
            H.check("GL scanout 64x64 stride 256 needs 16384 bytes, the buffer has 2048: "
                    "refused" in log, "no refusal of the short buffer:\n" + log)
            # The host's password guards the remote port too.
            intruder = H.SpiceClient(port=port, password="wrong", name="wrong-password")
            intruder.connect()
            H.check(H.wait_until(intruder.failed, 10.0),
                    "wrong password: no error; events %s" % intruder.events_text())
            H.check(intruder.has_event(H.CHANNEL_ERROR_AUTH),
                    "wrong password: %s" % intruder.events_text())
            H.check(intruder.primary is None, "a client with a wrong password got a picture")
            intruder.disconnect()
            client.disconnect()
            # The host's own (unix) socket keeps serving a local client.
            local = H.SpiceClient(port=0, password=PASSWORD, name="local-unix",
                                  session_props={"unix-path": host.unix_path})
            local.session.set_property("port", None)
            local.connect()
            local.wait_primary(20.0)
            last = [l for l in host.lines if l.startswith("STEP ")][-1]
            name, _, seen = expect_step(local, last)
            print("  unix socket client sees the last picture (%s) after %.0f ms"
                  % (name, seen * 1000))
            local.disconnect()
            rc = host.finish()
            H.check(rc == 0, "host exit code %s; log:\n%s" % (rc, host.log()[-3000:]))
        finally:
            host.kill()


def case_device_import(args):
    """SPICED_GPU=llvmpipe: the library reads each scanout on the Vulkan device (lavapipe takes
    the memfd's mapping in as host memory; a GPU would import the dmabuf itself), says so in one
    line, and every picture is still exact at the client (top-down and bottom-up, XRGB and
    XBGR, padded rows)."""
    if not glob.glob("/usr/share/vulkan/icd.d/lvp_icd*.json"):
        raise H.TestSkipped("no lavapipe (mesa-vulkan-drivers) on this machine")
    with tempfile.TemporaryDirectory(prefix="spiced-gl-dev-") as d:
        host, client, _ = remote_sequence(args, d, "device", {"SPICED_GPU": "llvmpipe"})
        try:
            log = host.log()
            H.check("compositor: vulkan: llvmpipe" in log, "not on lavapipe:\n" + log)
            lines = [l for l in log.splitlines() if "GL scanouts are read through" in l]
            H.check(len(lines) == 1 and "host-memory import on llvmpipe" in lines[0],
                    "want one line naming the host-memory import on llvmpipe:\n" + log)
            print("  %s" % lines[0].strip())
            H.check("reading its CPU mapping from now on" not in log,
                    "the device read failed:\n" + log)
            client.disconnect()
            rc = host.finish()
            H.check(rc == 0, "host exit code %s; log:\n%s" % (rc, host.log()[-3000:]))
        finally:
            host.kill()


def case_config_file(args):
    """The remote port from a config file (SPICED_CONFIG), the environment winning over it."""
    with tempfile.TemporaryDirectory(prefix="spiced-gl-conf-") as d:
        port, other = H.free_port(), H.free_port()
        conf = os.path.join(d, "libspice-server.conf")
        with open(conf, "w") as f:
            f.write("# remote access for the GL display\nremote-port = %d\n"
                    "remote-addr = 127.0.0.1   # loopback only\n\n"
                    "# limits for hostile clients, as spiced-gpu's options\n"
                    "write-timeout = 45\nglz-memory-limit = 268435456\n" % other)
        host = Host(args.host, d, {"SPICED_CONFIG": conf, "SPICED_REMOTE_PORT": str(port)},
                    password=None)
        try:
            client_sees_first_step(host, H.SpiceClient(port=port, name="config"))
            H.check(not H.port_is_listening(other), "the file's port opened though the "
                    "environment overrides it")
            log = host.log()
            H.check("NO password: the host disabled ticketing" in log,
                    "no warning for an unauthenticated remote port:\n" + log)
        finally:
            host.kill()
        # The file alone.
        host = Host(args.host, d, {"SPICED_CONFIG": conf}, password=None)
        try:
            client_sees_first_step(host, H.SpiceClient(port=other, name="config-only"))
        finally:
            host.kill()


def tls_client(name, tls_port, ca_file):
    """A client of the remote TLS port alone (no plain port), trusting `ca_file`."""
    c = H.SpiceClient(port=0, password=PASSWORD, name=name)
    c.session.set_property("port", None)
    c.session.set_property("tls-port", str(tls_port))
    c.session.set_property("ca-file", ca_file)
    return c


def case_remote_tls(args):
    """SPICED_REMOTE_TLS_PORT with SPICED_REMOTE_X509_DIR (QEMU gives no certificates with
    gl=on): a TLS client that trusts the CA sees the picture; one that does not, gets none."""
    import test_tls as T
    with tempfile.TemporaryDirectory(prefix="spiced-gl-tls-") as d:
        x509 = T.make_x509_dir(d)
        tls_port = H.free_port()
        host = Host(args.host, d, {"SPICED_REMOTE_TLS_PORT": str(tls_port),
                                   "SPICED_REMOTE_X509_DIR": x509,
                                   "SPICED_REMOTE_ADDR": "127.0.0.1"})
        try:
            name, _, seen = client_sees_first_step(
                host, tls_client("tls", tls_port, os.path.join(x509, "ca-cert.pem")))
            print("  TLS client sees %s after %.0f ms" % (name, seen * 1000))
            untrusted = tls_client("untrusted", tls_port, os.path.join(x509, "server-cert.pem"))
            untrusted.connect()
            H.check(H.wait_until(untrusted.failed, 10.0), "untrusted TLS client: no error")
            H.check(untrusted.primary is None, "a client without the CA got a picture")
            untrusted.disconnect()
        finally:
            host.kill()


def case_remote_tls_host_certificates(args):
    """A host that set TLS itself (spice_server_set_tls, QEMU without gl=on): the remote TLS
    port serves with the host's certificates, no SPICED_REMOTE_X509_DIR needed."""
    import test_tls as T
    with tempfile.TemporaryDirectory(prefix="spiced-gl-tls-host-") as d:
        x509 = T.make_x509_dir(d)
        host_tls, remote_tls = H.free_port(), H.free_port()
        host = Host(args.host, d, {"SPICED_REMOTE_TLS_PORT": str(remote_tls),
                                   "SPICED_REMOTE_ADDR": "127.0.0.1"},
                    extra_args=["--tls-port", str(host_tls), "--x509-dir", x509])
        try:
            client_sees_first_step(host, tls_client("tls-host-certs", remote_tls,
                                                    os.path.join(x509, "ca-cert.pem")))
        finally:
            host.kill()


def case_bad_settings(args):
    """Each wrong value: spice_server_init fails (QEMU then stops at start) with ONE clear
    line naming the setting and the value."""
    with tempfile.TemporaryDirectory(prefix="spiced-gl-bad-") as d:
        bad_conf = os.path.join(d, "bad.conf")
        with open(bad_conf, "w") as f:
            f.write("remote-port = 5930\nremote_tls_port = 5931\n")
        busy = H.free_port()
        import socket
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", busy))
        holder.listen(1)
        cases = [
            ({"SPICED_REMOTE_PORT": "59x0"}, "SPICED_REMOTE_PORT='59x0' is not a port number"),
            ({"SPICED_REMOTE_PORT": "70000"}, "SPICED_REMOTE_PORT='70000' is not a port number"),
            ({"SPICED_REMOTE_TLS_PORT": "0"}, "SPICED_REMOTE_TLS_PORT='0' is not a port number"),
            ({"SPICED_REMOTE_PORT": "5999", "SPICED_REMOTE_ADDR": "localhost:1"},
             "SPICED_REMOTE_ADDR='localhost:1' is not an IPv4 or IPv6 address"),
            ({"SPICED_CONFIG": os.path.join(d, "missing.conf")},
             "SPICED_CONFIG=%s: cannot be read" % os.path.join(d, "missing.conf")),
            ({"SPICED_CONFIG": bad_conf}, "%s:2: remote_tls_port: unknown key" % bad_conf),
            ({"SPICED_REMOTE_TLS_PORT": "5998"}, "needs remote-x509-dir"),
            ({"SPICED_WRITE_TIMEOUT": "soon"},
             "SPICED_WRITE_TIMEOUT='soon' is not a number of seconds"),
            ({"SPICED_REMOTE_PORT": str(busy), "SPICED_REMOTE_ADDR": "127.0.0.1"},
             "remote port 127.0.0.1:%d (SPICED_REMOTE_PORT)" % busy),
        ]
        try:
            for env, want in cases:
                host = Host(args.host, d, env)
                try:
                    rc = host.proc.wait(20)
                    out = os.read(host.proc.stdout.fileno(), 65536).decode()
                finally:
                    host.kill()
                log = host.log()
                lines = [l for l in log.splitlines() if l.strip()]
                H.check(rc == 3 and "INIT FAILED" in out,
                        "%s: host exit %s (want 3: init refused); log:\n%s" % (env, rc, log))
                matching = [l for l in lines if want in l]
                H.check(len(matching) == 1, "%s: want one line with %r, log:\n%s"
                        % (env, want, log))
                errors = [l for l in lines if "ERROR" in l.upper() or "remote" in l]
                H.check(len(errors) == 1, "%s: more than one line about it:\n%s" % (env, log))
                print("  %-60s -> %s" % (" ".join("%s=%s" % kv for kv in env.items())[-60:],
                                         matching[0].strip()[-110:]))
        finally:
            holder.close()


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True, help="gl_scanout_host of this build")
    ap.add_argument("-k", dest="filter", default=None)
    ap.add_argument("--watchdog", type=float, default=280.0)
    args = ap.parse_args()
    if not os.access("/usr/bin/openssl", os.X_OK):
        print("SKIP: openssl is not installed")
        return SKIP
    cases = [
        ("remote_tcp_pictures", case_remote_tcp_pictures),
        ("device_import", case_device_import),
        ("config_file", case_config_file),
        ("remote_tls", case_remote_tls),
        ("remote_tls_host_certificates", case_remote_tls_host_certificates),
        ("bad_settings", case_bad_settings),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
