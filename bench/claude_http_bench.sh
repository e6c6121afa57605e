#!/usr/bin/env bash
# Claude Code's HTTP hook form against its command form, one Bash PreToolUse event (`ls -la`,
# allowed), rounds interleaved so that load hits every arm alike. Wall time per call, medians and
# ranges (p10-p90):
#   http     curl POSTing the event to `stepgate daemon --http-port` (the gate decides)
#   http-404 the same curl to a path the daemon does not serve (token checked, no gate): the floor
#            of one curl round trip, so http / http-404 is what the gate adds over HTTP
#   command  the `stepgate-hook claude` client asking the same daemon over its Unix socket
#   true     /bin/true reading the event (a process start)
# Claude Code itself posts from its own process (no curl start), so http-404 overstates what the
# HTTP form costs it; the ratios are the figures to compare.
#   bench/claude_http_bench.sh [path/to/stepgate] [rounds]
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${STEPGATE_BIN:-$SRC/build/stepgate}}
ROUNDS=${2:-200}
WORK=$(mktemp -d /tmp/sg-http-bench-XXXXXX)
DAEMON_PID=
trap '[[ -n $DAEMON_PID ]] && kill "$DAEMON_PID"; rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/sg" HOME="$WORK/home" STEPGATE_ACTOR=bench STEPGATE_DAEMON_AUTOSTART=0
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock"
mkdir -p "$HOME" "$WORK/project" "$WORK/run" && chmod 700 "$WORK/run"
sed -e "s#__CWD__#$WORK/project#g" -e "s#__HOME__#$HOME#g" \
  "$SRC/tests/agents/fixtures/claude/recorded_bash_ls.json" >"$WORK/event.json"
# The shipped pack less its rate-burst rule (it would hold every call after the 30th a minute).
POLICY="$WORK/policy.yaml"
sed 's/signals.rate > 30/signals.rate > 100000000/' "$SRC/policies/agent-tools.yaml" >"$POLICY"
export STEPGATE_POLICY="$POLICY"

"$BIN" agent-hook claude --print-config --http >/dev/null 2>&1
TOKEN=$(cat "$STEPGATE_HOME/config/claude-hook.token")
"$BIN" daemon --http-port 0 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 200); do grep -q 'http://127.0.0.1:' "$WORK/daemon.err" 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/daemon.err" | cut -d: -f3)
CLIENT="$(dirname "$BIN")/stepgate-hook"

http() { curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" --data-binary "@$WORK/event.json" "http://127.0.0.1:$PORT$1"; }
command_form() { "$CLIENT" claude <"$WORK/event.json" >/dev/null; }
# Sanity: allowed (empty body, exit 0) on both forms.
[[ -z $(curl -s -H "Authorization: Bearer $TOKEN" --data-binary "@$WORK/event.json" "http://127.0.0.1:$PORT/v1/claude/hook") ]]
[[ -z $("$CLIENT" claude <"$WORK/event.json") ]]

declare -A samples
time_ns() {  # ARM COMMAND...
  local start end
  start=$(date +%s%N)
  "${@:2}"
  end=$(date +%s%N)
  samples[$1]+="$(((end - start) / 1000)) "
}
for _ in $(seq 10); do http /v1/claude/hook; command_form; done  # warm-up
for _ in $(seq "$ROUNDS"); do
  time_ns http http /v1/claude/hook
  time_ns http-404 http /not-served
  time_ns command command_form
  time_ns true /bin/true <"$WORK/event.json"
done

stats() {  # -> "median p10 p90" in microseconds
  tr ' ' '\n' <<<"${samples[$1]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int(NR/2)+1], a[int(NR*0.1)+1], a[int(NR*0.9)+1]}'
}
declare -A median
for arm in http http-404 command true; do
  read -r m lo hi < <(stats "$arm")
  median[$arm]=$m
  printf '%-9s median %6.2f ms  (p10 %.2f, p90 %.2f)\n' "$arm" "$(bc -l <<<"$m/1000")" "$(bc -l <<<"$lo/1000")" "$(bc -l <<<"$hi/1000")"
done
printf 'http / http-404 = %.2f   command / true = %.2f   http / command = %.2f   (%s rounds)\n' \
  "$(bc -l <<<"${median[http]}/${median[http-404]}")" "$(bc -l <<<"${median[command]}/${median[true]}")" \
  "$(bc -l <<<"${median[http]}/${median[command]}")" "$ROUNDS"
