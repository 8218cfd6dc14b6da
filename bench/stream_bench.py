#!/usr/bin/python3
"""The demo desktop with video streams against the same desktop sent losslessly, in one run
(issue #12).

For each round, alternating (--streaming-video off, then filter), a fresh spiced-gpu serves
the 1920x1080 demo (its video window and rotating wireframe animate, text windows scroll) to
ONE SpiceClientGLib client that decodes H.264 (GStreamer's avdec_h264) for --seconds.
Measured per run, from the server's own close lines and /proc:

  * display-channel bytes per second sent to the client (all of it, streams and images);
  * stream bytes per second and pictures (filter runs): what the video regions cost as video;
  * the same regions sent losslessly: display bytes of the off run minus the non-stream
    bytes of the filter run (everything but the streamed regions is the same desktop);
  * frames from the start of detection (the client's display channel asks for video; the
    demo's video window moves on every frame) to each stream's start, as the desktop counts
    them (the first is the video window, the second the wireframe, which animates for a
    second before it counts);
  * frame-submitted-to-STREAM_DATA latency p50/p99 (encode + queueing on the server);
  * server CPU seconds per second (utime+stime of the spiced-gpu process).

Medians over the rounds; ratios filter / off.

    /usr/bin/python3 bench/stream_bench.py --server build/host/spiced-gpu [--rounds 3]
        [--seconds 10] [--codec h264|mjpeg]
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import spiced_harness as H  # noqa: E402
import test_streams  # noqa: E402

FPS = 30


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(server, mode, seconds, codec):
    with tempfile.TemporaryDirectory(prefix="spiced-streambench-") as d:
        extra = ["--disable-ticketing", "--demo-size", "1920x1080", "--fps", str(FPS),
                 "--streaming-video", mode]
        with H.ServerProcess(server, extra, workdir=d) as srv:
            client = H.SpiceClient(port=srv.port, name="bench")
            client.connect()
            client.wait_primary()
            cpu0, t0 = cpu_seconds(srv.proc.pid), time.monotonic()
            H.pump(seconds)
            cpu1, t1 = cpu_seconds(srv.proc.pid), time.monotonic()
            client.disconnect()
            H.wait_until(lambda: "display channel closed" in srv.log(), 5.0)
            log = srv.log()
    elapsed = t1 - t0
    run = {"cpu": (cpu1 - cpu0) / elapsed}
    closed = re.search(r"display channel closed .* after ([\d.]+) s .* sent (\d+) B", log)
    H.check(closed, "no display close line:\n" + log[-2000:])
    alive = float(closed.group(1))
    run["display_Bps"] = int(closed.group(2)) / alive
    streams = re.search(r"(\d+) video streams .*?, (\d+) pictures \((\d+) B\).*p50 ([\d.]+) ms, "
                        r"p99 ([\d.]+) ms", log)
    run["stream_Bps"] = int(streams.group(3)) / alive if streams else 0.0
    run["pictures"] = int(streams.group(2)) if streams else 0
    run["p50"] = float(streams.group(4)) if streams else None
    run["p99"] = float(streams.group(5)) if streams else None
    # The desktop counts the frames it detected on until each stream started.
    run["frames_to_stream"] = [int(n) for n in re.findall(r"stream \d+ started .* the (\d+)\. "
                                                           r"since detection began", log)][:2]
    if mode != "off":
        H.check(streams, "the filter run streamed nothing:\n" + log[-2000:])
        H.check(("video streams in %s" % codec) in log, "the client did not get " + codec)
    return run


def median(runs, key):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--codec", choices=("h264", "mjpeg"), default="h264")
    args = ap.parse_args()
    codec = {"h264": "H.264", "mjpeg": "MJPEG"}[args.codec]
    if args.codec == "mjpeg":
        # A GStreamer without H.264 decoders: the client offers MJPEG only.
        os.environ.update(test_streams.gstreamer_without_h264(tempfile.mkdtemp()))
    H._make_self_headless()
    runs = {"off": [], "filter": []}
    for r in range(args.rounds):
        for mode in ("off", "filter"):
            run = one_run(os.path.abspath(args.server), mode, args.seconds, codec)
            runs[mode].append(run)
            print("round %d %-6s display %8.0f kB/s, streams %7.0f kB/s (%d pictures), "
                  "CPU %.2f s/s, frames to stream starts %s, p50/p99 %s/%s ms" % (
                      r + 1, mode, run["display_Bps"] / 1000, run["stream_Bps"] / 1000,
                      run["pictures"], run["cpu"], run["frames_to_stream"], run["p50"],
                      run["p99"]), flush=True)
    off, on = runs["off"], runs["filter"]
    d_off, d_on = median(off, "display_Bps"), median(on, "display_Bps")
    s_on = median(on, "stream_Bps")
    lossless_regions = d_off - (d_on - s_on)
    print()
    print("codec %s, %d rounds of %.0f s, medians:" % (codec, args.rounds, args.seconds))
    print("  display bytes/s   off %.0f kB/s, filter %.0f kB/s: %.2fx" % (
        d_off / 1000, d_on / 1000, d_on / d_off))
    print("  streamed regions  as video %.0f kB/s, losslessly %.0f kB/s: %.2fx" % (
        s_on / 1000, lossless_regions / 1000, s_on / lossless_regions))
    print("  server CPU        off %.2f s/s, filter %.2f s/s: %.2fx" % (
        median(off, "cpu"), median(on, "cpu"), median(on, "cpu") / median(off, "cpu")))
    print("  frame to STREAM_DATA p50 %.2f ms, p99 %.2f ms" % (median(on, "p50"),
                                                              median(on, "p99")))
    firsts = [r["frames_to_stream"][0] for r in on if r["frames_to_stream"]]
    print("  frames from detection start to the first stream (video window): %s" % firsts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
