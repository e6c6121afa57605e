#!/usr/bin/env bash
# What a pre-push hook costs: medians over N pushes of 100 and of 10,000 new commits to a local
# bare remote, with no hook, /bin/true as the hook (the floor), the stepgate hook (shipped git.yaml
# pack) as `stepgate hooks install` writes it (a /bin/sh script exec'ing the lean
# stepgate-git-hook, deciding in-process), the same with --daemon (the script execs the
# stepgate-hook client, asking a `stepgate daemon` this script starts and stops), a lefthook
# no-op pre-push and a pre-commit no-op pre-push hook. Configurations run interleaved, round by
# round, so machine noise hits them alike. Writes bench/results/git_push.txt.
#
#   STEPGATE_BIN=build/stepgate bench/git_push_bench.sh        (N=15, N_LARGE=N by default)
set -euo pipefail

. "$(dirname "$0")/lib.sh"
N=${N:-15}
N_LARGE=${N_LARGE:-$N}
OUT=$HERE/results/git_push.txt
command -v pre-commit > /dev/null || { echo "pre-commit is not installed" >&2; exit 2; }
bench_lefthook
bench_require_binaries

bench_scratch_home
export PRE_COMMIT_HOME=$TMP/pre-commit-cache

# ---- one source repository: main + a 10,000-commit chain (bench100 = its first 100) ------------
bench_source_repo 10000
CONFIGS=(none true-hook stepgate stepgate-daemon lefthook pre-commit)
bench_clones "${CONFIGS[@]}"

# `stepgate daemon` keeps the gate open for the --daemon install's stepgate-hook client. Started
# here (not by the first push) so the script can stop it; autostart stays off.
bench_start_daemon
bench_install_stepgate stepgate
bench_install_stepgate stepgate-daemon --daemon
bench_expect_hook stepgate "^exec .*stepgate-git-hook' pre-push" "the lean hook into the sh hook"
bench_expect_hook stepgate-daemon "^exec .*stepgate-hook' pre-push" "the stepgate-hook client into the sh hook"
# The floor: a hook that is /bin/true itself (what git's starting any hook costs).
ln -s /bin/true "$TMP/work-true-hook/.git/hooks/pre-push"
bench_install_lefthook lefthook
(cd "$TMP/work-pre-commit" && cat > .pre-commit-config.yaml <<'YAML'
repos:
  - repo: local
    hooks:
      - id: noop
        name: noop
        entry: "true"
        language: system
        stages: [push]
        pass_filenames: false
        always_run: true
YAML
  echo .pre-commit-config.yaml >> .git/info/exclude && pre-commit install -t pre-push > /dev/null)

now_ns() { date +%s%N; }

# push_once CFG SIZE [warmup]: time one push of bench$SIZE as a new branch, then undo it on both
# sides (the remote branch and the local remote-tracking ref, so the next push is new again).
push_once() {
  local cfg=$1 size=$2 warmup=${3:-} start end
  cd "$TMP/work-$cfg"
  start=$(now_ns)
  git push -q origin "bench$size:refs/heads/bench" > /dev/null 2> "$TMP/push.err" ||
    { echo "push failed for $cfg/$size:" >&2; cat "$TMP/push.err" >&2; exit 1; }
  end=$(now_ns)
  git --git-dir="$TMP/remote-$cfg.git" update-ref -d refs/heads/bench
  git update-ref -d refs/remotes/origin/bench 2> /dev/null || true
  [ -n "$warmup" ] || echo "$cfg $size $(( (end - start) / 1000 ))" >> "$TMP/samples"
}

: > "$TMP/samples"
for size in 100 10000; do
  rounds=$N; [ "$size" = 10000 ] && rounds=$N_LARGE
  for cfg in "${CONFIGS[@]}"; do push_once "$cfg" "$size" warmup; done
  for ((r = 0; r < rounds; r++)); do
    for cfg in "${CONFIGS[@]}"; do push_once "$cfg" "$size"; done
  done
done

HOOK_EXEC="a /bin/sh script exec'ing the programs in $(dirname "$BIN")"

# The hook alone, as git starts it, on the 100-commit ref line, with /bin/true beside it.
if command -v hyperfine > /dev/null; then
  cd "$TMP/work-stepgate"
  zeros=0000000000000000000000000000000000000000
  echo "refs/heads/bench100 $(git rev-parse bench100) refs/heads/bench $zeros" > "$TMP/ref100.txt"
  hook() { echo "sh -c '$TMP/work-$1/.git/hooks/pre-push origin $TMP/remote-stepgate.git < $TMP/ref100.txt'"; }
  hyperfine -N --warmup 10 --runs "${HOOK_RUNS:-200}" --export-json "$TMP/hook.json" \
    -n "default: sh -> lean hook" "$(hook stepgate)" \
    -n "--daemon: sh -> client" "$(hook stepgate-daemon)" \
    -n "/bin/true" "sh -c '/bin/true < $TMP/ref100.txt'" > /dev/null
  jq -r '.results[] | "hook alone, 100 commits, \(.command): median \(.median * 1000 | . * 100 | round / 100) ms"' \
    "$TMP/hook.json" > "$TMP/hook.txt"
fi
mkdir -p "$(dirname "$OUT")"
python3 - "$TMP/samples" "$N" "$N_LARGE" "$HOOK_EXEC" <<'PY' | tee "$OUT"
import statistics, sys, platform, subprocess
samples = {}
for line in open(sys.argv[1]):
    cfg, size, us = line.split()
    samples.setdefault((cfg, int(size)), []).append(int(us) / 1000.0)
configs = ["none", "true-hook", "stepgate", "stepgate-daemon", "lefthook", "pre-commit"]
labels = {"none": "no hook", "true-hook": "/bin/true as hook", "stepgate": "stepgate (default)",
          "stepgate-daemon": "stepgate --daemon",
          "lefthook": "lefthook no-op", "pre-commit": "pre-commit no-op"}
git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
print(f"git push of N new commits to a local bare remote; medians (N runs: {sys.argv[2]} for 100, "
      f"{sys.argv[3]} for 10000 commits); {git}; {platform.machine()}")
print(f"{'hook':<22}{'commits':>8}{'median ms':>12}{'added ms':>11}{'x no hook':>11}{'x stepgate':>12}")
import time
spawn = []
for _ in range(50):
    t = time.perf_counter(); subprocess.run(["/bin/true"]); spawn.append((time.perf_counter() - t) * 1000)
print(f"stepgate's installed hook runs {sys.argv[4]}; /bin/true from Python on this machine now: "
      f"median {statistics.median(spawn):.2f} ms (how fast processes start here)")
for size in (100, 10000):
    base = statistics.median(samples[("none", size)])
    sg = statistics.median(samples[("stepgate", size)])
    for cfg in configs:
        m = statistics.median(samples[(cfg, size)])
        print(f"{labels[cfg]:<22}{size:>8}{m:>12.1f}{m - base:>11.1f}{m / base:>11.2f}{m / sg:>12.2f}")
PY
if [ -f "$TMP/hook.txt" ]; then tee -a "$OUT" < "$TMP/hook.txt"; fi  # hyperfine ran
