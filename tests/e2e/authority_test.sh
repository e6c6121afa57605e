#!/usr/bin/env bash
# End-to-end: the authority under its own system user, a developer under another, and a scripted
# hostile agent running as the developer. Real users (useradd --system), real processes (setpriv),
# real TOTP codes (oathtool), real HTTP (curl). Needs root; skipped (exit 0, "SKIP") otherwise.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
E2E=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e
if [[ $(id -u) -ne 0 ]]; then echo "SKIP: the authority suite creates users and needs root"; exit 0; fi
for tool in setpriv useradd userdel oathtool curl jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done
if [[ -e /etc/stepgate/config.yaml ]]; then
  echo "SKIP: this machine has a real /etc/stepgate/config.yaml"; exit 0
fi

WORK=$(mktemp -d /tmp/sg-authority-XXXXXX)
chmod 755 "$WORK"
AUSER=sgauth$$
DUSER=sgdev$$
AUTH_PID=
OTHER_PIDS=()  # the shim, its upstream and the hook daemon, when started
cleanup() {
  [[ -n $AUTH_PID ]] && kill "$AUTH_PID" 2>/dev/null && wait "$AUTH_PID" 2>/dev/null || true
  for pid in "${OTHER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # A process started through as_dev in the background is a grandchild of the PID recorded (the
  # subshell running the function), so it outlived the kill above, and userdel then refused to
  # remove a user with a running process: a shim and the user were left behind on every run.
  # Everything the test's two users still run is stopped by uid (never by a name pattern).
  local u
  for u in "$DUSER" "$AUSER"; do
    id -u "$u" >/dev/null 2>&1 || continue
    pkill -TERM -U "$u" 2>/dev/null || true
    for _ in $(seq 20); do pgrep -U "$u" >/dev/null || break; sleep 0.1; done
    pkill -KILL -U "$u" 2>/dev/null || true
  done
  userdel "$AUSER" 2>/dev/null || true
  userdel "$DUSER" 2>/dev/null || true
  getent group "$AUSER" >/dev/null && groupdel "$AUSER" 2>/dev/null || true
  getent group "$DUSER" >/dev/null && groupdel "$DUSER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# expect NAME CODE CMD...: exit code; stdout/stderr kept in $WORK/out and $WORK/err.
expect() {
  local name=$1 want=$2; shift 2
  local got=0
  "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || got=$?
  if [[ $got == "$want" ]]; then pass "$name"; else
    fail "$name (exit $got, wanted $want)"; sed 's/^/    out: /' "$WORK/out" | head -20
    sed 's/^/    err: /' "$WORK/err" | head -20
  fi
}
json_has() { jq -e "$1" "$2" >/dev/null; }  # json_has FILTER FILE
has() { if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1 (no \"$3\" in $2)"; sed 's/^/    /' "$2" | head -20; fi; }

# code_for SECRET: sets CODE to a code for a time step not used yet with this secret (the
# authority refuses a step used before, or an earlier one), waiting for the next step if needed.
declare -A LAST_STEP
code_for() {
  local secret=$1 last=${LAST_STEP[$1]:-0} step s
  while :; do
    step=$(( $(date +%s) / 30 ))
    for s in $step $((step + 1)); do
      if (( s > last )); then
        LAST_STEP[$secret]=$s
        CODE=$(oathtool --totp -b "$secret" -N "@$((s * 30 + 1))")
        return
      fi
    done
    sleep 1
  done
}

useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$AUSER"
DEVHOME=$WORK/dev
mkdir -p "$DEVHOME"
useradd --system --user-group --home-dir "$DEVHOME" --shell /bin/sh "$DUSER"
chown "$DUSER:$DUSER" "$DEVHOME"
chmod 700 "$DEVHOME"

# The binaries where both users can run them.
mkdir -p "$WORK/bin"
cp "$BIN" "$WORK/bin/stepgate"
for extra in stepgate-claude-hook stepgate-git-hook stepgate-hook; do
  [[ -x $(dirname "$BIN")/$extra ]] && cp "$(dirname "$BIN")/$extra" "$WORK/bin/"
done
chmod 755 "$WORK/bin"/*
SG=$WORK/bin/stepgate
ROOT=$WORK/root
PORT=$(( 20000 + RANDOM % 20000 ))
INBOX=http://127.0.0.1:$PORT

# bob approves; his key is made by root (bob's own machine, in real life).
BOBHOME=$WORK/bob
BOB_PUB=$(STEPGATE_HOME=$BOBHOME "$SG" keygen --approver bob 2>/dev/null | sed -n 's/.*public_key: *\(ed25519:[A-Za-z0-9_-]*\).*/\1/p' | head -1)
check "bob's approver key generated" test -n "$BOB_PUB"

cat >"$WORK/policy.yaml" <<EOF
version: 1
name: authority-e2e
on_error: deny
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
approvers:
  - id: bob
    public_key: $BOB_PUB
rules:
  - id: migrations-need-a-human
    on: db.migrate
    when: action.resource == "prod-db"
    effect: step_up
    message: "a production migration needs a human"
  - id: rm-needs-a-human
    on: tool.call
    when: signals.shell_command.contains("rm -rf")
    effect: step_up
    message: "rm -rf needs a human"
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
  - id: main-needs-a-code
    on: git.push
    when: signals.protected
    effect: step_up
    message: "pushes to protected refs need a code"
  - id: releases-need-an-approver
    on: release.publish
    when: "true"
    effect: step_up
    step_up: { method: approval, approvers: 1 }
    message: "a release needs an approver"
EOF

# --- install into a temporary root, then run as the authority's own user ---
expect "authority install (temp root)" 0 "$SG" authority install --root "$ROOT" --user "$AUSER" \
  --no-user --actor "$DUSER=alice" --inbox-port "$PORT" --policy "$WORK/policy.yaml" --binary "$SG"
STATE=$ROOT/var/lib/stepgate
SOCK=$ROOT/run/stepgate/authority.sock
check "state dir is 0700 and the authority's" test "$(stat -c '%a %U' "$STATE")" == "700 $AUSER"
check "signing key is 0600 and the authority's" test "$(stat -c '%a %U' "$STATE/authority.key")" == "600 $AUSER"
check "unit file written" grep -q "User=$AUSER" "$ROOT/etc/systemd/system/stepgate-authority.service"
check "front-end config pins the key" grep -q "public_key: ed25519:" "$ROOT/etc/stepgate/config.yaml"
chmod 755 "$ROOT" "$ROOT/etc" "$ROOT/run" "$ROOT/var" "$ROOT/var/lib"

# --- the unit runs a binary only root can replace (not one in the developer's ~/.local/bin) ---
mkdir -p "$DEVHOME/.local/bin" && cp "$SG" "$DEVHOME/.local/bin/stepgate" && chown -R "$DUSER:$DUSER" "$DEVHOME/.local"
expect "install refuses a binary the developer can replace" 2 "$SG" authority install --root "$WORK/root3" \
  --user "$AUSER" --no-user --inbox-port 0 --binary "$DEVHOME/.local/bin/stepgate"
has "it says who can change it" "$WORK/err" "can be changed by uid"
check "and made nothing" test ! -e "$WORK/root3"

# --- install runs as root over the authority's own directories: it follows no link put there ---
ROOT2=$WORK/root2
expect "a second install (temp root)" 0 "$SG" authority install --root "$ROOT2" --user "$AUSER" \
  --no-user --inbox-port 0 --binary "$SG"
chmod 755 "$ROOT2" "$ROOT2/var" "$ROOT2/var/lib"
mkdir "$WORK/roots-own" && chmod 755 "$WORK/roots-own"
setpriv --reuid="$AUSER" --regid="$AUSER" --clear-groups -- sh -c \
  "rm -rf '$ROOT2/var/lib/stepgate/secrets' && ln -s '$WORK/roots-own' '$ROOT2/var/lib/stepgate/secrets'"
expect "re-installing over a link the authority's user made is refused" 2 "$SG" authority install \
  --root "$ROOT2" --user "$AUSER" --no-user --inbox-port 0 --binary "$SG"
has "the refusal names the link" "$WORK/err" "is a symbolic link"
check "the link's target is still root's" test "$(stat -c '%U %a' "$WORK/roots-own")" == "root 755"

# Enrolment codes last 10 s here (15 minutes by default), so one can be seen to expire.
echo "enroll_code_ttl: 10s" >>"$ROOT/etc/stepgate/authority.yaml"

setpriv --reuid="$AUSER" --regid="$AUSER" --clear-groups -- \
  "$SG" authority serve --config "$ROOT/etc/stepgate/authority.yaml" 2>"$WORK/authority.log" &
AUTH_PID=$!
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.1; done
check "authority listens on its socket" test -S "$SOCK"
for _ in $(seq 50); do curl -s -o /dev/null "$INBOX/approvals" && break; sleep 0.1; done

# Everything the developer (and their agent) runs: their uid, their HOME, the system config.
as_dev() {
  setpriv --reuid="$DUSER" --regid="$DUSER" --clear-groups -- env -i PATH="$WORK/bin:/usr/bin:/bin" \
    HOME="$DEVHOME" STEPGATE_HOME="$DEVHOME/sg" STEPGATE_NO_TTY=1 NO_COLOR=1 \
    STEPGATE_SYSTEM_CONFIG="$ROOT/etc/stepgate/config.yaml" "$@"
}
# The developer's agent, with environment of its own choosing on top.
as_agent() { as_dev env "$@"; }
audit_has() {  # audit_has NAME JQ-FILTER: a record in the authority's log matches
  if jq -e -s "map(select($2)) | length > 0" "$STATE/audit.jsonl" >/dev/null; then pass "$1"; else
    fail "$1 (no audit record matching $2)"; fi
}

expect "status as the developer names its actor" 0 as_dev stepgate authority status
has "mapped actor is alice" "$WORK/out" "actor: alice"

# --- enrolment: the administrator issues a code, the developer enrols with it ---
expect "the agent cannot issue itself an enrolment code" 1 as_agent stepgate authority enroll-code --actor alice
audit_has "refused code issue audited" '.type == "refusal" and .op == "enroll_code"'
expect "the agent cannot enrol itself without a code" 1 as_agent stepgate authority enroll
audit_has "refused self-enrolment audited" '.type == "refusal" and .op == "enroll"'
expect "administrator issues a code that will expire" 0 "$SG" authority enroll-code --actor alice --socket "$SOCK"
OLD_ECODE=$(tail -1 "$WORK/out")
sleep 11  # past enroll_code_ttl
expect "an expired enrolment code is refused" 1 as_dev stepgate authority enroll --code "$OLD_ECODE"
has "it is named expired" "$WORK/err" "has expired"
audit_has "the expired code is audited" '.type == "refusal" and .op == "enroll" and (.message | test("expired"))'
expect "administrator issues a one-time code" 0 "$SG" authority enroll-code --actor alice --socket "$SOCK"
ECODE=$(tail -1 "$WORK/out")
expect "developer enrols with the one-time code" 0 as_dev stepgate authority enroll --code "$ECODE"
SECRET=$(sed -n 's/^secret: //p' "$WORK/out")
check "seed printed once to the developer" test -n "$SECRET"
expect "the one-time code does not work twice" 1 as_agent stepgate authority enroll --code "$ECODE"
code_for "$SECRET"
expect "activate with an oathtool code" 0 as_dev stepgate authority activate --code "$CODE"
expect "administrator enrols bob" 0 "$SG" authority enroll --actor bob --socket "$SOCK"
BOB_SECRET=$(sed -n 's/^secret: //p' "$WORK/out")
code_for "$BOB_SECRET"
expect "administrator activates bob" 0 "$SG" authority activate --actor bob --socket "$SOCK" --code "$CODE"
expect "the agent cannot re-enrol approver bob" 1 as_agent stepgate authority enroll --actor bob
has "re-enrolling another actor is named" "$WORK/err" "cannot enroll another actor"
expect "the agent cannot replace alice's active factor without a code" 1 as_agent stepgate authority enroll
has "replacing needs a current code" "$WORK/err" "needs a current code"

set +e; as_agent stepgate enroll --actor bob --force --no-qr >"$WORK/out" 2>"$WORK/err"; rc=$?; set -e
check "the local \`stepgate enroll --force\` refuses when an authority is configured" test "$rc" -ne 0
has "it names the authority" "$WORK/err" "enrol with \`stepgate authority enroll\`"

# --- reading the authority's files ---
for f in "$STATE/secrets/totp/alice.json" "$STATE/authority.key" "$STATE/audit.jsonl" "$STATE/state.db"; do
  expect "the agent cannot read $(basename "$f")" 1 as_agent cat "$f"
done

# --- a CI step gated through the authority: held, approved in the inbox with a code, retried ---
mkdir -p "$DEVHOME/repo/.stepgate"
chown -R "$DUSER:$DUSER" "$DEVHOME/repo"
ci_step() { as_agent "$@" sh -c "cd $DEVHOME/repo && stepgate ci gate --kind db.migrate --resource prod-db"; }
expect "CI migration is held by the authority" 3 ci_step
ID=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" "$WORK/err" | head -1 | awk '{print $2}')
check "a short challenge id is printed" test -n "$ID"
audit_has "the held step is in the authority's log" '.type == "decision" and .final_verdict == "step_up" and .action.actor == "alice"'

# --- the hostile agent tries to get it through ---
cat >"$DEVHOME/repo/.stepgate/policy.yaml" <<'EOF'
version: 1
name: agent-was-here
mode: shadow
thresholds: { step_up: 999, deny: 1000 }
rules: []
EOF
cat >"$DEVHOME/permissive.yaml" <<'EOF'
version: 1
name: permissive
on_error: allow
rules: []
EOF
mkdir -p "$DEVHOME/sg/config"
printf 'authority:\n  socket: /nonexistent.sock\n' >"$DEVHOME/sg/config/config.yaml"
chown -R "$DUSER:$DUSER" "$DEVHOME"
expect "a weakened repository policy does not lift the hold" 3 ci_step
expect "STEPGATE_POLICY, STEPGATE_AUTHORITY and STEPGATE_ACTOR do not lift it" 3 ci_step \
  STEPGATE_POLICY="$DEVHOME/permissive.yaml" STEPGATE_AUTHORITY=/tmp/none.sock STEPGATE_ACTOR=bob
audit_has "a claimed actor is recorded, not believed" '.type == "decision" and .claimed_actor == "bob" and .action.actor == "alice"'

post() {  # post PATH JSON [CURL ARGS...]: as the agent, prints the HTTP status
  local path=$1 body=$2; shift 2
  as_agent curl -s -o "$DEVHOME/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    "$@" --data "$body" "$INBOX$path"
}
check "registering a challenge through the API is refused" test "$(post /v1/challenges '{"id":"abcd-efgh"}')" == 403
audit_has "challenge registration audited" '.type == "refusal" and .op == "register_challenge"'
check "approving a forged challenge id is refused" test "$(post /v1/challenges/zzzz-zzzz/approve '{"code":"123456"}')" == 404
FORGED="sgc1.$(printf '{"id":"%s","actor":"alice"}' "$ID" | base64 -w0 | tr '+/' '-_' | tr -d =).AAAA"
expect "approving a forged challenge token is refused" 2 as_agent stepgate authority approve "$FORGED" --code 123456
audit_has "forged challenge refusals audited" '.type == "refusal" and .op == "approve"'
check "approving without a code is refused" test "$(post "/v1/challenges/$ID/approve" '{}')" == 403
check "approving with a wrong code is refused" test "$(post "/v1/challenges/$ID/approve" '{"code":"000000"}')" == 403
check "a cross-origin approval is refused" test "$(post "/v1/challenges/$ID/approve" '{}' -H 'Origin: http://evil.example')" == 403
check "a form post (CSRF) is refused" test "$(as_agent curl -s -o /dev/null -w '%{http_code}' -X POST --data code=1 "$INBOX/v1/challenges/$ID/approve")" == 403
audit_has "inbox refusals audited" '.type == "refusal" and .via == "inbox" and (.message | test("TOTP code"))'
check "a chunked body (no length, so no limit) is refused before it is read" test "$(post "/v1/challenges/$ID/approve" '{"code":"1"}' -H 'Transfer-Encoding: chunked')" == 411
has "the refusal names the limit" "$DEVHOME/body" "16384 bytes"
check "a malformed body is a 400, not a missing proof" test "$(post "/v1/challenges/$ID/approve" '{"code":')" == 400
has "it says why" "$DEVHOME/body" "malformed body"
check "a code that is not a string is a 400" test "$(post "/v1/challenges/$ID/approve" '{"code":123456}')" == 400
# Wrong codes count per page session (the inbox page makes a random one per load): an agent's
# guesses lock out its own session, not the human's browser.
AGENT_SESSION=agent-session-0000000001
for _ in 1 2 3 4 5; do post "/v1/challenges/$ID/approve" "{\"code\":\"000000\",\"session\":\"$AGENT_SESSION\"}" >/dev/null; done
check "five wrong codes lock out the session that sent them (429)" test "$(post "/v1/challenges/$ID/approve" "{\"code\":\"000000\",\"session\":\"$AGENT_SESSION\"}")" == 429
has "it is told it is locked out" "$DEVHOME/body" "locked out"
expect "still held after all that" 3 ci_step

# --- the human approves in the inbox with a real code; the retry passes once ---
code_for "$SECRET"
check "approve in the inbox with alice's code (another page session)" test "$(post "/v1/challenges/$ID/approve" "{\"code\":\"$CODE\",\"session\":\"human-browser-0000000001\"}")" == 200
audit_has "the approval is in the log" ".type == \"approval\" and .challenge == \"$ID\" and .identity == \"alice\""
expect "the CI step passes after the approval" 0 ci_step
expect "the approval is single-use (replay held again)" 3 ci_step

# --- an approval requirement: alice's own code is not enough; bob's is ---
rel() { as_agent sh -c "cd $DEVHOME/repo && stepgate ci gate --kind release.publish --resource v1"; }
expect "a release is held for an approver" 3 rel
RID=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" "$WORK/err" | head -1 | awk '{print $2}')
check "alice cannot approve her own release" test "$(post "/v1/challenges/$RID/approve" "{\"approver\":\"alice\",\"code\":\"123456\"}")" == 403
has "self-approval is named" "$DEVHOME/body" "may not decide"
code_for "$BOB_SECRET"
check "bob approves with his code" test "$(post "/v1/challenges/$RID/approve" "{\"approver\":\"bob\",\"code\":\"$CODE\"}")" == 200
expect "the release passes after bob's approval" 0 rel

# --- a Claude Code tool call held, approved, retried once ---
event() {
  jq -cn --arg cmd "$1" --arg cwd "$DEVHOME/repo" \
    '{session_id:"s1",hook_event_name:"PreToolUse",tool_name:"Bash",tool_input:{command:$cmd},cwd:$cwd}'
}
claude() { event "$1" >"$WORK/event"; chmod 644 "$WORK/event"; as_agent sh -c "cd $DEVHOME/repo && stepgate agent-hook claude < $WORK/event"; }
expect "a harmless tool call is allowed" 0 claude "ls"
check "no decision printed for it" test ! -s "$WORK/out"
expect "rm -rf is held (hook answers)" 0 claude "rm -rf build"
check "the hook denies it for now" json_has '.hookSpecificOutput.permissionDecision == "deny"' "$WORK/out"
CID=$(grep -o '[a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" | head -1)
check "the tool call's challenge id is in the answer" test -n "$CID"
code_for "$SECRET"
check "approve the tool call with alice's code" test "$(post "/v1/challenges/$CID/approve" "{\"code\":\"$CODE\"}")" == 200
expect "the retried tool call passes" 0 claude "rm -rf build"
check "no deny for the approved retry" test "$(jq -r '.hookSpecificOutput.permissionDecision // "none"' "$WORK/out" 2>/dev/null || echo none)" != deny
expect "a second retry is held again" 0 claude "rm -rf build"
check "second retry denied" json_has '.hookSpecificOutput.permissionDecision == "deny"' "$WORK/out"

# --- what a held call shows at the inbox: what it does, redacted as the audit log is ---
GH_TOKEN_LIKE="ghp_""Zq3X9vL2mN8pR4tW6yB1cD5fG7hJ0kS2aE4u"  # assembled: the file holds no token verbatim
expect "a tool call carrying a token is held" 0 claude "rm -rf dist --token=$GH_TOKEN_LIKE"
TID=$(grep -o '[a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" | head -1)
as_agent curl -s -o "$DEVHOME/challenge.json" "$INBOX/v1/challenges/$TID"
has "the pending challenge names the command" "$DEVHOME/challenge.json" "rm -rf dist"
has "its token is redacted" "$DEVHOME/challenge.json" "REDACTED"
check "and is not in it" test "$(grep -cF -- "$GH_TOKEN_LIKE" "$DEVHOME/challenge.json")" == 0
if [[ -x /usr/bin/chromium ]]; then
  # What the approver sees: the page, rendered by a real browser.
  timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" \
    --virtual-time-budget=3000 --dump-dom "$INBOX/approvals" >"$WORK/page.html" 2>/dev/null || true
  has "the inbox page shows what the held call does" "$WORK/page.html" "rm -rf dist"
  check "and not the token" test "$(grep -cF -- "$GH_TOKEN_LIKE" "$WORK/page.html")" == 0
else
  echo "SKIP: no /usr/bin/chromium (the rendered inbox page is not checked)"
fi

# --- the hook daemon's pooled gates ask the authority: held, approved in its inbox, retried once ---
# Only stepgate and the client here: with the daemon not answering the client fails closed, so
# every answer below came from the daemon.
mkdir -p "$WORK/dbin"
if [[ -x $(dirname "$BIN")/stepgate-hook ]]; then
  cp "$SG" "$(dirname "$BIN")/stepgate-hook" "$WORK/dbin/"
  chmod 755 "$WORK/dbin" "$WORK/dbin"/*
  as_dev mkdir -m 700 "$DEVHOME/run"
  as_daemon() { as_dev env STEPGATE_DAEMON_SOCKET="$DEVHOME/run/hookd.sock" STEPGATE_DAEMON_AUTOSTART=0 "$@"; }
  dclaude() { event "$1" >"$WORK/event"; chmod 644 "$WORK/event"; as_daemon sh -c "cd $DEVHOME/repo && $WORK/dbin/stepgate-hook claude < $WORK/event"; }
  expect "no daemon: the client fails closed" 2 dclaude "ls"
  as_daemon "$WORK/dbin/stepgate" daemon 2>"$WORK/daemon.err" &
  OTHER_PIDS+=($!)
  for _ in $(seq 100); do [[ -S $DEVHOME/run/hookd.sock ]] && break; sleep 0.1; done
  expect "daemon: a harmless tool call is allowed" 0 dclaude "ls -l"
  check "daemon: no decision printed for it" test ! -s "$WORK/out"
  expect "daemon: rm -rf is held by the authority" 0 dclaude "rm -rf dist"
  check "daemon: the hook denies it for now" json_has '.hookSpecificOutput.permissionDecision == "deny"' "$WORK/out"
  DID=$(grep -o '[a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" | head -1)
  check "daemon: the authority's challenge id is in the answer" test -n "$DID"
  audit_has "daemon: the held call is in the authority's log" \
    ".type == \"decision\" and .final_verdict == \"step_up\" and .step_up.challenge_id == \"$DID\""
  code_for "$SECRET"
  check "daemon: approve in the authority's inbox" test "$(post "/v1/challenges/$DID/approve" "{\"code\":\"$CODE\"}")" == 200
  expect "daemon: the retried call passes" 0 dclaude "rm -rf dist"
  check "daemon: no deny for the approved retry" test "$(jq -r '.hookSpecificOutput.permissionDecision // "none"' "$WORK/out" 2>/dev/null || echo none)" != deny
  expect "daemon: a second retry is held again" 0 dclaude "rm -rf dist"
  check "daemon: second retry denied" json_has '.hookSpecificOutput.permissionDecision == "deny"' "$WORK/out"
else
  fail "stepgate-hook is not built next to $BIN"
fi

# --- the shim under the authority: a held call stays open (hold mode) until it is approved in
# the authority's inbox, then completes ---
if command -v node >/dev/null && [[ -d $E2E/node_modules/@modelcontextprotocol/sdk ]]; then
  UPORT=$(( PORT + 1 ))
  PORT="$UPORT" node "$E2E/node_modules/.bin/mcp-server-everything" streamableHttp >"$WORK/upstream.log" 2>&1 &
  OTHER_PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening on port" "$WORK/upstream.log" && break; sleep 0.1; done
  as_dev stepgate shim --upstream "http://127.0.0.1:$UPORT/mcp" --listen 127.0.0.1:0 --hold 90s \
    >"$WORK/shim.log" 2>&1 &
  OTHER_PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening on http" "$WORK/shim.log" && break; sleep 0.1; done
  SHIM=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/shim.log" | head -1)
  check "the shim runs as the developer under the authority" test -n "$SHIM"
  node "$E2E/authority_mcp_call.mjs" "$SHIM/mcp" echo '{"message":"hi"}' >"$WORK/mcp.out" 2>&1 || true
  has "shim: a harmless call goes through" "$WORK/mcp.out" "Echo: hi"
  node "$E2E/authority_mcp_call.mjs" "$SHIM/mcp" get-sum '{"a":40,"b":2}' >"$WORK/mcp.out" 2>&1 &
  MCP_PID=$!
  SID=
  for _ in $(seq 300); do
    SID=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/mcp.out" | head -1 | awk '{print $2}' || true)
    [[ -n $SID ]] && break
    sleep 0.1
  done
  check "shim: the held call names the authority's challenge while it waits" test -n "$SID"
  check "shim: the call is still open" kill -0 "$MCP_PID"
  code_for "$SECRET"
  check "shim: approve the held call in the authority's inbox" \
    test "$(post "/v1/challenges/$SID/approve" "{\"code\":\"$CODE\"}")" == 200
  wait "$MCP_PID" || true
  has "shim: the held call completes with the upstream's answer" "$WORK/mcp.out" "The sum of 40 and 2 is 42"
  audit_has "shim: the approval is in the authority's log" ".type == \"approval\" and .challenge == \"$SID\""
else
  fail "node and tests/e2e/node_modules are needed for the shim case"
fi

# --- a held push, approved with a TOTP code in the inbox, and retried ---
as_dev sh -c "cd $DEVHOME && git init -q --bare remote.git && git init -q -b main work && cd work &&
  git -c user.email=alice@example.com -c user.name=Alice commit -q --allow-empty -m one &&
  git remote add origin $DEVHOME/remote.git && stepgate hooks install" >/dev/null
push() { as_dev GIT_CONFIG_NOSYSTEM=1 sh -c "cd $DEVHOME/work && git push -q origin main"; }
expect "a push to main is held by the authority" 1 push
PUSH_ID=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" "$WORK/err" | head -1 | awk '{print $2}')
check "the held push names its challenge" test -n "$PUSH_ID"
code_for "$SECRET"
check "approve the push in the inbox with alice's code" test "$(post "/v1/challenges/$PUSH_ID/approve" "{\"code\":\"$CODE\"}")" == 200
expect "the retried push goes through" 0 push
check "the remote has the commit" test -n "$(git --git-dir="$DEVHOME/remote.git" rev-parse --verify -q main 2>/dev/null)"

# --- the terminal relay: the hook prompts on the developer's terminal (script(1) gives one), the
# authority checks the code it relays ---
as_dev_tty() {  # as_dev, but with a terminal allowed
  setpriv --reuid="$DUSER" --regid="$DUSER" --clear-groups -- env -i PATH="$WORK/bin:/usr/bin:/bin" \
    HOME="$DEVHOME" STEPGATE_HOME="$DEVHOME/sg" NO_COLOR=1 TERM=dumb \
    STEPGATE_SYSTEM_CONFIG="$ROOT/etc/stepgate/config.yaml" "$@"
}
# on_terminal CMD [N]: runs CMD as the developer on a fresh terminal and types $CODE at each of
# the first N (default 1) "TOTP code" prompts; sets TTY_RC. The terminal's output: $WORK/tty.out.
on_terminal() {
  local i prompts
  rm -f "$WORK/tty.in"; mkfifo "$WORK/tty.in"; : >"$WORK/tty.out"
  as_dev_tty script -qfec "$1" /dev/null <"$WORK/tty.in" >"$WORK/tty.out" 2>&1 &
  local pid=$!
  exec 9>"$WORK/tty.in"
  for i in $(seq "${2:-1}"); do
    for _ in $(seq 300); do
      prompts=$(grep -o "TOTP code" "$WORK/tty.out" | wc -l || true)
      (( prompts >= i )) && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    printf '%s\n' "$CODE" >&9 2>/dev/null || true
  done
  TTY_RC=0; wait "$pid" || TTY_RC=$?
  exec 9>&-
}
as_dev sh -c "cd $DEVHOME/work && git -c user.email=alice@example.com -c user.name=Alice commit -q --allow-empty -m two"
code_for "$SECRET"
on_terminal "cd $DEVHOME/work && GIT_CONFIG_NOSYSTEM=1 git push -q origin main"
has "the hook asks for a code on the terminal" "$WORK/tty.out" "TOTP code"
check "a push relayed with alice's code goes through (exit $TTY_RC)" test "$TTY_RC" -eq 0
check "the remote has the relayed push" test "$(git --git-dir="$DEVHOME/remote.git" log -1 --format=%s main)" == two
audit_has "the relayed code is verified and recorded by the authority" \
  '.type == "stepup" and .actor == "alice" and .outcome == "satisfied" and .method == "totp"'
as_dev sh -c "cd $DEVHOME/work && git -c user.email=alice@example.com -c user.name=Alice commit -q --allow-empty -m three"
CODE=000000
on_terminal "cd $DEVHOME/work && GIT_CONFIG_NOSYSTEM=1 git push -q origin main" 3
check "a wrong relayed code does not let the push through" test "$TTY_RC" -ne 0
check "the remote does not have it" test "$(git --git-dir="$DEVHOME/remote.git" log -1 --format=%s main)" == two

# --- replaying a grant: bob's offline grant works once ---
expect "a release held again" 3 rel
GRANT_FOR=$(jq -r -s 'map(select(.type == "decision" and .action.kind == "release.publish")) | last | .action.digest' "$STATE/audit.jsonl")
# bob reads what he approves from the authority (the digest) and signs offline with his own key.
TOKEN=$(python3 - "$GRANT_FOR" <<'PY'
import base64, hashlib, json, sys, time
now = int(time.time())
c = {"v": 1, "id": "bobsview", "kind": "release.publish", "resource": "v1", "actor": "alice",
     "digest": sys.argv[1], "rev": "", "score": 0, "reasons": [], "signals": {}, "attributes": {},
     "requirement": {"method": "approval", "approvers": 1, "max_age": 0},
     "created_at": now, "expires_at": now + 600}
body = json.dumps(c, sort_keys=True, separators=(",", ":"))
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
print("sgc1." + b64(body.encode()) + "." + b64(hashlib.sha256(body.encode()).digest()[:12]))
PY
)
GRANT=$(STEPGATE_HOME=$BOBHOME "$SG" approve --yes --approver bob --policy "$WORK/policy.yaml" "$TOKEN" 2>"$WORK/err" | tail -1 || true)
if [[ $GRANT == ey* ]]; then
  pass "bob signs a grant offline"
  expect "bob's grant lets the release through" 0 as_agent STEPGATE_GRANT="$GRANT" sh -c "cd $DEVHOME/repo && stepgate ci gate --kind release.publish --resource v1"
  expect "the same grant replayed is refused" 3 as_agent STEPGATE_GRANT="$GRANT" sh -c "cd $DEVHOME/repo && stepgate ci gate --kind release.publish --resource v1"
  audit_has "the replay is in the log" '.type == "stepup" and (.problem // "" | test("already used"))'
  # The inbox takes bob's grant as proof, once; the authority's ledger refuses it a second time.
  expect "a release held for the inbox" 3 rel
  GID=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" "$WORK/err" | head -1 | awk '{print $2}')
  GRANT2=$(STEPGATE_HOME=$BOBHOME "$SG" approve --yes --approver bob --policy "$WORK/policy.yaml" "$TOKEN" 2>/dev/null | tail -1)
  check "the grant used on the socket does not approve in the inbox" \
    test "$(post "/v1/challenges/$GID/approve" "{\"grant\":\"$GRANT\"}")" == 403
  check "bob's fresh grant approves in the inbox" test "$(post "/v1/challenges/$GID/approve" "{\"grant\":\"$GRANT2\"}")" == 200
  audit_has "the inbox approval by grant is in the log" ".type == \"approval\" and .challenge == \"$GID\" and .method == \"grant\" and .identity == \"bob\""
  expect "the release passes after the inbox took the grant" 0 rel
  expect "the release is held again" 3 rel
  GID2=$(grep -o 'challenge [a-z2-7]\{4\}-[a-z2-7]\{4\}' "$WORK/out" "$WORK/err" | head -1 | awk '{print $2}')
  check "the same grant replayed in the inbox is refused" \
    test "$(post "/v1/challenges/$GID2/approve" "{\"grant\":\"$GRANT2\"}")" == 403
  has "the replay is named" "$DEVHOME/body" "already used"
  expect "the same grant replayed on the socket is refused" 3 as_agent STEPGATE_GRANT="$GRANT2" sh -c "cd $DEVHOME/repo && stepgate ci gate --kind release.publish --resource v1"
else
  fail "bob signs a grant offline: $(cat "$WORK/err")"
fi

# --- the audit export for a SIEM: only with an access token the administrator issued ---
audit_get() { as_agent curl -s -o "$DEVHOME/export" -w '%{http_code}' "$@" "$INBOX/v1/audit"; }
check "GET /v1/audit without a token is refused" test "$(audit_get)" == 401
check "GET /v1/audit with a made-up token is refused" \
  test "$(audit_get -H 'Authorization: Bearer sgat_madeup')" == 401
audit_has "refused exports audited" '.type == "refusal" and .op == "audit_export"'
expect "the agent cannot issue itself an audit token" 1 as_agent stepgate authority audit-token
audit_has "refused token issue audited" '.type == "refusal" and .op == "audit_token"'
expect "administrator issues an audit token" 0 "$SG" authority audit-token --socket "$SOCK"
ATOKEN=$(tail -1 "$WORK/out")
check "the token file keeps only a hash of it" \
  bash -c "! grep -qF -- '$ATOKEN' '$STATE/secrets/audit-tokens' && test \$(stat -c %a '$STATE/secrets/audit-tokens') = 600"
check "GET /v1/audit with the token answers" test "$(audit_get -H "Authorization: Bearer $ATOKEN")" == 200
check "GET /v1/audit is JSON Lines of the log of record" \
  test "$(jq -s 'length' "$DEVHOME/export")" -eq "$(wc -l <"$STATE/audit.jsonl")"

# --- the authority down: fail closed, one line naming the socket ---
kill "$AUTH_PID"; wait "$AUTH_PID" 2>/dev/null || true; AUTH_PID=
expect "with the authority down the CI step fails closed" 1 ci_step
cat "$WORK/out" "$WORK/err" >"$WORK/both"
has "one line names the socket" "$WORK/both" "the authority at $SOCK cannot be reached"

# --- the log of record: signed checkpoints (the authority's key) catch a deleted tail ---
# As the administrator would run it: root, no variables naming the authority's directories (the
# store and key beside the log keep its checkpoints).
mkdir -p "$WORK/roothome"
verify() {
  env -u STEPGATE_HOME -u STEPGATE_STATE_DIR -u STEPGATE_SECRETS_DIR -u XDG_STATE_HOME \
    -u XDG_CONFIG_HOME HOME="$WORK/roothome" "$SG" audit verify --path "$STATE/audit.jsonl"
}
expect "audit verify: the authority's log matches its signed checkpoint" 0 verify
has "the checkpoint was checked" "$WORK/out" "matches the signed checkpoint"
head -n -3 "$STATE/audit.jsonl" >"$WORK/cut.jsonl"
cat "$WORK/cut.jsonl" >"$STATE/audit.jsonl"  # same file, owner and mode: only the tail is gone
expect "a deleted tail of the authority's log is reported" 1 verify
has "it is named a cut" "$WORK/out" "cut:"

if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all authority cases passed"
