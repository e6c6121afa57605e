#!/usr/bin/env bash
# End-to-end: the built `stepgate agent-hook claude` on realistic Claude Code PreToolUse events,
# with the agent-tools pack, a real approver key, `stepgate approve` and a retry with the grant.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
WORK=$(mktemp -d /tmp/sg-claude-e2e-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"

# hook FIXTURE POLICY -> sets OUT, ERR, RC
hook() {
  set +e
  OUT=$(event "$1" | "$BIN" agent-hook claude --policy "$2" 2>"$WORK/err")
  RC=$?
  set -e
  ERR=$(cat "$WORK/err")
}


for f in bash_ls edit_source webfetch mcp_github_create_issue unknown_tool session_start; do
  hook "$f" "$POLICY"
  if [[ $RC -eq 0 && -z $OUT ]]; then pass "$f allowed (exit 0, no decision)"; else fail "$f: rc=$RC out=$OUT err=$ERR"; fi
done

check_deny() {  # FIXTURE REASON_PART
  hook "$1" "$POLICY"
  if [[ $RC -eq 0 && $(decision) == deny && $OUT == *"$2"* ]] && jq -e . >/dev/null <<<"$OUT"; then
    pass "$1 denied ($2)"
  else
    fail "$1: rc=$RC out=$OUT err=$ERR"
  fi
}
check_deny read_ssh_key ssh-private-key
check_deny write_env_secret secrets-in-args
check_deny bash_git_push_force "Ask the user to approve it: stepgate approve "

# Step-up: held with a challenge, approved by alice, then the identical call passes with the grant.
hook bash_rm_rf "$POLICY"
# The model is told the short challenge id (8 base32 letters), not the 1.3 KB token.
TOKEN=$(grep -o 'stepgate approve [a-z2-7]*' <<<"$OUT" | head -1 | sed -e 's/^stepgate approve //')
if [[ $RC -eq 0 && $(decision) == deny && ${#TOKEN} -eq 8 && $OUT == *"Challenge $TOKEN."* && $OUT != *sgc1.* ]]; then
  pass "rm -rf / held for approval with a challenge"
else
  fail "rm -rf / not held: rc=$RC out=$OUT err=$ERR"
fi
GRANT=$("$BIN" approve --yes --approver alice --policy "$POLICY" "$TOKEN" 2>/dev/null | tail -1)
if [[ -n $GRANT ]]; then pass "stepgate approve issued a grant"; else fail "approve gave no grant"; fi
export STEPGATE_GRANT="$GRANT"
hook bash_rm_rf "$POLICY"
if [[ $RC -eq 0 && -z $OUT ]]; then pass "identical call passes with the grant"; else fail "retry: rc=$RC out=$OUT err=$ERR"; fi
hook bash_git_push_force "$POLICY"
if [[ $(decision) == deny ]]; then pass "the grant does not cover another call"; else fail "grant reused: rc=$RC out=$OUT"; fi
unset STEPGATE_GRANT

# The solo path (issue 22): the actor (dev, no approver key) follows the printed instruction
# literally, short id and final period included, confirms and types their own TOTP code; the
# identical call then passes once. A code from Debian's oathtool, a step ahead of the one the
# activation used (each step works once).
SECRET=$("$BIN" enroll --actor dev --no-qr 2>&1 | grep -o 'secret=[A-Z2-7]*' | head -1 | cut -d= -f2)
"$BIN" enroll --actor dev --activate --code "$(oathtool --totp -b "$SECRET")" >/dev/null 2>&1 ||
  fail "enrolling dev"
hook bash_rm_rf "$POLICY"
PRINTED=$(grep -o 'stepgate approve [a-z2-7]*\.\?' <<<"$OUT" | head -1 | sed -e 's/^stepgate approve //')
set +e
printf 'y\n%s\n' "$(oathtool --totp -b "$SECRET" -N "now + 30 seconds")" |
  "$BIN" approve "$PRINTED" --policy "$POLICY" >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
if [[ $RC -eq 0 && $PRINTED == *. ]] && grep -q 'approved by dev' "$WORK/err"; then
  pass "solo path: the actor approves their own totp challenge with their code"
else
  fail "solo approve: rc=$RC printed=${PRINTED:0:20}... err=$(cat "$WORK/err")"
fi
hook bash_rm_rf "$POLICY"
if [[ $RC -eq 0 && -z $OUT ]]; then pass "solo path: the identical call passes"; else fail "solo retry: rc=$RC out=$OUT err=$ERR"; fi
hook bash_rm_rf "$POLICY"
if [[ $(decision) == deny ]]; then pass "solo path: the approval worked once"; else fail "solo approval reused: $OUT"; fi

# Fail closed: malformed input, a missing policy.
set +e
printf '{"hook_event_name": "PreToolUse", "tool_name": ' | "$BIN" agent-hook claude --policy "$POLICY" >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
if [[ $RC -eq 2 && ! -s $WORK/out && $(cat "$WORK/err") == stepgate:* ]]; then pass "malformed JSON -> exit 2"; else fail "malformed JSON: rc=$RC"; fi
hook bash_ls "$WORK/no-such-policy.yaml"
if [[ $RC -eq 2 && -z $OUT ]]; then pass "missing policy -> exit 2"; else fail "missing policy: rc=$RC out=$OUT"; fi

# on_error is the gate's rule, for this front-end too: a state store that cannot be opened
# blocks the call (exit 2) under the pack's on_error: deny, and lets it through only where the
# policy says on_error: allow. A broken policy cannot say so.
mkdir -p "$WORK/broken/state/state.db"  # a directory where the database should be
sed -e 's/^on_error: deny/on_error: allow/' "$POLICY" >"$WORK/allow.yaml"
STEPGATE_HOME="$WORK/broken" hook bash_ls "$POLICY"
if [[ $RC -eq 2 && $ERR == *"fail closed"* ]]; then pass "store failure, on_error: deny -> exit 2"; else fail "store failure (deny): rc=$RC err=$ERR"; fi
STEPGATE_HOME="$WORK/broken" hook bash_ls "$WORK/allow.yaml"
if [[ $RC -eq 0 && -z $OUT && $ERR == *"on_error: allow"* ]]; then pass "store failure, on_error: allow -> allowed with a warning"; else fail "store failure (allow): rc=$RC out=$OUT err=$ERR"; fi
printf 'on_error: allow\nrules: [\n' >"$WORK/broken.yaml"
STEPGATE_HOME="$WORK/broken" hook bash_ls "$WORK/broken.yaml"
if [[ $RC -eq 2 ]]; then pass "a broken policy cannot say on_error: allow"; else fail "broken policy: rc=$RC err=$ERR"; fi

# The lean binary (what the client beside stepgate runs when no daemon answers, and what
# --print-config --no-daemon installs) decides the same.
LEAN="$(dirname "$BIN")/stepgate-claude-hook"
if [[ -x $LEAN ]]; then
  for f in bash_ls read_ssh_key; do
    hook "$f" "$POLICY"; want="$RC:$(decision)"
    set +e
    OUT=$(event "$f" | "$LEAN" --policy "$POLICY" 2>"$WORK/err"); RC=$?
    set -e
    if [[ "$RC:$(decision)" == "$want" ]]; then pass "lean hook agrees on $f ($want)"; else fail "lean hook on $f: $RC:$(decision) vs $want"; fi
  done
  set +e
  echo '{not json' | "$LEAN" --policy "$POLICY" >"$WORK/out" 2>"$WORK/err"; RC=$?
  "$LEAN" --bogus </dev/null >/dev/null 2>&1; RC2=$?
  set -e
  if [[ $RC -eq 2 && ! -s $WORK/out && $RC2 -eq 2 ]]; then pass "lean hook: malformed input or argument -> exit 2"; else fail "lean hook errors: rc=$RC rc2=$RC2"; fi
  EXPECTED_CMD=$(readlink -f "$LEAN")
else
  fail "stepgate-claude-hook is not built beside $BIN"
  EXPECTED_CMD="$(readlink -f "$BIN") agent-hook claude"
fi

# --print-config: valid settings.json naming the stepgate-hook client (it asks the daemon);
# --no-daemon: the lean hook alone.
CONFIG=$("$BIN" agent-hook claude --print-config --no-daemon)
if jq -e --arg cmd "$EXPECTED_CMD" \
    '.hooks.PreToolUse[0].matcher == "*" and .hooks.PreToolUse[0].hooks[0].command == $cmd' >/dev/null <<<"$CONFIG"; then
  pass "--print-config --no-daemon names the lean hook"
else
  fail "--print-config --no-daemon: $CONFIG"
fi
CLIENT_CMD="$(readlink -f "$(dirname "$BIN")/stepgate-hook") claude"
CONFIG=$("$BIN" agent-hook claude --print-config)
if jq -e --arg cmd "$CLIENT_CMD" \
    '.hooks.PreToolUse[0].matcher == "*" and .hooks.PreToolUse[0].hooks[0].command == $cmd' >/dev/null <<<"$CONFIG"; then
  pass "--print-config names the stepgate-hook client"
else
  fail "--print-config: $CONFIG"
fi

# Claude Code runs the configured command through a shell: from a directory with a blank in its
# name (and a policy path with one), the printed command must still start the hook and deny the
# SSH key read. A hook that cannot start is a non-blocking error to Claude Code: the tool would run.
if [[ -x $LEAN ]]; then
  mkdir -p "$WORK/my tools" "$WORK/my policies"
  cp "$BIN" "$LEAN" "$(dirname "$BIN")/stepgate-hook" "$WORK/my tools/"
  cp "$POLICY" "$WORK/my policies/policy.yaml"
  CMD=$("$WORK/my tools/stepgate" agent-hook claude --print-config --policy "$WORK/my policies/policy.yaml" |
    jq -r '.hooks.PreToolUse[0].hooks[0].command')
  set +e
  OUT=$(event read_ssh_key | sh -c "$CMD" 2>"$WORK/err"); RC=$?
  set -e
  if [[ $CMD == *stepgate-hook* && $RC -eq 0 && $(decision) == deny ]]; then
    pass "--print-config quotes paths with blanks (the client runs through sh, falls back and denies)"
  else
    fail "--print-config with blanks: command [$CMD] rc=$RC out=$OUT err=$(cat "$WORK/err")"
  fi
fi

if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all claude hook cases passed"
