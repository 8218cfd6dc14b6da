#!/usr/bin/env bash
# Installs the Debian 12 packages spiced-gpu needs to build, test and benchmark — only the
# missing ones, so running it again is cheap. Used by both README commands and by CI.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  libspice-protocol-dev libspice-server-dev liblz4-dev libssl-dev
  zlib1g-dev libjpeg62-turbo-dev libpng-dev libnuma-dev liburing-dev libpixman-1-dev
  # the compositor: Vulkan headers and loader, the GLSL to SPIR-V compiler, and Mesa's
  # lavapipe (the Vulkan device the tests run on where there is no GPU)
  libvulkan-dev glslang-tools mesa-vulkan-drivers
  # video streams: x264, FFmpeg's hardware H.264 encoders (NVENC headers, VAAPI) and the
  # GStreamer plugins spice-gtk decodes streams with (h264parse; avdec_h264)
  libx264-dev libavcodec-dev libavutil-dev libffmpeg-nvenc-dev libva-dev gstreamer1.0-plugins-bad
  gstreamer1.0-libav
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # real clients: spice-gtk's spicy-screenshot and SpiceClientGLib from Python
  spice-client-gtk gir1.2-spiceclientglib-2.0 python3-gi python3-numpy
  # the browser client: spice-html5 in headless Chromium
  spice-html5 chromium
  # real QXL producers for the drop-in libspice-server.so.1, and X tools to check them
  xserver-xspice qemu-system-x86 xterm x11-apps x11-utils xdotool mesa-utils busybox-static
  cpio spice-vdagent xclip
  # shaped links for the bandwidth test (network namespaces, tc tbf)
  iproute2
  # the virgl guest (test_dropin_virgl.py): QEMU's virtio-vga-gl and egl-headless, and what its
  # GL program is compiled against and copied with (Mesa's virtio_gpu DRI driver)
  qemu-system-gui libgbm-dev libegl-dev libgles-dev libdrm-dev libgl1-mesa-dri libegl-mesa0
  # --source virgl: virglrenderer (0.10.4) on EGL surfaceless, Mesa's llvmpipe without a GPU
  libvirglrenderer-dev
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
