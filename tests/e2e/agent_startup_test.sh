#!/usr/bin/env bash
# End-to-end: mcp-wrap and the shim when their gate cannot open. The one on_error rule (core's
# gate_open_failure) decides: a policy that loads and says on_error: allow lets mcp-wrap start
# and pass calls on (with one warning); otherwise nothing starts and one clear line says why. A
# shim started that way has nothing to approve: its approvals endpoints answer 503.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
WORK=$(mktemp -d /tmp/sg-startup-e2e-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/sg" HOME="$WORK/home"
unset STEPGATE_POLICY STEPGATE_GRANT
mkdir -p "$HOME" "$STEPGATE_HOME/state"
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

printf 'version: 1\nname: open\non_error: allow\nrules: []\n' >"$WORK/allow.yaml"
printf 'version: 1\nname: closed\non_error: deny\nrules: []\n' >"$WORK/deny.yaml"
printf 'version: 1\nname: broken\non_error: allow\nrulez: []\n' >"$WORK/broken.yaml"
# The state store cannot open: its path is a directory.
mkdir -p "$STEPGATE_HOME/state/state.db"

CALL='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}'

# wrap POLICY -> OUT, ERR, RC. `cat` stands in for the server: what reaches it comes back.
wrap() {
  set +e
  OUT=$(printf '%s\n' "$CALL" | timeout 20 "$BIN" mcp-wrap --policy "$1" -- cat 2>"$WORK/err")
  RC=$?
  set -e
  ERR=$(cat "$WORK/err")
}

wrap "$WORK/allow.yaml"
if [[ $RC -eq 0 && $OUT == *'"id":7'* && $OUT == *'"name":"echo"'* && $ERR == *"warning:"*"on_error: allow"* ]]; then
  pass "mcp-wrap: store fails, policy says on_error: allow -> starts, the call reaches the server, one warning"
else
  fail "mcp-wrap allow: rc=$RC out=$OUT err=$ERR"
fi

for policy in deny broken; do
  wrap "$WORK/$policy.yaml"
  if [[ $RC -eq 2 && -z $OUT && $(wc -l <"$WORK/err") -eq 1 && $ERR == stepgate:*"fail closed"* ]]; then
    pass "mcp-wrap: $policy policy -> nothing starts, exit 2, one line"
  else
    fail "mcp-wrap $policy: rc=$RC out=$OUT err=$ERR"
  fi
done

# shim SHIM_POLICY -> ERR, RC (it must refuse before listening)
shim() {
  set +e
  timeout 20 "$BIN" shim --listen 127.0.0.1:0 --upstream http://127.0.0.1:9/mcp --policy "$1" \
    >/dev/null 2>"$WORK/err"
  RC=$?
  set -e
  ERR=$(cat "$WORK/err")
}
shim "$WORK/deny.yaml"
if [[ $RC -eq 2 && $(wc -l <"$WORK/err") -eq 1 && $ERR == stepgate:*"fail closed"* ]]; then
  pass "shim: gate cannot open -> refuses with one line (fail closed)"
else
  fail "shim deny: rc=$RC err=$ERR"
fi
# on_error: allow: the shim starts without its gate, says so once, and passes calls on.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
UP_PORT=$(free_port)
SHIM_PORT=$(free_port)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=$UP_PORT node "$ROOT/bench/shim_fixed_upstream.mjs" 2>/dev/null &
UP_PID=$!
"$BIN" shim --listen "127.0.0.1:$SHIM_PORT" --upstream "http://127.0.0.1:$UP_PORT/mcp" \
  --policy "$WORK/allow.yaml" >"$WORK/shim.out" 2>"$WORK/shim.err" &
SHIM_PID=$!
trap 'kill $UP_PID $SHIM_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  grep -q "/mcp/" "$WORK/shim.out" 2>/dev/null && curl -s "http://127.0.0.1:$UP_PORT/stats" >/dev/null && break
  sleep 0.1
done
ENDPOINT=$(grep -o "http://127.0.0.1:$SHIM_PORT/mcp/[A-Za-z0-9_.-]*" "$WORK/shim.out" | head -1)
set +e
REPLY=$(curl -s -X POST -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' --data "$CALL" "$ENDPOINT")
INBOX=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SHIM_PORT/v1/approvals")
set -e
STATS=$(curl -s "http://127.0.0.1:$UP_PORT/stats")
ERR=$(cat "$WORK/shim.err")
if [[ $REPLY == *'"id":7'*'"text":"ok"'* && $STATS == *'"requests":1'* && $INBOX == 503 &&
  $(wc -l <"$WORK/shim.err") -eq 1 && $ERR == *"warning:"*"on_error: allow"* ]]; then
  pass "shim: store fails, policy says on_error: allow -> starts, the call reaches the server, one warning, approvals 503"
else
  fail "shim allow: reply=$REPLY stats=$STATS inbox=$INBOX err=$ERR out=$(cat "$WORK/shim.out")"
fi
kill $SHIM_PID $UP_PID 2>/dev/null || true
wait $SHIM_PID $UP_PID 2>/dev/null || true
shim "$WORK/broken.yaml"
if [[ $RC -eq 2 && $(wc -l <"$WORK/err") -eq 1 && $ERR == stepgate:*"fail closed"* ]]; then
  pass "shim: a broken policy saying on_error: allow is not trusted -> refuses with one line"
else
  fail "shim broken: rc=$RC err=$ERR"
fi

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
