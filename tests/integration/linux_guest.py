"""A tiny Linux guest whose qxl DRM driver draws: Debian 12's kernel + a busybox initramfs.

prepare(cache_dir) returns the kernel and initramfs paths, building them once and reusing them
while nothing they are made from changed (kernel package version, busybox, the /init script).
Nothing is installed on the host: the kernel package is fetched with `apt-get download` and
unpacked with `dpkg -x` into a scratch directory that is removed afterwards; only vmlinuz and
initrd.gz stay in the cache.

The guest's /init (INIT_TEMPLATE) talks to the host over two serial ports:
  ttyS0  console and command line. The guest prints "GUEST ..." status lines; the host sends
         one command a line:
           dump  write /dev/fb0 (visible rows only) raw to ttyS1, then "GUEST DUMPED n"
           keys  read one line typed on the console keyboard (tty1), then "GUEST TYPED:<line>"
           off   power off
  ttyS1  raw framebuffer bytes, nothing else.
Before accepting commands it prints "GUEST GEOMETRY w,h stride bpp" and "GUEST READY".

Other kinds of guest reuse the kernel, busybox, module and cache handling: prepare(cache_dir,
spec=...) takes a GuestSpec subclass that names the modules, writes /init and adds files
(virgl_guest.py's guest, with Mesa and a GL program from the host); each kind needs a cache
directory of its own.

Runs under Debian's /usr/bin/python3; stdlib only (the cpio archive and the modules'
dependencies are read and written here, so neither cpio nor kmod is needed on the host).
"""

import gzip
import hashlib
import json
import lzma
import os
import shutil
import struct
import subprocess
import tempfile

# The qxl DRM driver and its helpers; their own `depends=` add whatever else is needed.
WANTED_MODULES = ("drm", "drm_kms_helper", "ttm", "drm_ttm_helper", "qxl")

KERNEL_METAPACKAGE = "linux-image-amd64"

# The text the guest writes on its console: colours and both cases, so a swapped channel or a
# shifted glyph shows up in the pixel comparison.
CONSOLE_TEXT = (
    r"spiced-gpu drop-in test: Linux qxl DRM guest\n"
    r"\033[1;31mred \033[1;32mgreen \033[1;34mblue \033[1;33myellow \033[0m"
    r"\033[7m inverse \033[0m\n"
    r"The quick brown fox jumps over the lazy dog 0123456789\n"
)


def init_load_modules(device):
    """The part of a test guest's /init that defines `say` (a line to the host on ttyS0), loads
    the kernel modules (@MODULES@, in dependency order) and waits up to 2 min for `device`;
    without it, says "FAIL no <device>" with the kernel log's tail and powers off."""
    return r"""say() { echo "GUEST $*" > /dev/ttyS0; }
say "init started, uptime $(cut -d' ' -f1 /proc/uptime)"

# No modules.dep in the initramfs: the host listed them in dependency order.
for m in @MODULES@; do
    insmod /lib/modules/$m.ko || say "insmod $m failed"
done

i=0
while [ ! -e @DEVICE@ ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e @DEVICE@ ]; then
    say "FAIL no @DEVICE@"
    dmesg | tail -40 > /dev/ttyS0
    poweroff -f
fi
""".replace("@DEVICE@", device)


INIT_TEMPLATE = r"""#!/bin/sh
# PID 1 of the spiced-gpu test guest (tests/integration/linux_guest.py writes it).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
""" + init_load_modules("/dev/fb0") + r"""say "fb0 up, uptime $(cut -d' ' -f1 /proc/uptime)"

# A blinking cursor would make the picture depend on when it is taken: stop and hide it.
echo 0 > /sys/class/graphics/fbcon/cursor_blink
# Keep tty1 open from now on so keys typed before "keys" are buffered, not dropped.
exec 3<>/dev/tty1
printf '\033[2J\033[H\033[?25l' > /dev/tty1
printf '@TEXT@' > /dev/tty1

size=$(cat /sys/class/graphics/fb0/virtual_size)
stride=$(cat /sys/class/graphics/fb0/stride)
bpp=$(cat /sys/class/graphics/fb0/bits_per_pixel)
height=${size#*,}
say "GEOMETRY $size $stride $bpp"
stty -F /dev/ttyS1 raw -echo cs8 -parenb -ixon -ixoff
say READY

while read -r cmd < /dev/ttyS0; do
    case "$cmd" in
    dump)
        dd if=/dev/fb0 of=/dev/ttyS1 bs=$stride count=$height 2>/dev/null
        say "DUMPED $((stride * height))" ;;
    keys)
        say "WAITING KEYS"
        read -r line <&3
        say "TYPED:$line" ;;
    off)
        poweroff -f ;;
    *)
        [ -n "$cmd" ] && say "unknown command $cmd" ;;
    esac
done
"""


class GuestUnavailable(Exception):
    """The guest cannot be prepared here (no network, no package): the test skips."""


class GuestFiles:
    def __init__(self, kernel, initrd, package, version, built):
        self.kernel = kernel
        self.initrd = initrd
        self.package = package      # e.g. linux-image-6.1.0-57-amd64
        self.version = version      # the package version
        self.built = built          # False when the cache was reused


# --------------------------------------------------------------------------------------------
# apt


def _run(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def resolve_kernel_package():
    """(package, version) of the versioned kernel the metapackage depends on."""
    rc, out, err = _run(["apt-cache", "depends", KERNEL_METAPACKAGE])
    if rc != 0:
        raise GuestUnavailable("apt-cache depends %s failed: %s" % (KERNEL_METAPACKAGE,
                                                                      err.strip()))
    package = None
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "Depends:" and words[1].startswith("linux-image-"):
            package = words[1]
            break
    if package is None:
        raise GuestUnavailable("%s depends on no linux-image-* package (apt lists not updated?)"
                               % KERNEL_METAPACKAGE)
    rc, out, err = _run(["apt-cache", "show", "--no-all-versions", package])
    version = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Version:")), None)
    if rc != 0 or version is None:
        raise GuestUnavailable("apt-cache show %s failed: %s" % (package, err.strip()))
    return package, version


def download_and_unpack(package, scratch):
    """apt-get download + dpkg -x into scratch/root; returns that root."""
    rc, out, err = _run(["apt-get", "download", package], cwd=scratch)
    debs = [f for f in os.listdir(scratch) if f.endswith(".deb")]
    if rc != 0 or not debs:
        # apt's "E:" lines say why (no network, no such version); its warnings do not.
        errors = [l for l in (err + out).splitlines() if l.startswith("E:")]
        raise GuestUnavailable("apt-get download %s failed (rc %d): %s"
                               % (package, rc, "; ".join(errors) or (err or out).strip()[-400:]))
    root = os.path.join(scratch, "root")
    rc, out, err = _run(["dpkg", "-x", os.path.join(scratch, debs[0]), root])
    if rc != 0:
        raise RuntimeError("dpkg -x %s failed: %s" % (debs[0], err.strip()))
    return root


def busybox_binary(scratch):
    """The static busybox: the host's busybox-static if installed, else downloaded."""
    rc, out, _ = _run(["dpkg-query", "-W", "-f=${Status}", "busybox-static"])
    if rc == 0 and "install ok installed" in out and os.path.exists("/bin/busybox"):
        return "/bin/busybox"
    where = os.path.join(scratch, "busybox")
    os.makedirs(where, exist_ok=True)
    root = download_and_unpack("busybox-static", where)
    return os.path.join(root, "bin", "busybox")


# --------------------------------------------------------------------------------------------
# Kernel modules


def read_module(path):
    """The .ko bytes, decompressed when the package ships .ko.xz/.ko.gz/.ko.zst: busybox insmod
    may not decompress."""
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE).stdout
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    return data


def modinfo_depends(elf):
    """`modinfo -F depends` from the module's .modinfo ELF section (64-bit little-endian)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ValueError("not a 64-bit ELF module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i):
        name, _type, _flags, _addr, off, size = struct.unpack_from(
            "<IIQQQQ", elf, shoff + i * shentsize)
        return name, off, size
    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = elf.index(b"\0", stroff + name)
        if elf[stroff + name:end] == b".modinfo":
            for field in elf[off:off + size].split(b"\0"):
                if field.startswith(b"depends="):
                    value = field[len(b"depends="):].decode()
                    return [d for d in value.split(",") if d]
            return []
    raise ValueError("no .modinfo section")


def find_modules(root):
    """name -> path of every module of the unpacked kernel package."""
    found = {}
    for dirpath, _, files in os.walk(os.path.join(root, "lib", "modules")):
        for f in files:
            for ext in (".ko", ".ko.xz", ".ko.gz", ".ko.zst"):
                if f.endswith(ext):
                    found[f[:-len(ext)].replace("-", "_")] = os.path.join(dirpath, f)
    return found


def modules_in_load_order(root, wanted=WANTED_MODULES):
    """[(name, bytes)] for `wanted` and everything they depend on, dependencies first."""
    available = find_modules(root)
    order, loaded, visiting = [], {}, set()

    def visit(name):
        if name in loaded:
            return
        if name in visiting:
            raise RuntimeError("module dependency cycle at %s" % name)
        if name not in available:
            raise RuntimeError("module %s not in the kernel package" % name)
        visiting.add(name)
        data = read_module(available[name])
        for dep in modinfo_depends(data):
            visit(dep.replace("-", "_"))
        visiting.discard(name)
        loaded[name] = data
        order.append(name)
    for name in wanted:
        visit(name)
    return [(name, loaded[name]) for name in order]


# --------------------------------------------------------------------------------------------
# initramfs: cpio "newc", gzip


class Cpio:
    """Writes a newc archive in memory; device nodes need no root this way."""

    def __init__(self):
        self.parts = []
        self.size = 0
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_bytes = name.encode() + b"\0"
        header = b"070701" + b"".join(b"%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0))
        self.ino += 1
        self._append(header + name_bytes)
        self._append(data)

    def _append(self, data):
        self.parts.append(data)
        self.size += len(data)
        pad = -self.size % 4
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad

    def _parents(self, name):
        """Entries for the directories above `name` not written yet (the kernel needs them
        before the files in them)."""
        parent = os.path.dirname(name)
        if parent and parent not in self.dirs:
            self.directory(parent)

    def directory(self, name):
        if name in self.dirs:
            return
        self._parents(name)
        self.dirs.add(name)
        self._entry(name, 0o040755)

    def file(self, name, data, mode=0o644):
        self._parents(name)
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._parents(name)
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        self._parents(name)
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def init_script(module_names):
    return (INIT_TEMPLATE.replace("@MODULES@", " ".join(module_names))
            .replace("@TEXT@", CONSOLE_TEXT))


class GuestSpec:
    """What a guest's initramfs holds besides busybox: the kernel modules wanted (their
    `depends=` add the rest), the /init script and any further files. This base is the qxl
    console guest above; virgl_guest.py derives the virgl one from it."""

    modules = WANTED_MODULES

    def init_script(self, module_names):
        return init_script(module_names)

    def stamp(self):
        """What the cached initramfs was made from besides the kernel and busybox: a change
        rebuilds it. Cheap, as it is computed at every run."""
        return {"init": hashlib.sha256(INIT_TEMPLATE.encode() + CONSOLE_TEXT.encode())
                .hexdigest()}

    def add_files(self, archive, scratch, log):
        """Writes further files into `archive` (a Cpio); `scratch` is a temporary directory."""


def build_initramfs(busybox, modules, spec=None, scratch=None, log=print):
    spec = spec or GuestSpec()
    archive = Cpio()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
        archive.directory(d)
    # The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    archive.chardev("dev/console", 5, 1)
    with open(busybox, "rb") as f:
        archive.file("bin/busybox", f.read(), 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", spec.init_script([n for n, _ in modules]).encode(), 0o755)
    for name, data in modules:
        archive.file("lib/modules/%s.ko" % name, data)
    spec.add_files(archive, scratch, log)
    return gzip.compress(archive.finish(), 6, mtime=0)  # the same inputs, the same bytes


# --------------------------------------------------------------------------------------------
# Cache


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomically(path, data):
    """Readers (another test preparing at the same time) see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def prepare(cache_dir, log=print, spec=None):
    """GuestFiles for the current Debian kernel and `spec` (a GuestSpec; the qxl console guest
    by default); builds into cache_dir when needed, so each kind of guest needs a cache_dir of
    its own. Raises GuestUnavailable when the kernel cannot be had (the caller skips)."""
    spec = spec or GuestSpec()
    os.makedirs(cache_dir, exist_ok=True)
    package, version = resolve_kernel_package()
    kernel = os.path.join(cache_dir, "vmlinuz")
    initrd = os.path.join(cache_dir, "initrd.gz")
    stamp_path = os.path.join(cache_dir, "stamp.json")
    # Busybox is hashed when it comes from the host; /init by its text (the module list is a
    # function of the kernel version).
    want = dict(spec.stamp(), package=package, version=version, wanted=list(spec.modules),
                busybox=_sha256_file("/bin/busybox") if os.path.exists("/bin/busybox") else "")
    try:
        with open(stamp_path) as f:
            have = json.load(f)
    except (OSError, ValueError):
        have = None
    if have == want and os.path.exists(kernel) and os.path.exists(initrd):
        return GuestFiles(kernel, initrd, package, version, built=False)

    log("linux_guest: preparing %s %s in %s" % (package, version, cache_dir))
    scratch = tempfile.mkdtemp(prefix="unpack-", dir=cache_dir)
    try:
        root = download_and_unpack(package, scratch)
        vmlinuz = [f for f in os.listdir(os.path.join(root, "boot")) if f.startswith("vmlinuz-")]
        if not vmlinuz:
            raise RuntimeError("%s has no /boot/vmlinuz-*" % package)
        modules = modules_in_load_order(root, spec.modules)
        log("linux_guest: modules in load order: %s" % " ".join(n for n, _ in modules))
        image = build_initramfs(busybox_binary(scratch), modules, spec, scratch, log)
        with open(os.path.join(root, "boot", vmlinuz[0]), "rb") as f:
            _write_atomically(kernel, f.read())
        _write_atomically(initrd, image)
        _write_atomically(stamp_path, json.dumps(want, indent=1).encode())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return GuestFiles(kernel, initrd, package, version, built=True)
