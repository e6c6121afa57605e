#!/usr/bin/env bash
# Interleaved `stepgate eval` (which collects what the gate collects, baselines included when a
# rule reads them) with the git pack vs the same pack without its three baseline rules.
# Usage: bench/baselines_bench.sh (N=60 pairs by default; BIN, POL override). Prints medians
# and their ratio; the history is 40 gated pushes by one actor.
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/stepgate}
POL=${POL:-$PWD/policies/git.yaml}
export STEPGATE_HOME=$(mktemp -d) STEPGATE_ACTOR=alice STEPGATE_DEVICE=d
unset GITHUB_ACTIONS GITLAB_CI CI STEPGATE_POLICY
python3 - "$POL" > "$STEPGATE_HOME/nobase.yaml" <<'PY'
import sys; s=open(sys.argv[1]).read(); print(s[:s.index('\n  # Behavioural baselines')])
PY
for i in $(seq 1 40); do $BIN ci gate --policy "$POL" --kind git.push --resource "origin refs/heads/f$i" >/dev/null 2>&1; done
echo '{"kind":"git.push","actor":"alice","resource":"origin refs/heads/x","attributes":{}}' > "$STEPGATE_HOME/a.json"
a=(); b=()
for i in $(seq 1 ${N:-60}); do
  s=$(date +%s%N); $BIN eval --policy "$POL" --action "$STEPGATE_HOME/a.json" >/dev/null 2>&1; e=$(date +%s%N); a+=($(( (e-s)/1000 )))
  s=$(date +%s%N); $BIN eval --policy "$STEPGATE_HOME/nobase.yaml" --action "$STEPGATE_HOME/a.json" >/dev/null 2>&1; e=$(date +%s%N); b+=($(( (e-s)/1000 )))
done
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
ma=$(med "${a[@]}"); mb=$(med "${b[@]}")
echo "eval with baseline rules: median ${ma} us; without: median ${mb} us; ratio $(python3 -c "print(round($ma/$mb,3))")"
rm -rf "$STEPGATE_HOME"
