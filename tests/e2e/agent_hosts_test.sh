#!/usr/bin/env bash
# End-to-end: each agent host's hook as the host runs it. For Codex, Cursor, Gemini CLI and
# Copilot: the command `stepgate agent-hook HOST --print-config` prints (run through a shell, as
# the hosts do), fed that host's documented payloads; a held `rm -rf /` is answered in the host's
# own blocking form with a short challenge id; the solo actor follows the printed instruction
# literally (their own TOTP code from Debian's oathtool) and the identical call then passes once;
# malformed input blocks.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
WORK=$(mktemp -d /tmp/sg-hosts-e2e-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"

# One actor per host, each enrolled here: a TOTP step works once, and the activation takes the
# current one, so each actor's approval uses the next (within the one step of skew allowed).
enroll() {
  SECRET=$("$BIN" enroll --actor "$1" --no-qr 2>&1 | grep -o 'secret=[A-Z2-7]*' | head -1 | cut -d= -f2)
  "$BIN" enroll --actor "$1" --activate --code "$(oathtool --totp -b "$SECRET")" >/dev/null 2>&1 ||
    fail "enrolling $1"
}

# The command each host's settings block installs.
host_command() {
  "$BIN" agent-hook "$1" --print-config --policy "$POLICY" |
    jq -r '[.. | objects | (.command? // .bash?) | strings] | first'
}

# run_hook HOST FIXTURE -> OUT, RC (the hook run through sh -c, as the hosts run it)
run_hook() {
  set +e
  OUT=$(FIXTURES="$SRC/tests/agents/fixtures/$1" event "$2" | sh -c "$COMMAND" 2>"$WORK/err")
  RC=$?
  set -e
}

# The decision and the model's text in the host's own answer.
host_decision() {
  case $1 in
    codex) jq -r '.hookSpecificOutput.permissionDecision // empty' <<<"$OUT" ;;
    cursor) jq -r '.permission // empty' <<<"$OUT" ;;
    gemini) jq -r '.decision // empty' <<<"$OUT" ;;
    copilot) jq -r '.permissionDecision // empty' <<<"$OUT" ;;
  esac
}

for host in codex cursor gemini copilot; do
  export STEPGATE_ACTOR="dev-$host"
  enroll "$STEPGATE_ACTOR"
  COMMAND=$(host_command "$host")
  if [[ $COMMAND == *"$host"* ]]; then pass "$host: --print-config names the hook"; else fail "$host: command '$COMMAND'"; fi

  run_hook "$host" shell_ls
  d=$(host_decision "$host")
  if [[ $RC -eq 0 && ( -z $d || $d == allow ) ]]; then pass "$host: ls allowed"; else fail "$host: ls rc=$RC out=$OUT"; fi

  run_hook "$host" shell_rm_rf
  PRINTED=$(grep -o 'stepgate approve [a-z2-7]*\.\?' <<<"$OUT" | head -1 | sed -e 's/^stepgate approve //')
  if [[ $RC -eq 0 && $(host_decision "$host") == deny && -n $PRINTED && $OUT != *sgc1.* ]]; then
    pass "$host: rm -rf / held with a short challenge id"
  else
    fail "$host: rm -rf / rc=$RC out=$OUT"
  fi

  # The printed instruction, followed literally: confirm, then the actor's own code.
  set +e
  printf 'y\n%s\n' "$(oathtool --totp -b "$SECRET" -N "now + 30 seconds")" |
    "$BIN" approve "$PRINTED" --policy "$POLICY" >/dev/null 2>"$WORK/approve"
  ARC=$?
  set -e
  if [[ $ARC -eq 0 ]]; then pass "$host: stepgate approve $PRINTED"; else fail "$host: approve rc=$ARC $(cat "$WORK/approve")"; fi

  run_hook "$host" shell_rm_rf
  d=$(host_decision "$host")
  if [[ $RC -eq 0 && ( -z $d || $d == allow ) ]]; then pass "$host: the identical call passes"; else fail "$host: retry rc=$RC out=$OUT"; fi
  run_hook "$host" shell_rm_rf
  if [[ $(host_decision "$host") == deny ]]; then pass "$host: the approval worked once"; else fail "$host: approval reused: $OUT"; fi

  set +e
  printf '{"hook_event_name": ' | sh -c "$COMMAND" >/dev/null 2>"$WORK/err"
  RC=$?
  set -e
  if [[ $RC -eq 2 && $(cat "$WORK/err") == stepgate:* ]]; then pass "$host: malformed input blocks (exit 2)"; else fail "$host: malformed rc=$RC"; fi
done

echo "failures: $failures"
[[ $failures -eq 0 ]]
