#!/usr/bin/env python3
"""Command-line contract of spiced-codec (other tooling scripts against it).

Usage: spiced_codec_test.py PATH/TO/spiced-codec

Writes PNG files (every colour type libpng can hand us: RGB, RGBA, grey, grey+alpha, palette,
16-bit) and PPM files with python's own zlib+struct, then checks the JSON fields for lz4 and
jpeg (and quic/lz/glz when this build has them), that every input kind loads to the same
pixels, and the error cases: one line on stderr and the documented exit status.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

TOOL = None
FIELDS = ["file", "codec", "width", "height", "compressed_bytes", "encode_mbps",
          "decode_mbps", "roundtrip_ok"]
W, H = 67, 41  # odd on purpose


def write_png(path, width, height, color_type, depth, rows, palette=None, trns=None):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette is not None:
        data += chunk(b"PLTE", palette)
    if trns is not None:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def colour(x, y):
    # Eight colours in blocks: a palette PNG can hold the same picture exactly.
    i = (x // 5 + y // 3) % 8
    return ((i * 37) % 256, (i * 91) % 256, (255 - i * 29) % 256)


def picture_rows():
    return [[colour(x, y) for x in range(W)] for y in range(H)]


def write_ppm(path, rows):
    with open(path, "wb") as f:
        f.write(b"P6\n# comment\n%d %d\n255\n" % (len(rows[0]), len(rows)))
        for row in rows:
            f.write(bytes(v for px in row for v in px))


class SpicedCodecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="spiced_codec_test.")
        d = cls.tmp.name
        rows = picture_rows()
        cls.files = {}

        def path(name):
            cls.files[name] = os.path.join(d, name)
            return cls.files[name]

        write_ppm(path("pic.ppm"), rows)
        write_png(path("rgb.png"), W, H, 2, 8, [bytes(v for px in r for v in px) for r in rows])
        write_png(path("rgba.png"), W, H, 6, 8,
                  [bytes(v for px in r for v in px + (255,)) for r in rows])
        write_png(path("rgb16.png"), W, H, 2, 16,
                  [b"".join(struct.pack(">HHH", *(v * 257 for v in px)) for px in r)
                   for r in rows])
        palette = sorted({px for r in rows for px in r})
        index = {px: i for i, px in enumerate(palette)}
        write_png(path("palette.png"), W, H, 3, 8, [bytes(index[px] for px in r) for r in rows],
                  palette=b"".join(bytes(px) for px in palette))
        # Grey: the same picture as grey PNG (8 and 16 bit, with alpha) and as RGB PPM.
        grey = [[(x * 3 + y * 5) % 256 for x in range(W)] for y in range(H)]
        write_ppm(path("grey.ppm"), [[(g, g, g) for g in r] for r in grey])
        write_png(path("grey.png"), W, H, 0, 8, [bytes(r) for r in grey])
        write_png(path("grey16.png"), W, H, 0, 16,
                  [b"".join(struct.pack(">H", g * 257) for g in r) for r in grey])
        write_png(path("greyalpha.png"), W, H, 4, 8, [bytes(v for g in r for v in (g, 255))
                                                      for r in grey])
        # The same picture half transparent: alpha is dropped, the colours stay.
        write_png(path("translucent.png"), W, H, 6, 8,
                  [bytes(v for px in r for v in px + (128,)) for r in rows])
        write_png(path("one.png"), 1, 1, 2, 8, [b"\x10\x20\x30"])

        # Malformed inputs.
        with open(path("garbage.png"), "wb") as f:
            f.write(b"this is not an image at all")
        with open(cls.files["rgb.png"], "rb") as f:
            good = f.read()
        with open(path("truncated.png"), "wb") as f:
            f.write(good[: len(good) // 2])
        bad_crc = bytearray(good)
        bad_crc[20] ^= 0xFF  # inside IHDR
        with open(path("badcrc.png"), "wb") as f:
            f.write(bytes(bad_crc))
        with open(path("huge.png"), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" +
                    struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0) + b"\0\0\0\0")
        with open(path("short.ppm"), "wb") as f:
            f.write(b"P6\n10 10\n255\n" + b"\x00" * 50)
        with open(path("empty.ppm"), "wb") as f:
            pass

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_tool(self, *args):
        proc = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr

    def run_json(self, codec, *names):
        code, out, err = self.run_tool("--codec", codec, "--json",
                                       *[self.files[n] for n in names])
        lines = [json.loads(line) for line in out.splitlines()]
        return code, lines, err

    def available(self, codec):
        code, _, err = self.run_tool("--codec", codec, "--json", self.files["one.png"])
        if code == 1 and "is not available in this build" in err:
            self.assertEqual(err, "spiced-codec: codec %s is not available in this build\n"
                             % codec)
            return False
        return True

    def check_record(self, record, codec, name, width=W, height=H):
        self.assertEqual(list(record.keys()), FIELDS)
        self.assertEqual(record["file"], self.files[name])
        self.assertEqual(record["codec"], codec)
        self.assertEqual((record["width"], record["height"]), (width, height))
        self.assertIsInstance(record["compressed_bytes"], int)
        self.assertGreater(record["compressed_bytes"], 0)
        self.assertGreater(record["encode_mbps"], 0)
        self.assertIsInstance(record["decode_mbps"], (int, float), record)
        self.assertGreater(record["decode_mbps"], 0)
        self.assertIs(record["roundtrip_ok"], True, record)

    def check_codec(self, codec):
        names = ["pic.ppm", "rgb.png", "one.png"]
        code, records, err = self.run_json(codec, *names)
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        self.assertEqual(len(records), 3)
        self.check_record(records[0], codec, "pic.ppm")
        self.check_record(records[1], codec, "rgb.png")
        self.check_record(records[2], codec, "one.png", 1, 1)

    def test_lz4(self):
        self.check_codec("lz4")

    def test_jpeg(self):
        self.check_codec("jpeg")
        # Lossy but far smaller than 3 bytes per pixel on this blocky picture... and on a
        # 1x1 picture a JPEG header dominates: only sanity bounds here.
        _, records, _ = self.run_json("jpeg", "pic.ppm")
        self.assertLess(records[0]["compressed_bytes"], 3 * W * H)

    def test_quic_lz_glz_when_available(self):
        for codec in ["quic", "lz", "glz"]:
            with self.subTest(codec=codec):
                if self.available(codec):
                    self.check_codec(codec)

    def test_every_input_kind_loads_the_same_pixels(self):
        # LZ4 and JPEG are deterministic: equal pixels give equal compressed sizes, and
        # different pixels (almost surely) different ones. Alpha is dropped, not composited,
        # so the translucent picture is the opaque one. The exit status is test_lz4's
        # business (the round trip); here only the loading matters.
        for group in [["pic.ppm", "rgb.png", "rgba.png", "rgb16.png", "palette.png",
                       "translucent.png"],
                      ["grey.ppm", "grey.png", "grey16.png", "greyalpha.png"]]:
            for codec in ["lz4", "jpeg"]:
                _, records, err = self.run_json(codec, *group)
                self.assertEqual(len(records), len(group), err)
                sizes = {os.path.basename(r["file"]): r["compressed_bytes"] for r in records}
                self.assertEqual(len(set(sizes.values())), 1, (codec, sizes))
        _, records, err = self.run_json("lz4", "pic.ppm", "grey.ppm")
        self.assertNotEqual(records[0]["compressed_bytes"], records[1]["compressed_bytes"])

    def test_runs(self):
        # --runs N: exactly N runs, the same fields and results (tests/corpus uses --runs 1).
        for runs in (["--runs", "1"], ["--runs=3"]):
            code, out, err = self.run_tool("--codec", "lz4", "--json", *runs,
                                           self.files["pic.ppm"])
            self.assertEqual(code, 0, err)
            records = [json.loads(line) for line in out.splitlines()]
            self.assertEqual(len(records), 1)
            self.check_record(records[0], "lz4", "pic.ppm")
        png = self.files["one.png"]
        for bad in ("0", "-2", "x", "", "1.5"):
            with self.subTest(runs=bad):
                self.assert_one_line_error(
                    *self.run_tool("--codec", "lz4", "--runs", bad, png)[::2], 2, "--runs")
        self.assert_one_line_error(*self.run_tool("--codec", "lz4", png, "--runs")[::2], 2,
                                   "--runs needs a number")

    def test_table_output(self):
        code, out, err = self.run_tool("--codec", "jpeg", self.files["pic.ppm"])
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn("encode MB/s", lines[0])
        self.assertIn("%dx%d" % (W, H), lines[1])
        self.assertTrue(lines[1].rstrip().endswith("ok"))

    def test_help(self):
        code, out, err = self.run_tool("--help")
        self.assertEqual(code, 0)
        self.assertIn("Usage: spiced-codec --codec quic|lz|glz|lz4|jpeg [--json] FILE...", out)
        for field in FIELDS:
            self.assertIn(field, out)
        self.assertIn("--runs N", out)

    def assert_one_line_error(self, code, err, want_code, *words):
        self.assertEqual(code, want_code, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("spiced-codec: "), err)
        for word in words:
            self.assertIn(word, err)

    def test_command_line_errors(self):
        png = self.files["one.png"]
        self.assert_one_line_error(*self.run_tool("--codec", "png", png)[::2], 2,
                                   "unknown codec 'png'")
        self.assert_one_line_error(*self.run_tool("--codec")[::2], 2, "--codec")
        self.assert_one_line_error(*self.run_tool(png)[::2], 2, "--codec is required")
        self.assert_one_line_error(*self.run_tool("--codec", "lz4")[::2], 2, "no input files")
        self.assert_one_line_error(*self.run_tool("--codec", "lz4", "--fast", png)[::2], 2,
                                   "unknown option '--fast'")

    def test_bad_files(self):
        cases = {
            "missing.png": "cannot open",
            "garbage.png": "not a PNG or binary PPM",
            "truncated.png": "bad PNG",
            "badcrc.png": "bad PNG",
            "huge.png": "",
            "short.ppm": "",
            "empty.ppm": "not a PNG or binary PPM",
        }
        for name, words in cases.items():
            with self.subTest(name=name):
                path = self.files.get(name, os.path.join(self.tmp.name, name))
                code, out, err = self.run_tool("--codec", "lz4", "--json", path)
                self.assert_one_line_error(code, err, 1, path, words)
                self.assertEqual(out, "")

    def test_bad_file_among_good_ones(self):
        code, out, err = self.run_tool("--codec", "jpeg", "--json", self.files["pic.ppm"],
                                       self.files["garbage.png"], self.files["rgb.png"])
        self.assertEqual(code, 1)
        self.assertEqual(len(out.splitlines()), 2)  # both good files still measured
        self.assertEqual(len(err.splitlines()), 1)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: spiced_codec_test.py PATH/TO/spiced-codec")
    TOOL = sys.argv.pop(1)
    unittest.main(verbosity=2)
