# Sourced by the Claude Code hook suites (not a test itself): a scratch STEPGATE_HOME, HOME and
# workspace under $WORK, pass/fail counters, the fixtures with their placeholders filled, and a
# policy (the agent-tools pack plus approver alice, whose key is made here) in $POLICY.
FIXTURES="$SRC/tests/agents/fixtures/claude"
export STEPGATE_HOME="$WORK/sg" HOME="$WORK/home" STEPGATE_ACTOR=dev
unset STEPGATE_GRANT STEPGATE_SERVER STEPGATE_POLICY
mkdir -p "$HOME" "$WORK/project/src"

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

# A fixture with its placeholders filled; the fake AWS key is assembled here, never committed.
event() {
  sed -e "s#__CWD__#$WORK/project#g" -e "s#__HOME__#$HOME#g" \
      -e "s#__FAKE_AWS_KEY__#AKIA""QX7R2M4T9W3Y6B8N#g" "$FIXTURES/$1.json"
}

decision() { grep -o '"permissionDecision":"[a-z]*"' <<<"$OUT" | cut -d'"' -f4 || true; }

PUB=$("$BIN" keygen --approver alice 2>/dev/null | grep -o 'ed25519:[A-Za-z0-9_-]*' | head -1)
POLICY="$WORK/policy.yaml"
{ cat "$SRC/policies/agent-tools.yaml"; printf 'approvers:\n  - id: alice\n    public_key: "%s"\n' "$PUB"; } >"$POLICY"
