#!/usr/bin/env bash
# Whole-process `stepgate ci gate --manifest` latency (policy load, manifest parse, artifact hash,
# state store, evaluate, audit append with fsync, GitHub outputs), side by side with /bin/true as
# the process-spawn baseline. Target: <= 10 ms median.
# Usage: bench/ci_gate_bench.sh [STEPGATE_BIN] [RUNS]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${STEPGATE_BIN:-$src/build/stepgate}}"
runs="${2:-200}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unset GITLAB_CI CI STEPGATE_GRANT STEPGATE_POLICY || true
export STEPGATE_HOME="$work/home" STEPGATE_DEVICE=bench-device
# A simulated GitHub Actions job, so the run also writes annotations, summary and outputs.
export GITHUB_ACTIONS=true GITHUB_ACTOR=alice GITHUB_REPOSITORY=acme/models GITHUB_REF_NAME=main \
  GITHUB_SHA=0123456789abcdef GITHUB_EVENT_NAME=push GITHUB_RUN_ATTEMPT=1 \
  GITHUB_OUTPUT="$work/gh_output" GITHUB_STEP_SUMMARY="$work/gh_summary"

head -c 1048576 /dev/zero >"$work/model.bin"  # a 1 MiB local artifact to hash
cat >"$work/manifest.yaml" <<EOF
model: {name: fraud-detector, version: "1.4.0"}
artifact: {path: model.bin, uri: "s3://models/fraud-detector/1.4.0.onnx", sha256: $(sha256sum "$work/model.bin" | cut -d' ' -f1), size_bytes: 1048576}
target: {environment: staging}
previous: {version: "1.3.0", size_bytes: 1000000}
evaluation:
  candidate: {accuracy: 0.93, latency_ms: 40}
  baseline: {accuracy: 0.92, latency_ms: 41}
  metrics:
    accuracy: {direction: higher, tolerance_pct: 1}
    latency_ms: {direction: lower, tolerance_abs: 5}
EOF
gate_cmd="$bin ci gate --policy $src/policies/model-deploy.yaml --manifest $work/manifest.yaml"
$gate_cmd >/dev/null  # must work (exit 0: allow)

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/h.json" "/bin/true" "$gate_cmd" >/dev/null
  python3 - "$work/h.json" <<'PY'
import json, sys, statistics
for r in json.load(open(sys.argv[1]))["results"]:
    name = "stepgate ci gate" if "ci gate" in r["command"] else r["command"]
    t = sorted(r["times"])
    print(f"{name:17s} median {statistics.median(t) * 1000:.2f} ms  "
          f"p90 {t[int(len(t) * 0.9)] * 1000:.2f} ms  (n={len(t)})")
PY
  exit 0
fi
median_ms() {  # CMD...: median wall time over $runs runs
  local t0 t1; : >"$work/t"
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N); "$@" >/dev/null || true; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) >>"$work/t"
  done
  sort -n "$work/t" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] / 1000}'
}
echo "/bin/true         median $(median_ms /bin/true) ms (n=$runs)"
echo "stepgate ci gate  median $(median_ms $gate_cmd) ms (n=$runs)"
