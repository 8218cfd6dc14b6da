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
    30 dB. Later ones are the wireframe's thin coloured lines, which 4:2:0 video blurs: 27 dB."""
    outside_client = picture.copy()
    for sid, (x, y, w, h) in sorted(rects.items()):
        region = psnr(picture[y:y + h, x:x + w], served[y:y + h, x:x + w])
        exact = H.same_picture(picture[y:y + h, x:x + w], served[y:y + h, x:x + w])
        print("  %s: stream %d at %dx%d+%d+%d: PSNR %.1f dB against the served frame%s" % (
            what, sid, w, h, x, y, region, " (exact)" if exact else ""), flush=True)
        floor = 30.0 if sid == min(rects) else 27.0
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
            rects = stream_rects(log)
            H.check(rects, "no stream is running at the freeze:\n%s" % log[-3000:])
            compare_with_streams(picture, served, rects, codec)
    return run


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
            log = srv.log()
        print("  first picture: PSNR %.1f dB (JPEG); then %s" % (
            lossy, "pixel-exact" if exact else "never exact"), flush=True)
        H.check(not H.same_picture(first, served), "the first picture was not lossy")
        H.check(exact, "the JPEG areas were never repainted losslessly: %s" %
                H.diff_report(picture, served, "client", "served"))
        repaints = re.search(r"(\d+) lossless repaints of JPEG areas", log)
        H.check(repaints and int(repaints.group(1)) >= 1, "the server counts no lossless repaint")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        return client_main(sys.argv[2:])
    args = H.parse_args(__doc__)
    cases = [
        ("h264_stream", streaming_case("H.264")),
        ("mjpeg_only_client", streaming_case("MJPEG", no_h264=True)),
        ("mjpeg_preferred", streaming_case("MJPEG", prefer="mjpeg")),
        ("stream_ends_exact", stream_ends_case),
        ("streaming_off", streaming_off_case),
        ("jpeg_repainted_lossless", jpeg_repaint_case),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
