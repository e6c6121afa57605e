#!/usr/bin/env bash
# Configures and builds stepgate into build/ (or $STEPGATE_BUILD_DIR).
# Usage: scripts/build.sh [--sanitize] [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${STEPGATE_BUILD_DIR:-build}"
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEPGATE_TESTS=ON)
for a in "$@"; do
  case "$a" in
    --sanitize) build_dir="${STEPGATE_BUILD_DIR:-build-asan}"; args+=(-DSTEPGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    --bench) args+=(-DSTEPGATE_BENCH=ON -DCMAKE_BUILD_TYPE=Release) ;;
    *) echo "build.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# ccache (when installed) lets several work trees of one checkout share their compiled objects.
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}" CCACHE_NOHASHDIR=1
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" "${args[@]}" >/dev/null
else
  cmake -S . -B "$build_dir" "${args[@]}" >/dev/null
fi
cmake --build "$build_dir" -j "${STEPGATE_JOBS:-2}"
