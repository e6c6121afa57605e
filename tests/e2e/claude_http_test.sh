#!/usr/bin/env bash
# End-to-end: Claude Code's HTTP hook form. `stepgate agent-hook claude --print-config --http`
# writes the token (0600) and prints the block; `stepgate daemon --http-port 0` serves it on
# 127.0.0.1; curl posts the recorded and documented PreToolUse payloads as Claude Code does, and
# each answer must be the command hook's own JSON. A missing or wrong token is refused (401)
# before the body is read, an oversized body is refused naming the limit (413), a body stepgate
# cannot read is a 200 that blocks, and a token file others can read stops the daemon.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
WORK=$(mktemp -d /tmp/sg-http-e2e-XXXXXX)
DAEMON_PID=
cleanup() {
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock" STEPGATE_DAEMON_AUTOSTART=0
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"
mkdir -p "$WORK/run" && chmod 700 "$WORK/run"

# The printed block, and the token it reads from the environment.
"$BIN" agent-hook claude --print-config --http --http-port 47999 >"$WORK/settings.json" 2>"$WORK/config.err"
TOKEN_FILE="$STEPGATE_HOME/config/claude-hook.token"
hook=$(jq -c '.hooks.PreToolUse[0].hooks[0]' "$WORK/settings.json")
if [[ $(jq -r .type <<<"$hook") == http && $(jq -r .onFailure <<<"$hook") == block &&
      $(jq -r .url <<<"$hook") == http://127.0.0.1:47999/v1/claude/hook &&
      $(jq -r .headers.Authorization <<<"$hook") == 'Bearer $STEPGATE_HOOK_TOKEN' &&
      $(stat -c %a "$TOKEN_FILE") == 600 && $(grep -c "$(cat "$TOKEN_FILE")" "$WORK/settings.json") == 0 &&
      $(cat "$WORK/config.err") == *"export STEPGATE_HOOK_TOKEN"* ]]; then
  pass "--print-config --http: onFailure block, loopback URL, token 0600 and not in the block"
else
  fail "--print-config --http: $hook / $(stat -c %a "$TOKEN_FILE") / $(cat "$WORK/config.err")"
fi
TOKEN=$(cat "$TOKEN_FILE")
set +e
"$BIN" agent-hook claude --print-config --http --policy "$POLICY" >/dev/null 2>"$WORK/config.err"
rc=$?
set -e
[[ $rc == 2 && $(cat "$WORK/config.err") == *"takes no --policy"* ]] &&
  pass "--http with --policy: refused (the daemon's layers decide)" || fail "--http --policy: rc=$rc $(cat "$WORK/config.err")"
"$BIN" agent-hook claude --print-config --http >/dev/null 2>&1
[[ $(cat "$TOKEN_FILE") == "$TOKEN" ]] && pass "a second --print-config keeps the token" ||
  fail "the token changed on a second --print-config"

# The daemon decides with the layers in effect: the test policy as the user's layer.
start_daemon() {
  STEPGATE_POLICY="$POLICY" "$BIN" daemon --http-port 0 2>"$WORK/daemon.err" &
  DAEMON_PID=$!
  for _ in $(seq 100); do
    PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/daemon.err" | cut -d: -f3 || true)
    [[ -n $PORT ]] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}
start_daemon || fail "daemon did not start: $(cat "$WORK/daemon.err")"
URL="http://127.0.0.1:$PORT/v1/claude/hook"

# post BODY_FILE [AUTH_HEADER] -> CODE, BODY
post() {
  local auth=(-H "Authorization: ${2-Bearer $TOKEN}")
  [[ ${2-x} == none ]] && auth=()
  CURL_RC=0
  : >"$WORK/body"
  CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' \
    --data-binary "@$1" "$URL") || CURL_RC=$?
  BODY=$(cat "$WORK/body")
}

# Every payload: the HTTP body is the command hook's stdout (an allow prints nothing).
for f in recorded_bash_ls recorded_bash_rm_rf recorded_bash_git_push_force recorded_write_env_secret \
         recorded_read_ssh_key bash_ls edit_source bash_rm_rf read_ssh_key session_start; do
  event "$f" >"$WORK/event.json"
  post "$WORK/event.json"
  OUT=$(STEPGATE_POLICY="$POLICY" "$BIN" agent-hook claude <"$WORK/event.json")
  if [[ $CODE == 200 && $BODY == "$OUT" ]]; then
    OUT=$BODY
    pass "$f over HTTP: 200, the command hook's answer (${OUT:0:60}$([[ -n $OUT ]] && echo "… decision $(decision)"))"
  else
    fail "$f over HTTP: $CODE '$BODY' vs command hook '$OUT'"
  fi
done

# The held call over HTTP is a deny with the short id, never the token.
event recorded_bash_rm_rf >"$WORK/event.json"
post "$WORK/event.json"
OUT=$BODY
if [[ $(decision) == deny && $BODY == *"stepgate approve "* && $BODY != *sgc1.* ]]; then
  pass "a held rm -rf over HTTP: deny naming the short challenge id"
else
  fail "held rm -rf over HTTP: $BODY"
fi

# No token, a wrong one, another scheme: 401 with how to fix it, nothing decided or audited.
audit_before=$(wc -l <"$STEPGATE_HOME/state/audit.jsonl")
for auth in none "Bearer " "Bearer x$TOKEN" "Bearer ${TOKEN:1}" "Basic $TOKEN" "bearer $TOKEN"; do
  post "$WORK/event.json" "$auth"
  if [[ $CODE == 401 && $BODY == *STEPGATE_HOOK_TOKEN* ]]; then
    pass "Authorization '${auth:0:12}…': 401"
  else
    fail "Authorization '${auth:0:12}…': $CODE $BODY"
  fi
done
[[ $(wc -l <"$STEPGATE_HOME/state/audit.jsonl") == "$audit_before" ]] &&
  pass "refused requests reach no gate (no audit record)" || fail "a refused request was audited"

# Over the limit: 413 naming it with the token; without it, 401 before the body is read.
head -c 9000000 /dev/zero | tr '\0' a >"$WORK/big"
post "$WORK/big"
[[ $CODE == 413 && $BODY == *8388608* ]] && pass "a 9 MB body: 413 naming the 8388608-byte limit" ||
  fail "9 MB body: $CODE $BODY"
post "$WORK/big" none
# Refused before the body is read: the 401, or, when the daemon has closed while curl was still
# sending, the connection cut under curl (55: send failed, 56: reset) before it could read it.
[[ $CODE == 401 || ($CODE == 000 && ($CURL_RC == 55 || $CURL_RC == 56)) ]] &&
  pass "a 9 MB body without the token: 401 (or cut off while sending)" ||
  fail "9 MB body, no token: $CODE (curl exit $CURL_RC)"

# A chunked body says no length, and cpp-httplib's limit reads only Content-Length: refused (411)
# before it is read, naming the limit, however large it would have grown.
CODE=$(head -c 9000000 /dev/zero | tr '\0' a | curl -s -o "$WORK/body" -w '%{http_code}' \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Transfer-Encoding: chunked' --data-binary @- "$URL") || true
BODY=$(cat "$WORK/body")
[[ $CODE == 411 && $BODY == *8388608* ]] && pass "a chunked body: 411 naming the 8388608-byte limit" ||
  fail "chunked body: $CODE $BODY"

# What the command hook would exit 2 on is a 200 that blocks.
printf 'not json' >"$WORK/bad"
post "$WORK/bad"
[[ $CODE == 200 && $(jq -r .decision <<<"$BODY") == block ]] && pass "malformed event: 200 decision block" ||
  fail "malformed event: $CODE $BODY"
printf '{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":["rm","-rf","/"]}}' >"$WORK/bad"
post "$WORK/bad"
OUT=$BODY
[[ $CODE == 200 && $(decision) == deny ]] && pass "a command that is not a string: 200 deny" ||
  fail "array command: $CODE $BODY"

# Anything else on the port is not served.
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/")
[[ $CODE == 404 ]] && pass "GET / with the token: 404" || fail "GET /: $CODE"

kill "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
# No daemon: the connection is refused (Claude Code then blocks only with onFailure: block).
set +e
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" --data-binary "@$WORK/event.json" "$URL"
rc=$?
set -e
[[ $rc == 7 ]] && pass "daemon stopped: connection refused" || fail "daemon stopped: curl exit $rc"

# A token file others can read stops the daemon's HTTP hook (and the daemon) with how to fix it.
chmod 644 "$TOKEN_FILE"
set +e
STEPGATE_POLICY="$POLICY" timeout 10 "$BIN" daemon --http-port 0 2>"$WORK/daemon.err"
rc=$?
set -e
[[ $rc == 2 && $(cat "$WORK/daemon.err") == *"chmod 600"* ]] && pass "token readable by others: daemon refuses (exit 2)" ||
  fail "token 644: exit $rc $(cat "$WORK/daemon.err")"
rm -f "$TOKEN_FILE"
set +e
STEPGATE_POLICY="$POLICY" timeout 10 "$BIN" daemon --http-port 0 2>"$WORK/daemon.err"
rc=$?
set -e
[[ $rc == 2 && $(cat "$WORK/daemon.err") == *"--print-config --http"* ]] && pass "no token: daemon refuses, naming the command" ||
  fail "no token: exit $rc $(cat "$WORK/daemon.err")"

echo "claude_http_test: $failures failure(s)"
[[ $failures -eq 0 ]]
