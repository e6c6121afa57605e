#!/usr/bin/env bash
# End-to-end with the real Codex and Gemini CLI, each pointed at a stand-in model
# (fake_openai.mjs through a custom model_provider; fake_gemini.mjs through
# GOOGLE_GEMINI_BASE_URL) that asks for one shell call in a scratch project. With the hook that
# `stepgate agent-hook HOST --print-config` prints: a call the policy holds
# (`touch ./canary/made && git push --force origin main`) must not run, `touch ./canary/made` must.
# Also: the host's own event carries the fields the adapter reads, and a hook that exits 2 with
# nothing on stderr lets the call run (why stepgate always says why on stderr).
#
# The CLIs are not in package.json (install size): set STEPGATE_CODEX and/or STEPGATE_GEMINI_CLI
# to their binaries (npm install --prefix DIR @openai/codex@0.171.0 @google/gemini-cli@0.61.0).
# Without either, it prints "SKIP: no Codex or Gemini CLI", which ctest reports as skipped.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
CODEX=${STEPGATE_CODEX:-}
GEMINI=${STEPGATE_GEMINI_CLI:-}
if [[ ! -x $CODEX && ! -x $GEMINI ]]; then
  echo "SKIP: no Codex or Gemini CLI (set STEPGATE_CODEX / STEPGATE_GEMINI_CLI)"
  exit 0
fi
WORK=$(mktemp -d /tmp/sg-host-real-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock" STEPGATE_DAEMON_AUTOSTART=0
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"
mkdir -p "$WORK/run" && chmod 700 "$WORK/run"
HELD='touch ./canary/made && git push --force origin main'
ALLOWED='touch ./canary/made'

start_fake() {  # SCRIPT -> PORT
  TOOL_FILE="$WORK/tool.json" node "$SRC/tests/e2e/$1" >"$WORK/$1.port" 2>"$WORK/$1.err" &
  PIDS+=($!)
  for _ in $(seq 100); do [[ -s $WORK/$1.port ]] && break; sleep 0.05; done
  PORT=$(cat "$WORK/$1.port")
}

fresh_project() {
  rm -rf "$WORK/project" && mkdir -p "$WORK/project/canary"
}
ran() { [[ -e $WORK/project/canary/made ]] && echo yes || echo no; }

expect() {  # LABEL WANT(yes|no) LOG
  local got
  got=$(ran)
  if [[ $got == "$2" ]]; then pass "$1"; else fail "$1 (ran=$got): $(grep -v '^$' "$3" | tail -5)"; fi
}

if [[ -x $CODEX ]]; then
  echo "Codex: $("$CODEX" --version)"
  start_fake fake_openai.mjs
  export CODEX_HOME="$WORK/codex"
  mkdir -p "$CODEX_HOME"
  printf 'model = "gpt-fake"\nmodel_provider = "fake"\n[model_providers.fake]\nname = "fake"\nbase_url = "http://127.0.0.1:%s/v1"\nwire_api = "responses"\n' \
    "$PORT" >"$CODEX_HOME/config.toml"
  # codex_run HOOK_COMMAND SHELL_COMMAND. The test skips Codex's hook trust review, which a user
  # does once in /hooks (until then Codex skips the hook); its own rm -f refusal is why the probe
  # calls are touches.
  codex_run() {
    jq -n --arg c "$1" '{hooks: {PreToolUse: [{matcher: "*", hooks: [{type: "command", command: $c, timeout: 30}]}]}}' \
      >"$CODEX_HOME/hooks.json"
    jq -n --arg c "$2" '{name: "exec_command", arguments: {cmd: $c}}' >"$WORK/tool.json"
    fresh_project
    (cd "$WORK/project" && timeout 120 "$CODEX" exec --dangerously-bypass-hook-trust --skip-git-repo-check \
      -s danger-full-access "run it" >"$WORK/codex.log" 2>&1) || true
  }
  codex_run "cat > '$WORK/codex-event.json'; echo recorded >&2; exit 2" "$ALLOWED"
  if jq -e --arg c "$ALLOWED" '.hook_event_name == "PreToolUse" and .tool_name == "Bash" and
        .tool_input.command == $c and (.cwd | type) == "string"' "$WORK/codex-event.json" >/dev/null 2>&1; then
    pass "Codex's PreToolUse event has the fields the adapter reads ($(jq -c keys "$WORK/codex-event.json"))"
  else
    fail "Codex event: $(cat "$WORK/codex-event.json" 2>/dev/null)"
  fi
  expect "Codex: exit 2 with a reason on stderr blocks" no "$WORK/codex.log"
  codex_run "cat >/dev/null; exit 2" "$ALLOWED"
  expect "Codex: exit 2 with nothing on stderr runs the call" yes "$WORK/codex.log"
  HOOK=$("$BIN" agent-hook codex --print-config --policy "$POLICY" | jq -r '.hooks.PreToolUse[0].hooks[0].command')
  codex_run "$HOOK" "$HELD"
  expect "Codex with stepgate's hook: the held call does not run" no "$WORK/codex.log"
  grep -q 'stepgate approve' "$WORK/codex.log" && pass "Codex shows stepgate's approve text" ||
    fail "Codex log lacks the approve text: $(grep -v '^$' "$WORK/codex.log" | tail -5)"
  codex_run "$HOOK" "$ALLOWED"
  expect "Codex with stepgate's hook: the allowed call runs" yes "$WORK/codex.log"
  unset CODEX_HOME
fi

if [[ -x $GEMINI ]]; then
  echo "Gemini CLI: $("$GEMINI" --version)"
  start_fake fake_gemini.mjs
  mkdir -p "$HOME/.gemini"
  # gemini_run HOOK_COMMAND SHELL_COMMAND
  gemini_run() {
    jq -n --arg c "$1" '{security: {auth: {selectedType: "gemini-api-key"}},
      hooks: {BeforeTool: [{matcher: ".*", hooks: [{name: "stepgate", type: "command", command: $c, timeout: 30000}]}]}}' \
      >"$HOME/.gemini/settings.json"
    jq -n --arg c "$2" '{name: "run_shell_command", args: {command: $c}}' >"$WORK/tool.json"
    fresh_project
    (cd "$WORK/project" && GEMINI_API_KEY=e2e-fake GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$PORT" \
      GEMINI_CLI_TRUST_WORKSPACE=true timeout 120 "$GEMINI" -m gemini-2.5-pro -p "run it" --yolo \
      >"$WORK/gemini.log" 2>&1) || true
  }
  gemini_run "cat > '$WORK/gemini-event.json'; echo recorded >&2; exit 2" "$ALLOWED"
  if jq -e --arg c "$ALLOWED" '.hook_event_name == "BeforeTool" and .tool_name == "run_shell_command" and
        .tool_input.command == $c and (.cwd | type) == "string"' "$WORK/gemini-event.json" >/dev/null 2>&1; then
    pass "Gemini CLI's BeforeTool event has the fields the adapter reads ($(jq -c keys "$WORK/gemini-event.json"))"
  else
    fail "Gemini event: $(cat "$WORK/gemini-event.json" 2>/dev/null)"
  fi
  expect "Gemini CLI: exit 2 with a reason on stderr blocks" no "$WORK/gemini.log"
  gemini_run "cat >/dev/null; exit 2" "$ALLOWED"
  expect "Gemini CLI: exit 2 with nothing on stderr runs the call" yes "$WORK/gemini.log"
  HOOK=$("$BIN" agent-hook gemini --print-config --policy "$POLICY" | jq -r '.hooks.BeforeTool[0].hooks[0].command')
  gemini_run "$HOOK" "$HELD"
  expect "Gemini CLI with stepgate's hook: the held call does not run" no "$WORK/gemini.log"
  grep -q 'stepgate approve' "$WORK/gemini.log" && pass "Gemini CLI shows stepgate's approve text" ||
    fail "Gemini log lacks the approve text: $(grep -v '^$' "$WORK/gemini.log" | tail -5)"
  gemini_run "$HOOK" "$ALLOWED"
  expect "Gemini CLI with stepgate's hook: the allowed call runs" yes "$WORK/gemini.log"
fi

echo "host_real_test: $failures failure(s)"
[[ $failures -eq 0 ]]
