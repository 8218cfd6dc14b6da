#!/usr/bin/env python3
"""End-to-end figures against a real client (SpiceClientGLib, spice-gtk 0.42), on loopback:

  * connect-to-first-frame: from spice_session_connect() to the first display-invalidate
    (the complete first picture), median of several connections;
  * server CPU (utime+stime from /proc) per second of wall time while serving that client;
  * bytes per second the display channel delivers to one client while the demo animates,
    once with --image-compression off (bitmaps) and once with lz4, in the same run, against
    the raw rate of sending every full frame (width x height x 4 x fps) as the baseline.

  * input-to-cursor echo: a raw client in server mouse mode sends one MOUSE_MOTION on its
    inputs channel and times the CURSOR_MOVE that comes back on its cursor channel (the input
    crosses to the desktop thread and the update back to the shard(s)), with --shards 1 and
    --shards 4 in the same run; p50/p99 over --echoes round trips.

Usage: /usr/bin/python3 bench/e2e_bench.py --server build/host/spiced-gpu [--seconds 10]
       [--echoes 2000] [--only echo]
Prints a table and one JSON line (prefix "json: ") for tooling.
"""
import argparse
import json
import os
import socket
import statistics
import struct
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


CHANNEL_INPUTS, CHANNEL_CURSOR = 3, 4
MSGC_INPUTS_MOUSE_MOTION, MSG_CURSOR_MOVE = 111, 104


def read_message(sock, buffer):
    """One mini-header message (type, body) from `sock`, keeping leftovers in `buffer`."""
    while True:
        if len(buffer) >= 6:
            mtype, size = struct.unpack_from("<HI", buffer, 0)
            if len(buffer) >= 6 + size:
                body = bytes(buffer[6:6 + size])
                del buffer[:6 + size]
                return mtype, body
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the channel")
        buffer.extend(chunk)


def input_echo(server_binary, shards, echoes):
    """Round trips MOUSE_MOTION -> CURSOR_MOVE in microseconds (shards None: a build that has
    no --shards option, e.g. a baseline from before the shards)."""
    args = ["--disable-ticketing", "--mouse-mode", "server", "--demo-freeze", "0"]
    if shards is not None:
        args += ["--shards", str(shards)]
    times = []
    with h.ServerProcess(server_binary, args, name="echo-%s" % shards) as server:
        main = h.RawMainSession(server.port)
        inputs = h.raw_link_channel(server.port, main.session_id, CHANNEL_INPUTS)
        cursor = h.raw_link_channel(server.port, main.session_id, CHANNEL_CURSOR)
        for sock in (inputs, cursor):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = bytearray()
        time.sleep(0.5)  # past the channels' greetings
        cursor.setblocking(False)
        try:
            while cursor.recv(65536):
                pass
        except BlockingIOError:
            pass
        cursor.setblocking(True)
        cursor.settimeout(5.0)
        for i in range(echoes + 100):
            dx = 1 if i % 2 == 0 else -1
            message = struct.pack("<HIiiH", MSGC_INPUTS_MOUSE_MOTION, 10, dx, 0, 0)
            start = time.perf_counter_ns()
            inputs.sendall(message)
            while read_message(cursor, pending)[0] != MSG_CURSOR_MOVE:
                pass
            if i >= 100:  # warm-up
                times.append((time.perf_counter_ns() - start) / 1000.0)
        for sock in (inputs, cursor):
            sock.close()
        main.close()
        server.stop()
    return times


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--only", choices=["echo"], help="run only this measurement")
    parser.add_argument("--baseline-server",
                        help="also time the echo with this build (no --shards given to it)")
    args = parser.parse_args()
    # The servers run from temporary directories: relative paths must not depend on that.
    args.server = os.path.abspath(args.server)
    if args.baseline_server:
        args.baseline_server = os.path.abspath(args.baseline_server)

    echo = {shards: input_echo(args.server, shards, args.echoes) for shards in (1, 4)}
    if args.baseline_server:
        echo["baseline"] = input_echo(args.baseline_server, None, args.echoes)
    print("input-to-cursor echo (MOUSE_MOTION -> CURSOR_MOVE), %d round trips each:" % args.echoes)
    for shards, times in echo.items():
        label = "baseline build" if shards == "baseline" else "--shards %d" % shards
        print("  %-15s p50 %7.1f us   p99 %7.1f us" % (label, percentile(times, 0.5),
                                                     percentile(times, 0.99)))
    for other in [k for k in echo if k != 1]:
        print("  ratio (%s / 1 shard): p50 %.2f, p99 %.2f"
              % (other, percentile(echo[other], 0.5) / percentile(echo[1], 0.5),
                 percentile(echo[other], 0.99) / percentile(echo[1], 0.99)))
    if args.only == "echo":
        return

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
