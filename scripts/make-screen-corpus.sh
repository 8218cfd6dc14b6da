#!/usr/bin/env bash
# Regenerates the screen corpus in tests/corpus/screens/<kind>/<name>.png (kinds: text,
# natural, cad, video) and its SOURCES.md from real programs of Debian packages: terminals,
# an editor, Chromium, LibreOffice, a file manager and a desktop on an Xvfb screen; desktop
# wallpapers; gnuplot line art; FFmpeg's video test sources. See tests/corpus/screens/SOURCES.md
# for every image's package, version, command and licence.
#
#   scripts/make-screen-corpus.sh [--only NAME_PART] [--out DIR]
#
# Installs the Debian packages it needs (only the missing ones; run as root or with sudo),
# starts its own Xvfb on a free display number and stops everything it started on exit.
# Fixed content, sizes, fonts and seeds: a run on the same package versions gives the same
# pictures (the corpus is test data the project keeps; regenerate only to add images).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # the X screen, its window manager, X tools and screenshots
  xvfb xauth openbox x11-xserver-utils x11-utils xdotool imagemagick
  # content: terminals and an editor, the browser, the office suite, a file manager
  xterm vim mousepad chromium libreoffice-writer libreoffice-calc poppler-utils pcmanfm
  adwaita-icon-theme fonts-dejavu-core fonts-dejavu-extra xfonts-base x11-apps g++ man-db
  coreutils bash liblz4-dev libexpat1-dev
  # wallpapers (natural), line art (cad) and video sources
  desktop-base plasma-workspace-wallpapers librsvg2-bin gnuplot-nox ffmpeg
  # pictures: loading, cropping and writing PNGs at maximum compression
  python3-pil optipng
)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "make-screen-corpus: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    "${missing[@]}"
fi

# A free display number: no lock file and no socket.
display=""
for n in $(seq 90 140); do
  if [[ ! -e /tmp/.X$n-lock && ! -e /tmp/.X11-unix/X$n ]]; then
    display=$n
    break
  fi
done
if [[ -z $display ]]; then
  echo "make-screen-corpus: no free X display number in 90-140" >&2
  exit 1
fi

# A fixed work folder: paths of the files shown appear in title and location bars.
work=/tmp/spiced-screen-corpus
rm -rf "$work"
mkdir -p "$work"
xvfb_pid=""
cleanup() {
  if [[ -n $xvfb_pid ]]; then kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 96 dpi so font sizes in points give the same pixels everywhere; no screen saver.
Xvfb ":$display" -screen 0 1920x1080x24 -dpi 96 -nolisten tcp -noreset -s 0 -dpms \
  >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
  [[ -e /tmp/.X11-unix/X$display ]] && break
  sleep 0.1
done
if [[ ! -e /tmp/.X11-unix/X$display ]]; then
  echo "make-screen-corpus: Xvfb :$display did not start:" >&2
  cat "$work/xvfb.log" >&2
  exit 1
fi

/usr/bin/python3 scripts/screen_corpus.py --display ":$display" --work "$work" "$@"
