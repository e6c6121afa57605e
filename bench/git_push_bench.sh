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

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
BIN=${STEPGATE_BIN:-$SRC/build/stepgate}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
N=${N:-15}
N_LARGE=${N_LARGE:-$N}
# lefthook comes from bench/peers (npm install there, pinned in its package.json).
if [ ! -x "$SRC/bench/peers/node_modules/.bin/lefthook" ]; then
  (cd "$SRC/bench/peers" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
fi
LEFTHOOK=$SRC/bench/peers/node_modules/.bin/lefthook
OUT=$HERE/results/git_push.txt
command -v pre-commit > /dev/null || { echo "pre-commit is not installed" >&2; exit 2; }
[ -x "$LEFTHOOK" ] || { echo "lefthook not found at $LEFTHOOK (npm install in bench/peers)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "stepgate binary not found at $BIN" >&2; exit 2; }

TMP=$(mktemp -d)
DAEMON_PID=
trap '[ -z "$DAEMON_PID" ] || kill "$DAEMON_PID" 2> /dev/null; rm -rf "$TMP"' EXIT
export HOME=$TMP STEPGATE_HOME=$TMP/stepgate STEPGATE_NO_TTY=1 NO_COLOR=1
export PRE_COMMIT_HOME=$TMP/pre-commit-cache GIT_CONFIG_NOSYSTEM=1
git config --global user.email bench@example.com
git config --global user.name Bench
git config --global init.defaultBranch main

# ---- one source repository: main + a 10,000-commit chain (bench100 = its first 100) ------------
git init -q "$TMP/src"
cd "$TMP/src"
echo "# bench" > README.md && git add README.md && git commit -qm base
python3 - "$TMP/stream" <<'PY'
import sys
out = open(sys.argv[1], "wb")
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
for i in range(1, 10001):
    out.write(b"commit refs/heads/bench10000\nmark :%d\n" % i)
    out.write(b"author Bench <bench@example.com> %d +0000\n" % (1700000000 + i))
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % (1700000000 + i))
    data(b"change %d" % i)
    out.write(b"from refs/heads/main^0\n" if i == 1 else b"from :%d\n" % (i - 1))
    body = "".join(
        f"def handler_{i}_{k}(request, options):\n"
        f"    value = compute(request.items[{k}], options.get('timeout', {i % 30}))\n"
        f"    return {{'id': {i * 100 + k}, 'value': value}}\n" for k in range(6))
    out.write(b"M 644 inline src/module_%d.py\n" % (i % 50))
    data(body.encode())
out.write(b"reset refs/heads/bench100\nfrom :100\n")
PY
git fast-import --quiet < "$TMP/stream"

CONFIGS=(none true-hook stepgate stepgate-daemon lefthook pre-commit)
for cfg in "${CONFIGS[@]}"; do
  git clone -q --bare "$TMP/src" "$TMP/remote-$cfg.git"
  git --git-dir="$TMP/remote-$cfg.git" for-each-ref --format='%(refname)' refs/heads/bench* |
    xargs -r -n1 git --git-dir="$TMP/remote-$cfg.git" update-ref -d
  cp -r "$TMP/src" "$TMP/work-$cfg"
  git -C "$TMP/work-$cfg" remote add origin "$TMP/remote-$cfg.git"
  git -C "$TMP/work-$cfg" fetch -q origin
done

# `stepgate daemon` keeps the gate open for the --daemon install's stepgate-hook client. Started
# here (not by the first push) so the script can stop it; autostart stays off.
export STEPGATE_DAEMON_SOCKET=$TMP/run/hookd.sock STEPGATE_DAEMON_AUTOSTART=0
mkdir -m 700 "$TMP/run"
"$BIN" daemon > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$STEPGATE_DAEMON_SOCKET" ] && break; sleep 0.05; done
[ -S "$STEPGATE_DAEMON_SOCKET" ] || { echo "stepgate daemon did not start:" >&2; cat "$TMP/daemon.log" >&2; exit 2; }
install_stepgate() {  # install_stepgate CFG [hooks install options...]
  local cfg=$1; shift
  (cd "$TMP/work-$cfg" && mkdir -p .stepgate && cp "$SRC/policies/git.yaml" .stepgate/policy.yaml &&
    echo .stepgate >> .git/info/exclude && "$BIN" hooks install "$@" > /dev/null)
}
install_stepgate stepgate
install_stepgate stepgate-daemon --daemon
expect_hook() {  # expect_hook CFG PATTERN WHAT
  grep -aq -- "$2" "$TMP/work-$1/.git/hooks/pre-push" ||
    { echo "hooks install did not write $3 ($1)" >&2; exit 2; }
}
expect_hook stepgate "^exec .*stepgate-git-hook' pre-push" "the lean hook into the sh hook"
expect_hook stepgate-daemon "^exec .*stepgate-hook' pre-push" "the stepgate-hook client into the sh hook"
# The floor: a hook that is /bin/true itself (what git's starting any hook costs).
ln -s /bin/true "$TMP/work-true-hook/.git/hooks/pre-push"
(cd "$TMP/work-lefthook" && printf 'pre-push:\n  commands:\n    noop:\n      run: "true"\n' > lefthook.yml &&
  echo lefthook.yml >> .git/info/exclude && "$LEFTHOOK" install > /dev/null)
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
[ -f "$TMP/hook.txt" ] && tee -a "$OUT" < "$TMP/hook.txt"
