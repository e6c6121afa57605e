#!/usr/bin/env bash
# End-to-end: TOTP enrollment checked with Debian's oathtool, code replay, approver keys,
# `stepgate approve` with require_totp, and grants checked against an action.
set -euo pipefail

BIN=${STEPGATE_BIN:?set STEPGATE_BIN to the built stepgate binary}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/home"
export STEPGATE_NO_TTY=1
unset STEPGATE_POLICY STEPGATE_ACTOR STEPGATE_APPROVER STEPGATE_GRANT || true
cd "$WORK"

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
# expect NAME CODE CMD...: runs CMD, checks its exit code, keeps stdout/stderr in $WORK/out|err.
expect() {
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
mode_of() { stat -c %a "$1"; }

# --- enrollment, verified by an independent TOTP implementation (oathtool) ---
expect "enroll prints an otpauth URI" 0 "$BIN" enroll --actor alice --no-qr
has "URI names the actor and issuer" "$WORK/out" "otpauth://totp/stepgate:alice?secret="
SECRET=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$WORK/out")
[[ -n $SECRET ]] && pass "secret extracted" || fail "secret extracted"
has "not active until a code is given" "$WORK/err" "--activate --code"
SEED_FILE="$STEPGATE_HOME/config/totp/alice.json"
[[ $(mode_of "$SEED_FILE") == 600 ]] && pass "seed file is 0600" || fail "seed file is 0600"

expect "a wrong activation code is refused" 1 "$BIN" enroll --actor alice --activate --code 000000x
expect "activate with an oathtool code" 0 "$BIN" enroll --actor alice --activate \
  --code "$(oathtool --totp -b "$SECRET")"

NEXT=$(oathtool --totp -b "$SECRET" -N "now + 30 seconds")
expect "totp verify accepts a fresh code" 0 "$BIN" totp verify --actor alice --code "$NEXT"
expect "the same code is refused the second time" 1 "$BIN" totp verify --actor alice --code "$NEXT"
has "replay is named" "$WORK/err" "already used"

chmod 644 "$SEED_FILE"
expect "a group/other-readable seed file is refused" 2 "$BIN" totp verify --actor alice --code 123456
has "refusal says how to fix it" "$WORK/err" "chmod 600"
chmod 600 "$SEED_FILE"

expect "enroll with the QR code draws half blocks" 0 "$BIN" enroll --actor qrtest --algorithm sha256 --digits 8
has "QR uses half blocks" "$WORK/out" "▀"
has "sha256 in the URI" "$WORK/out" "algorithm=SHA256&digits=8"

# --- approver keys, policy, challenge, approve, grant verify ---
expect "keygen carol" 0 "$BIN" keygen --approver carol
CAROL_PUB=$(head -1 "$WORK/out")
[[ $CAROL_PUB == ed25519:* ]] && pass "keygen prints the public key" || fail "keygen prints the public key"
has "keygen prints a YAML snippet" "$WORK/out" "  public_key: $CAROL_PUB"
[[ $(mode_of "$STEPGATE_HOME/config/keys/carol.key") == 600 ]] && pass "key file is 0600" || fail "key file is 0600"
grep -qF -- "$(cat "$STEPGATE_HOME/config/keys/carol.key")" "$WORK/out" "$WORK/err" \
  && fail "private key never printed" || pass "private key never printed"
expect "keygen alice" 0 "$BIN" keygen --approver alice
ALICE_PUB=$(head -1 "$WORK/out")

# carol must give her own TOTP when approving.
expect "enroll carol" 0 "$BIN" enroll --actor carol --no-qr
CAROL_SECRET=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$WORK/out")
expect "activate carol" 0 "$BIN" enroll --actor carol --activate --code "$(oathtool --totp -b "$CAROL_SECRET")"

cat >"$WORK/policy.yaml" <<YAML
version: 1
name: e2e
step_up:
  method: approval
  approvers: 1
  max_age: "0"
approvers:
  - id: carol
    public_key: $CAROL_PUB
    require_totp: true
  - id: alice
    public_key: $ALICE_PUB
rules: []
YAML

printf '%s' '{"actor":"alice","attributes":{"remote":"origin"},"kind":"git.push","resource":"refs/heads/main"}' >"$WORK/action.json"
printf '%s' '{"actor":"alice","attributes":{"remote":"origin"},"kind":"git.push","resource":"refs/heads/release/1"}' >"$WORK/other.json"
# The challenge an approver receives, built here independently of stepgate's encoder.
CHALLENGE=$(python3 - "$WORK/action.json" <<'PY'
import base64, hashlib, json, sys, time
action = open(sys.argv[1], "rb").read()
now = int(time.time())
body = {"v": 1, "id": "e2etest1", "kind": "git.push", "resource": "refs/heads/main",
        "actor": "alice", "digest": hashlib.sha256(action).hexdigest(), "rev": "",
        "score": 60, "reasons": ["force-push: force push to refs/heads/main"],
        "signals": {"force": True}, "attributes": {"remote": "origin"},
        "requirement": {"method": "approval", "approvers": 1, "max_age": 0},
        "created_at": now, "expires_at": now + 3600}
raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print("sgc1." + b64(raw) + "." + b64(hashlib.sha256(raw).digest()[:12]))
PY
)

expect "approve without carol's TOTP is refused" 1 "$BIN" approve "$CHALLENGE" --approver carol \
  --yes --policy "$WORK/policy.yaml"
expect "approve without --yes and no answer is not approved" 1 "$BIN" approve "$CHALLENGE" \
  --approver carol --policy "$WORK/policy.yaml"
expect "approve with carol's TOTP prints a grant" 0 "$BIN" approve "$CHALLENGE" --approver carol \
  --yes --policy "$WORK/policy.yaml" --totp "$(oathtool --totp -b "$CAROL_SECRET" -N 'now + 30 seconds')"
GRANT=$(cat "$WORK/out")
[[ $(grep -c . "$WORK/out") == 1 && $GRANT == *.*.* ]] && pass "stdout holds only the grant" \
  || fail "stdout holds only the grant"
has "approve shows what is approved" "$WORK/err" "refs/heads/main"
has "approve shows the salient signals" "$WORK/err" "force"

expect "the grant verifies for its action" 0 "$BIN" grant verify --action "$WORK/action.json" \
  --policy "$WORK/policy.yaml" "$GRANT"
expect "the grant is refused for another action" 1 "$BIN" grant verify --action "$WORK/other.json" \
  --policy "$WORK/policy.yaml" "$GRANT"
has "different action is named" "$WORK/err" "different action"
# Flip one character inside the signature (not the last one, whose low bits are padding).
POS=$((${#GRANT} - 10))
SWAP=$([[ ${GRANT:POS:1} == A ]] && echo B || echo A)
TAMPERED="${GRANT:0:POS}${SWAP}${GRANT:POS+1}"
expect "a tampered grant is refused" 1 "$BIN" grant verify --action "$WORK/action.json" \
  --policy "$WORK/policy.yaml" "$TAMPERED"

expect "alice cannot approve her own action" 1 "$BIN" approve "$CHALLENGE" --approver alice \
  --yes --policy "$WORK/policy.yaml"
has "self-approval is named" "$WORK/err" "own action"

expect "deny signs a refusal" 0 "$BIN" approve "$CHALLENGE" --approver alice --deny --yes \
  --policy "$WORK/policy.yaml"
expect "a refusal grant does not allow" 1 "$BIN" grant verify --action "$WORK/action.json" \
  --policy "$WORK/policy.yaml" "$(cat "$WORK/out")"

expect "a truncated challenge is refused" 2 "$BIN" approve "${CHALLENGE:0:40}" --approver carol --yes
expect "elevation list runs" 0 "$BIN" elevation list
expect "elevation drop runs" 0 "$BIN" elevation drop --actor alice
has "audit has approvals" "$STEPGATE_HOME/state/audit.jsonl" '"approval"'
grep -qF -- "$GRANT" "$STEPGATE_HOME/state/audit.jsonl" && fail "grant text kept out of the audit log" \
  || pass "grant text kept out of the audit log"

if ((failures > 0)); then echo "stepup e2e: $failures failed"; exit 1; fi
echo "stepup e2e: all passed"
