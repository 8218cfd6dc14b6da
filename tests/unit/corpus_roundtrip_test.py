#!/usr/bin/python3
"""Round trip of one lossless codec over every image of the screen corpus
(tests/corpus/screens/<kind>/*.png, made by scripts/make-screen-corpus.sh): spiced-codec
encodes each picture with our encoder and decodes it with our own decoder
(make_image_decoder, encode/dispatch.cpp), and every pixel's RGB must come back.

For lz4 that decoder is liblz4's: encode/dispatch.cpp's decode_lz4 feeds every block of the
SPICE LZ4 body to LZ4_decompress_safe_continue (one linked stream, the bounds-checked decoder
spice-gtk uses too), so each block our encoder wrote over the corpus is checked by liblz4
itself; a block it refuses fails the round trip ("lz4: corrupt block").

Usage: corpus_roundtrip_test.py PATH/TO/spiced-codec CODEC CORPUS_DIR
Fails on any roundtrip_ok false, on a corpus image without a record, on a kind without
images, and on an image SOURCES.md does not describe. `--runs 1`: the figures are not the
point here (docs/benchmarks.md has them), the round trip is.
"""
import glob
import json
import os
import subprocess
import sys
import time

KINDS = ("text", "natural", "cad", "video")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: corpus_roundtrip_test.py PATH/TO/spiced-codec CODEC CORPUS_DIR")
    tool, codec, corpus = sys.argv[1:]
    problems = []
    files = []
    for kind in KINDS:
        found = sorted(glob.glob(os.path.join(corpus, kind, "*.png")))
        if not found:
            problems.append("no images of kind %s in %s" % (kind, corpus))
        files += found
    with open(os.path.join(corpus, "SOURCES.md")) as f:
        sources = f.read()
    for path in files:
        rel = os.path.relpath(path, corpus)
        if "**%s**" % rel not in sources:
            problems.append("%s is not described in SOURCES.md" % rel)
    t0 = time.monotonic()
    proc = subprocess.run([tool, "--codec", codec, "--json", "--runs", "1", *files],
                          capture_output=True, text=True, timeout=600)
    records = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        records[record["file"]] = record
    for path in files:
        record = records.get(path)
        if record is None:
            problems.append("%s: no result" % path)
            continue
        if record["roundtrip_ok"] is not True or record["codec"] != codec:
            problems.append("%s: round trip failed: %s" % (path, record))
            continue
        print("%-8s %-45s %5dx%-5d ratio %6.2f" % (
            codec, os.path.relpath(path, corpus), record["width"], record["height"],
            3.0 * record["width"] * record["height"] / record["compressed_bytes"]))
    if proc.returncode != 0:
        problems.append("spiced-codec exit %d: %s" % (proc.returncode, proc.stderr.strip()))
    print("%s: %d images in %.1f s" % (codec, len(files), time.monotonic() - t0))
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
