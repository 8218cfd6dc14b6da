#!/usr/bin/env bash
# Re-records the QXL scenes in tests/corpus/qxl-scenes/ (see its SOURCES.md): the drop-in
# library records what real QXL producers draw (SPICED_RECORD_SCENE) while the integration
# tests run them —
#   xspice-session.scene  Xspice: an xterm scrolling and being moved, xeyes (test_dropin.py
#                         -k xspice_scene)
#   linux-console.scene   QEMU -vga qxl: Debian 12's kernel booting to its qxl DRM console,
#                         coloured text and typed keys (test_dropin_linux.py)
# and each recording is replayed through both compositor backends before it is kept. Needs a
# build (scripts/test.sh or cmake --build build) and the packages scripts/setup-deps.sh installs.
#
#   scripts/record-qxl-scenes.sh [BUILD_DIR]    (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=tests/corpus/qxl-scenes
for needed in "$build/qxl/libspice-server.so.1" "$build/tests/unit/scene_replay_test" \
              "$build/host/spiced-gpu"; do
  [[ -e $needed ]] || { echo "record-qxl-scenes: $needed is missing: build first" >&2; exit 2; }
done
export GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1
unset DISPLAY WAYLAND_DISPLAY
/usr/bin/python3 tests/integration/test_dropin.py --server "$build/host/spiced-gpu" \
  --library "$build/qxl/libspice-server.so.1" --scene-replay "$build/tests/unit/scene_replay_test" \
  --keep-scene "$out" -k xspice_scene
/usr/bin/python3 tests/integration/test_dropin_linux.py --server "$build/host/spiced-gpu" \
  --library "$build/qxl/libspice-server.so.1" --cache "$build/linux-guest" \
  --scene-replay "$build/tests/unit/scene_replay_test" --keep-scene "$out"
ls -l "$out"/*.scene
