#!/usr/bin/env bash
# Whole-process `stepgate eval` latency (policy load + collect + evaluate + print), side by side
# with /bin/true as the process-spawn baseline. Target: <= 5 ms median. Two cases: a first use
# (no state directory: the policy's YAML is parsed) and a machine where stepgate already has a
# state directory (the parsed-policy cache the gate keeps is used, as it is by the hooks).
# Usage: bench/eval_process_bench.sh [STEPGATE_BIN] [RUNS]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${STEPGATE_BIN:-$src/build/stepgate}}"
runs="${2:-200}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export STEPGATE_DEVICE=bench-device
printf '{"kind":"git.push","actor":"alice","resource":"origin refs/heads/main","attributes":{"ref":"refs/heads/main"}}' >"$work/action.json"
echo '{"ref":"refs/heads/main","protected":true,"commits":3,"files_changed":4}' >"$work/signals.json"
eval_cmd="$bin eval --policy $src/policies/git.yaml --action $work/action.json --signals $work/signals.json"
mkdir -p "$work/used/state"
for home in "$work/fresh" "$work/used"; do
  STEPGATE_HOME=$home $eval_cmd >/dev/null  # must work (exit 0: allow)
done
[ ! -e "$work/fresh/state" ] || { echo "eval created a state directory" >&2; exit 1; }

median_ms() {  # CMD...: median wall time over $runs runs
  local t0 t1; : >"$work/t"
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N); "$@" >/dev/null || true; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) >>"$work/t"
  done
  sort -n "$work/t" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] / 1000}'
}

for case in fresh used; do
  export STEPGATE_HOME="$work/$case"
  label="stepgate eval ($([ $case = fresh ] && echo "first use, YAML parsed" || echo "state dir, cached policy"))"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/h.json" "/bin/true" "$eval_cmd" >/dev/null
    python3 - "$work/h.json" "$label" <<'PY'
import json, sys, statistics
for r in json.load(open(sys.argv[1]))["results"]:
    name = sys.argv[2] if "eval" in r["command"] else r["command"]
    print(f"{name:45s} median {statistics.median(r['times']) * 1000:.2f} ms  (n={len(r['times'])})")
PY
  else
    printf '%-45s median %s ms (n=%s)\n' /bin/true "$(median_ms /bin/true)" "$runs"
    printf '%-45s median %s ms (n=%s)\n' "$label" "$(median_ms $eval_cmd)" "$runs"
  fi
done
