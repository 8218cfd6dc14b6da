#!/usr/bin/env bash
# The ThreadSanitizer pass, a second command beside scripts/test.sh: installs what is missing,
# builds with -fsanitize=thread (build-tsan/) and runs every unit test and the input, TLS,
# many-clients, monitors and protocol integration scripts on both I/O backends. It takes about
# 20 minutes on two cores (build 9, unit tests 8, integration 3), which would double CI's run,
# so it is not part of scripts/test.sh. A report fails the test that raised it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
export TSAN_OPTIONS
cmake -S . -B build-tsan -G Ninja -DSPICED_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPICED_TSAN=ON -DSPICED_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$(nproc)"
(cd build-tsan && ctest --output-on-failure -j "$(nproc)" --timeout 600)
