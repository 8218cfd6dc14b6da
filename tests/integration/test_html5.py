#!/usr/bin/python3
"""spice-html5 in headless Chromium against spiced-gpu's WebSocket transport, on the SPICE port.

spiced-gpu serves spice-html5's own files (--web-root /usr/share/spice-html5) and the page's
WebSocket connects to the same port. Chromium is driven through the DevTools protocol over
--remote-debugging-pipe (fd 3: commands to Chromium, fd 4: its answers; NUL-terminated JSON),
so no npm package or chromedriver is needed.

Cases:
  - static files: GET of existing files (bytes and Content-Type), 404 for missing ones, for
    `..` / %2e%2e / absolute / symlinks leaving the root, 404 without --web-root, and a bad
    --web-root is refused at start;
  - the browser: spice-html5's canvas equals the server's frame dump pixel for pixel; a
    screenshot is saved (html5_screenshot.png in $SPICED_ARTIFACTS_DIR or the working
    directory); then a raw WebSocket client that sends an unmasked frame is closed with one
    log line while the browser keeps working (a key typed in the page reaches the demo and the
    canvas matches the new dump);
  - bad frames: each kind of malformed frame from a raw WebSocket client (mid link) gets a
    close frame with the right status, the TCP connection closes, and exactly one log line;
  - wss://: the page loaded over https from the TLS port connects back over wss:// and its
    canvas equals the dump;
  - origins: an upgrade from another site's page gets 403 and one log line, unless listed
    with --websocket-origin.
"""

import base64
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

import numpy as np  # noqa: E402

WEB_ROOT = "/usr/share/spice-html5"
CHROMIUM = "/usr/bin/chromium"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEMO_SIZE = "1024x768"
# Extra server arguments (e.g. "--image-compression off"), to tell codec from transport.
EXTRA_SERVER_ARGS = os.environ.get("SPICED_HTML5_SERVER_ARGS", "").split()


# --------------------------------------------------------------------------------------------
# Plain HTTP


def http_get(port, target, timeout=5.0, method="GET"):
    """(status, headers dict with lower-case names, body) of one request; the server closes."""
    s = H.raw_connect(port)
    try:
        s.settimeout(timeout)
        s.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (method, target, port)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    H.check(sep, "GET %s: no complete response head (%r)" % (target, data[:200]))
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def warning_lines(srv, local_port):
    """The server's warning lines about the client on `local_port`."""
    return [line for line in srv.log().splitlines()
            if " warning [" in line and "127.0.0.1:%d:" % local_port in line]


# --------------------------------------------------------------------------------------------
# A raw WebSocket client (masked frames, as browsers send)


class WsClient:
    def __init__(self, port, path="/websockify", timeout=5.0):
        self.sock = H.raw_connect(port)
        self.sock.settimeout(timeout)
        self.local_port = self.sock.getsockname()[1]
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " % port + key + b"\r\n"
                          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n")
        self.buf = b""
        self.payload = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            H.check(chunk, "WebSocket handshake: server closed (%r)" % self.buf)
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        H.check(head.startswith(b"HTTP/1.1 101 "), "WebSocket handshake answer: %r" % head)
        want = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        H.check(b"Sec-WebSocket-Accept: " + want in head, "bad Sec-WebSocket-Accept: %r" % head)
        H.check(b"Sec-WebSocket-Protocol: binary" in head, "no binary subprotocol: %r" % head)

    @staticmethod
    def frame(opcode, payload, fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def send(self, raw):
        self.sock.sendall(raw)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv_frame(self):
        """(opcode, payload) of the next server frame; None at EOF. Server frames are unmasked."""
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        H.check(not b1 & 0x80, "server frame is masked")
        n, at = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4):
                return None
            n, at = struct.unpack_from("!H", self.buf, 2)[0], 4
        elif n == 127:
            if not self._need(10):
                return None
            n, at = struct.unpack_from("!Q", self.buf, 2)[0], 10
        if not self._need(at + n):
            return None
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return b0 & 0x0F, payload

    def recv_binary(self, want):
        """Exactly `want` bytes of binary payload (across frames; the rest of a frame is kept
        for the next call); fewer at EOF."""
        while len(self.payload) < want:
            f = self.recv_frame()
            if f is None:
                break
            H.check(f[0] in (0, 2), "unexpected opcode %d while reading data" % f[0])
            self.payload += f[1]
        data, self.payload = self.payload[:want], self.payload[want:]
        return data

    def closed_by_server(self, timeout=5.0):
        """Reads until EOF; returns the close frame's status code (or None) once the server
        has closed the TCP connection, False if it did not within `timeout`."""
        self.sock.settimeout(timeout)
        code = None
        try:
            while True:
                f = self.recv_frame()
                if f is None:
                    return code
                if f[0] == 8 and len(f[1]) >= 2:
                    code = struct.unpack("!H", f[1][:2])[0]
        except socket.timeout:
            return False
        except ConnectionResetError:
            return code

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ws_link_main(port):
    """A WebSocket client that sends a valid main-channel link and reads the link reply."""
    ws = WsClient(port)
    ws.send(WsClient.frame(2, H.full_link()))
    reply = ws.recv_binary(H.LINK_HEADER_SIZE + 4)
    parsed = H.parse_link_reply(reply)
    H.check(parsed is not None and parsed["magic"] == H.SPICE_MAGIC and parsed["error"] == 0,
            "link over WebSocket: %s" % H.describe_reply(parsed, reply))
    rest = parsed["size"] - 4
    H.check(len(ws.recv_binary(rest)) == rest, "link over WebSocket: short reply")
    return ws


# --------------------------------------------------------------------------------------------
# Headless Chromium over the DevTools pipe


class Chromium:
    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1280,900", "--remote-debugging-pipe", "--hide-scrollbars",
             "--mute-audio", "--disable-extensions", "--disable-default-apps"]

    def __init__(self, workdir, extra_flags=()):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
        self.log_path = os.path.join(workdir, "chromium.log")
        to_r, self.to_w = os.pipe()      # our commands -> Chromium's fd 3
        self.from_r, from_w = os.pipe()  # Chromium's fd 4 -> us
        logf = open(self.log_path, "wb")
        # The shell puts the pipe ends on fds 3 and 4 and then becomes Chromium (same pid);
        # its own process group lets us kill every helper process it starts.
        script = 'exec "$0" "$@" 3<&%d 4>&%d' % (to_r, from_w)
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", script, CHROMIUM] + self.FLAGS + list(extra_flags) +
            ["--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(to_r, from_w),
            start_new_session=True, env=H.headless_env())
        logf.close()
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 1
        self.events = []
        self.console = []

    def kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        for fd in (self.to_w, self.from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.from_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_r, 1 << 20)
            H.check(chunk, "Chromium closed the DevTools pipe\n--- chromium log ---\n%s"
                    % self.log())
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30.0):
        cid = self.next_id
        self.next_id += 1
        msg = {"id": cid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            H.check(reply is not None, "DevTools %s: no answer within %.0f s\n--- chromium log "
                    "---\n%s" % (method, timeout, self.log()))
            if reply.get("id") == cid:
                if "error" in reply:
                    raise H.TestFailure("DevTools %s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self._note_event(reply)

    def _note_event(self, event):
        method = event.get("method", "")
        if method == "Runtime.consoleAPICalled":
            args = event["params"].get("args", [])
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            self.console.append(text)
        elif method == "Runtime.exceptionThrown":
            self.console.append("exception: %s" % event["params"]["exceptionDetails"].get(
                "exception", {}).get("description", event["params"]["exceptionDetails"]))
        elif method == "Log.entryAdded":
            self.console.append("log: %s" % event["params"]["entry"].get("text"))
        self.console = self.console[-60:]

    def open_page(self, url):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(method, session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        return session

    def evaluate(self, session, expression, timeout=30.0):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=session, timeout=timeout)
        H.check("exceptionDetails" not in result, "page script failed: %s"
                % result.get("exceptionDetails"))
        return result["result"].get("value")

    def console_text(self):
        return "\n".join(self.console[-30:])


CANVAS_PIXELS_JS = """(() => {
  const c = document.getElementById('spice_surface_0');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 0x8000)
    s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return c.width + ',' + c.height + ',' + btoa(s);
})()"""


def canvas_pixels(browser, session):
    """The spice-html5 primary canvas as (h, w, 4) RGBA numpy, or None if not there yet."""
    value = browser.evaluate(session, CANVAS_PIXELS_JS)
    if value is None:
        return None
    w, h, data = value.split(",", 2)
    w, h = int(w), int(h)
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(h, w, 4)


def wait_canvas_equals(browser, session, ref, timeout, srv):
    """Polls the canvas until its RGB equals `ref` (a picture, or a function giving the
    current one: spice-html5 asks the built-in agent to fit the desktop to its window, and the
    dump is rewritten at the new size); returns (rgba, report of the last diff)."""
    deadline = time.monotonic() + timeout
    rgba, report = None, "canvas never appeared"
    while time.monotonic() < deadline:
        H.check(srv.alive(), "server exited\n" + srv.log())
        rgba = canvas_pixels(browser, session)
        want = ref() if callable(ref) else ref
        if rgba is not None and want is not None:
            report = H.diff_report(rgba[..., :3], want, "canvas", "dump")
            if not report:
                return rgba, ""
        time.sleep(0.3)
    return rgba, report


def artifacts_dir():
    return os.environ.get("SPICED_ARTIFACTS_DIR") or os.getcwd()


# --------------------------------------------------------------------------------------------
# Cases


def case_static_files(args):
    with tempfile.TemporaryDirectory(prefix="spiced-web-") as d:
        root = os.path.join(d, "root")
        os.makedirs(os.path.join(root, "sub"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<p>hello</p>\n")
        with open(os.path.join(root, "sub", "x.svg"), "w") as f:
            f.write("<svg/>")
        with open(os.path.join(d, "secret.txt"), "w") as f:
            f.write("SECRET outside the root\n")
        os.symlink(os.path.join(d, "secret.txt"), os.path.join(root, "escape.txt"))
        os.symlink("sub/x.svg", os.path.join(root, "inside.svg"))
        os.symlink("sub", os.path.join(root, "subdir"))
        # A FIFO nobody writes: open() of it for reading would block until a writer came.
        os.mkfifo(os.path.join(root, "pipe"))
        with H.ServerProcess(args.server, ["--disable-ticketing", "--web-root", root],
                             workdir=d) as srv:
            for target, want_type, want_body in (
                    ("/", "text/html", b"<p>hello</p>\n"),
                    ("/index.html?x=1", "text/html", b"<p>hello</p>\n"),
                    ("/sub/x.svg", "image/svg+xml", b"<svg/>"),
                    ("/inside.svg", "image/svg+xml", b"<svg/>"),        # symlink inside root
                    ("/subdir/x.svg", "image/svg+xml", b"<svg/>")):
                status, headers, body = http_get(srv.port, target)
                H.check(status == 200 and body == want_body, "GET %s: %d %r" % (target, status,
                                                                                body[:80]))
                H.check(headers.get("content-type", "").startswith(want_type),
                        "GET %s: Content-Type %r" % (target, headers.get("content-type")))
                H.check(headers.get("content-length") == str(len(want_body)),
                        "GET %s: Content-Length %r" % (target, headers.get("content-length")))
            # HEAD (load balancers' health checks) is GET without the body.
            status, headers, body = http_get(srv.port, "/index.html", method="HEAD")
            H.check(status == 200 and body == b"" and headers.get("content-length") == "13",
                    "HEAD /index.html: %d %r %r" % (status, headers, body[:80]))
            status, _, body = http_get(srv.port, "/missing.js", method="HEAD")
            H.check(status == 404 and body == b"", "HEAD /missing.js: %d %r" % (status, body))
            refused = ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/sub/../../secret.txt",
                       "//etc/passwd", "/escape.txt", "/missing.js", "/sub", "/..%2fsecret.txt",
                       "/pipe"]
            for target in refused:
                status, _, body = http_get(srv.port, target)
                H.check(status == 404, "GET %s: status %d, want 404" % (target, status))
                H.check(b"SECRET" not in body and b"root:" not in body,
                        "GET %s leaked: %r" % (target, body[:80]))
            print("  %d files served, %d refused (404, a FIFO among them), HEAD answered"
                  % (5, len(refused)))
            # Each refusal is one log line; a plain SPICE link is not confused by any of it.
            log = srv.log()
            H.check(log.count("[http]") == len(refused) + 1,  # + HEAD /missing.js
                    "want %d [http] lines (the refusals), got:\n%s" % (len(refused), log))
            H.check("[link]" not in log, "HTTP requests were logged as bad links:\n" + log)
            res = H.link_exchange(srv.port, H.full_link(channel_type=H.CHANNEL_DISPLAY,
                                                        connection_id=12345))
            H.check_link_error_reply(res, H.LINK_ERR_BAD_CONNECTION_ID, "plain SPICE link")

        # Without --web-root every plain GET is 404; the upgrade still works.
        with H.ServerProcess(args.server, ["--disable-ticketing"], workdir=d) as srv:
            status, _, _ = http_get(srv.port, "/index.html")
            H.check(status == 404, "no --web-root: GET /index.html gave %d" % status)
            ws_link_main(srv.port).close()

    # A bad --web-root is refused at start with one line naming the option.
    for bad in ("/nonexistent/dir", "/etc/passwd"):
        p = subprocess.run([args.server, "--disable-ticketing", "--web-root", bad],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        text = (p.stdout + p.stderr).decode("utf-8", "replace")
        H.check(p.returncode == 2 and "--web-root" in text,
                "--web-root %s: exit %d, output %r" % (bad, p.returncode, text))


def case_browser(args):
    with tempfile.TemporaryDirectory(prefix="spiced-html5-") as d:
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-freeze", "0", "--dump-frame", dump,
                 "--web-root", WEB_ROOT, "--demo-size", DEMO_SIZE,
                 # Pixel-exact means lossless: a loaded CI machine can make the connect-time
                 # bandwidth test say "WAN", and the auto modes would then send JPEG (the
                 # resize to the browser's window re-sends the whole picture after that test).
                 "--jpeg-wan-compression", "never"] + EXTRA_SERVER_ARGS
        env = {k: v for k, v in os.environ.items() if k != "SPICED_PASSWORD"}
        env["SPICED_LOG_LEVEL"] = "debug"
        with H.ServerProcess(args.server, extra, workdir=d, env=env) as srv:
            first = H.wait_for_ppm(dump, 20.0, srv)
            browser = Chromium(d)
            try:
                url = "http://127.0.0.1:%d/spice_auto.html?host=127.0.0.1&port=%d" % (
                    srv.port, srv.port)
                session = browser.open_page(url)
                rgba, report = wait_canvas_equals(browser, session,
                                                  lambda: H.try_read_ppm(dump), 30.0, srv)
                if rgba is not None and rgba.shape[:2] != first.shape[:2]:
                    print("  spice-html5 fitted the desktop to its window: %dx%d"
                          % (rgba.shape[1], rgba.shape[0]))
                first = H.try_read_ppm(dump)
                shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
                path = os.path.join(artifacts_dir(), "html5_screenshot.png")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                print("  screenshot: %s" % path)
                H.check(rgba is not None, "no spice-html5 canvas within 30 s\n--- console ---\n"
                        "%s" % browser.console_text())
                H.check(not report, "canvas differs from the dump: %s\n--- console ---\n%s"
                        % (report, browser.console_text()))
                H.check(bool(np.all(rgba[..., 3] == 255)), "canvas has non-opaque pixels")
                print("  canvas %dx%d equals the dump: 0 pixels differ"
                      % (rgba.shape[1], rgba.shape[0]))

                # A second, broken WebSocket client: closed with one log line, 1002.
                bad = ws_link_main(srv.port)
                bad.send(WsClient.frame(2, b"\0" * 8, mask=False))
                code = bad.closed_by_server()
                H.check(code == 1002, "unmasked frame: close code %r, want 1002" % code)
                lines = warning_lines(srv, bad.local_port)
                H.check(len(lines) == 1 and "[websocket]" in lines[0] and "not masked" in
                        lines[0], "want one [websocket] warning for the bad client, got %r"
                        % lines)
                bad.close()
                print("  bad client: %s" % lines[0].split("] ", 1)[1])

                # The browser keeps working: a key typed into the page reaches the demo.
                browser.evaluate(session, "document.getElementById('spice_surface_0').focus()")
                for kind in ("keyDown", "keyUp"):
                    params = {"type": kind, "key": "h", "code": "KeyH",
                              "windowsVirtualKeyCode": 72, "nativeVirtualKeyCode": 72}
                    if kind == "keyDown":
                        params["text"] = "h"
                    browser.call("Input.dispatchKeyEvent", params, session=session)
                changed = H.wait_for_ppm(dump, 10.0, srv, previous=first)
                rgba2, report2 = wait_canvas_equals(browser, session, changed, 15.0, srv)
                if report2 and rgba2 is not None:
                    for name, img in (("html5_canvas_after_key.ppm", rgba2[..., :3]),
                                      ("html5_dump_after_key.ppm", changed)):
                        H.write_ppm(os.path.join(artifacts_dir(), name), img)
                H.check(not report2, "after typing, canvas differs from the new dump: %s"
                        "\n--- console ---\n%s" % (report2, browser.console_text()))
                diff = int(np.any(changed != first, axis=2).sum())
                print("  typed 'h' in the browser: %d pixels changed, canvas equals the new "
                      "dump" % diff)
                H.check(not [line for line in srv.log().splitlines()
                             if "channel closed" in line], "a browser channel closed:\n"
                        + srv.log())
            finally:
                browser.kill()
            # Which channels spice-html5 linked, for the record.
            linked = sorted(set(re.findall(r"(\w+):\d+ channel linked", srv.log())))
            if linked:
                print("  linked: %s" % ", ".join(linked))


BAD_FRAMES = [
    ("unmasked", lambda: WsClient.frame(2, b"abcd", mask=False), 1002, "not masked"),
    ("text", lambda: WsClient.frame(1, b"hello"), 1003, "text frame"),
    ("reserved bit", lambda: bytes([0xC2]) + WsClient.frame(2, b"abcd")[1:], 1002, "reserved"),
    ("reserved opcode", lambda: bytes([0x83]) + WsClient.frame(2, b"abcd")[1:], 1002, "opcode"),
    ("64-bit length high bit", lambda: bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5]) +
     os.urandom(4), 1002, "high bit"),
    ("over 16 MiB", lambda: bytes([0x82, 0xFF]) + struct.pack("!Q", (16 << 20) + 1) +
     os.urandom(4), 1009, "limit"),
    ("long ping", lambda: WsClient.frame(9, b"p" * 126), 1002, "125"),
    ("fragmented ping", lambda: WsClient.frame(9, b"p", fin=False), 1002, "fragmented"),
    ("lone continuation", lambda: WsClient.frame(0, b"abcd"), 1002, "continuation"),
]


def case_bad_frames(args):
    with tempfile.TemporaryDirectory(prefix="spiced-wsbad-") as d:
        with H.ServerProcess(args.server, ["--disable-ticketing"], workdir=d) as srv:
            good = ws_link_main(srv.port)  # stays linked throughout
            for name, make, want_code, want_text in BAD_FRAMES:
                ws = WsClient(srv.port)
                try:
                    ws.send(WsClient.frame(2, H.full_link()[:10]))  # mid link
                    ws.send(make())
                    code = ws.closed_by_server()
                    H.check(code == want_code, "%s: close code %r, want %d" % (name, code,
                                                                               want_code))
                    lines = warning_lines(srv, ws.local_port)
                    H.check(len(lines) == 1 and "[websocket]" in lines[0] and
                            want_text in lines[0], "%s: want one [websocket] line with %r, "
                            "got %r" % (name, want_text, lines))
                    print("  %-24s -> %d, %s" % (name, code, lines[0].split("] ", 1)[1]))
                finally:
                    ws.close()
            # Ping gets a pong; close gets a close; the good client was not disturbed.
            ws = WsClient(srv.port)
            ws.send(WsClient.frame(9, b"ping!"))
            H.check(ws.recv_frame() == (10, b"ping!"), "no pong")
            ws.send(WsClient.frame(8, struct.pack("!H", 1000)))
            code = ws.closed_by_server()
            H.check(code == 1000, "close: reply code %r" % code)
            ws.close()
            good.sock.settimeout(0.2)
            try:
                data = good.sock.recv(1)
                H.check(data != b"", "the good WebSocket client was closed")
            except socket.timeout:
                pass
            good.close()


def browser_case_with(compression):
    """case_browser with the server forced to one image codec spice-html5 decodes."""
    def run(args):
        global EXTRA_SERVER_ARGS
        saved = EXTRA_SERVER_ARGS
        EXTRA_SERVER_ARGS = saved + ["--image-compression", compression]
        try:
            case_browser(args)
        finally:
            EXTRA_SERVER_ARGS = saved
    return run


def case_browser_tls(args):
    """spice-html5 loaded over https from the TLS port connects back with wss:// (the page
    picks wss when it was loaded over https); the canvas equals the dump."""
    import test_tls  # the throwaway CA and server certificate
    with tempfile.TemporaryDirectory(prefix="spiced-html5-tls-") as d:
        dump = os.path.join(d, "frame.ppm")
        x509 = test_tls.make_x509_dir(d)
        tls_port = H.free_port()
        extra = ["--disable-ticketing", "--demo-freeze", "0", "--dump-frame", dump,
                 "--web-root", WEB_ROOT, "--demo-size", DEMO_SIZE, "--tls-port", str(tls_port),
                 "--x509-dir", x509, "--jpeg-wan-compression", "never"]  # lossless: see above
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            first = H.wait_for_ppm(dump, 20.0, srv)
            # The test CA is not in Chromium's store; the certificate itself is checked by
            # test_tls with spice-gtk.
            browser = Chromium(d, ["--ignore-certificate-errors"])
            try:
                url = "https://127.0.0.1:%d/spice_auto.html?host=127.0.0.1&port=%d" % (
                    tls_port, tls_port)
                session = browser.open_page(url)
                rgba, report = wait_canvas_equals(browser, session,
                                                  lambda: H.try_read_ppm(dump), 30.0, srv)
                H.check(rgba is not None, "no spice-html5 canvas over wss:// within 30 s\n"
                        "--- console ---\n%s" % browser.console_text())
                H.check(not report, "wss:// canvas differs from the dump: %s" % report)
                print("  canvas over wss:// (page and WebSocket on TLS port %d) equals the dump"
                      % tls_port)
            finally:
                browser.kill()


def upgrade_from_origin(port, origin):
    """A WebSocket upgrade as a page from `origin` sends it; returns the answer's first bytes
    (the whole answer when the server closes after it)."""
    s = H.raw_connect(port)
    s.sendall(b"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: %s\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              % (port, origin.encode()))
    answer, _ = H.recv_some(s, 12, 5.0, pump_glib=False)
    s.close()
    return answer


def case_foreign_origin(args):
    """A page from another site may not open a WebSocket to us: 403 and one log line."""
    with H.ServerProcess(args.server, ["--disable-ticketing"]) as srv:
        answer = upgrade_from_origin(srv.port, "http://evil.example")
        H.check(answer.startswith(b"HTTP/1.1 403"), "foreign origin: answer %r" % answer[:40])
        H.wait_until(lambda: "evil.example" in srv.log(), 3.0)
        lines = [line for line in srv.log().splitlines() if "evil.example" in line]
        H.check(len(lines) == 1 and "--websocket-origin" in lines[0],
                "want one line naming the origin, got %r" % lines)
        print("  %s" % lines[0].split("] ", 1)[1])
    # Allowed when listed.
    with H.ServerProcess(args.server, ["--disable-ticketing", "--websocket-origin",
                                       "http://evil.example"]) as srv:
        answer = upgrade_from_origin(srv.port, "http://evil.example")
        H.check(answer.startswith(b"HTTP/1.1 101"), "listed origin: answer %r" % answer[:40])


def main():
    args = H.parse_args(__doc__)
    for need in (CHROMIUM, os.path.join(WEB_ROOT, "spice_auto.html")):
        if not os.path.exists(need):
            print("missing %s (packages chromium, spice-html5)" % need)
            return 1
    cases = [
        ("static files over HTTP", case_static_files),
        ("spice-html5 in Chromium equals the dump", case_browser),
        ("spice-html5 with QUIC images", browser_case_with("quic")),
        ("spice-html5 with LZ images", browser_case_with("lz")),
        ("bad WebSocket frames", case_bad_frames),
        ("spice-html5 over https/wss from the TLS port", case_browser_tls),
        ("WebSocket from a foreign origin", case_foreign_origin),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
