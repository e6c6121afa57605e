#!/usr/bin/env bash
# End to end: hooks installed with `stepgate hooks install --daemon` run the stepgate-hook client,
# which hands each push to a running `stepgate daemon`. Real git, real bare remotes, a real
# server-side pre-receive with its quarantine. While the lean hook is taken away, a push can only
# get through if the daemon decided it; with it back, a chained hook and a push with no daemon
# are decided in-process.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"

export STEPGATE_DAEMON_SOCKET="$TMP/run/hookd.sock"
export STEPGATE_DAEMON_AUTOSTART=0  # this test starts its own daemon; autostart is tested last
mkdir -p "$TMP/run" "$TMP/bin"
chmod 700 "$TMP/run"
BUILD=$(dirname "$BIN")
cp "$BIN" "$BUILD/stepgate-hook" "$BUILD/stepgate-git-hook" "$TMP/bin/"
SG="$TMP/bin/stepgate"
BOB_KEY=$("$SG" keygen --approver bob 2> /dev/null | sed -n 1p)
remote_tip() { git --git-dir="$TMP/$1.git" rev-parse -q --verify "$2" 2>/dev/null || echo none; }

DAEMON_PID=
trap '[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null; pkill -f -- "--socket $TMP/" 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$SG" daemon 2> "$TMP/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$STEPGATE_DAEMON_SOCKET" ] && break; sleep 0.05; done
check "the daemon listens" test -S "$STEPGATE_DAEMON_SOCKET"

# ---- pre-push through the daemon ----------------------------------------------------------------
new_repo d1
"$SG" hooks install --daemon > "$TMP/install.out"
check "the installed hook asks the daemon (a script that execs the client)" \
  grep -q "^exec '$TMP/bin/stepgate-hook' pre-push --chained" .git/hooks/pre-push
check "install says the hook asks the daemon" grep -q 'stepgate daemon' "$TMP/install.out"
mv "$TMP/bin/stepgate-git-hook" "$TMP/bin/away"  # from here on only the daemon can decide

check "fast-forward push to main is allowed (by the daemon)" git push -q origin main
echo more >> README.md && git commit -qam second && git push -q origin main
old_tip=$(git rev-parse HEAD)
git reset -q --hard HEAD~1 && echo other >> README.md && git commit -qam rewritten
if git push --force origin main 2> "$TMP/force.err"; then fail "force push to main is held"; else
  check "force push to main is held" grep -q 'step-up required' "$TMP/force.err"
fi
check "the remote was not rewritten" test "$(remote_tip d1 main)" = "$old_tip"
challenge=$(challenge_in "$TMP/force.err")
grant=$("$SG" approve --yes --approver bob "$challenge" 2> /dev/null)
check "force push passes with the grant from the pusher's environment" \
  env STEPGATE_GRANT="$grant" git push -q --force origin main
git --git-dir="$TMP/d1.git" update-ref refs/heads/main "$old_tip"
if STEPGATE_GRANT="$grant" git push --force origin main 2> "$TMP/replay.err"; then
  fail "a replayed grant is refused"
else
  check "a replayed grant is refused (already used)" grep -q 'already used' "$TMP/replay.err"
fi
if git push origin :main 2> "$TMP/delete.err"; then fail "deleting main is denied"; else
  check "deleting main is denied" test "$(remote_tip d1 main)" = "$old_tip"
fi
git reset -q --hard "$old_tip"
check_secret_push_denied
check "the secret branch did not reach the remote" test "$(remote_tip d1 feature)" = none
check "the audit chain verifies" "$SG" audit verify

# ---- pre-receive on a bare server through the daemon (pushed objects in quarantine) -----------
git init -q --bare "$TMP/server.git"
mkdir -p "$TMP/srvcfg"
write_git_policy "$TMP/srvcfg/policy.yaml" "$BOB_KEY"
mv "$TMP/bin/away" "$TMP/bin/stepgate-git-hook"
(cd "$TMP/server.git" && "$SG" hooks install --daemon --hook pre-receive > /dev/null)
mv "$TMP/bin/stepgate-git-hook" "$TMP/bin/away"
check "the server hook asks the daemon" \
  grep -q "^exec '$TMP/bin/stepgate-hook' pre-receive --chained" "$TMP/server.git/hooks/pre-receive"
git init -q "$TMP/pusher" && cd "$TMP/pusher"
git remote add origin "$TMP/server.git"
echo one > a.txt && git add a.txt && git commit -qm one
export STEPGATE_POLICY="$TMP/srvcfg/policy.yaml"
check "a first push to the server is allowed (quarantined objects read by the daemon)" \
  git push -q origin main
echo two >> a.txt && git commit -qam two && git push -q origin main
server_tip=$(remote_tip server main)
git reset -q --hard HEAD~1 && echo three >> a.txt && git commit -qam three
if git push --force origin main 2> "$TMP/srv-force.err"; then fail "server: force push held"; else
  check "server: a force push to main is held" grep -q 'stepgate-grant' "$TMP/srv-force.err"
fi
check "server: main was not rewritten" test "$(remote_tip server main)" = "$server_tip"
unset STEPGATE_POLICY

# ---- in-process: a chained hook, and no daemon -----------------------------------------------
mv "$TMP/bin/away" "$TMP/bin/stepgate-git-hook"
new_repo chained
printf '#!/bin/sh\necho chained-ran > "%s"\nexit 1\n' "$TMP/chained.marker" > .git/hooks/pre-push
chmod +x .git/hooks/pre-push
"$SG" hooks install --daemon > /dev/null
if git push origin main 2> "$TMP/chained.err"; then fail "a failing chained hook blocks the push"; else
  check "a failing chained hook blocks the push" grep -q 'chained hook' "$TMP/chained.err"
fi
check "the chained hook ran with the client's stdin and terminal" test -s "$TMP/chained.marker"

# ---- a held push on a terminal: decided once, recorded once -------------------------------------
# With a terminal the push may prompt for a code, which the daemon cannot: the client decides it
# in-process from the start, so the audit log gets one decision record for it, not the daemon's
# and then the client's second one.
decisions_for() {  # decisions_for SHA: decision records whose action's new tip is SHA
  python3 - "$STEPGATE_HOME/state/audit.jsonl" "$1" << 'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = r.get("record", r)
    kind = r.get("type") or body.get("type")
    attrs = (body.get("action") or {}).get("attributes") or {}
    if kind == "decision" and attrs.get("new") == sys.argv[2]:
        n += 1
print(n)
PY
}
new_repo tty
"$SG" hooks install --daemon > /dev/null
git push -q origin main
git commit -q --amend -m "rewritten on a terminal"
held=$(git rev-parse HEAD)
# `script` gives the push a terminal (/dev/tty); stdin at its end, so no code is entered.
if env -u STEPGATE_NO_TTY timeout 60 script -qec "git push --force origin main" /dev/null \
    < /dev/null > "$TMP/tty.out" 2>&1; then
  fail "a force push on a terminal is held"
else
  check "a force push on a terminal is held" grep -q 'step-up required' "$TMP/tty.out"
fi
check "the held push on a terminal left exactly one decision record" \
  test "$(decisions_for "$held")" = 1
check "main was not rewritten from the terminal" test "$(remote_tip tty refs/heads/main)" != "$held"

kill "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
new_repo nodaemon
"$SG" hooks install --daemon > /dev/null
check "no daemon: a fast-forward is decided in-process" git push -q origin main
git checkout -q -b topic
echo x >> README.md && git commit -qam x
git push -q origin topic
git reset -q --hard HEAD~1 && echo y >> README.md && git commit -qam y
check "no daemon: a force push to an unprotected branch is allowed" git push -q --force origin topic
git checkout -q main
git reset -q --hard HEAD && echo z >> README.md && git commit -qam z && git push -q origin main
git reset -q --hard HEAD~1 && echo w >> README.md && git commit -qam w
if git push --force origin main 2> "$TMP/nd-force.err"; then fail "no daemon: force push held"; else
  check "no daemon: a force push to main is held in-process" grep -q 'step-up required' "$TMP/nd-force.err"
fi

# ---- autostart: the first push with no daemon starts one; the next push is the daemon's -------
unset STEPGATE_DAEMON_AUTOSTART
new_repo autostart
"$SG" hooks install --daemon > /dev/null
check "autostart: the first push is decided in-process" git push -q origin main
for _ in $(seq 100); do [ -S "$STEPGATE_DAEMON_SOCKET" ] && break; sleep 0.05; done
check "autostart: the push started a daemon" pgrep -f -- "--socket $STEPGATE_DAEMON_SOCKET"
mv "$TMP/bin/stepgate-git-hook" "$TMP/bin/away"  # only the started daemon can decide now
echo more >> README.md && git commit -qam more
check "autostart: the next push is decided by the started daemon" git push -q origin main
git reset -q --hard HEAD~1 && echo other >> README.md && git commit -qam rewritten
if git push --force origin main 2> "$TMP/auto-force.err"; then fail "autostart: force push held"; else
  check "autostart: the started daemon holds a force push to main" grep -q 'step-up required' "$TMP/auto-force.err"
fi
mv "$TMP/bin/away" "$TMP/bin/stepgate-git-hook"
pkill -f -- "--socket $STEPGATE_DAEMON_SOCKET" || true

finish git_daemon_test
