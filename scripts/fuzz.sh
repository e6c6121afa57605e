#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan+UBSan, in build-fuzz/) and runs each for a fixed
# time from its checked-in seed corpus (tests/fuzz/corpus/NAME). A crash, sanitizer report, leak,
# input slower than 10 s or 2 GiB of memory fails the run; the input is left in
# build-fuzz/artifacts/. Prints executions per second for each harness. Harnesses run
# $STEPGATE_JOBS (default 2) at a time.
# Usage: scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]   (default: 20 s, every harness)
# The mutation seed is fixed (STEPGATE_FUZZ_SEED, default 1) so a CI failure reproduces; set
# another seed, or 0 for a random one, to explore further.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
build_dir="${STEPGATE_FUZZ_BUILD_DIR:-build-fuzz}"
args=(-DSTEPGATE_FUZZ=ON -DSTEPGATE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only")
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" "${generator[@]}" "${args[@]}" >/dev/null
fi
cmake --build "$build_dir" --target fuzzers -j "${STEPGATE_JOBS:-2}"

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do harnesses+=("$(basename "$f" .cpp)"); done
fi
artifacts="$build_dir/artifacts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# run_one NAME: one harness on a copy of its seeds (the run never grows the checked-in corpus);
# its log, exit status and corpus size land in $work.
run_one() {
  local name=$1 status=0
  mkdir -p "$work/$name"
  cp -r "tests/fuzz/corpus/${name%_fuzz}/." "$work/$name/" 2>/dev/null || true
  "$build_dir/tests/fuzz/$name" -max_total_time="$seconds" -seed="${STEPGATE_FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work/$name" >"$work/$name.log" 2>&1 ||
    status=$?
  echo "$status" >"$work/$name.status"
}
# As many harnesses at once as build jobs (each is single-threaded).
jobs="${STEPGATE_JOBS:-2}"
for name in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$name" &
done
wait
failed=()
printf '%-20s %10s %12s %8s\n' harness execs execs/s corpus
for name in "${harnesses[@]}"; do
  log="$work/$name.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-20s %10s %12s %8s\n' "$name" "${execs:-?}" "${rate:-?}" "$(ls "$work/$name" | wc -l)"
  if [ "$(cat "$work/$name.status")" != 0 ]; then
    failed+=("$name")
    echo "---- $name failed (exit $(cat "$work/$name.status")); the last lines of its log:" >&2
    tail -n 60 "$log" >&2
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $artifacts)" >&2
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, ${seconds} s each, no crash"
