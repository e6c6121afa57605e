#!/usr/bin/env bash
# End-to-end: shell spellings through the built `stepgate agent-hook claude` and the lean
# `stepgate-claude-hook`, with the shipped agent-tools pack. Each dangerous spelling here passed
# the old text patterns; the ordinary ones must still pass; a command that is not a string fails
# closed (exit 2).
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
WORK=$(mktemp -d /tmp/sg-claude-shell-e2e-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"
LEAN="$(dirname "$BIN")/stepgate-claude-hook"
[[ -x $LEAN ]] || fail "stepgate-claude-hook is not built beside $BIN"

# bash_event COMMAND_JSON -> a PreToolUse event for Claude's Bash tool in the project directory
# (a session per case, so the pack's rate-burst rule does not count the whole suite as one burst)
SESSION=0
bash_event() {
  jq -cn --arg cwd "$WORK/project" --argjson command "$1" --arg session "s$SESSION" \
    '{session_id: $session, cwd: $cwd, hook_event_name: "PreToolUse", tool_name: "Bash",
      tool_input: {command: $command}, tool_use_id: "t1"}'
}

# run_both COMMAND_JSON -> sets RC/OUT (full binary) and RC_LEAN/OUT_LEAN (lean hook)
run_both() {
  SESSION=$((SESSION + 1))
  set +e
  OUT=$(bash_event "$1" | "$BIN" agent-hook claude --policy "$POLICY" 2>"$WORK/err"); RC=$?
  OUT_LEAN=$(bash_event "$1" | "$LEAN" --policy "$POLICY" 2>"$WORK/err_lean"); RC_LEAN=$?
  set -e
}

lean_decision() { grep -o '"permissionDecision":"[a-z]*"' <<<"$OUT_LEAN" | cut -d'"' -f4 || true; }

# expect COMMAND (plain text) KIND RULE: KIND is held (deny with a challenge), deny (no
# challenge) or allow; both binaries must answer the same.
expect() {
  local command=$1 kind=$2 rule=${3:-}
  run_both "$(jq -Rn --arg c "$command" '$c')"
  local ok=1
  case $kind in
    allow) [[ $RC -eq 0 && -z $OUT ]] || ok=0 ;;
    held) [[ $RC -eq 0 && $(decision) == deny && $OUT == *"Ask the user to approve it: stepgate approve "* && $OUT != *sgc1.* && $OUT == *"$rule"* ]] || ok=0 ;;
    deny) [[ $RC -eq 0 && $(decision) == deny && $OUT != *"stepgate approve"* && $OUT == *"$rule"* ]] || ok=0 ;;
  esac
  [[ $RC_LEAN -eq $RC && $(lean_decision) == "$(decision)" ]] || ok=0
  if [[ $ok -eq 1 ]]; then
    pass "$kind: $command"
  else
    fail "$kind $rule: $command: rc=$RC out=$OUT err=$(cat "$WORK/err") lean=$RC_LEAN:$(lean_decision)"
  fi
}

expect '/bin/rm -rf build' held rm-recursive-force
expect '\rm -rf build' held rm-recursive-force
expect 'bash -c "rm -rf build"' held rm-recursive-force
expect 'rm -r build -f' held rm-recursive-force
expect 'sudo rm -rf build' held rm-recursive-force
expect 'find . -name "*.o" -delete' held find-delete
expect 'git push origin +main' held git-force-push
expect 'git push -uf origin main' held git-force-push
expect 'X=rm; $X -rf build' held shell-unresolved
expect 'echo x > .stepgate/policy.yaml' held stepgate-files-write
expect "cd ~/.config && cat stepgate/totp/$STEPGATE_ACTOR" deny stepgate-secrets
expect "cat $STEPGATE_HOME/config/tot*/*" deny stepgate-secrets
expect 'cat ~/.c*/step*/totp/*' deny stepgate-secrets

expect 'rm build/x.o' allow
expect 'grep -r rm .' allow
expect 'echo "rm -rf /"' allow
expect 'git push origin main' allow

# A command that is not a string is refused (exit 2, Claude Code blocks the call), not allowed.
for command in '7' '["rm","-rf","/"]' '{"a":"rm -rf /"}'; do
  run_both "$command"
  if [[ $RC -eq 2 && -z $OUT && $RC_LEAN -eq 2 && -z $OUT_LEAN ]] &&
     grep -q 'tool_input.command' "$WORK/err"; then
    pass "command $command -> exit 2"
  else
    fail "command $command: rc=$RC out=$OUT lean=$RC_LEAN"
  fi
done

if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all claude shell cases passed"
