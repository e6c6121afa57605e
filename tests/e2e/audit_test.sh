#!/usr/bin/env bash
# End-to-end: the real binary writes an audit log (the gate's decisions, an annotation from
# `stepgate audit append`), verifies it against its signed checkpoint, shows it with filters, and
# finds tampering done with ordinary text tools: a cut tail, an emptied file and a rewritten chain
# included.
set -euo pipefail

BIN="${STEPGATE_BIN:?set STEPGATE_BIN to the built stepgate}"
ROOT="$(mktemp -d)"
export STEPGATE_HOME="$ROOT"
trap 'rm -rf "$ROOT"' EXIT
unset STEPGATE_AUDIT STEPGATE_STATE_DIR STEPGATE_CONFIG_DIR STEPGATE_SECRETS_DIR
LOG="$STEPGATE_HOME/state/audit.jsonl"
failures=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

# run CMD...: sets $out, $err and $rc without tripping set -e.
run() {
  local o e
  o="$(mktemp)"; e="$(mktemp)"
  set +e
  "$@" >"$o" 2>"$e"
  rc=$?
  set -e
  out="$(cat "$o")"; err="$(cat "$e")"
  rm -f "$o" "$e"
}

# Decisions come from the gate (`ci gate` with a policy that denies resources ending in -deny);
# `audit append` adds one annotation.
cat > "$ROOT/policy.yaml" <<'YAML'
name: audit-e2e
rules:
  - {id: denied-resource, on: "*", when: 'action.resource.endsWith("-deny")', effect: deny, message: denied}
YAML
for i in $(seq 1 20); do
  resource="r$i"
  kind=git.push
  if (( i % 5 == 0 )); then resource="r$i-deny"; fi
  if (( i % 4 == 0 )); then kind=db.migrate; fi
  "$BIN" ci gate --policy "$ROOT/policy.yaml" --kind "$kind" --resource "$resource" >/dev/null 2>&1 || true
done
echo '{"actor":"alice","password":"hunter2","note":"AKIAZ7Q3XK2M4NPLW5RT"}' |
  "$BIN" audit append --label deploy-note --fields -

run "$BIN" audit verify
if [[ $rc -eq 0 && "$out" == "ok: 21 records, chain intact, matches the signed checkpoint of 21 records" ]]; then
  pass "verify of a log written by the binary, against its signed checkpoint"
else
  fail "verify: rc=$rc out=$out err=$err"
fi

# `audit append` writes annotations only: no record that reads as a decision.
run "$BIN" audit append --type decision --fields '{"verdict":"allow"}'
if [[ $rc -eq 2 ]]; then pass "audit append --type decision is refused"; else fail "append --type: rc=$rc"; fi
run "$BIN" audit append --label 'bad label' --fields '{}'
if [[ $rc -eq 2 ]]; then pass "audit append refuses a label with a space"; else fail "bad label: rc=$rc"; fi
run "$BIN" audit show --type annotation --format json
if [[ $rc -eq 0 && "$out" == *'"type":"annotation"'* && "$out" == *'"fields":{'* && "$out" == *'"label":"deploy-note"'* ]]; then
  pass "an appended record is a labelled annotation with its fields nested"
else
  fail "annotation: $out"
fi
run "$BIN" audit show --type decision
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | tail -n +2 | grep -c .)" -eq 20 ]]; then pass "only the gate's 20 decisions are decisions"; else fail "decisions: $out"; fi
if [[ "$(printf '%s\n' "$out" | head -n 1)" =~ ^SEQ\ +TIME\ +TYPE\ +VERDICT\ +FRONT-END\ +KIND\ +ACTOR\ +RESOURCE\ +RULES$ ]]; then
  pass "show prints a table with a header"
else
  fail "table header: $(printf '%s\n' "$out" | head -n 1)"
fi

mode="$(stat -c %a "$LOG")"
if [[ "$mode" == "600" ]]; then pass "log file is 0600"; else fail "log mode $mode"; fi

if grep -q hunter2 "$LOG" || grep -q AKIAZ7Q3XK2M4NPLW5RT "$LOG"; then
  fail "a secret reached the log"
else
  pass "secrets redacted before writing"
fi

run "$BIN" audit show --format json
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | wc -l)" -eq 21 ]]; then pass "show --format json"; else fail "show: rc=$rc"; fi
run "$BIN" audit show --kind 'git.*' --verdict deny
expected_deny_push=0
for i in $(seq 1 20); do (( i % 5 == 0 && i % 4 != 0 )) && expected_deny_push=$((expected_deny_push + 1)); done
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | grep -c ' git.push ')" -eq $expected_deny_push ]]; then
  pass "show --kind 'git.*' --verdict deny"
else
  fail "show filters: rc=$rc out=$out"
fi
run "$BIN" audit show --type annotation --since 1h
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | tail -n +2 | grep -c .)" -eq 1 ]]; then pass "show --type --since"; else fail "show --type: $out"; fi
# Filters by rule, front-end and actor (issue 23): the 4 denied resources are r5, r10, r15, r20.
run "$BIN" audit show --rule 'denied-*' --front-end ci
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | tail -n +2 | grep -c ' denied-resource$')" -eq 4 && "$(printf '%s\n' "$out" | wc -l)" -eq 5 ]]; then
  pass "show --rule --front-end"
else
  fail "show --rule: rc=$rc out=$out"
fi
run "$BIN" audit show --front-end git
if [[ $rc -eq 0 && -z "$out" && "$err" == *"no audit records match"* ]]; then pass "show --front-end with no match says so"; else fail "no match: rc=$rc out=$out err=$err"; fi
run "$BIN" audit show --type decision --format json
actor="$(printf '%s\n' "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["action"]["actor"])')"
run "$BIN" audit show --actor "$actor" --type decision
if [[ $rc -eq 0 && "$(printf '%s\n' "$out" | tail -n +2 | grep -c .)" -eq 20 ]]; then pass "show --actor"; else fail "show --actor $actor: $out"; fi
run "$BIN" audit show --actor "not-$actor"
if [[ $rc -eq 0 && -z "$out" ]]; then pass "show --actor of someone else shows nothing"; else fail "show --actor other: $out"; fi
run "$BIN" audit show --since yesterday
if [[ $rc -eq 2 && "$err" == stepgate:* ]]; then pass "bad --since exits 2"; else fail "bad --since: rc=$rc"; fi

# Tampering, each on a copy, with the line verify must name.
tamper() {  # name, sed-or-awk command applied to a copy, expected "line N: problem" prefix
  local name="$1" cmd="$2" expected="$3" copy="$STEPGATE_HOME/copy.jsonl"
  cp "$LOG" "$copy"
  eval "$cmd"
  run "$BIN" audit verify --path "$copy"
  if [[ $rc -eq 1 && "$out" == "$expected"* ]]; then pass "tamper: $name"; else fail "tamper: $name: rc=$rc out=$out"; fi
}
tamper "edit a verdict" "sed -i '5s/\"verdict\":\"deny\"/\"verdict\":\"allow\"/' \"\$copy\"" \
  "line 5: edited (hash mismatch)"
tamper "delete a record" "sed -i '7d' \"\$copy\"" "line 7: dropped record(s): expected seq 7, found 8"
tamper "swap two records" "awk 'NR==3{h=\$0;next} NR==4{print; print h; next} {print}' \"\$copy\" > \"\$copy.t\" && mv \"\$copy.t\" \"\$copy\"" \
  "line 3: inserted or reordered record"
tamper "duplicate a record" "sed -i '10p' \"\$copy\"" "line 11: inserted or reordered record"
tamper "truncate mid-line" "truncate -s -40 \"\$copy\"" "line 21: truncated/torn line"

run "$BIN" audit verify --path "$STEPGATE_HOME/none.jsonl"
if [[ $rc -eq 2 && "$err" == stepgate:* ]]; then pass "missing log exits 2"; else fail "missing log: rc=$rc"; fi

# The same log held against its signed checkpoint: a chain alone verifies each of these as intact.
cp "$LOG" "$ROOT/backup.jsonl"
checkpointed() {  # name, command on $LOG, expected "checkpoint: ..." prefix
  local name="$1" cmd="$2" expected="$3"
  cp "$ROOT/backup.jsonl" "$LOG"
  eval "$cmd"
  run "$BIN" audit verify
  if [[ $rc -eq 1 && "$out" == "$expected"* ]]; then pass "checkpoint: $name"; else fail "checkpoint: $name: rc=$rc out=$out"; fi
}
# Every hash rewritten after an edit: a fresh, internally valid chain of 21 records.
forge() {
  python3 - "$LOG" <<'PY'
import hashlib, json, sys
prev = "0" * 64
with open(sys.argv[1], "w") as out:
    for seq in range(1, 22):
        rec = {"seq": seq, "prev": prev, "type": "decision", "time": "2024-01-01T00:00:00.000Z",
               "verdict": "allow"}
        canonical = json.dumps(rec, sort_keys=True, separators=(",", ":"))
        h = hashlib.sha256((prev + canonical).encode()).hexdigest()
        out.write(canonical[:-1] + ',"hash":"' + h + '"}\n')
        prev = h
PY
}
checkpointed "the last two records cut" 'head -n 19 "$ROOT/backup.jsonl" > "$LOG"' \
  "checkpoint: cut: the log ends at record 19"
checkpointed "the file emptied" ': > "$LOG"' "checkpoint: emptied"
checkpointed "the file deleted" 'rm -f "$LOG"' "checkpoint: the log is missing"
checkpointed "every hash rewritten after an edit" "forge" "checkpoint: rewritten"
cp "$ROOT/backup.jsonl" "$LOG"
run "$BIN" audit verify --path "$ROOT/backup.jsonl"  # the copy: no checkpoint of its own
if [[ $rc -eq 0 && "$out" == *"no signed checkpoint yet"* ]]; then pass "a log without a checkpoint says so"; else fail "no checkpoint: $out"; fi
cp "$STEPGATE_HOME/config/audit/checkpoint.key" "$ROOT/key.backup"
"$BIN" keygen --approver mallory >/dev/null 2>&1
cp "$STEPGATE_HOME/config/keys/mallory.key" "$STEPGATE_HOME/config/audit/checkpoint.key"
run "$BIN" audit verify
if [[ $rc -eq 1 && "$out" == "checkpoint: "*"no valid signature"* ]]; then
  pass "a checkpoint that does not verify with the key is reported"
else
  fail "another key: rc=$rc out=$out"
fi
cp "$ROOT/key.backup" "$STEPGATE_HOME/config/audit/checkpoint.key"

# Records written by other commands of the real binary (TOTP enrolment and a replayed code).
if command -v oathtool >/dev/null; then
  export STEPGATE_HOME="$STEPGATE_HOME/enroll"
  mkdir -p "$STEPGATE_HOME"
  secret="$("$BIN" enroll --actor alice </dev/null 2>/dev/null | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p')"
  code="$(oathtool --totp -b "$secret")"
  run "$BIN" enroll --actor alice --activate --code "$code"
  run "$BIN" totp verify --actor alice --code "$code"  # the same code again: a replay
  run "$BIN" audit verify
  verify_out="$out"; verify_rc=$rc
  run "$BIN" audit show --type enroll --format json
  if [[ $verify_rc -eq 0 && "$verify_out" == ok:* && "$out" == *'"outcome":"activated"'* ]] &&
     ! grep -q "$secret" "$STEPGATE_HOME/state/audit.jsonl"; then
    pass "log written by enroll/totp verify verifies ($verify_out)"
  else
    fail "enroll log: verify rc=$verify_rc out=$verify_out show=$out"
  fi
else
  echo "SKIP: oathtool not installed (log from enroll)"
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all audit e2e cases passed"
