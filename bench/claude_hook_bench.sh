#!/usr/bin/env bash
# Whole-process latency of the Claude Code hook on a Bash PreToolUse event (`ls -la`, allowed)
# beside /bin/true, with hyperfine: the `stepgate-hook` client with `stepgate daemon` running
# (what `--print-config` installs), the same client with no daemon and autostart off (its
# in-process fallback), the lean `stepgate-claude-hook` binary (`--print-config --no-daemon`) and
# `stepgate agent-hook claude`. Target: median <= 5 ms.
#   bench/claude_hook_bench.sh [path/to/stepgate] [runs]
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${STEPGATE_BIN:-$SRC/build/stepgate}}
RUNS=${2:-200}
WORK=$(mktemp -d /tmp/sg-hook-bench-XXXXXX)
DAEMON_PID=
trap '[[ -n $DAEMON_PID ]] && kill "$DAEMON_PID"; rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/sg" HOME="$WORK/home" STEPGATE_ACTOR=bench
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock"
mkdir -p "$HOME" "$WORK/project"
sed -e "s#__CWD__#$WORK/project#g" -e "s#__HOME__#$HOME#g" \
  "$SRC/tests/agents/fixtures/claude/bash_ls.json" >"$WORK/event.json"
# The shipped pack less its rate-burst rule: hundreds of calls a minute would hold every call after
# the 30th, and this measures the allow path (signals collected, rules evaluated, audit written).
POLICY="$WORK/policy.yaml"
sed 's/signals.rate > 30/signals.rate > 100000000/' "$SRC/policies/agent-tools.yaml" >"$POLICY"
grep -q 'signals.rate > 100000000' "$POLICY"

# Sanity: the event is allowed (exit 0, nothing printed).
out=$("$BIN" agent-hook claude --policy "$POLICY" <"$WORK/event.json")
[[ -z $out ]] || { echo "unexpected hook output: $out" >&2; exit 1; }

"$BIN" daemon 2>/dev/null &
DAEMON_PID=$!
for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && break; sleep 0.05; done
CLIENT="$(dirname "$BIN")/stepgate-hook"
out=$("$CLIENT" claude --policy "$POLICY" <"$WORK/event.json")
[[ -z $out ]] || { echo "unexpected client output: $out" >&2; exit 1; }

# hyperfine subtracts the shell's own start-up, which both commands pay for the redirection.
hyperfine --warmup 20 --runs "$RUNS" --export-json "$WORK/result.json" \
  -n true "/bin/true <'$WORK/event.json'" \
  -n client-daemon "'$CLIENT' claude --policy '$POLICY' <'$WORK/event.json'" \
  -n client-no-daemon "STEPGATE_DAEMON_AUTOSTART=0 STEPGATE_DAEMON_SOCKET='$WORK/none/hookd.sock' '$CLIENT' claude --policy '$POLICY' <'$WORK/event.json'" \
  -n lean-hook "'$(dirname "$BIN")/stepgate-claude-hook' --policy '$POLICY' <'$WORK/event.json'" \
  -n hook "'$BIN' agent-hook claude --policy '$POLICY' <'$WORK/event.json'"

jq -r '.results[] | "\(.command): median \(.median * 1000 | . * 100 | round / 100) ms, mean \(.mean * 1000 | . * 100 | round / 100) ms, p95-ish max \(.max * 1000 | . * 100 | round / 100) ms"' \
  "$WORK/result.json"
audit_lines=$(wc -l <"$WORK/sg/state/audit.jsonl" 2>/dev/null || echo 0)
held=$(grep -c '"final_verdict":"step_up"' "$WORK/sg/state/audit.jsonl" 2>/dev/null || true)
echo "audit records written during the run: $audit_lines (held: ${held:-0})"
