#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite
# (doctest unit tests, policy pack tests, end-to-end tests on real git, HTTP and MCP peers).
# Usage: scripts/test.sh [--sanitize]   (--sanitize: the same suite on an ASan+UBSan build)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=build
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  scripts/build.sh --sanitize
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  scripts/build.sh
fi
ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 600
