#!/usr/bin/env bash
# End-to-end: behavioural baselines through the real gate (`ci gate`), the audit log and
# `stepgate report`: a first action on a resource is new to its actor (a shadow rule records it,
# with its reason), the second is not; a policy that reads no baseline signal computes none.
set -euo pipefail
BIN="${STEPGATE_BIN:?set STEPGATE_BIN to the built stepgate}"
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
export STEPGATE_HOME="$ROOT/home" STEPGATE_ACTOR=alice STEPGATE_DEVICE=e2e-device
unset STEPGATE_POLICY GITHUB_ACTIONS GITLAB_CI CI || true
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

cat >"$ROOT/policy.yaml" <<'YAML'
name: baselines-e2e
rules:
  - {id: new-resource, on: "*", when: signals.new_resource, score: 10, mode: shadow, message: "{new_resource_reason}"}
  - {id: unusual-volume, on: "*", when: signals.volume_z > 3.0, score: 10, mode: shadow, message: "{volume_reason}"}
YAML
gate() { "$BIN" ci gate --policy "$ROOT/policy.yaml" --kind db.migrate --resource "$1" >/dev/null 2>&1; }
gate db:orders && pass "a shadow baseline rule lets the action through" || fail "first gate exit $?"
gate db:orders || fail "second gate"
gate db:users || fail "third gate"

json="$("$BIN" audit show --rule new-resource --format json)"
if [[ "$(printf '%s\n' "$json" | grep -c .)" -eq 2 ]]; then
  pass "new-resource matched the first action on each resource only"
else
  fail "new-resource records: $json"
fi
# The first record, taken without a pipe: under pipefail, `head -n 1` quitting after the first
# line could SIGPIPE the (line-buffered) printf still writing the second, and read as no match.
first_record="${json%%$'\n'*}"
if grep -q '"message":"first db.migrate by [^"]* on db:orders"' <<<"$first_record"; then
  pass "the reason says which resource is new to whom"
else
  fail "reason: $json"
fi
report="$("$BIN" report --format json)"
if python3 -c 'import json,sys; r=json.loads(sys.argv[1]); c=r["by_rule"]["new-resource"]; assert c["shadow"]==2 and c["matched"]==0, c' "$report"; then
  pass "stepgate report counts the shadow would-haves"
else
  fail "report: $report"
fi
# Read whole first: under pipefail a grep that quits at its match can SIGPIPE the writer, and the
# failed pipeline would then read as "no match".
shown=$("$BIN" audit show --format json)
if grep -q '"volume_reason"\|unusual-volume' <<<"$shown"; then
  fail "unusual-volume matched three actions"
else
  pass "three actions in a day are not an unusual volume"
fi
echo "baselines_test: $failures failure(s)"
exit $((failures > 0))
