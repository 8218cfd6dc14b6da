#!/usr/bin/env bash
# Our lossless image encoders against the reference ones, per kind of screen content, in one
# process: spice-common's QUIC and LZ, spice-server's GLZ and LZ4 (lz4-encoder.c, feeding
# liblz4 the BGRX rows in place), as Debian builds them.
#
# The reference code is never part of this repository: this script fetches Debian's spice
# source package with `apt-get source` (a private apt configuration; the system's sources and
# lists are not touched) into a folder outside the repository, builds the encoders there with
# Debian's CFLAGS, and links them with our harness (bench/reference/compare_codecs.cpp, built
# in the project's build folder as the target compare_codecs, outside the default build).
#
# Usage: scripts/compare-reference-codecs.sh [--build-dir DIR] [--corpus DIR] [--rounds N]
#            [--cpu N] [--json FILE] [--codecs quic,lz,glz,lz4] [--project-build DIR]
#   --build-dir      where the reference is fetched and built (default
#                    ${XDG_CACHE_HOME:-$HOME/.cache}/spiced-gpu/reference; not inside the repo)
#   --corpus         <kind>/<name>.png images (default tests/corpus/screens)
#   --rounds         timed rounds per image and codec, alternating ours / theirs (default 9)
#   --cpu            the core the harness is pinned to with taskset (default 1)
#   --json           also write every image's figures to FILE
#   --project-build  the project's CMake build folder (default build; configured Release and
#                    built if missing)
# Prints per-image lines on stderr and the Markdown tables (docs/benchmarks.md) on stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
build_dir="${XDG_CACHE_HOME:-$HOME/.cache}/spiced-gpu/reference"
corpus="$repo/tests/corpus/screens"
project_build="$repo/build"
rounds=9
cpu=1
json=""
codecs=""
jobs="${JOBS:-2}"

fail() {
  echo "compare-reference-codecs: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while (($#)); do
  case "$1" in
    --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
    --corpus) corpus="${2:?--corpus needs a value}"; shift 2 ;;
    --rounds) rounds="${2:?--rounds needs a value}"; shift 2 ;;
    --cpu) cpu="${2:?--cpu needs a value}"; shift 2 ;;
    --json) json="${2:?--json needs a value}"; shift 2 ;;
    --codecs) codecs="${2:?--codecs needs a value}"; shift 2 ;;
    --project-build) project_build="${2:?--project-build needs a value}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown argument $1 (--help for usage)" ;;
  esac
done

[[ $rounds =~ ^[1-9][0-9]*$ ]] || fail "--rounds must be a positive number"
[[ $cpu =~ ^[0-9]+$ ]] || fail "--cpu must be a CPU number"

# Paths given relative to where the script was started.
build_dir=$(realpath -m "$build_dir")
corpus=$(realpath -m "$corpus")
project_build=$(realpath -m "$project_build")
if [[ -n $json ]]; then json=$(realpath -m "$json"); fi

case "$build_dir/" in
  "$repo"/*) fail "--build-dir $build_dir is inside the repository; the reference code must stay out of it" ;;
esac
[[ -d $corpus ]] || fail "no corpus at $corpus (give --corpus DIR holding <kind>/<name>.png)"

# ---- What the reference needs to build (only the missing packages are installed) ----------
packages=(dpkg-dev build-essential pkg-config libglib2.0-dev liblz4-dev libspice-protocol-dev
  cmake ninja-build)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "compare-reference-codecs: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  { "${sudo_cmd[@]}" apt-get update -q && "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"; } \
    >&2 || fail "could not install ${missing[*]}"
fi

# ---- Fetch Debian's spice source package -----------------------------------------------------
mkdir -p "$build_dir/src"
find_spice() {
  find "$build_dir/src" -mindepth 1 -maxdepth 1 -type d -name 'spice-[0-9]*' | sort -V | tail -n 1
}
spice_dir=$(find_spice)
if [[ -z $spice_dir || ! -f $spice_dir/server/glz-encoder.c ]]; then
  codename=bookworm
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  fi
  apt_dir="$build_dir/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  printf 'deb-src http://deb.debian.org/debian %s main\n' "$codename" >"$apt_dir/sources.list"
  # Private sources, lists and cache: the system's apt state is left as it is.
  apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
  if [[ $(id -u) -eq 0 ]]; then apt_options+=(-o "APT::Sandbox::User=root"); fi
  echo "compare-reference-codecs: fetching spice's source ($codename) into $build_dir/src" >&2
  if ! (cd "$build_dir/src" && apt-get "${apt_options[@]}" update -q &&
    apt-get "${apt_options[@]}" source spice) >"$build_dir/fetch.log" 2>&1; then
    fail "could not fetch spice's source with apt-get source (see $build_dir/fetch.log)"
  fi
  spice_dir=$(find_spice)
  [[ -n $spice_dir && -f $spice_dir/server/glz-encoder.c ]] ||
    fail "apt-get source spice gave no spice-*/server/glz-encoder.c under $build_dir/src"
fi
common="$spice_dir/subprojects/spice-common/common"
[[ -f $common/quic.c && -f $common/lz.c && -f $spice_dir/server/lz4-encoder.c ]] ||
  fail "$spice_dir lacks common/quic.c, common/lz.c or server/lz4-encoder.c"

# ---- Build the reference encoders with Debian's flags ----------------------------------------
obj="$build_dir/obj"
mkdir -p "$obj"
# The few configuration macros these files read (spice's build generates a config.h).
printf '#define HAVE_LZ4_COMPRESS_FAST_CONTINUE 1\n#define USE_LZ4 1\n' >"$obj/config.h.new"
if ! cmp -s "$obj/config.h.new" "$obj/config.h"; then mv "$obj/config.h.new" "$obj/config.h"; fi
rm -f "$obj/config.h.new"
read -ra debian_flags <<<"$(cd "$spice_dir" && dpkg-buildflags --get CPPFLAGS) $(cd "$spice_dir" && dpkg-buildflags --get CFLAGS)"
read -ra pkg_flags <<<"$(pkg-config --cflags glib-2.0 spice-protocol liblz4)"
cflags=("${debian_flags[@]}" '-DG_LOG_DOMAIN="Spice"' "-I$obj" "-I$spice_dir/subprojects/spice-common"
  "-I$common" "-I$spice_dir/server" "${pkg_flags[@]}")
sources=("$common/quic.c" "$common/lz.c" "$common/log.c" "$common/backtrace.c"
  "$spice_dir/server/glz-encoder.c" "$spice_dir/server/glz-encoder-dict.c"
  "$spice_dir/server/lz4-encoder.c" "$repo/bench/reference/reference_codecs.c")
objects=()
echo "${cflags[*]}" >"$obj/flags.new"
if ! cmp -s "$obj/flags.new" "$obj/flags"; then
  mv "$obj/flags.new" "$obj/flags"
  rm -f "$obj"/*.o
fi
rm -f "$obj/flags.new"
for source in "${sources[@]}"; do
  object="$obj/$(basename "$source" .c).o"
  objects+=("$object")
  if [[ ! -f $object || $source -nt $object || $repo/bench/reference/reference_codecs.h -nt $object ]]; then
    (cd "$spice_dir" && gcc "${cflags[@]}" -c "$source" -o "$object") >"$obj/build.log" 2>&1 ||
      fail "could not build $(basename "$source") of the reference (see $obj/build.log)"
  fi
done
reference_lib="$obj/libspice-reference.a"
rm -f "$reference_lib"
ar rcs "$reference_lib" "${objects[@]}"

# ---- Build the harness in the project's build folder ------------------------------------------
if [[ ! -f $project_build/build.ninja ]]; then
  "$repo/scripts/setup-deps.sh" >&2
  cmake -S "$repo" -B "$project_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DSPICED_REFERENCE_LIB=$reference_lib" >&2 || fail "could not configure $project_build"
else
  cmake -S "$repo" -B "$project_build" "-DSPICED_REFERENCE_LIB=$reference_lib" >/dev/null ||
    fail "could not configure $project_build"
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$project_build/CMakeCache.txt")
if [[ $build_type != Release ]]; then
  echo "compare-reference-codecs: warning: $project_build is a '$build_type' build, not Release" >&2
fi
ninja -C "$project_build" -j"$jobs" compare_codecs >&2 || fail "could not build compare_codecs in $project_build"

# ---- Run, pinned to one core -----------------------------------------------------------------
args=(--corpus "$corpus" --rounds "$rounds")
if [[ -n $json ]]; then args+=(--json "$json"); fi
if [[ -n $codecs ]]; then args+=(--codecs "$codecs"); fi
echo "compare-reference-codecs: $(basename "$spice_dir") built with: ${debian_flags[*]}" >&2
exec taskset -c "$cpu" "$project_build/bench/reference/compare_codecs" "${args[@]}"
