#!/usr/bin/env bash
# End-to-end: `stepgate daemon` and the `stepgate-hook` client on the Claude Code fixtures. The
# client asks the daemon, which keeps the gate open; with no daemon, an untrusted listener or a
# daemon that went away, the client decides in-process with the lean hook beside it. Each request
# must be decided in the client's own environment and directory, and see policy edits at once.
set -euo pipefail

BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
BUILD=$(dirname "$BIN")
WORK=$(mktemp -d /tmp/sg-daemon-e2e-XXXXXX)
DAEMON_PID=
cleanup() {
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null || true
  pkill -f -- "--socket $WORK/" 2>/dev/null || true  # daemons the client started
  rm -rf "$WORK"
}
trap cleanup EXIT
export STEPGATE_DAEMON_SOCKET="$WORK/run/hookd.sock"
# The client starts a daemon when none listens; the cases below start and stop their own, and
# the autostart cases at the end turn this back on.
export STEPGATE_DAEMON_AUTOSTART=0
# shellcheck source=claude_env.sh
source "$SRC/tests/e2e/claude_env.sh"

# Only the client and stepgate: with no daemon answering there is no lean hook to fall back on,
# so every decision these make must have come from the daemon.
mkdir -p "$WORK/bin" "$WORK/run"
chmod 700 "$WORK/run"
cp "$BIN" "$BUILD/stepgate-hook" "$WORK/bin/"
CLIENT="$WORK/bin/stepgate-hook"

# client FIXTURE POLICY [CLIENT] -> OUT, ERR, RC
client() {
  set +e
  OUT=$(event "$1" | "${3:-$CLIENT}" claude --policy "$2" 2>"$WORK/err")
  RC=$?
  set -e
  ERR=$(cat "$WORK/err")
}

start_daemon() {  # STEPGATE_BINARY
  "$1" daemon 2>"$WORK/daemon.err" &
  DAEMON_PID=$!
  for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && return 0; sleep 0.05; done
  fail "daemon did not start: $(cat "$WORK/daemon.err")"
}
stop_daemon() {
  kill "$DAEMON_PID"
  set +e
  wait "$DAEMON_PID"
  DAEMON_RC=$?
  set -e
  DAEMON_PID=
}


# No daemon and no lean hook beside the client: fail closed (exit 2), never allow.
client bash_ls "$POLICY"
if [[ $RC -eq 2 && -z $OUT && $ERR == *stepgate-claude-hook* ]]; then
  pass "no daemon and no local hook -> exit 2 (fail closed)"
else
  fail "no daemon, no local hook: rc=$RC out=$OUT err=$ERR"
fi

start_daemon "$WORK/bin/stepgate"
if [[ $(stat -c %a "$STEPGATE_DAEMON_SOCKET") == 600 || $(stat -c %a "$STEPGATE_DAEMON_SOCKET") == 700 ]]; then
  pass "socket is private ($(stat -c %a "$STEPGATE_DAEMON_SOCKET"))"
else
  fail "socket mode $(stat -c %a "$STEPGATE_DAEMON_SOCKET")"
fi

for f in bash_ls edit_source webfetch session_start; do
  client "$f" "$POLICY"
  if [[ $RC -eq 0 && -z $OUT ]]; then pass "daemon: $f allowed"; else fail "daemon: $f: rc=$RC out=$OUT err=$ERR"; fi
done
for pair in read_ssh_key:ssh-private-key write_env_secret:secrets-in-args; do
  client "${pair%%:*}" "$POLICY"
  if [[ $RC -eq 0 && $(decision) == deny && $OUT == *"${pair#*:}"* ]]; then
    pass "daemon: ${pair%%:*} denied"
  else
    fail "daemon: ${pair%%:*}: rc=$RC out=$OUT err=$ERR"
  fi
done

# Held, approved, and the identical call passes with the grant in the client's environment.
client bash_rm_rf "$POLICY"
TOKEN=$(grep -o 'stepgate approve [a-z2-7]*' <<<"$OUT" | head -1 | sed -e 's/^stepgate approve //')
if [[ $(decision) == deny && ${#TOKEN} -eq 8 ]]; then pass "daemon: rm -rf held with a challenge"; else fail "daemon: rm -rf: $OUT"; fi
GRANT=$("$BIN" approve --yes --approver alice --policy "$POLICY" "$TOKEN" 2>/dev/null | tail -1)
STEPGATE_GRANT="$GRANT" client bash_rm_rf "$POLICY"
if [[ $RC -eq 0 && -z $OUT ]]; then pass "daemon: STEPGATE_GRANT from the client's environment lets the call pass"; else fail "daemon: grant retry: rc=$RC out=$OUT err=$ERR"; fi
client bash_rm_rf "$POLICY"
if [[ $(decision) == deny ]]; then pass "daemon: the grant did not stay behind in the daemon's environment"; else fail "daemon: grant leaked: $OUT"; fi
STEPGATE_GRANT="$GRANT" client bash_rm_rf "$POLICY"
if [[ $OUT == *"already used"* || $(decision) == deny ]]; then pass "daemon: the grant replayed is refused"; else fail "daemon: replay: rc=$RC out=$OUT"; fi

# Fail closed through the daemon: malformed event, missing policy, unknown argument.
set +e
printf '{"hook_event_name": "PreToolUse", "tool_name": ' | "$CLIENT" claude --policy "$POLICY" >"$WORK/out" 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && ! -s $WORK/out && $(cat "$WORK/err") == stepgate:* ]]; then pass "daemon: malformed JSON -> exit 2"; else fail "daemon: malformed JSON: rc=$RC err=$(cat "$WORK/err")"; fi
client bash_ls "$WORK/no-such-policy.yaml"
if [[ $RC -eq 2 && -z $OUT ]]; then pass "daemon: missing policy -> exit 2"; else fail "daemon: missing policy: rc=$RC out=$OUT"; fi
set +e
"$CLIENT" claude --bogus </dev/null >/dev/null 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && $(cat "$WORK/err") == *"unknown argument --bogus"* ]]; then pass "daemon: unknown argument -> exit 2"; else fail "daemon: bogus arg: rc=$RC"; fi

# A policy edit is seen by the next call (the daemon reloads when the bytes change).
cp "$POLICY" "$WORK/policy-edit.yaml"
client bash_ls "$WORK/policy-edit.yaml"
first="$RC:$OUT"
cat >"$WORK/rule.yaml" <<'EOF'
  - id: no-ls
    on: tool.call
    when: signals.shell_command.contains("ls -la")
    effect: deny
    message: "ls is off today"
EOF
sed -i "/^rules:/r $WORK/rule.yaml" "$WORK/policy-edit.yaml"
client bash_ls "$WORK/policy-edit.yaml"
if [[ $first == "0:" && $(decision) == deny && $OUT == *"ls is off today"* ]]; then
  pass "daemon: a policy edit applies to the next call"
else
  fail "daemon: policy edit: before=[$first] after rc=$RC out=$OUT err=$ERR"
fi

# A relative --policy is read from the client's directory.
mkdir -p "$WORK/a" "$WORK/b"
cp "$POLICY" "$WORK/a/p.yaml"
cp "$WORK/policy-edit.yaml" "$WORK/b/p.yaml"
(cd "$WORK/a" && client bash_ls p.yaml && echo "$RC:$(decision)" >"$WORK/ra")
(cd "$WORK/b" && client bash_ls p.yaml && echo "$RC:$(decision)" >"$WORK/rb")
if [[ $(cat "$WORK/ra") == "0:" && $(cat "$WORK/rb") == "0:deny" ]]; then
  pass "daemon: relative --policy resolved in the client's directory"
else
  fail "daemon: relative policy: a=$(cat "$WORK/ra") b=$(cat "$WORK/rb")"
fi

# State follows the client's environment, and a deleted state directory is recreated, not lost.
STEPGATE_HOME="$WORK/other" client bash_ls "$POLICY"
if [[ $RC -eq 0 && -s $WORK/other/state/audit.jsonl ]]; then pass "daemon: STEPGATE_HOME of the client is used"; else fail "daemon: other home: rc=$RC"; fi
rm -rf "$WORK/other"
STEPGATE_HOME="$WORK/other" client read_ssh_key "$POLICY"
if [[ $(decision) == deny && -s $WORK/other/state/audit.jsonl ]] && "$BIN" audit verify --path "$WORK/other/state/audit.jsonl" >/dev/null 2>&1; then
  pass "daemon: a deleted state directory is recreated and the record lands there"
else
  fail "daemon: deleted state: out=$OUT $(ls -la "$WORK/other/state" 2>&1)"
fi
# Many clients at once (the daemon serves them on its worker threads): every one gets its own
# answer, and each call leaves exactly one record in the chain. No lean hook is beside the
# client, so each answer came from the daemon.
mkdir -p "$WORK/many"
pids=()
for i in $(seq 24); do
  fixture=bash_ls
  (( i % 2 == 0 )) && fixture=read_ssh_key
  (
    set +e
    out=$(event "$fixture" | STEPGATE_HOME="$WORK/many/sg" "$CLIENT" claude --policy "$POLICY" 2>/dev/null)
    echo "$?:$fixture:$(grep -o '"permissionDecision":"[a-z]*"' <<<"$out" | cut -d'"' -f4)" >"$WORK/many/$i"
  ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
wrong=0
for i in $(seq 24); do
  case $(cat "$WORK/many/$i") in
    0:bash_ls:|0:read_ssh_key:deny) ;;
    *) wrong=$((wrong + 1)); echo "  call $i: $(cat "$WORK/many/$i")" ;;
  esac
done
records=$(grep -c '"type":"decision"' "$WORK/many/sg/state/audit.jsonl" || true)
if [[ $wrong -eq 0 && $records -eq 24 ]] && "$BIN" audit verify --path "$WORK/many/sg/state/audit.jsonl" >/dev/null 2>&1; then
  pass "daemon: 24 concurrent calls, each answered rightly, 24 records in a chain that verifies"
else
  fail "daemon: concurrent calls: $wrong wrong, $records records"
fi

if "$BIN" audit verify >/dev/null 2>"$WORK/err"; then pass "daemon: audit chain verifies"; else fail "audit verify: $(cat "$WORK/err")"; fi

# One daemon per socket.
set +e
timeout 5 "$WORK/bin/stepgate" daemon 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && $(cat "$WORK/err") == *"already running"* ]]; then pass "a second daemon on the same socket is refused"; else fail "second daemon: rc=$RC $(cat "$WORK/err")"; fi

# --status and --stop know this installation's daemon (the same file as the stepgate asking),
# and leave any other alone: $BIN is another copy of stepgate than the daemon's.
set +e
"$WORK/bin/stepgate" daemon --status >"$WORK/status.out" 2>&1; RC=$?
"$BIN" daemon --status >"$WORK/status-other.out" 2>&1; RC_OTHER=$?
set -e
if [[ $RC -eq 0 && $(cat "$WORK/status.out") == *"running (pid $DAEMON_PID)"* ]]; then pass "--status: running, with its pid"; else fail "--status: rc=$RC $(cat "$WORK/status.out")"; fi
if [[ $RC_OTHER -eq 1 && $(cat "$WORK/status-other.out") == *"not this installation's"* ]]; then pass "--status from another stepgate: not its daemon (exit 1)"; else fail "--status other: rc=$RC_OTHER $(cat "$WORK/status-other.out")"; fi
set +e
"$BIN" daemon --stop >/dev/null 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && $(cat "$WORK/err") == *"left alone"* ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then pass "--stop from another stepgate leaves the daemon running (exit 2)"; else fail "--stop other: rc=$RC $(cat "$WORK/err")"; fi
set +e
"$WORK/bin/stepgate" daemon --stop >"$WORK/stop.out" 2>&1; RC=$?
wait "$DAEMON_PID"; DAEMON_RC=$?
set -e
DAEMON_PID=
if [[ $RC -eq 0 && $DAEMON_RC -eq 0 && ! -e $STEPGATE_DAEMON_SOCKET && $(cat "$WORK/stop.out") == *stopped* ]]; then
  pass "--stop: SIGTERM, the daemon exits 0 and removes its socket"
else
  fail "--stop: rc=$RC daemon rc=$DAEMON_RC $(cat "$WORK/stop.out") $(ls -la "$WORK/run")"
fi
set +e
"$WORK/bin/stepgate" daemon --status >"$WORK/status.out" 2>&1; RC=$?
"$WORK/bin/stepgate" daemon --stop >"$WORK/stop.out" 2>&1; RC_STOP=$?
set -e
if [[ $RC -eq 1 && $RC_STOP -eq 0 && $(cat "$WORK/status.out") == *"not running"* ]]; then pass "nothing running: --status exits 1, --stop is a no-op"; else fail "after stop: rc=$RC/$RC_STOP $(cat "$WORK/status.out")"; fi

# A listener that is not this installation's stepgate is not trusted: the client decides itself
# (with the lean hook beside it in the build directory) and the fake "allow" is never used.
python3 - "$STEPGATE_DAEMON_SOCKET" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
body = b"SGR1" + struct.pack("<I", 0) + struct.pack("<I", 0) + struct.pack("<I", 0)
for _ in range(4):
    c, _ = s.accept()
    c.settimeout(2)
    try:
        c.recv(1 << 20)
    except OSError:
        pass
    try:
        c.sendall(struct.pack("<I", len(body)) + body)
    except OSError:
        pass  # the client hung up at once: it did not trust us
    c.close()
EOF
FAKE_PID=$!
for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && break; sleep 0.05; done
client read_ssh_key "$POLICY" "$BUILD/stepgate-hook"
if [[ $RC -eq 0 && $(decision) == deny ]]; then pass "an untrusted listener is ignored (decided in-process: deny)"; else fail "fake daemon obeyed: rc=$RC out=$OUT err=$ERR"; fi
set +e
"$BIN" daemon --status >"$WORK/status.out" 2>&1; RC=$?
"$BIN" daemon --stop >/dev/null 2>"$WORK/err"; RC_STOP=$?
set -e
if [[ $RC -eq 1 && $RC_STOP -eq 2 ]] && kill -0 "$FAKE_PID" 2>/dev/null; then pass "an untrusted listener: --status says not ours, --stop leaves it alone"; else fail "untrusted: rc=$RC/$RC_STOP $(cat "$WORK/status.out" "$WORK/err")"; fi
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true
rm -f "$STEPGATE_DAEMON_SOCKET"

# No daemon, lean hook beside the client: the same decisions in-process.
client read_ssh_key "$POLICY" "$BUILD/stepgate-hook"
if [[ $RC -eq 0 && $(decision) == deny ]]; then pass "no daemon: decided in-process (deny)"; else fail "fallback: rc=$RC out=$OUT err=$ERR"; fi

# A socket directory open to others is refused.
chmod 755 "$WORK/run"
set +e
timeout 5 "$BIN" daemon 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && $(cat "$WORK/err") == *"chmod 700"* ]]; then pass "socket directory open to others -> refused"; else fail "open dir: rc=$RC $(cat "$WORK/err")"; fi
chmod 700 "$WORK/run"

# --print-config --daemon names the client.
CMD=$("$WORK/bin/stepgate" agent-hook claude --print-config --daemon | jq -r '.hooks.PreToolUse[0].hooks[0].command')
if [[ $CMD == "$WORK/bin/stepgate-hook claude" ]]; then pass "--print-config --daemon installs the client"; else fail "--print-config --daemon: $CMD"; fi

# One daemon per socket even when two start at once (two hook calls each starting one): the
# lock beside the socket decides, before any socket exists to find. Held here by flock(1), a
# daemon must refuse although nothing listens yet.
mkdir -m 700 "$WORK/race"
flock -n "$WORK/race/hookd.sock.lock" sleep 5 &
LOCK_PID=$!
sleep 0.2
set +e
timeout 5 "$WORK/bin/stepgate" daemon --socket "$WORK/race/hookd.sock" 2>"$WORK/err"; RC=$?
set -e
if [[ $RC -eq 2 && $(cat "$WORK/err") == *"already running"* && ! -e $WORK/race/hookd.sock ]]; then
  pass "a daemon starting while another holds the socket's lock is refused"
else
  fail "lock: rc=$RC $(cat "$WORK/err")"
fi
kill "$LOCK_PID" 2>/dev/null || true
wait "$LOCK_PID" 2>/dev/null || true

# Autostart: with no daemon listening, the client decides this call itself and starts one, in its
# own session with none of the caller's pipes, variables or grants; the next call is the daemon's.
# $WORK/bin has no lean hook, so the first call fails closed and the second can only pass if the
# started daemon decided it.
unset STEPGATE_DAEMON_AUTOSTART
rm -f "$STEPGATE_DAEMON_SOCKET"
START=$(date +%s%N)
set +e
OUT=$(event bash_ls | STEPGATE_GRANT=secret-grant-value GIT_DIR=/nowhere "$CLIENT" claude --policy "$POLICY" 2>"$WORK/err")
RC=$?
set -e
ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
if [[ $RC -eq 2 ]]; then pass "autostart: the first call, with no lean hook here, fails closed"; else fail "autostart first call: rc=$RC out=$OUT"; fi
for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && break; sleep 0.05; done
AUTO_PID=$(pgrep -f -- "--socket $STEPGATE_DAEMON_SOCKET" || true)
if [[ -n $AUTO_PID && -S $STEPGATE_DAEMON_SOCKET ]]; then pass "autostart: the client started a daemon (${ELAPSED_MS} ms for that call)"; else fail "autostart: no daemon: $(cat "$WORK/run/hookd.log" 2>&1)"; fi
if [[ -n $AUTO_PID ]]; then
  CMDLINE=$(tr '\0' ' ' < "/proc/$AUTO_PID/cmdline")
  if [[ $CMDLINE == *"daemon --socket $STEPGATE_DAEMON_SOCKET --idle-exit 30m"* ]]; then pass "autostart: the daemon exits when idle (--idle-exit 30m)"; else fail "autostart cmdline: $CMDLINE"; fi
  if ! tr '\0' '\n' < "/proc/$AUTO_PID/environ" | grep -q -e '^STEPGATE_GRANT=' -e '^GIT_DIR='; then
    pass "autostart: the daemon keeps none of the caller's grants or git variables"
  else
    fail "autostart: environment leaked into the daemon"
  fi
  if [[ $(readlink "/proc/$AUTO_PID/fd/0") == /dev/null && $(readlink "/proc/$AUTO_PID/fd/2") == "$WORK/run/hookd.log" &&
        $(ps -o sid= -p "$AUTO_PID") -ne $(ps -o sid= -p $$) ]]; then
    pass "autostart: own session, stdin /dev/null, output to hookd.log"
  else
    fail "autostart: stdio $(ls -l "/proc/$AUTO_PID/fd" 2>&1)"
  fi
  if [[ $(stat -c %a "$WORK/run/hookd.log") == 600 ]]; then pass "autostart: hookd.log is 0600"; else fail "hookd.log mode $(stat -c %a "$WORK/run/hookd.log")"; fi
fi
client bash_ls "$POLICY"
if [[ $RC -eq 0 && -z $OUT ]]; then pass "autostart: the next call is decided by the started daemon"; else fail "autostart second call: rc=$RC out=$OUT err=$ERR"; fi
client read_ssh_key "$POLICY"
if [[ $RC -eq 0 && $(decision) == deny ]]; then pass "autostart: the started daemon denies what the pack denies"; else fail "autostart deny: rc=$RC out=$OUT"; fi
# An upgrade puts a new file at the daemon's path: the clients stop trusting the old daemon, so it
# exits (and removes its socket), and the next call starts one from the new binary.
cp "$WORK/bin/stepgate" "$WORK/bin/stepgate.new" && mv "$WORK/bin/stepgate.new" "$WORK/bin/stepgate"
for _ in $(seq 60); do [[ -n $AUTO_PID ]] && kill -0 "$AUTO_PID" 2>/dev/null || break; sleep 0.05; done
if [[ -n $AUTO_PID ]] && ! kill -0 "$AUTO_PID" 2>/dev/null && ! [[ -e $STEPGATE_DAEMON_SOCKET ]] &&
   grep -q "was replaced" "$WORK/run/hookd.log"; then
  pass "upgrade: the daemon of the replaced binary exits and removes its socket"
else
  fail "upgrade: old daemon still there: $(cat "$WORK/run/hookd.log")"
fi
client bash_ls "$POLICY"  # no daemon, no lean hook: fails closed, starts the new one
for _ in $(seq 100); do [[ -S $STEPGATE_DAEMON_SOCKET ]] && break; sleep 0.05; done
client read_ssh_key "$POLICY"
if [[ $RC -eq 0 && $(decision) == deny ]]; then pass "upgrade: the next call starts a daemon from the new binary, which decides"; else fail "upgrade restart: rc=$RC out=$OUT err=$ERR"; fi
pkill -f -- "--socket $STEPGATE_DAEMON_SOCKET" || true
for _ in $(seq 100); do [[ -e $STEPGATE_DAEMON_SOCKET ]] || break; sleep 0.05; done
# A socket directory open to others: no daemon is started there (it would refuse it anyway).
chmod 755 "$WORK/run"
client bash_ls "$POLICY"
sleep 0.5
if [[ $RC -eq 2 && ! -e $STEPGATE_DAEMON_SOCKET ]] && ! pgrep -f -- "--socket $STEPGATE_DAEMON_SOCKET" >/dev/null; then
  pass "autostart: not into a socket directory open to others"
else
  fail "autostart open dir: rc=$RC $(ls -la "$WORK/run")"
fi
chmod 700 "$WORK/run"

if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all daemon cases passed"
