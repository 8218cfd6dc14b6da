"""A tiny Linux guest that draws with OpenGL ES through virgl: linux_guest.py's kernel and busybox
initramfs, plus the virtio_gpu DRM driver and a GL program running on Mesa's virgl driver.

prepare(cache_dir) returns the kernel and initramfs paths (linux_guest.GuestFiles), building
them once and reusing them while nothing they are made from changed: besides what linux_guest
watches (kernel package, busybox, /init), the GL program's source and every host file copied
into the guest (path, size, mtime).

The guest's userspace comes from the HOST, which runs the same Debian 12: the GL program
(virgl_guest_gl.c, compiled here with the host's cc against libgbm, libEGL, libGLESv2 and
libdrm), the shared libraries it and Mesa need (their ldd closure), the dynamic loader, glvnd's
EGL vendor file for Mesa and Mesa's DRI driver for virtio_gpu. That driver is Mesa's megadriver,
which links libLLVM (and through it libz3 and ICU's data): about 200 MB before compression.
Nothing is installed on the host by this module; scripts/setup-deps.sh installs the -dev
packages the compile needs.

The guest's /init (INIT_TEMPLATE) loads virtio_pci and virtio_gpu (and their dependencies),
waits for /dev/dri/card0 and starts the GL program, which renders a still picture through
GBM + EGL + GLES2, reads it back with glReadPixels into /tmp/frame.rgba, shows it with
drmModeSetCrtc and prints on ttyS0
    GUEST GL READY <w>x<h> renderer=<GL_RENDERER>
(GL_RENDERER says "virgl" when the host's virglrenderer draws it), then holds still. The guest
talks to the host over two serial ports, as linux_guest's does:
  ttyS0  console and commands, one a line:
           dump  write /tmp/frame.rgba (the frame shown) gzipped to ttyS1, then
                 "GUEST DUMPED <bytes>" (the gzip stream's length)
           next  the GL program renders and shows its next frame (the triangles' colours
                 turn), then prints "GUEST GL FRAME <n>"
           off   power off
  ttyS1  the gzip streams, nothing else.

Runs under Debian's /usr/bin/python3; stdlib only.
"""

import hashlib
import os
import re
import subprocess

import linux_guest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM_SOURCE = os.path.join(HERE, "virgl_guest_gl.c")
PKG_CONFIG_MODULES = ("gbm", "egl", "glesv2", "libdrm")
CFLAGS = ("-O2", "-Wall", "-Wextra", "-Werror")

LIBDIR = "/usr/lib/x86_64-linux-gnu"
DRI_DRIVER = os.path.join(LIBDIR, "dri", "virtio_gpu_dri.so")
# glvnd's libEGL finds Mesa's vendor library (libEGL_mesa.so.0) through this file.
EGL_VENDOR_FILE = "/usr/share/glvnd/egl_vendor.d/50_mesa.json"
# What the program links, what glvnd and GBM load at run time: their ldd closure goes in.
ROOT_LIBRARIES = ("libEGL.so.1", "libGLESv2.so.2", "libgbm.so.1", "libdrm.so.2",
                  "libEGL_mesa.so.0")

GUEST_PROGRAM = "usr/bin/virgl-guest-gl"

INIT_TEMPLATE = r"""#!/bin/sh
# PID 1 of the spiced-gpu virgl test guest (tests/integration/virgl_guest.py writes it).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp
mount -t tmpfs tmpfs /tmp
""" + linux_guest.init_load_modules("/dev/dri/card0") + r"""say "dri up, uptime $(cut -d' ' -f1 /proc/uptime)"

# The fbcon console under the GL picture: no blinking cursor, nothing written on it.
echo 0 > /sys/class/graphics/fbcon/cursor_blink
printf '\033[2J\033[H\033[?25l' > /dev/tty1

stty -F /dev/ttyS1 raw -echo cs8 -parenb -ixon -ixoff
# It prints "GUEST GL READY ..." (or "GUEST GL FAIL ...") and keeps running.
HOME=/tmp MESA_SHADER_CACHE_DISABLE=true /@PROGRAM@ /dev/dri/card0 /tmp/frame.rgba \
    > /dev/ttyS0 2>&1 &
gl=$!

while read -r cmd < /dev/ttyS0; do
    case "$cmd" in
    dump)
        gzip -c /tmp/frame.rgba > /tmp/frame.gz
        cat /tmp/frame.gz > /dev/ttyS1
        say "DUMPED $(wc -c < /tmp/frame.gz)" ;;
    next)
        kill -USR1 $gl ;;
    off)
        poweroff -f ;;
    *)
        [ -n "$cmd" ] && say "unknown command $cmd" ;;
    esac
done
"""


def _run(argv, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def _ldd(path):
    """[(soname or None, path)] of what `path` loads; the dynamic loader with soname None."""
    p = _run(["ldd", path])
    if p.returncode != 0:
        raise RuntimeError("ldd %s failed: %s" % (path, p.stderr.decode().strip()))
    found = []
    for line in p.stdout.decode().splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line)
        if m:
            found.append((m.group(1), m.group(2)))
            continue
        m = re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            found.append((None, m.group(1)))
        elif "not found" in line:
            raise RuntimeError("ldd %s: %s" % (path, line.strip()))
    return found


def _host_file(path, package):
    if not os.path.exists(path):
        raise RuntimeError("%s is not on the host (package %s; scripts/setup-deps.sh installs "
                           "it)" % (path, package))
    return path


def guest_files(extra_binaries=()):
    """{guest path: host path} of every host file the guest needs: the root libraries, the DRI
    driver, the EGL vendor file and the ldd closure of those and of `extra_binaries`."""
    libraries = [_host_file(os.path.join(LIBDIR, name), "libegl-mesa0, libgles2, libgbm1")
                 for name in ROOT_LIBRARIES]
    dri = _host_file(DRI_DRIVER, "libgl1-mesa-dri")
    files = {"usr/lib/x86_64-linux-gnu/dri/" + os.path.basename(dri): dri,
             EGL_VENDOR_FILE.lstrip("/"): _host_file(EGL_VENDOR_FILE, "libegl-mesa0")}
    for path in libraries:
        files["lib/x86_64-linux-gnu/" + os.path.basename(path)] = path
    for binary in libraries + [dri] + list(extra_binaries):
        for soname, path in _ldd(binary):
            if soname is None:
                # The loader's path is the program's PT_INTERP: it must be where ldd says.
                files[path.lstrip("/")] = path
            else:
                files["lib/x86_64-linux-gnu/" + soname] = path
    return files


def compile_program(scratch):
    p = _run(["pkg-config", "--cflags", "--libs"] + list(PKG_CONFIG_MODULES))
    if p.returncode != 0:
        raise RuntimeError("pkg-config %s failed (scripts/setup-deps.sh installs libgbm-dev, "
                           "libegl-dev, libgles-dev, libdrm-dev): %s"
                           % (" ".join(PKG_CONFIG_MODULES), p.stderr.decode().strip()))
    flags = p.stdout.decode().split()
    out = os.path.join(scratch, "virgl-guest-gl")
    argv = ["cc"] + list(CFLAGS) + ["-o", out, PROGRAM_SOURCE] + flags
    p = _run(argv)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(argv), p.stderr.decode()))
    return out


def _sha256_text(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


class VirglGuest(linux_guest.GuestSpec):
    # virtio_pci is a module in Debian's kernel and no dependency of virtio_gpu's.
    modules = ("virtio_pci", "virtio_gpu")

    def init_script(self, module_names):
        return (INIT_TEMPLATE.replace("@MODULES@", " ".join(module_names))
                .replace("@PROGRAM@", GUEST_PROGRAM))

    def stamp(self):
        with open(PROGRAM_SOURCE, "rb") as f:
            source = f.read()
        host = []
        for guest_path, path in sorted(guest_files().items()):
            st = os.stat(path)
            host.append([guest_path, path, st.st_size, st.st_mtime_ns])
        return {"init": _sha256_text(INIT_TEMPLATE, GUEST_PROGRAM),
                "program": _sha256_text(source, " ".join(CFLAGS)),
                "host_files": host}

    def add_files(self, archive, scratch, log):
        program = compile_program(scratch)
        with open(program, "rb") as f:
            archive.file(GUEST_PROGRAM, f.read(), 0o755)
        total = 0
        for guest_path, path in sorted(guest_files([program]).items()):
            with open(path, "rb") as f:
                data = f.read()
            total += len(data)
            archive.file(guest_path, data, 0o755 if ".so" in guest_path else 0o644)
        log("virgl_guest: the GL program and %.0f MB of host libraries and files"
            % (total / 1e6))


def prepare(cache_dir, log=print):
    """linux_guest.GuestFiles of the virgl guest; raises linux_guest.GuestUnavailable when the
    kernel cannot be had."""
    return linux_guest.prepare(cache_dir, log, VirglGuest())
