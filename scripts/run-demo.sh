#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and serve the embedded demo desktop.
# Then connect with: remote-viewer spice://127.0.0.1:5900
# Extra arguments go to spiced-gpu (e.g. --port 5901 --password-file FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target spiced-gpu
if [[ " $* " != *" --password"* ]]; then
  set -- --disable-ticketing "$@"
fi
exec build/host/spiced-gpu --addr 127.0.0.1 --port 5900 "$@"
