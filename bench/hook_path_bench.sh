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

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
BIN=${STEPGATE_BIN:-$SRC/build/stepgate}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
N=${N:-21}
RUNS=${RUNS:-200}
if [ ! -x "$SRC/bench/peers/node_modules/.bin/lefthook" ]; then
  (cd "$SRC/bench/peers" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
fi
LEFTHOOK=$SRC/bench/peers/node_modules/.bin/lefthook
OUT=$HERE/results/hook_path.txt
[ -x "$LEFTHOOK" ] || { echo "lefthook not found at $LEFTHOOK (npm install in bench/peers)" >&2; exit 2; }
for b in "$BIN" "$(dirname "$BIN")/stepgate-git-hook" "$(dirname "$BIN")/stepgate-hook"; do
  [ -x "$b" ] || { echo "not built: $b" >&2; exit 2; }
done

TMP=$(mktemp -d)
DAEMON_PID=
trap '[ -z "$DAEMON_PID" ] || kill "$DAEMON_PID" 2> /dev/null; rm -rf "$TMP"' EXIT
export HOME=$TMP STEPGATE_HOME=$TMP/stepgate STEPGATE_NO_TTY=1 NO_COLOR=1 STEPGATE_ACTOR=bench
export GIT_CONFIG_NOSYSTEM=1 STEPGATE_DAEMON_SOCKET=$TMP/run/hookd.sock STEPGATE_DAEMON_AUTOSTART=0
git config --global user.email bench@example.com
git config --global user.name Bench
git config --global init.defaultBranch main

# ---- git: one source repository, main + a 100-commit branch -------------------------------------
git init -q "$TMP/src"
cd "$TMP/src"
echo "# bench" > README.md && git add README.md && git commit -qm base
python3 - "$TMP/stream" <<'PY'
import sys
out = open(sys.argv[1], "wb")
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
for i in range(1, 101):
    out.write(b"commit refs/heads/bench100\nmark :%d\n" % i)
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
PY
git fast-import --quiet < "$TMP/stream"
CONFIGS=(none lefthook stepgate)
for cfg in "${CONFIGS[@]}"; do
  git clone -q --bare "$TMP/src" "$TMP/remote-$cfg.git"
  git --git-dir="$TMP/remote-$cfg.git" update-ref -d refs/heads/bench100
  cp -r "$TMP/src" "$TMP/work-$cfg"
  git -C "$TMP/work-$cfg" remote add origin "$TMP/remote-$cfg.git"
  git -C "$TMP/work-$cfg" fetch -q origin
done
(cd "$TMP/work-stepgate" && mkdir -p .stepgate && cp "$SRC/policies/git.yaml" .stepgate/policy.yaml &&
  echo .stepgate >> .git/info/exclude && "$BIN" hooks install > /dev/null)
grep -q "^exec '$(dirname "$BIN")/stepgate-git-hook' pre-push" "$TMP/work-stepgate/.git/hooks/pre-push" ||
  { echo "hooks install did not write the lean hook script" >&2; exit 2; }
(cd "$TMP/work-lefthook" && printf 'pre-push:\n  commands:\n    noop:\n      run: "true"\n' > lefthook.yml &&
  echo lefthook.yml >> .git/info/exclude && "$LEFTHOOK" install > /dev/null)

# ---- Claude Code: the event, the pack less its rate burst, the daemon ---------------------------
mkdir -p "$TMP/project" "$TMP/run" && chmod 700 "$TMP/run"
sed -e "s#__CWD__#$TMP/project#g" -e "s#__HOME__#$HOME#g" \
  "$SRC/tests/agents/fixtures/claude/bash_ls.json" > "$TMP/event.json"
# Hundreds of calls a minute would hold every call after the 30th: this measures the allow path.
sed 's/signals.rate > 30/signals.rate > 100000000/' "$SRC/policies/agent-tools.yaml" > "$TMP/policy.yaml"
grep -q 'signals.rate > 100000000' "$TMP/policy.yaml"
"$BIN" daemon 2> "$TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$STEPGATE_DAEMON_SOCKET" ] && break; sleep 0.05; done
[ -S "$STEPGATE_DAEMON_SOCKET" ] || { echo "stepgate daemon did not start" >&2; cat "$TMP/daemon.log" >&2; exit 2; }
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
