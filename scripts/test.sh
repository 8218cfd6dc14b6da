#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build warning-free, and run every test —
# unit, real-client integration and robustness — once on a Release build and once under
# AddressSanitizer + UndefinedBehaviorSanitizer.
# A third pass builds the libFuzzer targets with clang and runs each briefly (its checked-in
# seeds, then a fixed number of inputs). The ThreadSanitizer pass is scripts/test-tsan.sh.
#   SPICED_TEST_SANITIZE=0 / SPICED_TEST_FUZZ=0 skip those passes (faster local iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DSPICED_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

echo "== Release build and tests =="
run_suite build -DCMAKE_BUILD_TYPE=Release
if [[ "${SPICED_TEST_FUZZ:-1}" != 0 ]]; then
  echo "== libFuzzer smoke run (clang, ASan+UBSan) =="
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSPICED_FUZZ=ON -DSPICED_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs" --target spiced_fuzzers
  (cd build-fuzz && ctest --output-on-failure -L fuzz)
fi
if [[ "${SPICED_TEST_SANITIZE:-1}" != 0 ]]; then
  echo "== ASan + UBSan build and tests =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPICED_SANITIZE=ON -DSPICED_BUILD_BENCH=OFF
fi
