#!/usr/bin/env bash
# The two figures of the one hook path (issue 18), side by side in one run:
#  1. git: what the installed pre-push hook adds to a push of 100 new commits to a local bare
#     remote: `stepgate hooks install` (a /bin/sh script exec'ing the lean stepgate-git-hook,
#     shipped git.yaml pack) against a no-op lefthook pre-push, both against no hook. Goal: the
#     lean hook adds at most 0.5x what the no-op lefthook adds.
#  2. Claude Code: one PreToolUse event (Bash `ls -la`, allowed) through `stepgate-hook claude`
#     with `stepgate daemon` running, against /bin/true reading the same event. Goal: within 2x.
# Configurations run interleaved, round by round, so machine noise hits them alike; medians.
#
#   STEPGATE_BIN=build-bench/stepgate bench/hook_path_bench.sh     (N=21 pushes, RUNS=200 events)
set -euo pipefail

. "$(dirname "$0")/lib.sh"
N=${N:-21}
RUNS=${RUNS:-200}
OUT=$HERE/results/hook_path.txt
bench_lefthook
bench_require_binaries stepgate-git-hook stepgate-hook

bench_scratch_home
export STEPGATE_ACTOR=bench

# ---- git: one source repository, main + a 100-commit branch -------------------------------------
bench_source_repo 100
CONFIGS=(none lefthook stepgate)
bench_clones "${CONFIGS[@]}"
bench_install_stepgate stepgate
grep -q "^exec '$(dirname "$BIN")/stepgate-git-hook' pre-push" "$TMP/work-stepgate/.git/hooks/pre-push" ||
  { echo "hooks install did not write the lean hook script" >&2; exit 2; }
bench_install_lefthook lefthook

# ---- Claude Code: the event, the pack less its rate burst, the daemon ---------------------------
mkdir -p "$TMP/project"
sed -e "s#__CWD__#$TMP/project#g" -e "s#__HOME__#$HOME#g" \
  "$SRC/tests/agents/fixtures/claude/bash_ls.json" > "$TMP/event.json"
# Hundreds of calls a minute would hold every call after the 30th: this measures the allow path.
sed 's/signals.rate > 30/signals.rate > 100000000/' "$SRC/policies/agent-tools.yaml" > "$TMP/policy.yaml"
grep -q 'signals.rate > 100000000' "$TMP/policy.yaml"
bench_start_daemon
CLIENT="$(dirname "$BIN")/stepgate-hook"
out=$("$CLIENT" claude --policy "$TMP/policy.yaml" < "$TMP/event.json")
[ -z "$out" ] || { echo "unexpected client output: $out" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
python3 - "$TMP" "$N" "$RUNS" "$CLIENT" "$BIN" <<'PY' | tee "$OUT"
import os, platform, statistics, subprocess, sys, time
tmp, n, runs, client, binary = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
configs = ["none", "lefthook", "stepgate"]

def push(cfg):
    work = f"{tmp}/work-{cfg}"
    start = time.perf_counter_ns()
    r = subprocess.run(["git", "push", "-q", "origin", "bench100:refs/heads/bench"], cwd=work,
                       capture_output=True)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if r.returncode != 0:
        sys.exit(f"push failed for {cfg}: {r.stderr.decode()}")
    subprocess.run(["git", f"--git-dir={tmp}/remote-{cfg}.git", "update-ref", "-d", "refs/heads/bench"], check=True)
    subprocess.run(["git", "update-ref", "-d", "refs/remotes/origin/bench"], cwd=work, capture_output=True)
    return elapsed

def event(argv):
    with open(f"{tmp}/event.json", "rb") as stdin:
        start = time.perf_counter_ns()
        r = subprocess.run(argv, stdin=stdin, capture_output=True)
        elapsed = (time.perf_counter_ns() - start) / 1e6
    if r.returncode != 0 or r.stdout:
        sys.exit(f"{argv[0]}: exit {r.returncode} {r.stdout!r} {r.stderr!r}")
    return elapsed

pushes = {c: [] for c in configs}
for c in configs:
    push(c)  # warm-up
for _ in range(n):
    for c in configs:
        pushes[c].append(push(c))
hooks = {"true": ["/bin/true"], "client-daemon": [client, "claude", "--policy", f"{tmp}/policy.yaml"]}
events = {k: [] for k in hooks}
for _ in range(20):
    for k, argv in hooks.items():
        event(argv)
for _ in range(runs):
    for k, argv in hooks.items():
        events[k].append(event(argv))

med = {c: statistics.median(v) for c, v in pushes.items()}
git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
print(f"hook path figures, one interleaved run; {git}; {platform.machine()}; {os.cpu_count()} CPUs; "
      f"load {os.getloadavg()[0]:.1f}; binaries in {os.path.dirname(binary)}")
print(f"git push of 100 new commits to a local bare remote, median of {n}:")
for c, label in [("none", "no hook"), ("lefthook", "lefthook 2.2.2 no-op pre-push"),
                 ("stepgate", "stepgate hooks install (sh -> stepgate-git-hook)")]:
    print(f"  {label:<50} {med[c]:8.1f} ms   added {med[c] - med['none']:6.1f} ms")
lean_added = med["stepgate"] - med["none"]
lefthook_added = med["lefthook"] - med["none"]
print(f"  stepgate added / lefthook added = {lean_added / lefthook_added:.2f} (goal <= 0.5)")
emed = {k: statistics.median(v) for k, v in events.items()}
print(f"Claude Code PreToolUse event (Bash `ls -la`, allowed), spawn to exit, median of {runs}:")
print(f"  {'/bin/true < event':<50} {emed['true']:8.2f} ms")
print(f"  {'stepgate-hook claude, stepgate daemon running':<50} {emed['client-daemon']:8.2f} ms")
print(f"  client / true = {emed['client-daemon'] / emed['true']:.2f} (goal <= 2)")
PY
