#!/usr/bin/env bash
# Whole-process `stepgate eval` latency (policy load + collect + evaluate + print), side by side
# with /bin/true as the process-spawn baseline. Target: <= 5 ms median. Two cases: a first use
# (no state directory: the policy's YAML is parsed) and a machine where stepgate already has a
# state directory (the parsed-policy cache the gate keeps is used, as it is by the hooks). Each case
# runs with the shipped git.yaml and with a generated 1,000-rule policy (#21: large policies; the
# same generator as engine_bench's BM_GeneratedRules).
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
# The generated policy: 1,000 rules over five kind patterns, 3 in 5 apply to git.push.
{
  echo "name: generated"
  echo "rules:"
  kinds=("git.push" "git.*" "tool.call" "model.deploy" "*")
  for i in $(seq 0 999); do
    printf '  - id: r%d\n    on: "%s"\n    when: signals.hour == %d || (signals.velocity > %d000 && !signals.elevated)\n    score: %d\n    message: "rule %d {actor}"\n' \
      "$i" "${kinds[$((i % 5))]}" $((100 + i)) "$i" $((1 + i % 7)) "$i"
  done
} >"$work/rules1000.yaml"
mkdir -p "$work/used/state"

median_ms() {  # CMD...: median wall time over $runs runs
  local t0 t1; : >"$work/t"
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N); "$@" >/dev/null || true; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) >>"$work/t"
  done
  sort -n "$work/t" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] / 1000}'
}

for policy in "$src/policies/git.yaml" "$work/rules1000.yaml"; do
  eval_cmd="$bin eval --policy $policy --action $work/action.json --signals $work/signals.json"
  for home in "$work/fresh" "$work/used"; do
    STEPGATE_HOME=$home $eval_cmd >/dev/null  # must work (exit 0: allow)
  done
  [ ! -e "$work/fresh/state" ] || { echo "eval created a state directory" >&2; exit 1; }
  for case in fresh used; do
    export STEPGATE_HOME="$work/$case"
    label="eval $(basename "$policy") ($([ $case = fresh ] && echo "first use, YAML" || echo "state dir, cached"))"
    if command -v hyperfine >/dev/null; then
      hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/h.json" "/bin/true" "$eval_cmd" >/dev/null
      python3 - "$work/h.json" "$label" <<'PY'
import json, sys, statistics
r = {("eval" if "eval" in x["command"] else "true"): x["times"] for x in json.load(open(sys.argv[1]))["results"]}
m, t = statistics.median(r["eval"]) * 1000, statistics.median(r["true"]) * 1000
print(f"{sys.argv[2]:45s} median {m:7.2f} ms  range {min(r['eval'])*1000:.2f}-{max(r['eval'])*1000:.2f}  /bin/true {t:.2f} ms  ratio {m/t:.1f}x  (n={len(r['eval'])})")
PY
    else
      printf '%-45s median %s ms   /bin/true %s ms (n=%s)\n' "$label" "$(median_ms $eval_cmd)" "$(median_ms /bin/true)" "$runs"
    fi
  done
done
