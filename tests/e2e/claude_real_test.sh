#!/usr/bin/env bash
# End-to-end with the real Claude Code: its own hook runner, pointed at a stand-in model
# (fake_anthropic.mjs, ANTHROPIC_BASE_URL) that asks for one Bash call. The call is
# `rm -rf ./canary` in a scratch project (harmless if it ever ran) or `touch ./canary/made`. Both
# of stepgate's printed forms are installed in turn: the command hook (--print-config --no-daemon)
# and the HTTP hook (--print-config --http, served by `stepgate daemon --http-port`). The held rm
# must not run, the touch must; and for the HTTP form, a wrong token and a stopped daemon must
# block because the printed block sets onFailure: block (and the same hook without it lets the
# call run: what the README says about older Claude Code).
#
# Claude Code is 384 MB, so it is not in package.json: set STEPGATE_CLAUDE_CODE to its `claude`
# (npm install --prefix DIR @anthropic-ai/claude-code@2.1.332), or have `claude` on PATH.
# Without one it prints "SKIP: no Claude Code", which ctest reports as skipped.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
CLAUDE=${STEPGATE_CLAUDE_CODE:-$(command -v claude || true)}
if [[ -z $CLAUDE || ! -x $CLAUDE ]]; then
  echo "SKIP: no Claude Code (set STEPGATE_CLAUDE_CODE to its claude binary)"
  exit 0
fi
WORK=$(mktemp -d /tmp/sg-claude-real-XXXXXX)
FAKE_PID= DAEMON_PID=
cleanup() {
  [[ -n $FAKE_PID ]] && kill "$FAKE_PID" 2>/dev/null || true
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock" STEPGATE_DAEMON_AUTOSTART=0
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"
mkdir -p "$WORK/run" && chmod 700 "$WORK/run"
echo "Claude Code: $("$CLAUDE" --version 2>/dev/null || echo '?')"

TOOL_FILE="$WORK/tool.json" node "$SRC/tests/e2e/fake_anthropic.mjs" >"$WORK/fake.port" 2>"$WORK/fake.err" &
FAKE_PID=$!
for _ in $(seq 100); do [[ -s $WORK/fake.port ]] && break; sleep 0.05; done
MODEL_URL="http://127.0.0.1:$(cat "$WORK/fake.port")"

# claude_run HOOKS_JSON COMMAND [ENV...]: one real Claude Code session in a fresh project whose
# .claude/settings.json is HOOKS_JSON; the model asks for Bash COMMAND. Sets RAN (yes/no: did
# ./canary change) and DENIED (the call is in permission_denials).
claude_run() {
  local settings=$1 command=$2
  shift 2
  jq -n --arg c "$command" '{name: "Bash", input: {command: $c, description: "e2e"}}' >"$WORK/tool.json"
  rm -rf "$WORK/project" && mkdir -p "$WORK/project/.claude" "$WORK/project/canary"
  printf '%s\n' "$settings" >"$WORK/project/.claude/settings.json"
  (cd "$WORK/project" && env "$@" ANTHROPIC_BASE_URL="$MODEL_URL" ANTHROPIC_API_KEY=sk-ant-e2e-fake \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 STEPGATE_POLICY="$POLICY" \
    timeout 120 "$CLAUDE" -p "run the command" --allowedTools Bash --output-format json \
    >"$WORK/claude.out" 2>"$WORK/claude.err") || true
  RAN=no
  [[ ! -d $WORK/project/canary || -e $WORK/project/canary/made ]] && RAN=yes
  DENIED=$(jq -r '[.permission_denials[]? | .tool_input.command] | join(",")' "$WORK/claude.out" 2>/dev/null || true)
}

expect() {  # LABEL WANT_RAN
  if [[ $RAN == "$2" ]]; then
    pass "$1"
  else
    fail "$1 (ran=$RAN denied=$DENIED; $(head -c 400 "$WORK/claude.out") $(head -c 300 "$WORK/claude.err"))"
  fi
}

# Claude Code's own event, recorded by a command hook that blocks: the fields the hook reads.
claude_run '{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"cat > '"$WORK"'/event.json; exit 2"}]}]}}' "ls"
if jq -e '.hook_event_name == "PreToolUse" and .tool_name == "Bash" and .tool_input.command == "ls"
          and (.session_id | type) == "string" and (.cwd | type) == "string"' "$WORK/event.json" >/dev/null 2>&1 &&
   [[ $RAN == no ]]; then
  pass "Claude Code's PreToolUse event has the fields the hook reads ($(jq -c 'keys' "$WORK/event.json"))"
else
  fail "recorded event: $(cat "$WORK/event.json" 2>/dev/null) ran=$RAN"
fi

# The command form, as printed.
COMMAND_HOOKS=$("$BIN" agent-hook claude --print-config --no-daemon --policy "$POLICY")
claude_run "$COMMAND_HOOKS" "rm -rf ./canary"
expect "command hook: the held rm -rf ./canary does not run" no
[[ $DENIED == "rm -rf ./canary" ]] && pass "command hook: Claude Code reports it denied" || fail "command hook: denials '$DENIED'"
claude_run "$COMMAND_HOOKS" "touch ./canary/made"
expect "command hook: an allowed touch runs" yes

# The HTTP form, as printed, against the daemon (the first --print-config --http writes the
# token the daemon needs; the second names the port it got).
"$BIN" agent-hook claude --print-config --http >/dev/null 2>&1
STEPGATE_POLICY="$POLICY" "$BIN" daemon --http-port 0 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 100); do grep -q 'http://127.0.0.1:' "$WORK/daemon.err" 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/daemon.err" | cut -d: -f3 || true)
[[ -n $PORT ]] || fail "daemon --http-port 0 did not start: $(cat "$WORK/daemon.err")"
HTTP_HOOKS=$("$BIN" agent-hook claude --print-config --http --http-port "$PORT" 2>/dev/null)
TOKEN=$(cat "$STEPGATE_HOME/config/claude-hook.token")
claude_run "$HTTP_HOOKS" "rm -rf ./canary" STEPGATE_HOOK_TOKEN="$TOKEN"
expect "HTTP hook: the held rm -rf ./canary does not run" no
[[ $DENIED == "rm -rf ./canary" ]] && pass "HTTP hook: Claude Code reports it denied" || fail "HTTP hook: denials '$DENIED'"
claude_run "$HTTP_HOOKS" "touch ./canary/made" STEPGATE_HOOK_TOKEN="$TOKEN"
expect "HTTP hook: an allowed touch runs" yes
claude_run "$HTTP_HOOKS" "rm -rf ./canary" STEPGATE_HOOK_TOKEN=wrong
expect "HTTP hook, wrong token: 401, and onFailure: block blocks" no
NO_ONFAILURE=$(jq -c 'del(.hooks.PreToolUse[0].hooks[0].onFailure)' <<<"$HTTP_HOOKS")
claude_run "$NO_ONFAILURE" "rm -rf ./canary" STEPGATE_HOOK_TOKEN=wrong
expect "HTTP hook without onFailure, wrong token: Claude Code runs the call (fails open)" yes

kill "$DAEMON_PID" && wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
claude_run "$HTTP_HOOKS" "rm -rf ./canary" STEPGATE_HOOK_TOKEN="$TOKEN"
expect "HTTP hook, daemon stopped: onFailure: block blocks" no
claude_run "$NO_ONFAILURE" "rm -rf ./canary" STEPGATE_HOOK_TOKEN="$TOKEN"
expect "HTTP hook without onFailure, daemon stopped: Claude Code runs the call (fails open)" yes

echo "claude_real_test: $failures failure(s)"
[[ $failures -eq 0 ]]
