#!/usr/bin/python3
"""Video streams with real clients (SpiceClientGLib: H.264 through GStreamer's avdec_h264,
MJPEG through spice-gtk's own decoder): the demo's video window and rotating wireframe go out
as streams of the negotiated codec, their picture is close to the served frame while the text
around them stays pixel-exact, and once they stop changing the whole picture is exact again.

Each client runs in a child process (this script with --client) so that GStreamer starts with
that client's own environment (a client without H.264 decoders is made by ranking them out)
and spice-gtk's debug lines (SPICE_DEBUG=1) can be read back: they prove which streams the
client created and which decoder it built.
"""

import math
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

# GStreamer plugins with H.264 decoders on Debian 12: a client whose GStreamer lacks them
# offers MJPEG only (spice-gtk offers codecs by the decoders it finds).
H264_PLUGINS = ("libgstlibav.so", "libgstopenh264.so", "libgstva.so", "libgstvaapi.so",
                "libgstnvcodec.so", "libgstv4l2codecs.so", "libgstvideo4linux2.so")
GST_PLUGINS = "/usr/lib/x86_64-linux-gnu/gstreamer-1.0"


def gstreamer_without_h264(directory):
    """Environment for a GStreamer that loads every system plugin but the H.264 decoders."""
    plugins = os.path.join(directory, "gst-plugins")
    os.makedirs(plugins, exist_ok=True)
    for name in os.listdir(GST_PLUGINS):
        if name.endswith(".so") and name not in H264_PLUGINS:
            os.symlink(os.path.join(GST_PLUGINS, name), os.path.join(plugins, name))
    return {"GST_PLUGIN_SYSTEM_PATH_1_0": plugins,
            "GST_REGISTRY_1_0": os.path.join(directory, "gst-registry.bin")}
# The demo animates at 30 fps; frame 120 is 4 s in: the video window and the wireframe both
# stream by then (the wireframe needs 30 frames of animation).
FREEZE_AT = 120


def run_client(port, out_ppm, dump, settle, prefer=None, env_extra=None, timeout=90):
    """Runs one SpiceClientGLib client in a child process until `settle` seconds after the
    server's frozen frame was dumped; returns (framebuffer, client output)."""
    env = dict(os.environ)
    env["SPICE_DEBUG"] = "1"
    env.update(env_extra or {})
    argv = [sys.executable, os.path.abspath(__file__), "--client", str(port), out_ppm, dump,
            str(settle), prefer or "-"]
    # GLib writes debug lines to stdout, warnings to stderr: one stream of both.
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)
    err = proc.stdout.decode(errors="replace")
    H.check(proc.returncode == 0, "client exited with %d:\n%s" % (proc.returncode, err[-3000:]))
    picture = H.try_read_ppm(out_ppm)
    H.check(picture is not None, "the client wrote no picture")
    return picture, err


def client_main(argv):
    port, out_ppm, dump, settle, prefer = argv
    H._make_self_headless()
    client = H.SpiceClient(port=int(port))
    client.connect()
    client.wait_primary()
    if prefer != "-":
        H.check(H.wait_until(lambda: client.display is not None, 15.0), "no display channel")
        codecs = {"mjpeg": 1, "h264": 3}
        from gi.repository import SpiceClientGLib
        SpiceClientGLib.DisplayChannel.display_channel_change_preferred_video_codec_types(
            client.display, [codecs[c] for c in prefer.split(",")])
    H.check(H.wait_until(lambda: os.path.exists(dump), 60.0), "the server never froze")
    H.pump(float(settle))
    picture = client.framebuffer()
    H.check(picture is not None, "no primary surface")
    H.write_ppm(out_ppm, picture)
    client.disconnect()
    return 0


def stream_rects(log):
    """{stream id: rect (x, y, w, h)} of the streams the server's log says are running."""
    active = {}
    for m in re.finditer(r"stream (\d+) (started at|moved to|resized to) (\d+)x(\d+)\+(\d+)\+(\d+)",
                         log):
        sid, _, w, h, x, y = m.groups()
        active[int(sid)] = (int(x), int(y), int(w), int(h))
    for m in re.finditer(r"stream (\d+) ended", log):
        active.pop(int(m.group(1)), None)
    return active


def psnr(a, b):
    mse = float(((a.astype("float64") - b.astype("float64")) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def compare_with_streams(picture, served, rects, what):
    """Inside each running stream the picture is close (PSNR); everywhere else exact. The
    first stream is the demo's video window (it moves from the first frame on): at least
    30 dB. Later ones are the wireframe's thin coloured lines, which 4:2:0 video blurs (29-31
    dB) and which rate control blurs further when a loaded client reports late frames (26.8
    dB seen): at least 24 dB, above what a picture several frames old measures (20-22.6)."""
    outside_client = picture.copy()
    for sid, (x, y, w, h) in sorted(rects.items()):
        region = psnr(picture[y:y + h, x:x + w], served[y:y + h, x:x + w])
        exact = H.same_picture(picture[y:y + h, x:x + w], served[y:y + h, x:x + w])
        print("  %s: stream %d at %dx%d+%d+%d: PSNR %.1f dB against the served frame%s" % (
            what, sid, w, h, x, y, region, " (exact)" if exact else ""), flush=True)
        floor = 30.0 if sid == min(rects) else 24.0
        H.check(region >= floor, "%s: stream %d is too far from the served frame (%.1f dB)" % (
            what, sid, region))
        H.check(not exact, "%s: stream %d is pixel-exact: was it a stream at all?" % (what, sid))
        outside_client[y:y + h, x:x + w] = served[y:y + h, x:x + w]
    report = H.diff_report(outside_client, served, "client", "served")
    H.check(not report, "%s: outside the streams the picture is not exact: %s" % (what, report))
    print("  %s: everything outside the streams is pixel-exact" % what, flush=True)


def streaming_case(codec, prefer=None, no_h264=False):
    """A client that decodes `codec` gets the demo's animated windows as streams of it."""
    def run(args):
        with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
            env_extra = gstreamer_without_h264(d) if no_h264 else None
            dump = os.path.join(d, "frame.ppm")
            # The streams outlive the freeze (a long idle time), so the client still shows
            # their last pictures when it is compared.
            extra = ["--disable-ticketing", "--demo-freeze", str(FREEZE_AT), "--dump-frame", dump,
                     "--stream-idle-ms", "600000"]
            with H.ServerProcess(args.server, extra, workdir=d) as srv:
                picture, err = run_client(srv.port, os.path.join(d, "client.ppm"), dump, 1.5,
                                          prefer, env_extra)
                served = H.read_ppm(dump)
                log = srv.log()
            creates = len(re.findall(r"display_handle_stream_create", err))
            h264_decoder = "avdec_h264" in err
            print("  client: %d streams created, H.264 decoder built: %s" % (
                creates, "yes" if h264_decoder else "no"), flush=True)
            H.check(creates >= 1, "the client created no stream")
            chosen = re.findall(r"video streams in (\S+)", log)
            H.check(chosen and chosen[-1] == codec,
                    "the server did not choose %s (%s):\n%s" % (codec, chosen, log[-3000:]))
            if prefer is None:
                H.check(h264_decoder == (codec == "H.264"),
                        "the client's decoder does not match %s" % codec)
            else:
                # The first streams may have gone in the client's default codec before its
                # preference arrived; the preference then switched them.
                print("  codecs chosen in turn: %s" % ", ".join(chosen), flush=True)
            # The wireframe's stream resizes as the model turns: the client keeps its stream
            # and gets the pictures with their new size and place (STREAM_CLIP, DATA_SIZED).
            followed = re.search(r"\((\d+) moves or resizes followed\)", log)
            sized = len(re.findall(r"contains sized data", err))
            print("  moves or resizes followed: %s; sized pictures the client took: %d" % (
                followed.group(1) if followed else "?", sized), flush=True)
            if followed and int(followed.group(1)) > 0:
                H.check(sized > 0, "the server followed a resize but sent no sized picture")
            rects = stream_rects(log)
            H.check(rects, "no stream is running at the freeze:\n%s" % log[-3000:])
            compare_with_streams(picture, served, rects, codec)
    return run


def join_mid_stream_case(args):
    """A second H.264 client that joins while the streams run gets a key frame first: its
    decoder shows the streams as well as the first client's does."""
    with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-freeze", str(FREEZE_AT + 30), "--dump-frame",
                 dump, "--stream-idle-ms", "600000", "--multi-client", "view"]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            env = dict(os.environ, SPICE_DEBUG="1")

            def client(name):
                argv = [sys.executable, os.path.abspath(__file__), "--client", str(srv.port),
                        os.path.join(d, name + ".ppm"), dump, "1.5", "-"]
                return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
            first = client("first")
            # The second joins once both streams run (the wireframe's starts after 1 s of
            # animation).
            H.check(H.wait_until(lambda: len(re.findall(r"stream \d+ started", srv.log())) >= 2,
                                 30.0), "the streams did not start:\n" + srv.log()[-2000:])
            time.sleep(0.5)
            second = client("second")
            outputs = {}
            for name, proc in (("first", first), ("second", second)):
                out, _ = proc.communicate(timeout=90)
                outputs[name] = out.decode(errors="replace")
                H.check(proc.returncode == 0, "%s client failed:\n%s" % (name, outputs[name][-3000:]))
            served = H.read_ppm(dump)
            log = srv.log()
        rects = stream_rects(log)
        H.check(rects, "no stream is running at the freeze")
        for name in ("first", "second"):
            creates = len(re.findall(r"display_handle_stream_create", outputs[name]))
            print("  %s client: %d streams created" % (name, creates), flush=True)
            H.check(creates >= 1, "the %s client got no stream" % name)
            compare_with_streams(H.read_ppm(os.path.join(d, name + ".ppm")), served, rects,
                                 "H.264, %s client" % name)


def stream_ends_case(args):
    """Streams end once their region stops changing; the area is repainted losslessly and
    the client's whole picture equals the frozen frame."""
    with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-freeze", str(FREEZE_AT), "--dump-frame", dump]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            picture, err = run_client(srv.port, os.path.join(d, "client.ppm"), dump, 2.0)
            served = H.read_ppm(dump)
            log = srv.log()
        started = len(re.findall(r"stream \d+ started", log))
        ended = len(re.findall(r"stream \d+ ended", log))
        print("  %d streams started, %d ended; client created %d" % (
            started, ended, len(re.findall(r"display_handle_stream_create", err))), flush=True)
        H.check(started >= 2, "the video window and the wireframe did not both stream")
        H.check(not stream_rects(log), "a stream still runs after the freeze")
        report = H.diff_report(picture, served, "client", "served")
        H.check(not report, "after the streams ended the picture is not exact: %s" % report)
        print("  after the streams ended: %dx%d, pixel-exact" % (picture.shape[1],
                                                                  picture.shape[0]), flush=True)


def streaming_off_case(args):
    """--streaming-video off: no stream, everything lossless."""
    with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-freeze", "60", "--dump-frame", dump,
                 "--streaming-video", "off"]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            picture, err = run_client(srv.port, os.path.join(d, "client.ppm"), dump, 1.0)
            served = H.read_ppm(dump)
            log = srv.log()
        H.check("display_handle_stream_create" not in err, "the client got a stream")
        H.check("started at" not in log, "the server started a stream")
        report = H.diff_report(picture, served, "client", "served")
        H.check(not report, "the picture is not exact: %s" % report)
        print("  no streams; pixel-exact", flush=True)


def jpeg_repaint_case(args):
    """Pictures sent as JPEG (WAN) are sent again losslessly once they hold still: the client
    first shows JPEG's loss, then the exact frame."""
    with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-freeze", "0", "--dump-frame", dump,
                 "--image-compression", "quic", "--jpeg-wan-compression", "always"]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            served = H.wait_for_ppm(dump, 20.0, srv)
            client = H.SpiceClient(port=srv.port)
            client.connect()
            client.wait_first_invalidate()
            first = client.framebuffer()
            lossy = psnr(first, served)
            exact, picture, _ = client.wait_framebuffer_equals(lambda: served, timeout=10.0)
            client.disconnect()
            # The count is in the display channel's close line.
            H.wait_until(lambda: "lossless repaints of JPEG areas" in srv.log(), 5.0)
            log = srv.log()
        print("  first picture: PSNR %.1f dB (JPEG); then %s" % (
            lossy, "pixel-exact" if exact else "never exact"), flush=True)
        H.check(not H.same_picture(first, served), "the first picture was not lossy")
        H.check(exact, "the JPEG areas were never repainted losslessly: %s" %
                H.diff_report(picture, served, "client", "served"))
        repaints = re.search(r"(\d+) lossless repaints of JPEG areas", log)
        H.check(repaints and int(repaints.group(1)) >= 1, "the server counts no lossless repaint")


# A display channel spoken by hand: SPICE message numbers (spice/enums.h) and display caps.
MSG_SET_ACK, MSGC_ACK_SYNC, MSGC_ACK = 3, 1, 2
MSG_STREAM_CREATE, MSG_STREAM_DATA, MSG_STREAM_DESTROY = 122, 123, 125
MSG_STREAM_ACTIVATE_REPORT = 319
MSGC_STREAM_REPORT, MSGC_PREFERRED_VIDEO_CODEC_TYPE = 102, 105
CAP_STREAM_REPORT, CAP_MULTI_CODEC, CAP_CODEC_MJPEG = 4, 8, 9


class RawDisplay:
    """A display channel that takes MJPEG streams and sends what a test makes it send. It
    acknowledges messages as a client must, and counts stream messages."""

    def __init__(self, port):
        self.main = H.RawMainSession(port)
        caps = (1 << CAP_STREAM_REPORT) | (1 << CAP_MULTI_CODEC) | (1 << CAP_CODEC_MJPEG)
        self.sock = H.raw_link_channel(port, self.main.session_id, H.CHANNEL_DISPLAY,
                                       channel_caps=(caps,))
        self.buffer = b""
        self.window = 0
        self.unacked = 0
        self.reports = {}  # stream id -> unique id
        self.data = 0
        self.closed = False

    def send(self, mtype, body):
        self.sock.sendall(struct.pack("<HI", mtype, len(body)) + body)

    def pump(self, seconds, until=lambda: False):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed and not until():
            self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self.buffer += chunk
            while len(self.buffer) >= 6:
                mtype, size = struct.unpack_from("<HI", self.buffer)
                if len(self.buffer) < 6 + size:
                    break
                body, self.buffer = self.buffer[6:6 + size], self.buffer[6 + size:]
                self.on_message(mtype, body)
        return until()

    def on_message(self, mtype, body):
        if mtype == MSG_SET_ACK:
            generation, self.window = struct.unpack_from("<II", body)
            self.send(MSGC_ACK_SYNC, struct.pack("<I", generation))
            return
        if self.window:
            self.unacked += 1
            if self.unacked >= self.window:
                self.unacked = 0
                self.send(MSGC_ACK, b"")
        if mtype == MSG_STREAM_ACTIVATE_REPORT:
            stream_id, unique_id = struct.unpack_from("<II", body)
            self.reports[stream_id] = unique_id
        elif mtype == MSG_STREAM_DESTROY:
            self.reports.pop(struct.unpack_from("<I", body)[0], None)
        elif mtype == MSG_STREAM_DATA:
            self.data += 1

    def report(self, stream_id, unique_id, frames, drops, delay=30, start=1000, end=1330):
        self.send(MSGC_STREAM_REPORT, struct.pack("<IIIIIIiI", stream_id, unique_id, start, end,
                                                  frames, drops, delay, 0xffffffff))

    def close(self):
        for s in (self.sock, self.main.sock):
            try:
                s.close()
            except OSError:
                pass


def reports_case(args):
    """The client's STREAM_REPORTs steer the stream: drops lower the bit rate (then the frame
    rate), clean reports raise them again. Absurd reports, reports on streams that do not
    exist and unknown codecs in a preference are ignored with a log line; the stream goes on.
    A truncated report closes that channel with a clear error."""
    with tempfile.TemporaryDirectory(prefix="spiced-streams-") as d:
        with H.ServerProcess(args.server, ["--disable-ticketing"], workdir=d) as srv:
            display = RawDisplay(srv.port)
            try:
                H.check(display.pump(10.0, lambda: display.reports and display.data > 5),
                        "no reported stream arrived:\n" + srv.log()[-2000:])
                stream_id, unique_id = next(iter(display.reports.items()))
                for _ in range(3):
                    display.report(stream_id, unique_id, 10, 6)
                    display.pump(0.2)
                H.check(H.wait_until(lambda: "lowered to" in srv.log(), 5.0),
                        "drops did not lower the rate:\n" + srv.log()[-2000:])
                lowered = re.findall(r"stream \d+ \(MJPEG\).*(lowered|raised) to (\d+) kbit/s, "
                                     r"(\d+) fps", srv.log())
                for _ in range(12):
                    display.report(stream_id, unique_id, 10, 0)
                    display.pump(0.1)
                H.check(H.wait_until(lambda: "raised to" in srv.log(), 5.0),
                        "clean reports did not raise the rate:\n" + srv.log()[-2000:])
                steps = re.findall(r"(lowered|raised) to (\d+) kbit/s, (\d+) fps", srv.log())
                print("  rate steps: %s" % ", ".join("%s %s kbit/s %s fps" % s for s in steps),
                      flush=True)
                # Only the order matters: once the test stops reading, a later "link is full"
                # may lower the rate again, which is right.
                kinds = [kind for kind, _, _ in steps]
                H.check(lowered and "lowered" in kinds and
                        "raised" in kinds[kinds.index("lowered"):], "no lowering then raising")
                # Hostile but well-formed: ignored with a log line each, the stream goes on.
                display.report(stream_id, unique_id, 10, 500)
                display.report(77, 1, 10, 0)
                # "I cannot decode stream 77" (spice-gtk's form) for a stream it does not have:
                # nothing changes codec.
                display.report(77, 0, 0, 0xffffffff, delay=0, start=0, end=0)
                display.send(MSGC_PREFERRED_VIDEO_CODEC_TYPE, bytes([2, 77, 1]))
                # A flood of reports: forwarded at a bounded rate, the rest dropped with a line.
                for _ in range(200):
                    display.report(stream_id, unique_id, 10, 0)
                before = display.data
                display.pump(1.0)
                log = srv.log()
                for line in ("absurd report ignored", "report on unknown stream 77",
                             "unknown video codec 77", "stream reports faster than"):
                    H.check(line in log, "no log line '%s':\n%s" % (line, log[-2000:]))
                H.check(log.count("video streams in") == 1, "an unknown stream changed the codec")
                H.check(not display.closed and display.data > before,
                        "the stream stopped after ignored input")
                print("  absurd, unknown-stream, unknown-codec input and a report flood ignored "
                      "with a log line each; %d more pictures" % (display.data - before),
                      flush=True)
                # Truncated: the channel is closed, with a line saying why.
                display.send(MSGC_STREAM_REPORT, b"\x01\x02\x03")
                display.pump(3.0)
                H.check(display.closed, "a truncated report did not close the channel")
                H.check(H.wait_until(lambda: "truncated" in srv.log(), 3.0),
                        "no line about the truncated report")
            finally:
                display.close()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        return client_main(sys.argv[2:])
    args = H.parse_args(__doc__)
    cases = [
        ("h264_stream", streaming_case("H.264")),
        ("mjpeg_only_client", streaming_case("MJPEG", no_h264=True)),
        ("mjpeg_preferred", streaming_case("MJPEG", prefer="mjpeg")),
        ("h264_join_mid_stream", join_mid_stream_case),
        ("stream_ends_exact", stream_ends_case),
        ("streaming_off", streaming_off_case),
        ("jpeg_repainted_lossless", jpeg_repaint_case),
        ("reports_steer_the_rate", reports_case),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
