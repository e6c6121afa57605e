#!/usr/bin/env bash
# End-to-end: each agent host's hook as the host runs it. For Codex, Cursor, Gemini CLI and
# Copilot: the command `stepgate agent-hook HOST --print-config` prints (run through a shell, as
# the hosts do), fed that host's documented payloads; a held `rm -rf /` is answered in the host's
# own blocking form with a short challenge id; the solo actor follows the printed instruction
# literally (their own TOTP code from Debian's oathtool) and the identical call then passes once;
# malformed input blocks. Twice: with no daemon (the printed `stepgate-hook HOST` client runs the
# lean hook itself), then through `stepgate daemon` from a directory with no lean hook beside the
# client, so every answer of that pass must have come from the daemon.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
WORK=$(mktemp -d /tmp/sg-hosts-e2e-XXXXXX)
DAEMON_PID=
cleanup() {
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock" STEPGATE_DAEMON_AUTOSTART=0
mkdir -p "$WORK/run" && chmod 700 "$WORK/run"
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"

# One actor per host, each enrolled here: a TOTP step works once, and the activation takes the
# current one, so each actor's approval uses the next (within the one step of skew allowed).
enroll() {
  SECRET=$("$BIN" enroll --actor "$1" --no-qr 2>&1 | grep -o 'secret=[A-Z2-7]*' | head -1 | cut -d= -f2)
  "$BIN" enroll --actor "$1" --activate --code "$(oathtool --totp -b "$SECRET")" >/dev/null 2>&1 ||
    fail "enrolling $1"
}

# The command each host's settings block installs (from the stepgate in $HOOK_BIN).
host_command() {
  "$HOOK_BIN" agent-hook "$1" --print-config --policy "$POLICY" |
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

# host_pass MODE: every host's hook as printed, decided by MODE (lean | daemon).
host_pass() {
for host in codex cursor gemini copilot; do
  export STEPGATE_ACTOR="dev-$host-$1"
  enroll "$STEPGATE_ACTOR"
  COMMAND=$(host_command "$host")
  if [[ $COMMAND == *"stepgate-hook' $host"* || $COMMAND == *"stepgate-hook $host"* ]]; then
    pass "$host ($1): --print-config names the stepgate-hook client"
  else
    fail "$host ($1): command '$COMMAND'"
  fi

  run_hook "$host" shell_ls
  d=$(host_decision "$host")
  if [[ $RC -eq 0 && ( -z $d || $d == allow ) ]]; then pass "$host ($1): ls allowed"; else fail "$host ($1): ls rc=$RC out=$OUT"; fi

  run_hook "$host" shell_rm_rf
  PRINTED=$(grep -o 'stepgate approve [a-z2-7]*\.\?' <<<"$OUT" | head -1 | sed -e 's/^stepgate approve //')
  if [[ $RC -eq 0 && $(host_decision "$host") == deny && -n $PRINTED && $OUT != *sgc1.* ]]; then
    pass "$host ($1): rm -rf / held with a short challenge id"
  else
    fail "$host ($1): rm -rf / rc=$RC out=$OUT"
  fi

  # The printed instruction, followed literally: confirm, then the actor's own code.
  set +e
  printf 'y\n%s\n' "$(oathtool --totp -b "$SECRET" -N "now + 30 seconds")" |
    "$BIN" approve "$PRINTED" --policy "$POLICY" >/dev/null 2>"$WORK/approve"
  ARC=$?
  set -e
  if [[ $ARC -eq 0 ]]; then pass "$host ($1): stepgate approve $PRINTED"; else fail "$host ($1): approve rc=$ARC $(cat "$WORK/approve")"; fi

  run_hook "$host" shell_rm_rf
  d=$(host_decision "$host")
  if [[ $RC -eq 0 && ( -z $d || $d == allow ) ]]; then pass "$host ($1): the identical call passes"; else fail "$host ($1): retry rc=$RC out=$OUT"; fi
  run_hook "$host" shell_rm_rf
  if [[ $(host_decision "$host") == deny ]]; then pass "$host ($1): the approval worked once"; else fail "$host ($1): approval reused: $OUT"; fi

  set +e
  printf '{"hook_event_name": ' | sh -c "$COMMAND" >/dev/null 2>"$WORK/err"
  RC=$?
  set -e
  if [[ $RC -eq 2 && $(cat "$WORK/err") == stepgate:* ]]; then pass "$host ($1): malformed input blocks (exit 2)"; else fail "$host ($1): malformed rc=$RC"; fi
done
}

# No daemon: the client runs the lean hook beside it.
HOOK_BIN=$BIN
host_pass lean

# Through the daemon: stepgate and the client alone in a directory (no lean hook to fall back on).
mkdir -p "$WORK/bin"
cp "$BIN" "$(dirname "$BIN")/stepgate-hook" "$WORK/bin/"
HOOK_BIN="$WORK/bin/stepgate"
"$HOOK_BIN" daemon 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && break; sleep 0.05; done
[[ -S $STEPGATE_DAEMON_SOCKET ]] || fail "daemon did not start: $(cat "$WORK/daemon.err")"
host_pass daemon

echo "failures: $failures"
[[ $failures -eq 0 ]]
