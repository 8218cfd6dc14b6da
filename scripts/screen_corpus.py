#!/usr/bin/python3
"""Takes the screen corpus's pictures (run by scripts/make-screen-corpus.sh, which installs
the packages and starts Xvfb; see there).

Each scene runs real programs on the X display (or renders with a program directly), takes
one picture, closes what it started and writes tests/corpus/screens/<kind>/<name>.png at
maximum compression without metadata (no dates: the same scene gives the same file). Then
SOURCES.md is written from the scenes' own descriptions and the installed package versions.

Usage: screen_corpus.py --display :N --work DIR [--only NAME_PART] [--out DIR]
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("text", "natural", "cad", "video")
MONO = "DejaVu Sans Mono"
# Xft anti-aliasing as a desktop sets it (subpixel RGB, slight hinting) at 96 dpi.
XRESOURCES = """Xft.antialias: 1
Xft.rgba: rgb
Xft.hinting: 1
Xft.hintstyle: hintslight
Xft.lcdfilter: lcddefault
Xft.dpi: 96
XTerm*cursorBlink: false
XTerm*scrollBar: false
XTerm*background: #fdf6e3
XTerm*foreground: #202020
"""


class Scene:
    """One picture: kind/name.png, what made it (packages, command) and the content's
    licence, and a function that makes it (returns a PIL image)."""

    def __init__(self, kind, name, packages, command, licence, make):
        assert kind in KINDS
        self.kind, self.name, self.packages = kind, name, packages
        self.command, self.licence, self.make = command, licence, make


class Desk:
    """The X display: programs started on it, pictures taken of it."""

    def __init__(self, display, work):
        self.display, self.work = display, work
        self.home = os.path.join(work, "home")
        os.makedirs(self.home, exist_ok=True)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": self.home,
            "DISPLAY": display,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "XDG_DATA_HOME": os.path.join(self.home, ".local/share"),
            "XDG_CACHE_HOME": os.path.join(self.home, ".cache"),
            "XDG_RUNTIME_DIR": os.path.join(work, "runtime"),
            "GSETTINGS_BACKEND": "memory",
            "NO_AT_BRIDGE": "1",
            "GTK_THEME": "Adwaita",
        }
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
        self.procs = []
        self.wm = None

    def run(self, argv, **kw):
        env = dict(self.env, **kw.pop("env", {}))
        return subprocess.run(argv, env=env, check=True, **kw)

    def start(self, argv, env=None, cwd=None):
        p = subprocess.Popen(argv, env=dict(self.env, **(env or {})), cwd=cwd or self.work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        time.sleep(0.3)

    def setup(self):
        with open(os.path.join(self.work, "Xresources"), "w") as f:
            f.write(XRESOURCES)
        self.run(["xrdb", "-load", os.path.join(self.work, "Xresources")])
        self.wm = subprocess.Popen(["openbox", "--sm-disable"], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        time.sleep(1.0)

    def close(self):
        self.stop_all()
        if self.wm and self.wm.poll() is None:
            os.killpg(self.wm.pid, signal.SIGTERM)
            self.wm.wait(10)

    def background(self, colour="#2e4a62"):
        self.run(["xsetroot", "-solid", colour])

    def window(self, title, timeout=60.0):
        """The id of the visible window whose title is `title`, or a path ending in it
        (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^(.*/)?%s$" % re.escape(title)],
                               env=self.env, capture_output=True, text=True)
            ids = r.stdout.split()
            if ids:
                return ids[-1]
            time.sleep(0.2)
        raise RuntimeError("window %r did not appear" % title)

    def place(self, wid, x, y, w, h):
        self.run(["xdotool", "windowsize", wid, str(w), str(h)])
        self.run(["xdotool", "windowmove", wid, str(x), str(y)])

    def shot(self, wid="root", settle=1.5):
        """The screen (or one window's contents) as an RGB picture."""
        time.sleep(settle)
        self.run(["xdotool", "mousemove", "1919", "1079"])  # the pointer out of the way
        path = os.path.join(self.work, "shot.png")
        self.run(["import", "-window", wid, "-depth", "8", "png24:" + path])
        return Image.open(path).convert("RGB")

    def xterm(self, title, command, geometry, font=MONO, size=11, extra=()):
        """An xterm with an Xft font running `command` (a shell line) and staying open."""
        argv = ["xterm", "-T", title, "-n", title, "-geometry", geometry, "-tn", "xterm-256color"]
        if font:
            argv += ["-fa", font, "-fs", str(size)]
        argv += list(extra)
        argv += ["-e", "sh", "-c", command + "; exec sleep 100000"]
        self.start(argv)
        return self.window(title)


# -- content files the scenes show (written by us, fixed) --------------------------------------

BROKEN_CPP = """#include <cstdint>
#include <span>
#include <vector>

// A small pixel buffer with a few mistakes, compiled to show real compiler output.
struct Tile {
    int32_t x, y, width, height;
    std::vector<uint32_t> pixels;
};

uint32_t average(std::span<const uint32_t> pixels) {
    uint64_t sum = 0;
    for (auto p : pixels) sum += p & 0xff;
    return sum / pixels.size()
}

void fill(Tile& tile, uint32_t colour) {
    for (int i = 0; i < tile.pixels.size(); ++i) tile.pixels[i] = colour;
    tile.pixel.clear();
    return colour;
}

int main() {
    Tile tile{0, 0, 64, 64};
    fill(tile, "white");
    unsigned long long unused = average(tile.pixels);
}
"""

RTF_DOCUMENT = r"""{\rtf1\ansi\deff0
{\fonttbl{\f0\froman DejaVu Serif;}{\f1\fswiss DejaVu Sans;}{\f2\fmodern DejaVu Sans Mono;}}
{\colortbl;\red31\green78\blue121;\red90\green90\blue90;}
\paperw11906\paperh16838\margl1440\margr1440\margt1200\margb1200
\pard\sa240\f1\fs44\cf1\b Quarterly report: remote desktop pool\b0\cf0\par
\pard\sa200\f1\fs24\cf2 Infrastructure team \endash  internal\cf0\par
\pard\sa160\f0\fs22 This report summarises how the remote desktop pool was used during the
quarter, which sessions were slow, and what we changed. The pool serves engineering
workstations and office desktops from one cluster; every desktop is reached with a SPICE
client over the campus network or a VPN.\par
\pard\sa160\f0\fs22 Most sessions are office work: mail, documents, spreadsheets and web
applications. About a fifth are engineering sessions with CAD models and simulation output,
which move far more pixels and are the ones users complain about when the network is busy.\par
\pard\sa200\f1\fs30\cf1\b 1. Sessions and bandwidth\b0\cf0\par
\trowd\trgaph108\trleft0\clbrdrb\brdrs\brdrw15\cellx2600\clbrdrb\brdrs\brdrw15\cellx4600\clbrdrb\brdrs\brdrw15\cellx6600\clbrdrb\brdrs\brdrw15\cellx8800
\pard\intbl\f1\fs20\b Desktop type\cell Sessions\cell Median Mbit/s\cell 95th pct Mbit/s\b0\cell\row
\trowd\trgaph108\trleft0\cellx2600\cellx4600\cellx6600\cellx8800
\pard\intbl\f1\fs20 Office\cell 18 240\cell 0.9\cell 4.1\cell\row
\trowd\trgaph108\trleft0\cellx2600\cellx4600\cellx6600\cellx8800
\pard\intbl\f1\fs20 Engineering (CAD)\cell 4 410\cell 6.3\cell 38.0\cell\row
\trowd\trgaph108\trleft0\cellx2600\cellx4600\cellx6600\cellx8800
\pard\intbl\f1\fs20 Video conferencing\cell 2 930\cell 3.8\cell 9.7\cell\row
\trowd\trgaph108\trleft0\cellx2600\cellx4600\cellx6600\cellx8800
\pard\intbl\f1\fs20 Kiosk\cell 1 120\cell 0.2\cell 0.6\cell\row
\pard\sa160\par
\pard\sa160\f0\fs22 Lossless compression of text and user interface content keeps office
sessions under one megabit per second for most of the day. Engineering sessions send rotating
wireframes and shaded views; these are sent as video streams when they animate and repainted
losslessly when they stop, so that thin lines stay sharp.\par
\pard\sa200\f1\fs30\cf1\b 2. Changes this quarter\b0\cf0\par
\pard\fi-360\li720\sa120\f0\fs22\bullet\tab The image cache was enlarged for desktops with two or more monitors.\par
\pard\fi-360\li720\sa120\f0\fs22\bullet\tab Idle sessions are disconnected after eight hours instead of four.\par
\pard\fi-360\li720\sa120\f0\fs22\bullet\tab The VPN concentrator was replaced; round trips fell from 42 ms to 17 ms.\par
\pard\fi-360\li720\sa120\f0\fs22\bullet\tab Clients older than two releases are asked to update at login.\par
\pard\sa200\f1\fs30\cf1\b 3. Next steps\b0\cf0\par
\pard\sa160\f0\fs22 We will measure compression ratios on real screen content from each
department, compare the lossless codecs on it, and choose per desktop type which codec is
offered first. The measurements and the screenshots they are based on will be kept with the
configuration so that they can be repeated after each upgrade.\par
}
"""


def spreadsheet_csv():
    rng = random.Random(20240611)
    regions = ["North", "South", "East", "West", "Central", "Harbour", "Airport", "Campus"]
    products = ["Thin client", "Workstation", "Laptop", "Monitor 27in", "Dock", "Headset"]
    lines = ["Region,Product,Q1 units,Q2 units,Q3 units,Q4 units,Unit price,Revenue,Growth %"]
    for region in regions:
        for product in products:
            q = [rng.randint(20, 900) for _ in range(4)]
            price = rng.choice([189.0, 249.5, 1299.0, 899.0, 329.99, 79.9])
            revenue = sum(q) * price
            growth = (q[3] - q[0]) / q[0] * 100
            lines.append("%s,%s,%d,%d,%d,%d,%.2f,%.2f,%.1f" % (region, product, *q, price,
                                                                revenue, growth))
    return "\n".join(lines) + "\n"


def file_manager_tree(home):
    """A home directory with fixed names, kinds and dates for the file manager scenes."""
    docs = os.path.join(home, "Documents")
    folders = ["Invoices", "Meeting notes", "Photos 2023", "Projects", "Templates", "Scans"]
    files = {
        "budget-2024.ods": b"PK\x03\x04", "cluster-layout.pdf": b"%PDF-1.4\n",
        "README.txt": b"Shared documents of the infrastructure team.\n",
        "deploy.sh": b"#!/bin/sh\necho deploy\n", "logo.svg": b"<svg xmlns='x'/>\n",
        "notes.md": b"# Notes\n", "quarterly-report.odt": b"PK\x03\x04",
        "rack-photo.jpg": b"\xff\xd8\xff\xe0", "screenshot.png": b"\x89PNG\r\n\x1a\n",
        "backup-2024-03.tar.gz": b"\x1f\x8b\x08", "presentation.odp": b"PK\x03\x04",
        "contacts.csv": b"name,mail\n", "index.html": b"<html></html>\n",
        "config.yaml": b"pool: office\n", "archive.zip": b"PK\x05\x06",
        "song.ogg": b"OggS", "manual.epub": b"PK\x03\x04", "video.mp4": b"\0\0\0\x18ftyp",
    }
    os.makedirs(docs, exist_ok=True)
    for d in folders:
        os.makedirs(os.path.join(docs, d), exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(docs, name), "wb") as f:
            f.write(data * 37)
    stamp = time.mktime((2024, 3, 14, 9, 26, 53, 0, 0, 0))
    for entry in folders + list(files):
        os.utime(os.path.join(docs, entry), (stamp, stamp))
    return docs


def write_pcmanfm_config(home, view_mode):
    conf = os.path.join(home, ".config/pcmanfm/default")
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "pcmanfm.conf"), "w") as f:
        f.write("[config]\nbm_open_method=0\n\n[volume]\nmount_on_startup=0\n"
                "mount_removable=0\nautorun=0\n\n[ui]\nalways_show_tabs=0\n"
                "max_tab_chars=32\nwin_width=1280\nwin_height=800\nsplitter_pos=180\n"
                "media_in_new_tab=0\ndesktop_folder_new_win=0\nchange_tab_on_drop=1\n"
                "close_on_unmount=1\nfocus_previous=0\nside_pane_mode=places\n"
                "view_mode=%s\nshow_hidden=0\nsort=name;ascending;\ntoolbar=navigation;\n"
                "show_statusbar=0\npathbar_mode_buttons=0\n" % view_mode)
    libfm = os.path.join(home, ".config/libfm")
    os.makedirs(libfm, exist_ok=True)
    with open(os.path.join(libfm, "libfm.conf"), "w") as f:
        f.write("[config]\nsingle_click=0\nshow_thumbnail=0\nthumbnail_local=0\n"
                "si_unit=0\nadvanced_mode=0\n\n[ui]\nbig_icon_size=48\nsmall_icon_size=16\n"
                "pane_icon_size=16\nthumbnail_size=128\nshow_hidden=0\n")


# -- scenes ------------------------------------------------------------------------------------

def scenes(desk, args):
    work = desk.work
    src = os.path.join(work, "src")
    os.makedirs(src, exist_ok=True)
    out = []

    def add(kind, name, packages, command, licence):
        def wrap(fn):
            out.append(Scene(kind, name, packages, command, licence, fn))
            return fn
        return wrap

    def root_wallpaper(png):
        """A wallpaper and nothing else on the desktop (pcmanfm --desktop, an empty one)."""
        home = os.path.join(work, "wall-home")
        conf = os.path.join(home, ".config/pcmanfm/default")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(os.path.join(home, "Desktop"), exist_ok=True)
        with open(os.path.join(conf, "desktop-items-0.conf"), "w") as f:
            f.write("[*]\nwallpaper_mode=crop\nwallpaper_common=1\nwallpaper=%s\n"
                    "desktop_bg=#000000\nshow_wm_menu=0\nshow_documents=0\nshow_trash=0\n"
                    "show_mounts=0\n" % png)
        desk.start(["pcmanfm", "--desktop", "--profile", "default"],
                   env={"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                        "XDG_CURRENT_DESKTOP": "LXDE"})
        time.sleep(3.0)

    # ---- text: terminals -------------------------------------------------------------------
    @add("text", "xterm_man_ls", ["xterm", "man-db", "coreutils", "openbox", "fonts-dejavu-core"],
         "xterm -fa 'DejaVu Sans Mono' -fs 11 (Xft.antialias:1, Xft.rgba:rgb) running `man ls`, "
         "a 150x50-character window on a 1920x1080 openbox desktop",
         "ls(1) text: GPL-3+ (coreutils); DejaVu fonts: Bitstream Vera licence (free)")
    def _():
        desk.background()
        desk.xterm("ls(1)", "man ls", "150x50+200+60")
        return desk.shot()

    @add("text", "xterm_man_bash_grey", ["xterm", "man-db", "bash", "fonts-dejavu-core"],
         "xterm -fa 'DejaVu Sans Mono' -fs 10 with grey-scale anti-aliasing (Xft.rgba:none), "
         "`man bash` from line 1200; the window alone, 1280x800",
         "bash(1) text: GPL-3+ (bash); DejaVu fonts: Bitstream Vera licence")
    def _():
        desk.run(["xrdb", "-merge"], input=b"Xft.rgba: none\n")
        try:
            wid = desk.xterm("bash(1)", "man -P 'less +1200g' bash", "150x48+0+0",
                             size=10)
            desk.place(wid, 0, 0, 1280, 800)
            return desk.shot(wid)
        finally:
            desk.run(["xrdb", "-merge"], input=b"Xft.rgba: rgb\n")

    @add("text", "xterm_man_xterm_bitmap", ["xterm", "xfonts-base"],
         "xterm with the core bitmap font `fixed` (no anti-aliasing), `man xterm`; the window "
         "alone, 1024x768",
         "xterm(1) text: MIT/X11 (xterm); misc-fixed font: public domain (xfonts-base)")
    def _():
        wid = desk.xterm("xterm(1)", "man xterm", "120x50+0+0", font=None,
                         extra=["-fn", "fixed"])
        desk.place(wid, 0, 0, 1024, 768)
        return desk.shot(wid)

    @add("text", "xterm_gcc_errors", ["xterm", "g++-12", "fonts-dejavu-core"],
         "xterm -fa 'DejaVu Sans Mono' -fs 11 running `g++ -std=c++20 -Wall -Wextra "
         "-fdiagnostics-color=always -c tile.cpp` on a small file with mistakes written by "
         "the script; full screen 1920x1080",
         "tile.cpp: written for this corpus (the project's licence); GCC's messages")
    def _():
        with open(os.path.join(src, "tile.cpp"), "w") as f:
            f.write(BROKEN_CPP)
        desk.background("#3b3b3b")
        cmd = ("cd %s && printf '$ g++ -std=c++20 -Wall -Wextra -c tile.cpp\\n' && "
               "g++ -std=c++20 -Wall -Wextra -fdiagnostics-color=always -c tile.cpp" % src)
        wid = desk.xterm("g++ tile.cpp", cmd, "200x60+0+0")
        desk.place(wid, 0, 0, 1920, 1080)
        return desk.shot()

    @add("text", "xterm_vim_lz4h", ["xterm", "vim", "liblz4-dev", "fonts-dejavu-core"],
         "xterm -fa 'DejaVu Sans Mono' -fs 11, 256 colours, `vim` with syntax highlighting "
         "and line numbers on /usr/include/lz4.h at line 120; full screen",
         "lz4.h: BSD-2-Clause (liblz4-dev); vim's colours")
    def _():
        desk.background("#1e1e1e")
        cmd = ("vim -u NONE -i NONE -n -N -c 'syntax on' -c 'set number' "
               "-c 'colorscheme desert' -c 'set laststatus=2' -R +120 /usr/include/lz4.h")
        wid = desk.xterm("vim lz4.h", cmd, "200x60+0+0",
                         extra=["-bg", "#262626", "-fg", "#e0e0e0"])
        desk.place(wid, 0, 0, 1920, 1080)
        return desk.shot()

    @add("text", "xterm_tiled", ["xterm", "man-db", "coreutils", "dpkg", "fonts-dejavu-core"],
         "four xterms (-fa 'DejaVu Sans Mono' -fs 9) tiled on a 1920x1080 screen: `man cp`, "
         "`dpkg -L coreutils`, `ls -l --color` of a fixed folder, `man tar`",
         "man pages: GPL-3+ (coreutils, tar); file lists: facts; DejaVu fonts")
    def _():
        docs = file_manager_tree(desk.home)
        desk.background("#203040")
        commands = ["man cp", "dpkg -L coreutils | head -200",
                    "cd %s && ls -l --color=always --time-style=long-iso" % docs, "man tar"]
        for i, cmd in enumerate(commands):
            x, y = (i % 2) * 960, (i // 2) * 540
            wid = desk.xterm("tile%d" % i, cmd, "100x30+%d+%d" % (x, y), size=9)
            desk.place(wid, x, y, 956, 510)
        return desk.shot()

    # ---- text: editor, browser, office, file manager, desktops ------------------------------
    @add("text", "mousepad_python", ["mousepad", "libpython3.11-stdlib", "adwaita-icon-theme"],
         "mousepad (GTK 3, Adwaita) editing /usr/lib/python3.11/textwrap.py with Python "
         "syntax highlighting; a 1600x1000 window on a 1920x1080 openbox desktop",
         "textwrap.py: PSF-2.0 (Python); mousepad UI: GPL-2+")
    def _():
        desk.background("#4a5a6a")
        shutil.copy("/usr/lib/python3.11/textwrap.py", os.path.join(src, "textwrap.py"))
        desk.start(["mousepad", "--disable-server", os.path.join(src, "textwrap.py")])
        wid = desk.window("textwrap.py - Mousepad")
        desk.place(wid, 160, 40, 1600, 1000)
        return desk.shot(settle=3.0)

    def chromium_headless(url, w, h):
        path = os.path.join(work, "chromium.png")
        profile = os.path.join(work, "chromium-profile")
        shutil.rmtree(profile, ignore_errors=True)
        desk.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--user-data-dir=" + profile, "--window-size=%d,%d" % (w, h),
                  "--screenshot=" + path, url],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        return Image.open(path).convert("RGB")

    @add("text", "chromium_fontconfig_user", ["chromium", "fontconfig"],
         "chromium --headless --window-size=1280,800 --screenshot "
         "file:///usr/share/doc/fontconfig/fontconfig-user.html",
         "fontconfig documentation: MIT-like (fontconfig's copyright file)")
    def _():
        return chromium_headless("file:///usr/share/doc/fontconfig/fontconfig-user.html",
                                 1280, 800)

    @add("text", "chromium_expat_manual", ["chromium", "libexpat1-dev"],
         "chromium --headless --window-size=1920,1080 --screenshot "
         "file:///usr/share/doc/libexpat1-dev/expat.html",
         "expat documentation: MIT (libexpat1-dev)")
    def _():
        return chromium_headless("file:///usr/share/doc/libexpat1-dev/expat.html", 1920, 1080)

    @add("text", "chromium_window_bzip2", ["chromium", "bzip2", "openbox"],
         "a Chromium window (tabs, address bar) under openbox on Xvfb showing "
         "file:///usr/share/doc/bzip2/manual.html; full screen 1920x1080",
         "bzip2 manual: bzip2's BSD-style licence; Chromium UI: BSD-3-Clause")
    def _():
        profile = os.path.join(work, "chromium-window")
        shutil.rmtree(profile, ignore_errors=True)
        desk.background()
        desk.start(["chromium", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--no-default-browser-check", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-infobars",
                    "--password-store=basic", "--force-device-scale-factor=1",
                    "--user-data-dir=" + profile, "--window-position=0,0",
                    "--window-size=1920,1080", "file:///usr/share/doc/bzip2/manual.html"])
        wid = desk.window("bzip2 and libbzip2, version 1.0.8 - Chromium", timeout=90)
        desk.place(wid, 0, 0, 1920, 1080)
        return desk.shot(settle=4.0)

    def office_page(source, w, h, dpi_width):
        pdf_dir = os.path.join(work, "pdf")
        os.makedirs(pdf_dir, exist_ok=True)
        desk.run(["soffice", "-env:UserInstallation=file://" + os.path.join(work, "lo-profile"),
                  "--headless", "--convert-to", "pdf", "--outdir", pdf_dir, source],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        pdf = os.path.join(pdf_dir, os.path.splitext(os.path.basename(source))[0] + ".pdf")
        prefix = os.path.join(work, "page")
        desk.run(["pdftoppm", "-png", "-f", "1", "-l", "1", "-singlefile",
                  "-scale-to-x", str(dpi_width), "-scale-to-y", "-1", pdf, prefix])
        page = Image.open(prefix + ".png").convert("RGB")
        # A viewer window: the page centred on grey, its top part visible.
        canvas = Image.new("RGB", (w, h), (0x80, 0x80, 0x80))
        canvas.paste(page.crop((0, 0, page.width, min(page.height, h - 24))),
                     ((w - page.width) // 2, 24))
        return canvas

    @add("text", "office_writer_report", ["libreoffice-writer", "poppler-utils",
                                          "fonts-dejavu-core", "fonts-dejavu-extra"],
         "an RTF report (headings, paragraphs, a table, a list; written for this corpus) "
         "converted by `soffice --headless --convert-to pdf`, page 1 rendered by "
         "`pdftoppm -scale-to-x 1100` onto a grey 1280x800 viewer area",
         "document text: written for this corpus (the project's licence); DejaVu fonts")
    def _():
        path = os.path.join(src, "report.rtf")
        with open(path, "w") as f:
            f.write(RTF_DOCUMENT)
        return office_page(path, 1280, 800, 1100)

    @add("text", "office_calc_sales", ["libreoffice-calc", "poppler-utils"],
         "a CSV table (48 rows, fixed seed) converted by `soffice --headless --convert-to "
         "pdf`, page 1 rendered by `pdftoppm -scale-to-x 1200` onto a grey 1280x800 area",
         "numbers: made up for this corpus (the project's licence)")
    def _():
        path = os.path.join(src, "sales.csv")
        with open(path, "w") as f:
            f.write(spreadsheet_csv())
        return office_page(path, 1280, 800, 1200)

    def pcmanfm_window(view_mode):
        docs = file_manager_tree(desk.home)
        write_pcmanfm_config(desk.home, view_mode)
        desk.start(["pcmanfm", "--no-desktop", docs], env={"XDG_CURRENT_DESKTOP": "LXDE"})
        return desk.window("Documents")

    @add("text", "pcmanfm_icons", ["pcmanfm", "adwaita-icon-theme", "openbox"],
         "pcmanfm (GTK 3, Adwaita icons) in icon view on a folder of fixed names and dates; "
         "a 1280x800 window on a 1920x1080 openbox desktop",
         "pcmanfm UI: GPL-2+; Adwaita icons: LGPL-3 / CC-BY-SA-3.0; file names: ours")
    def _():
        desk.background("#30506a")
        wid = pcmanfm_window("icon")
        desk.place(wid, 320, 120, 1280, 800)
        return desk.shot(settle=3.0)

    @add("text", "pcmanfm_list", ["pcmanfm", "adwaita-icon-theme"],
         "pcmanfm in detailed list view on the same folder; the window alone, 1024x768",
         "pcmanfm UI: GPL-2+; Adwaita icons: LGPL-3 / CC-BY-SA-3.0; file names: ours")
    def _():
        wid = pcmanfm_window("list")
        desk.place(wid, 0, 0, 1024, 768)
        return desk.shot(wid, settle=3.0)

    @add("text", "desktop_icons", ["pcmanfm", "desktop-base", "adwaita-icon-theme",
                                   "xterm", "librsvg2-bin"],
         "pcmanfm --desktop with desktop-base's emerald wallpaper (1920x1080 SVG, rsvg-convert) "
         "and launchers/files on the desktop, one xterm (`man ls`) open; 1920x1080",
         "wallpaper: GPL-2+ (desktop-base, Juliette Taka); icons: LGPL-3 / CC-BY-SA-3.0")
    def _():
        wallpaper = os.path.join(work, "emerald.png")
        desk.run(["rsvg-convert", "-w", "1920", "-h", "1080", "-o", wallpaper,
                  "/usr/share/desktop-base/emerald-theme/wallpaper/contents/images/"
                  "1920x1080.svg"])
        desktop = os.path.join(desk.home, "Desktop")
        os.makedirs(desktop, exist_ok=True)
        for app in ["xterm.desktop", "pcmanfm.desktop", "org.xfce.mousepad.desktop",
                    "chromium.desktop", "libreoffice-writer.desktop",
                    "libreoffice-calc.desktop"]:
            if os.path.exists("/usr/share/applications/" + app):
                shutil.copy("/usr/share/applications/" + app, desktop)
                os.chmod(os.path.join(desktop, app), 0o755)
        for name in ["notes.txt", "budget.ods", "photo.jpg"]:
            with open(os.path.join(desktop, name), "w") as f:
                f.write("x\n")
        conf = os.path.join(desk.home, ".config/pcmanfm/default")
        write_pcmanfm_config(desk.home, "icon")
        with open(os.path.join(conf, "desktop-items-0.conf"), "w") as f:
            f.write("[*]\nwallpaper_mode=crop\nwallpaper_common=1\nwallpaper=%s\n"
                    "desktop_bg=#000000\ndesktop_fg=#ffffff\ndesktop_shadow=#000000\n"
                    "desktop_font=DejaVu Sans 10\nshow_wm_menu=0\nsort=name;ascending;\n"
                    "show_documents=0\nshow_trash=1\nshow_mounts=0\n" % wallpaper)
        desk.start(["pcmanfm", "--desktop", "--profile", "default"],
                   env={"XDG_CURRENT_DESKTOP": "LXDE"})
        time.sleep(3.0)
        wid = desk.xterm("ls(1)", "man ls", "100x35+700+220", size=10)
        desk.place(wid, 700, 220, 960, 620)
        return desk.shot(settle=3.0)

    @add("text", "desktop_windows", ["openbox", "xterm", "mousepad", "x11-apps",
                                     "plasma-workspace-wallpapers"],
         "an openbox desktop (Kite wallpaper drawn by pcmanfm --desktop) with "
         "overlapping windows: xterm `man gzip`, mousepad on /usr/include/lz4.h, xcalc, "
         "xeyes; 1920x1080",
         "wallpaper: LGPL-3 (plasma-workspace-wallpapers, Risto Saukonpää); lz4.h: "
         "BSD-2-Clause; gzip(1): GPL-3+; x11-apps: MIT")
    def _():
        wall = os.path.join(work, "kite.png")
        wallpaper_photo("/usr/share/wallpapers/Kite/contents/images/1920x1080.jpg",
                        1920, 1080).save(wall)
        root_wallpaper(wall)
        wid = desk.xterm("gzip(1)", "man gzip", "100x40+60+60", size=10)
        desk.place(wid, 60, 60, 900, 700)
        shutil.copy("/usr/include/lz4.h", os.path.join(src, "lz4.h"))
        desk.start(["mousepad", "--disable-server", os.path.join(src, "lz4.h")])
        wid = desk.window("lz4.h - Mousepad")
        desk.place(wid, 760, 240, 1000, 760)
        desk.start(["xcalc"])
        wid = desk.window("Calculator")
        desk.place(wid, 1560, 80, 300, 400)
        desk.start(["xeyes", "-geometry", "200x140+1100+60"])
        return desk.shot(settle=3.0)

    # ---- natural: wallpapers -----------------------------------------------------------------
    def wallpaper_svg(path, w, h):
        png = os.path.join(work, "wall.png")
        desk.run(["rsvg-convert", "-w", str(w), "-h", str(h), "-o", png, path])
        return Image.open(png).convert("RGB")

    def wallpaper_photo(path, w, h):
        img = Image.open(path).convert("RGB")
        scale = max(w / img.width, h / img.height)
        img = img.resize((round(img.width * scale), round(img.height * scale)),
                         Image.LANCZOS)
        x, y = (img.width - w) // 2, (img.height - h) // 2
        return img.crop((x, y, x + w, y + h))

    base = "/usr/share/desktop-base/%s-theme/wallpaper/contents/images/%s.svg"
    for theme, size in [("homeworld", "1920x1080"), ("futureprototype", "1920x1080")]:
        @add("natural", "desktop_base_" + theme, ["desktop-base", "librsvg2-bin"],
             "`rsvg-convert -w 1920 -h 1080` of desktop-base's %s wallpaper (%s.svg)"
             % (theme, size),
             "GPL-2+ (desktop-base; %s)" % ("Juliette Taka" if theme == "homeworld"
                                            else "Alex Makas"))
        def _(theme=theme, size=size):
            return wallpaper_svg(base % (theme, size), 1920, 1080)

    photos = [("Autumn", "1920x1080", "RJ Quiralta", (1280, 720)),
              ("Path", "1920x1080", "Risto Saukonpää", (1280, 720)),
              ("ColorfulCups", "2560x1600", "Dmitri Popov", (1024, 640)),
              ("EveningGlow", "1920x1080", "Ian Hex", (1024, 576))]
    for wall, size, author, (w, h) in photos:
        @add("natural", "plasma_" + wall.lower(), ["plasma-workspace-wallpapers", "python3-pil"],
             "%s/contents/images/%s.jpg of plasma-workspace-wallpapers scaled (Lanczos) and "
             "centre-cropped to %dx%d" % (wall, size, w, h),
             "LGPL-3 per the wallpaper's metadata, GPL-2+ per Debian's copyright file "
             "(plasma-workspace-wallpapers; photo by %s)" % author)
        def _(wall=wall, size=size, w=w, h=h):
            return wallpaper_photo("/usr/share/wallpapers/%s/contents/images/%s.jpg"
                                   % (wall, size), w, h)

    # ---- cad: gnuplot line art ---------------------------------------------------------------
    def gnuplot(w, h, script, dark=True):
        path = os.path.join(work, "plot.png")
        bg = "black" if dark else "white"
        header = ("set terminal pngcairo size %d,%d enhanced font 'DejaVu Sans,10' "
                  "background rgb '%s' linewidth 1\nset output '%s'\n" % (w, h, bg, path))
        if dark:
            header += ("set border lc rgb '#c0c0c0'\nset tics textcolor rgb '#c0c0c0'\n"
                       "set key textcolor rgb '#c0c0c0'\n")
        desk.run(["gnuplot"], input=(header + script).encode(), stdout=subprocess.DEVNULL)
        return Image.open(path).convert("RGB")

    @add("cad", "gnuplot_surface_hidden3d", ["gnuplot-nox"],
         "gnuplot pngcairo 1920x1080: splot of a damped ripple as a 80x80 wireframe with "
         "hidden3d, white background", "plot of our own function (the project's licence)")
    def _():
        return gnuplot(1920, 1080, """
set isosamples 80,80
set hidden3d
set xrange [-10:10]; set yrange [-10:10]
set view 55,35
unset key
set title 'ripple: sin(r)/r'
splot (r=sqrt(x*x+y*y)+0.01, 10*sin(r)/r) lc rgb '#1f4e79' lw 0.7
""", dark=False)

    @add("cad", "gnuplot_torus_wireframe", ["gnuplot-nox"],
         "gnuplot pngcairo 1920x1080: two interlocked parametric tori as wireframes "
         "(isosamples 72,36) on black, CAD-viewer colours",
         "plot of our own functions (the project's licence)")
    def _():
        return gnuplot(1920, 1080, """
set parametric
set urange [0:2*pi]; set vrange [0:2*pi]
set isosamples 72,36
set view 60,30,1.4
unset key; unset tics; unset border
set xrange [-4:7]; set yrange [-4:4]; set zrange [-4:4]
splot cos(u)*(3+cos(v)), sin(u)*(3+cos(v)), sin(v) lc rgb '#ffd700' lw 0.8, \\
      3+cos(u)*(3+cos(v)), sin(v), sin(u)*(3+cos(v)) lc rgb '#00e0ff' lw 0.8
""")

    @add("cad", "gnuplot_contours", ["gnuplot-nox"],
         "gnuplot pngcairo 1280x800: 30 contour levels of a sum of Gaussians seen from above "
         "(set view map), grid on", "plot of our own function (the project's licence)")
    def _():
        return gnuplot(1280, 800, """
set view map
set contour base
set cntrparam levels 30
set isosamples 150,150
unset surface
set grid lc rgb '#404040'
unset key
set xrange [-3:3]; set yrange [-2:2]
f(x,y)=exp(-((x-1)**2+y**2))+0.8*exp(-((x+1.2)**2+(y-0.7)**2)*2)-0.6*exp(-((x+0.3)**2+(y+1)**2)*3)
splot f(x,y) lw 1
""")

    @add("cad", "gnuplot_many_curves", ["gnuplot-nox"],
         "gnuplot pngcairo 1920x1080: 40 Bessel-like curves (anti-aliased lines, 40 colours) "
         "with a grid, white background", "plot of our own functions (the project's licence)")
    def _():
        return gnuplot(1920, 1080, """
set samples 2000
set grid
unset key
set xrange [0:60]
set title 'response curves, 40 load cases'
plot for [i=1:40] besj0(x*(0.3+i*0.02))*exp(-x*i/1500.0)+i*0.05 lw 1.2 lc rgb hsv2rgb(i/40.0,0.9,0.8)
""", dark=False)

    @add("cad", "gnuplot_gear_drawing", ["gnuplot-nox"],
         "gnuplot pngcairo 1280x800: a 2D drawing of a 24-tooth gear outline with construction "
         "circles, centre lines and dimension arrows, on black",
         "drawing of our own curves (the project's licence)")
    def _():
        return gnuplot(1280, 800, """
set polar
set size ratio -1
set samples 3000
unset key; unset border; unset tics; unset raxis; unset rtics
set xrange [-16:16]; set yrange [-10:10]
r(t)=8+0.8*(abs(sin(12*t))**0.4)*sgn(sin(12*t))
set arrow 1 from -15,0 to 15,0 nohead dt 4 lc rgb '#ff4040'
set arrow 2 from 0,-9.5 to 0,9.5 nohead dt 4 lc rgb '#ff4040'
set arrow 3 from -8.8,-9 to 8.8,-9 heads lc rgb '#40ff40'
set label 1 'D 17.6' at 0,-9.4 center textcolor rgb '#40ff40'
set label 2 'M1.5  z=24' at 10,8 textcolor rgb '#ffffff'
plot r(t) lc rgb '#ffffff' lw 1.2, 7.2 lc rgb '#00c0ff' dt 2, 8.8 lc rgb '#00c0ff' dt 2, \\
     2 lc rgb '#ffff00' lw 1.2, 3.2 lc rgb '#808080'
""")

    @add("cad", "gnuplot_spring_wireframe", ["gnuplot-nox"],
         "gnuplot pngcairo 1024x768: a helical spring as a parametric tube wireframe "
         "(isosamples 240,12) on black", "plot of our own functions (the project's licence)")
    def _():
        return gnuplot(1024, 768, """
set parametric
set urange [0:12*pi]; set vrange [0:2*pi]
set isosamples 240,12
set view 70,20,1.2
unset key; unset tics; unset border
splot (3+0.5*cos(v))*cos(u), (3+0.5*cos(v))*sin(u), 0.35*u+0.5*sin(v) lc rgb '#80ff80' lw 0.6
""")

    # ---- video: FFmpeg test sources ----------------------------------------------------------
    def ffmpeg_frame(lavfi, frame, extra=()):
        path = os.path.join(work, "frame.png")
        desk.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi,
                  *extra, "-vf", "select=eq(n\\,%d)" % frame, "-frames:v", "1", "-threads", "1",
                  path])
        return Image.open(path).convert("RGB")

    @add("video", "ffmpeg_testsrc2", ["ffmpeg"],
         "ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=25, frame 50",
         "FFmpeg's synthetic test pattern (no third-party content)")
    def _():
        return ffmpeg_frame("testsrc2=size=1280x720:rate=25", 50)

    @add("video", "ffmpeg_smptehdbars", ["ffmpeg"],
         "ffmpeg -f lavfi -i smptehdbars=size=1920x1080, frame 0",
         "FFmpeg's synthetic test pattern (no third-party content)")
    def _():
        return ffmpeg_frame("smptehdbars=size=1920x1080:rate=25", 0)

    @add("video", "ffmpeg_mandelbrot", ["ffmpeg"],
         "ffmpeg -f lavfi -i mandelbrot=size=1280x720:rate=25, frame 75",
         "FFmpeg's synthetic fractal (no third-party content)")
    def _():
        return ffmpeg_frame("mandelbrot=size=1280x720:rate=25", 75)

    @add("video", "ffmpeg_life", ["ffmpeg"],
         "ffmpeg -f lavfi -i life=size=1024x768:seed=1234:mold=10:ratio=0.1:"
         "life_color=#00ff80:death_color=#400020, frame 120",
         "FFmpeg's synthetic cellular automaton (no third-party content)")
    def _():
        return ffmpeg_frame("life=size=1024x768:rate=25:seed=1234:mold=10:ratio=0.1:"
                            "life_color=#00ff80:death_color=#400020:mold_color=#202060", 120)

    def x264_frame(lavfi, frame, crf):
        clip = os.path.join(work, "clip.mkv")
        desk.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi,
                  "-frames:v", str(frame + 1), "-c:v", "libx264", "-preset", "medium",
                  "-crf", str(crf), "-threads", "1", "-pix_fmt", "yuv420p", clip])
        path = os.path.join(work, "frame.png")
        desk.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-threads", "1", "-i", clip,
                  "-vf", "select=eq(n\\,%d)" % frame, "-frames:v", "1", path])
        return Image.open(path).convert("RGB")

    @add("video", "x264_mandelbrot", ["ffmpeg", "libx264-164"],
         "mandelbrot=size=1280x720 (60 frames) encoded with libx264 -crf 30 -preset medium "
         "-threads 1, yuv420p, decoded frame 59: a decoded film frame with codec artefacts",
         "FFmpeg's synthetic fractal through x264 (no third-party content)")
    def _():
        return x264_frame("mandelbrot=size=1280x720:rate=25", 59, 30)

    @add("video", "video_in_window", ["ffmpeg", "libx264-164", "imagemagick", "xterm",
                                      "openbox", "desktop-base"],
         "a 960x540 x264-decoded frame of testsrc2 mixed with mandelbrot shown by ImageMagick "
         "`display` in an openbox window beside an xterm (`man ffmpeg`) on desktop-base's "
         "lines wallpaper; 1920x1080",
         "FFmpeg's synthetic sources; wallpaper GPL-2+ (desktop-base, Juliette Taka); "
         "ffmpeg(1): LGPL-2.1+/GPL-2+")
    def _():
        frame = x264_frame("mandelbrot=size=960x540:rate=25[a];testsrc2=size=320x180:rate=25[b];"
                           "[a][b]overlay=600:320", 40, 26)
        still = os.path.join(work, "movie.png")
        frame.save(still)
        wall = wallpaper_svg("/usr/share/desktop-base/lines-theme/wallpaper/contents/images/"
                             "1920x1080.svg", 1920, 1080)
        wall_path = os.path.join(work, "lines.png")
        wall.save(wall_path)
        root_wallpaper(wall_path)
        wid = desk.xterm("ffmpeg(1)", "man ffmpeg", "90x40+80+120", size=10)
        desk.place(wid, 80, 120, 820, 760)
        desk.start(["display", "-title", "movie.mkv", "-geometry", "+860+220", still])
        desk.window("movie.mkv")
        return desk.shot(settle=2.0)

    return out


def save_png(img, path):
    """Maximum compression, no metadata (no date: the same picture gives the same bytes)."""
    tmp = path + ".tmp.png"
    img.save(tmp, "PNG", optimize=True, compress_level=9)
    subprocess.run(["optipng", "-quiet", "-o2", "-strip", "all", tmp], check=True)
    os.replace(tmp, path)


def package_version(name):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


def write_sources(out_dir, all_scenes):
    os.makedirs(out_dir, exist_ok=True)
    lines = [
        "# Screen corpus: sources and licences",
        "",
        "Real screen content for the lossless codecs' tests and benchmarks (issue 15). Made by",
        "`scripts/make-screen-corpus.sh` (which runs `scripts/screen_corpus.py`) on Debian 12",
        "under Xvfb 1920x1080x24 at 96 dpi with openbox as window manager, fonts DejaVu",
        "(Bitstream Vera licence) with Xft anti-aliasing `Xft.antialias:1`, `Xft.rgba:rgb`.",
        "Every picture is 24-bit RGB PNG. Content written for the corpus (documents, the C++",
        "file, spreadsheet numbers, plot functions) is under the project's licence; everything",
        "else is under the free licence named per image (from `/usr/share/doc/<package>/copyright`",
        "and, for wallpapers, the wallpaper's metadata), all of which allow redistribution.",
        "",
        "Package versions are those the pictures were made with.",
        "",
    ]
    for kind in KINDS:
        group = [s for s in all_scenes if s.kind == kind]
        if not group:
            continue
        lines += ["## %s" % kind, ""]
        for s in group:
            path = os.path.join(out_dir, kind, s.name + ".png")
            if not os.path.exists(path):
                continue
            with Image.open(path) as im:
                size = "%dx%d" % im.size
            pkgs = ", ".join("%s %s" % (p, package_version(p)) for p in s.packages)
            lines += ["- **%s/%s.png** (%s, %d KB)" % (kind, s.name, size,
                                                      os.path.getsize(path) // 1024),
                      "  - packages: %s" % pkgs,
                      "  - made by: %s" % s.command,
                      "  - licence: %s" % s.licence, ""]
    with open(os.path.join(out_dir, "SOURCES.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--display", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default=None, help="make only scenes whose name contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/corpus/screens"))
    args = ap.parse_args()
    desk = Desk(args.display, args.work)
    desk.setup()
    failed = []
    all_scenes = scenes(desk, args)
    try:
        for s in all_scenes:
            if args.only and args.only not in s.name:
                continue
            t0 = time.monotonic()
            try:
                img = s.make()
            except Exception as e:  # one broken scene must not lose the others
                failed.append("%s/%s: %s" % (s.kind, s.name, e))
                print("FAILED %s/%s: %s" % (s.kind, s.name, e), flush=True)
                continue
            finally:
                desk.stop_all()
            os.makedirs(os.path.join(args.out, s.kind), exist_ok=True)
            path = os.path.join(args.out, s.kind, s.name + ".png")
            save_png(img, path)
            print("%-8s %-28s %5dx%-5d %6d KB  %.1f s" % (s.kind, s.name, img.width, img.height,
                                                          os.path.getsize(path) // 1024,
                                                          time.monotonic() - t0), flush=True)
    finally:
        desk.close()
    write_sources(args.out, all_scenes)
    if failed:
        print("%d scenes failed:\n  %s" % (len(failed), "\n  ".join(failed)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
