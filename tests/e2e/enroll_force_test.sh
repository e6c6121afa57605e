#!/usr/bin/env bash
# End-to-end: `stepgate enroll --force` over an active enrollment needs a current code from the
# authenticator it replaces (checked with Debian's oathtool); without a terminal and without
# --current-code it refuses, and every attempt is in the audit log. Before, anyone running as the
# user could replace an approver's seed with their own and approve as them.
set -euo pipefail

BIN=${STEPGATE_BIN:?set STEPGATE_BIN to the built stepgate binary}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/home"
export STEPGATE_NO_TTY=1
unset STEPGATE_POLICY STEPGATE_ACTOR STEPGATE_APPROVER STEPGATE_GRANT STEPGATE_NOW || true
cd "$WORK"

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
expect() {  # expect NAME CODE CMD...: exit code; stdout/stderr in $WORK/out|err
  local name=$1 want=$2
  shift 2
  local got=0
  "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || got=$?
  if [[ $got == "$want" ]]; then pass "$name"; else
    fail "$name (exit $got, wanted $want)"; sed 's/^/    /' "$WORK/err"
  fi
}
has() {  # has NAME FILE TEXT
  if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1 (no \"$3\" in $2)"; sed 's/^/    /' "$2"; fi
}
secret_in() { sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$1"; }
later_code() { oathtool --totp -b "$1" -N "@$(( $(date +%s) + 30 ))"; }  # next step: not yet used

expect "enroll bob" 0 "$BIN" enroll --actor bob --no-qr
SECRET=$(secret_in "$WORK/out")
expect "activate bob with an oathtool code" 0 "$BIN" enroll --actor bob --activate \
  --code "$(oathtool --totp -b "$SECRET")"
SEED_FILE="$STEPGATE_HOME/config/totp/bob.json"
seed_before=$(sha256sum "$SEED_FILE")

expect "--force without a terminal and without --current-code is refused (exit 3)" 3 \
  "$BIN" enroll --actor bob --force --no-qr
has "the refusal says what is needed" "$WORK/err" "--current-code"
[[ $(sha256sum "$SEED_FILE") == "$seed_before" ]] && pass "the active seed stays" ||
  fail "the active seed stays"
if grep -q 'otpauth://' "$WORK/out"; then fail "no new secret is shown"; else pass "no new secret is shown"; fi

# Piped stdin is not a terminal: a process cannot answer the prompt for the holder.
got=0
echo "$(later_code "$SECRET")" | "$BIN" enroll --actor bob --force --no-qr >"$WORK/out" 2>"$WORK/err" || got=$?
[[ $got == 3 ]] && pass "a code on piped stdin is not taken as the holder's (exit 3)" ||
  fail "a code on piped stdin is not taken as the holder's (exit $got)"

right=$(later_code "$SECRET")
wrong=$(printf '%06d' $(( (10#$right + 500000) % 1000000 )))
expect "--force with a wrong --current-code is refused (exit 1)" 1 \
  "$BIN" enroll --actor bob --force --no-qr --current-code "$wrong"
[[ $(sha256sum "$SEED_FILE") == "$seed_before" ]] && pass "the active seed still stays" ||
  fail "the active seed still stays"

expect "--force with a current code from the old authenticator replaces it" 0 \
  "$BIN" enroll --actor bob --force --no-qr --current-code "$right"
NEW_SECRET=$(secret_in "$WORK/out")
[[ -n $NEW_SECRET && $NEW_SECRET != "$SECRET" ]] && pass "a new secret is issued" ||
  fail "a new secret is issued"
expect "the new authenticator activates" 0 "$BIN" enroll --actor bob --activate \
  --code "$(oathtool --totp -b "$NEW_SECRET")"
expect "the old authenticator's codes no longer verify" 1 "$BIN" totp verify --actor bob \
  --code "$(later_code "$SECRET")"

"$BIN" audit show --type enroll --format json > "$WORK/enroll.jsonl"
refused=$(grep -c '"outcome":"replace_refused"' "$WORK/enroll.jsonl" || true)
[[ $refused == 3 ]] && pass "each refused replacement is audited (3)" ||
  fail "each refused replacement is audited ($refused)"
has "the authorized replacement is audited" "$WORK/enroll.jsonl" '"outcome":"replace_authorized"'
if grep -q "$NEW_SECRET\|$SECRET" "$STEPGATE_HOME/state/audit.jsonl"; then
  fail "no secret reaches the audit log"
else
  pass "no secret reaches the audit log"
fi
expect "the audit log verifies against its signed checkpoint" 0 "$BIN" audit verify
has "verify used the checkpoint" "$WORK/out" "matches the signed checkpoint"

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all enroll --force e2e cases passed"
