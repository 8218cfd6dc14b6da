#!/usr/bin/env python3
"""End-to-end figures against a real client (SpiceClientGLib, spice-gtk 0.42), on loopback:

  * connect-to-first-frame: from spice_session_connect() to the first display-invalidate
    (the complete first picture), median of several connections;
  * server CPU (utime+stime from /proc) per second of wall time while serving that client;
  * bytes per second the display channel delivers to one client while the demo animates,
    once with --image-compression off (bitmaps) and once with lz4, in the same run, against
    the raw rate of sending every full frame (width x height x 4 x fps) as the baseline.

Usage: /usr/bin/python3 bench/e2e_bench.py --server build/core/spiced-gpu [--seconds 10]
Prints a table and one JSON line (prefix "json: ") for tooling.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import spiced_harness as h  # noqa: E402


def connect_to_first_frame(server_binary, runs):
    times = []
    with h.ServerProcess(server_binary, ["--disable-ticketing"], name="ttff") as server:
        for i in range(runs):
            client = h.SpiceClient(port=server.port, name="ttff-%d" % i)
            start = time.monotonic()
            client.connect()
            client.wait_first_invalidate(timeout=30)
            times.append((client.invalidates[0][0] - start) * 1000.0)
            client.disconnect()
            h.pump(0.2)
        server.stop()
    return times


def cpu_seconds(pid):
    """utime + stime of a process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def display_rate(server_binary, compression, seconds, size):
    args = ["--disable-ticketing", "--image-compression", compression, "--demo-size", size]
    with h.ServerProcess(server_binary, args, name="rate-" + compression) as server:
        client = h.SpiceClient(port=server.port, name="rate")
        client.connect()
        client.wait_first_invalidate(timeout=30)
        h.pump(1.0)  # past the first full picture
        start_bytes, start_time = client.bytes_read("display"), time.monotonic()
        start_inval = client.invalidate_count
        start_cpu = cpu_seconds(server.proc.pid)
        h.pump(seconds)
        elapsed = time.monotonic() - start_time
        rate = (client.bytes_read("display") - start_bytes) / elapsed
        updates = (client.invalidate_count - start_inval) / elapsed
        cpu = (cpu_seconds(server.proc.pid) - start_cpu) / elapsed
        client.disconnect()
        server.stop()
    return rate, updates, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()

    ttff = connect_to_first_frame(args.server, args.runs)
    width, height = (int(v) for v in args.size.split("x"))
    raw = width * height * 4 * 30
    bitmap_rate, bitmap_updates, bitmap_cpu = display_rate(args.server, "off", args.seconds,
                                                           args.size)
    lz4_rate, lz4_updates, lz4_cpu = display_rate(args.server, "lz4", args.seconds, args.size)

    print("connect-to-first-frame: median %.1f ms (min %.1f, max %.1f, %d runs)"
          % (statistics.median(ttff), min(ttff), max(ttff), len(ttff)))
    print("display bytes/s to one client at %s, 30 fps demo:" % args.size)
    print("  raw full frames (baseline): %10.2f MB/s" % (raw / 1e6))
    print("  bitmaps (off):              %10.2f MB/s  = %.4f of raw, %.1f draw ops/s, "
          "server CPU %.0f%% of a core" % (bitmap_rate / 1e6, bitmap_rate / raw, bitmap_updates,
                                          bitmap_cpu * 100))
    print("  lz4:                        %10.2f MB/s  = %.4f of raw, %.4f of bitmaps, "
          "server CPU %.0f%% of a core" % (lz4_rate / 1e6, lz4_rate / raw, lz4_rate / bitmap_rate,
                                          lz4_cpu * 100))
    print("json: " + json.dumps({
        "connect_to_first_frame_ms_median": round(statistics.median(ttff), 2),
        "raw_bytes_per_s": raw, "bitmap_bytes_per_s": round(bitmap_rate),
        "lz4_bytes_per_s": round(lz4_rate), "bitmap_server_cpu": round(bitmap_cpu, 3),
        "lz4_server_cpu": round(lz4_cpu, 3), "size": args.size}))


if __name__ == "__main__":
    main()
