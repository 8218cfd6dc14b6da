#!/usr/bin/python3
"""Real screen content through a real client, pixel for pixel, for each lossless codec.

gl_scanout_host (built beside this test, linked against our drop-in libspice-server.so.1)
shows a sample of the screen corpus (tests/corpus/screens: two text screens, a photo, a CAD
wireframe, a decoded video frame) as full-screen GL scanouts, with
spice_server_set_image_compression set to quic, lz, glz or lz4 (QEMU's image-compression=)
and video streams and lossy codecs off. A SpiceClientGLib client (spice-gtk) on the library's
remote TCP port must show each picture exactly, and the display channel's closing log line
must say the pictures went with that codec.

Exit code 77 only when SpiceClientGLib (python3-gi, gir1.2-spiceclientglib-2.0) is missing;
a missing corpus image, a client that does not connect or a different pixel fail.
"""

import os
import re
import sys
import tempfile

SKIP = 77

try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import spiced_harness as H  # noqa: E402
    import test_gl_scanout as G  # noqa: E402
except (ImportError, ValueError) as e:  # gi or SpiceClientGLib missing
    print("SKIP: SpiceClientGLib is not available (%s)" % e)
    sys.exit(SKIP)

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "corpus", "screens")
SAMPLE = ["text/xterm_man_ls.png", "text/office_writer_report.png",
          "natural/plasma_autumn.png", "cad/gnuplot_torus_wireframe.png",
          "video/x264_mandelbrot.png"]
PASSWORD = "corpus-s3cret"


def show_corpus(args, codec):
    files = [os.path.join(CORPUS, name) for name in SAMPLE]
    missing = [f for f in files if not os.path.exists(f)]
    H.check(not missing, "corpus images missing (scripts/make-screen-corpus.sh): %s" % missing)
    with tempfile.TemporaryDirectory(prefix="spiced-corpus-%s-" % codec) as d:
        port = H.free_port()
        extra = ["--image-compression", codec]
        for f in files:
            extra += ["--show", f]
        host = G.Host(args.host, d, {"SPICED_REMOTE_PORT": str(port),
                                     "SPICED_REMOTE_ADDR": "127.0.0.1"},
                      password=PASSWORD, extra_args=extra)
        try:
            H.check(host.read_line() == "READY", "host not ready: %s" % host.lines)
            line = host.read_line()
            client = H.SpiceClient(port=port, password=PASSWORD, name="corpus-" + codec)
            client.connect()
            client.wait_primary(20.0)
            shown = 0
            while line.startswith("STEP "):
                name, _, seen_after = G.expect_step(client, line, timeout=30.0)
                shown += 1
                print("  %s: %-32s exact on the client after %4.0f ms"
                      % (codec, name, seen_after * 1000), flush=True)
                host.send("next")
                line = host.read_line()
            H.check(shown == len(files), "%d of %d pictures shown" % (shown, len(files)))
            H.check(line.startswith("COOKIES "), "unexpected: %s" % line)
            H.check(host.read_line().startswith("DONE "), "no DONE line")
            client.disconnect()
            # The display channel's closing line counts images per codec.
            sent = None
            for _ in range(100):
                sent = re.search(r"sent (\d+) images \((\d+) B; ([^)]*)\)", host.log())
                if sent:
                    break
                H.pump(0.05)
            H.check(sent, "no display closing line in the log:\n" + host.log()[-3000:])
            counts = dict(item.split("=") for item in sent.group(3).split())
            print("  %s: %s images, %s bytes: %s" % (codec, sent.group(1), sent.group(2),
                                                      sent.group(3)), flush=True)
            # GLZ needs the client's dictionary window, which its DISPLAY_INIT brings; a picture
            # sent before that goes as LZ (encode/image_policy.cpp), at most the first one.
            allowed = {codec, "lz"} if codec == "glz" else {codec}
            want = len(files) - 1 if codec == "glz" else len(files)
            H.check(int(counts.get(codec, 0)) >= want, "%d pictures, %s: %s"
                    % (len(files), codec, counts))
            H.check(set(counts) <= allowed, "other codecs than %s used: %s" % (codec, counts))
            rc = host.finish()
            H.check(rc == 0, "host exit code %s; log:\n%s" % (rc, host.log()[-3000:]))
        finally:
            host.kill()


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True, help="gl_scanout_host of this build")
    ap.add_argument("-k", dest="filter", default=None)
    ap.add_argument("--watchdog", type=float, default=280.0)
    args = ap.parse_args()
    cases = [(codec, lambda a, c=codec: show_corpus(a, c)) for codec in ("quic", "lz", "glz",
                                                                        "lz4")]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
