#!/usr/bin/env bash
# End-to-end: `stepgate ci gate --wait` against a real running approvals server (`stepgate shim`).
# The CI job, the shim and the approver each have their own STEPGATE_HOME, as on real machines,
# so the job can only pass with the grant the server hands back (verified by the gate itself).
set -euo pipefail

BIN="${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}"
SRC="${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
WORK="$(mktemp -d)"
SHIM_PID=""
GATE_PID=""
cleanup() {
  [[ -n "$GATE_PID" ]] && kill "$GATE_PID" 2>/dev/null || true
  [[ -n "$SHIM_PID" ]] && kill "$SHIM_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
unset GITHUB_ACTIONS GITLAB_CI CI GITHUB_OUTPUT GITHUB_STEP_SUMMARY STEPGATE_GRANT STEPGATE_POLICY \
  STEPGATE_SERVER STEPGATE_NOW STEPGATE_CONFIG_DIR STEPGATE_STATE_DIR STEPGATE_SECRETS_DIR \
  STEPGATE_AUDIT || true
export STEPGATE_HOME="$WORK/ci-home" STEPGATE_ACTOR=alice
cd "$WORK"

FAILURES=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; FAILURES=$((FAILURES + 1)); }

CAROL_KEY="$(STEPGATE_HOME="$WORK/approver-home" "$BIN" keygen --approver carol 2>/dev/null | sed -n 1p)"
sed 's/^  change_window: .*/  change_window: ""/' "$SRC/policies/model-deploy.yaml" >policy.yaml
printf 'approvers:\n  - id: carol\n    public_key: "%s"\n' "$CAROL_KEY" >>policy.yaml
printf 'weights' >model.bin
cat >prod.yaml <<EOF
model: {name: fraud-detector, version: "2.0.0"}
artifact: {path: model.bin, sha256: $(sha256sum model.bin | cut -d' ' -f1)}
target: {environment: production}
evaluation:
  candidate: {accuracy: 0.80}
  baseline: {accuracy: 0.82}
  metrics: {accuracy: {direction: higher, tolerance_pct: 1}}
EOF

PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
SERVER="http://127.0.0.1:$PORT"
STEPGATE_HOME="$WORK/shim-home" "$BIN" shim --listen "127.0.0.1:$PORT" \
  --upstream http://127.0.0.1:1/ --policy policy.yaml >shim.log 2>&1 &
SHIM_PID=$!
for _ in $(seq 1 100); do
  curl -fs "$SERVER/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fs "$SERVER/healthz" >/dev/null 2>&1; then
  echo "FAIL: the shim did not start"
  sed 's/^/  shim: /' shim.log
  exit 1
fi

# start_gate NAME [ARGS...]: `ci gate --wait` in the background; output in NAME.out / NAME.err.
start_gate() {
  local name="$1"
  shift
  "$BIN" ci gate --policy policy.yaml --manifest prod.yaml --wait --server "$SERVER" \
    --poll 100ms "$@" >"$name.out" 2>"$name.err" &
  GATE_PID=$!
}
# The challenge token the waiting gate printed on stderr.
challenge_of() {
  for _ in $(seq 1 100); do
    local token
    token="$(grep -o "'sgc1\.[^']*'" "$1.err" 2>/dev/null | tr -d "'" | sed -n 1p || true)"
    if [[ -n "$token" ]] && grep -q 'waiting up to' "$1.err"; then
      echo "$token"
      return 0
    fi
    sleep 0.1
  done
  return 1
}
challenge_id() {  # the challenge id the waiting gate NAME printed
  sed -n 's/^stepgate: step-up required; challenge \([a-z0-9]*\)\..*/\1/p' "$1.err"
}
finish_gate() {  # finish_gate: wait for the background gate; its exit code goes to RC
  RC=0
  wait "$GATE_PID" || RC=$?
  GATE_PID=""
}
decide() {  # decide ID approve|deny GRANT
  curl -fs -X POST -H 'Content-Type: application/json' \
    -d "$(jq -n --arg g "$3" '{grant: $g, approver: "carol"}')" "$SERVER/v1/approvals/$1/$2"
}

# ---- approved: the returned grant lets the job through ---------------------------------------
start_gate approved --timeout 60s
TOKEN="$(challenge_of approved)" || { echo "FAIL: no challenge printed"; cat approved.err; exit 1; }
ID="$(challenge_id approved)"
GRANT="$(STEPGATE_HOME="$WORK/approver-home" "$BIN" approve --yes --approver carol \
  --policy policy.yaml "$TOKEN" 2>/dev/null | tail -n 1)"
if decide "$ID" approve "$GRANT" >/dev/null; then pass "approved through POST /v1/approvals/$ID/approve"; else fail "approve via the shim"; fi
finish_gate
if [[ "$RC" == 0 ]]; then pass "the waiting gate passes once approved (exit 0)"; else
  fail "approved gate exit $RC"; sed 's/^/  /' approved.err approved.out; fi
if grep -q 'step-up satisfied by grant' approved.out; then pass "the grant was verified by the gate"; else fail "no grant verification in output"; fi

# ---- denied --------------------------------------------------------------------------------
start_gate denied --timeout 60s
TOKEN="$(challenge_of denied)" || { echo "FAIL: no challenge printed"; exit 1; }
ID="$(challenge_id denied)"
REFUSAL="$(STEPGATE_HOME="$WORK/approver-home" "$BIN" approve --deny --yes --approver carol \
  --policy policy.yaml "$TOKEN" 2>/dev/null | tail -n 1)"
decide "$ID" deny "$REFUSAL" >/dev/null || true
finish_gate
if [[ "$RC" == 1 ]]; then pass "a denied challenge fails the job (exit 1)"; else
  fail "denied gate exit $RC"; sed 's/^/  /' denied.err; fi

# ---- nobody decides --------------------------------------------------------------------------
start_gate timeout --timeout 1s
finish_gate
if [[ "$RC" == 3 ]] && grep -q 'before the timeout' timeout.err; then
  pass "no decision before --timeout (exit 3)"
else
  fail "timeout gate exit $RC"; sed 's/^/  /' timeout.err
fi

# ---- server down -----------------------------------------------------------------------------
RC=0
"$BIN" ci gate --policy policy.yaml --manifest prod.yaml --wait --server http://127.0.0.1:1 \
  --timeout 5s >down.out 2>down.err || RC=$?
if [[ "$RC" == 3 ]]; then pass "an unreachable server leaves the step held (exit 3)"; else
  fail "server down exit $RC"; sed 's/^/  /' down.err; fi

if [[ "$FAILURES" -gt 0 ]]; then
  echo "ci_wait_test: $FAILURES failure(s)"
  exit 1
fi
echo "ci_wait_test: all passed"
