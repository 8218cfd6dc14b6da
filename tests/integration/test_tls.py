#!/usr/bin/python3
"""TLS on spiced-gpu's --tls-port with --x509-dir (QEMU's layout) and QEMU's --tls-channel /
--plaintext-channel policy, against SpiceClientGLib (session properties tls-port and ca-file)
and raw sockets.

A throwaway CA and a server certificate for 127.0.0.1 are made with the `openssl` command.
spice-gtk links a channel over TLS when the session has no plain port, or when the server
answers a plain link with SPICE_LINK_ERR_NEED_SECURED (it then reconnects to the tls-port);
both ways must end with the client's framebuffer equal to the server's dump. A plain link to a
TLS-only channel gets NEED_SECURED, a TLS link to a plaintext-only channel NEED_UNSECURED;
garbage or plain SPICE on the TLS port costs one "[tls]" log line and that connection only; a
broken certificate setup stops the server at start with a clear message.
"""

import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

CHANNEL_CURSOR = 4
ALL_CHANNELS = ["main", "display", "inputs", "cursor"]


def openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    H.check(p.returncode == 0, "openssl %s failed:\n%s"
            % (" ".join(args), p.stdout.decode("utf-8", "replace")))


def make_x509_dir(d):
    """CA + server certificate (CN and subjectAltName 127.0.0.1) as QEMU's x509 directory."""
    x509 = os.path.join(d, "x509")
    os.makedirs(x509)
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
             "-out", "ca-cert.pem", "-days", "2", "-subj", "/CN=spiced-gpu test CA"], x509)
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem",
             "-out", "server.csr", "-subj", "/CN=127.0.0.1"], x509)
    with open(os.path.join(x509, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca-cert.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-out", "server-cert.pem", "-days", "2",
             "-extfile", "ext.cnf"], x509)
    return x509


def server_args(dump, x509, tls_port, channel_options=()):
    args = ["--tls-port", str(tls_port), "--x509-dir", x509, "--disable-ticketing",
            "--demo-seed", "5", "--demo-freeze", "0", "--dump-frame", dump]
    for opt, name in channel_options:
        args += [opt, name]
    return args


def debug_env():
    env = {k: v for k, v in os.environ.items() if k != "SPICED_PASSWORD"}
    env["SPICED_LOG_LEVEL"] = "debug"
    return env


def tls_client(srv, tls_port, ca_file, plain_port=True, name="tls"):
    c = H.SpiceClient(port=srv.port, name=name)
    if not plain_port:
        c.session.set_property("port", None)
    c.session.set_property("tls-port", str(tls_port))
    c.session.set_property("ca-file", ca_file)
    return c


def expect_picture(c, dump, label, timeout=20.0, want_inputs=True):
    c.connect()
    try:
        c.wait_main_opened(timeout)
        c.wait_primary(timeout)
        ok, fb, exp = c.wait_framebuffer_equals(lambda: H.try_read_ppm(dump), timeout)
        H.check(ok, "%s: client framebuffer != dump after %.0f s: %s; events: %s"
                % (label, timeout, H.diff_report(fb, exp, "client", "dump"), c.events_text()))
        if want_inputs:
            H.check(H.wait_until(lambda: c.inputs_opened, timeout),
                    "%s: inputs channel did not open; events: %s" % (label, c.events_text()))
        H.check(not c.failed(), "%s: channel error: %s" % (label, c.events_text()))
        print("  %s: client framebuffer equals the dump" % label, flush=True)
    finally:
        c.disconnect()


def raw_link(port, channel_type, use_tls=False, ca_file=None, timeout=5.0):
    """Link `channel_type` (connection id 0) on a fresh socket, over TLS if asked; returns the
    reply's error field."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if use_tls:
            ctx = ssl.create_default_context(cafile=ca_file)
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(H.full_link(channel_type=channel_type))
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < H.LINK_HEADER_SIZE + 4 and time.monotonic() < deadline:
            chunk = s.recv(H.LINK_HEADER_SIZE + 4 - len(data))
            if not chunk:
                break
            data += chunk
        reply = H.parse_link_reply(data)
        H.check(reply is not None, "link of channel %d on port %d (%s): no reply (%r)"
                % (channel_type, port, "TLS" if use_tls else "plain", data))
        H.check(reply["magic"] == H.SPICE_MAGIC, "bad reply magic: %r" % reply)
        return reply["error"]
    finally:
        s.close()


def expect_link(port, channel_type, want, what, **kw):
    got = raw_link(port, channel_type, **kw)
    H.check(got == want, "%s: link error %d(%s), want %d(%s)"
            % (what, got, H.LINK_ERR_NAMES.get(got), want, H.LINK_ERR_NAMES.get(want)))
    print("  %s: %s" % (what, H.LINK_ERR_NAMES.get(got)), flush=True)


def established(srv):
    return len(re.findall(r"\[tls\] \S+: TLSv1\.[23] \S+ established", srv.log()))


def case_all_channels_secure(args):
    with tempfile.TemporaryDirectory(prefix="spiced-tls-") as d:
        x509 = make_x509_dir(d)
        ca = os.path.join(x509, "ca-cert.pem")
        dump = os.path.join(d, "frame.ppm")
        tls_port = H.free_port()
        channels = [("--tls-channel", n) for n in ALL_CHANNELS]
        with H.ServerProcess(args.server, server_args(dump, x509, tls_port, channels),
                             workdir=d, env=debug_env()) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            # The plain port refuses every channel; spice-gtk reconnects each over TLS.
            expect_picture(tls_client(srv, tls_port, ca), dump, "port+tls-port client")
            log = srv.log()
            H.check(log.count("NEED_SECURED") + log.count("TLS-only") >= 1,
                    "no NEED_SECURED refusal in the log: the client never tried plain?\n" + log)
            H.check(established(srv) >= 3, "fewer than 3 TLS sessions in the log:\n" + log)
            for ctype, name in ((H.CHANNEL_MAIN, "main"), (H.CHANNEL_DISPLAY, "display"),
                                (H.CHANNEL_INPUTS, "inputs"), (CHANNEL_CURSOR, "cursor")):
                expect_link(srv.port, ctype, H.LINK_ERR_NEED_SECURED, "plain %s link" % name)
            expect_link(tls_port, H.CHANNEL_MAIN, H.LINK_ERR_OK, "TLS main link",
                        use_tls=True, ca_file=ca)
            # Plain SPICE and garbage on the TLS port: one [tls] line each, only that
            # connection closes.
            for label, payload in (("plain SPICE", H.full_link()),
                                   ("garbage", b"\x00garbage\r\n" * 50)):
                before = srv.log().count("[tls]")
                s = H.raw_connect(tls_port)
                try:
                    try:
                        s.sendall(payload)
                    except OSError:
                        pass
                    eof, extra = H.wait_closed(s, 5.0)
                finally:
                    s.close()
                H.check(eof, "%s on the TLS port: server did not close the connection" % label)
                H.check(H.wait_until(lambda: srv.log().count("TLS handshake failed") > 0
                                     and srv.log().count("[tls]") > before, 3.0),
                        "%s on the TLS port: no [tls] handshake line\n%s" % (label, srv.log()))
                line = [ln for ln in srv.log().splitlines() if "[tls]" in ln][-1]
                print("  %s on the TLS port: closed; %s" % (label, line.split("] ", 1)[-1]))
            expect_picture(tls_client(srv, tls_port, ca, name="after-garbage"), dump,
                           "client after the garbage")


def case_tls_port_only_client(args):
    with tempfile.TemporaryDirectory(prefix="spiced-tls-only-") as d:
        x509 = make_x509_dir(d)
        ca = os.path.join(x509, "ca-cert.pem")
        dump = os.path.join(d, "frame.ppm")
        tls_port = H.free_port()
        with H.ServerProcess(args.server, server_args(dump, x509, tls_port), workdir=d,
                             env=debug_env()) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            expect_picture(tls_client(srv, tls_port, ca, plain_port=False), dump,
                           "tls-port-only client")
            H.check(established(srv) >= 3, "fewer than 3 TLS sessions:\n" + srv.log())
            H.check("NEED_SECURED" not in srv.log(), "unexpected refusal:\n" + srv.log())
            # Without channel options every channel may use either port.
            expect_link(srv.port, H.CHANNEL_MAIN, H.LINK_ERR_OK, "plain main link")
            expect_link(tls_port, H.CHANNEL_MAIN, H.LINK_ERR_OK, "TLS main link",
                        use_tls=True, ca_file=ca)
            # A client that does not trust the CA gets no picture.
            c = H.SpiceClient(port=srv.port, name="untrusted")
            c.session.set_property("port", None)
            c.session.set_property("tls-port", str(tls_port))
            c.session.set_property("ca-file", os.path.join(x509, "server-cert.pem"))
            c.connect()
            try:
                H.check(H.wait_until(c.failed, 10.0),
                        "client without the CA: no error; events: %s" % c.events_text())
                H.check(c.primary is None, "client without the CA got a surface")
                print("  client without the CA: %s" % c.events_text())
            finally:
                c.disconnect()


def case_mixed_policy(args):
    with tempfile.TemporaryDirectory(prefix="spiced-tls-mixed-") as d:
        x509 = make_x509_dir(d)
        ca = os.path.join(x509, "ca-cert.pem")
        dump = os.path.join(d, "frame.ppm")
        tls_port = H.free_port()
        channels = [("--tls-channel", "display"), ("--plaintext-channel", "inputs")]
        with H.ServerProcess(args.server, server_args(dump, x509, tls_port, channels),
                             workdir=d, env=debug_env()) as srv:
            H.wait_for_ppm(dump, 20.0, srv)
            expect_link(srv.port, H.CHANNEL_MAIN, H.LINK_ERR_OK, "plain main link")
            expect_link(srv.port, H.CHANNEL_DISPLAY, H.LINK_ERR_NEED_SECURED,
                        "plain display link")
            expect_link(tls_port, H.CHANNEL_INPUTS, H.LINK_ERR_NEED_UNSECURED,
                        "TLS inputs link", use_tls=True, ca_file=ca)
            expect_link(tls_port, H.CHANNEL_MAIN, H.LINK_ERR_OK, "TLS main link",
                        use_tls=True, ca_file=ca)
            # Main and inputs plain, display over TLS.
            expect_picture(tls_client(srv, tls_port, ca), dump, "mixed client")


def run_expect_start_failure(server, argv, want, label):
    p = subprocess.run([server, "--addr", "127.0.0.1", "--port", str(H.free_port())] + argv,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode("utf-8", "replace").strip()
    H.check(p.returncode != 0, "%s: exit code 0, want failure\n%s" % (label, out))
    H.check(re.search(want, out), "%s: message %r does not match %r" % (label, out, want))
    H.check(len(out.splitlines()) == 1, "%s: want one line, got:\n%s" % (label, out))
    print("  %s: exit %d: %s" % (label, p.returncode, out))


def case_bad_setup(args):
    with tempfile.TemporaryDirectory(prefix="spiced-tls-bad-") as d:
        x509 = make_x509_dir(d)
        base = ["--disable-ticketing", "--tls-port", str(H.free_port())]
        run_expect_start_failure(args.server, base, r"--tls-port needs --x509-dir",
                                 "no x509-dir")
        run_expect_start_failure(args.server, base + ["--x509-dir", os.path.join(d, "nope")],
                                 r"nope does not exist", "missing x509-dir")
        run_expect_start_failure(args.server, base + ["--x509-dir", x509, "--tls-channel",
                                                      "sound"],
                                 r"'sound' is not a channel name", "unknown channel")
        run_expect_start_failure(args.server, ["--disable-ticketing", "--tls-channel", "main"],
                                 r"need --tls-port", "tls-channel without tls-port")
        run_expect_start_failure(args.server, base + ["--x509-dir", x509, "--tls-channel",
                                                      "main", "--plaintext-channel", "main"],
                                 r"both --tls-channel and --plaintext-channel", "conflict")
        # Missing key.
        nokey = os.path.join(d, "nokey")
        os.makedirs(nokey)
        for f in ("ca-cert.pem", "server-cert.pem"):
            with open(os.path.join(x509, f), "rb") as src, \
                    open(os.path.join(nokey, f), "wb") as dst:
                dst.write(src.read())
        run_expect_start_failure(args.server, base + ["--x509-dir", nokey],
                                 r"server-key\.pem: cannot read: No such file", "missing key")
        # A key that is not the certificate's.
        openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", os.path.join(nokey, "server-key.pem")], d)
        run_expect_start_failure(args.server, base + ["--x509-dir", nokey],
                                 r"server-key\.pem does not match the certificate",
                                 "mismatched key")
        # A certificate file that is not PEM.
        with open(os.path.join(nokey, "server-cert.pem"), "w") as f:
            f.write("not a certificate\n")
        run_expect_start_failure(args.server, base + ["--x509-dir", nokey],
                                 r"server-cert\.pem: not a PEM certificate", "garbage cert")


def main():
    args = H.parse_args(__doc__)
    cases = [
        ("all_channels_secure", case_all_channels_secure),
        ("tls_port_only_client", case_tls_port_only_client),
        ("mixed_policy", case_mixed_policy),
        ("bad_setup", case_bad_setup),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
