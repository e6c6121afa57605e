#!/usr/bin/env bash
# End-to-end: `stepgate ci gate` with the built binary in a simulated GitHub Actions job and a
# simulated GitLab job: allowed staging deploy, held production deploy, approval with a real
# approver key, grant replay and cross-manifest refusal, digest mismatch, malformed manifests.
set -euo pipefail

BIN="${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}"
SRC="${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export STEPGATE_HOME="$WORK/home"
# Nothing from the machine running the tests may leak into the simulated CI.
unset GITHUB_ACTIONS GITHUB_ACTOR GITHUB_REPOSITORY GITHUB_REF GITHUB_REF_NAME GITHUB_SHA \
  GITHUB_EVENT_NAME GITHUB_RUN_ID GITHUB_RUN_ATTEMPT GITHUB_WORKFLOW GITHUB_OUTPUT \
  GITHUB_STEP_SUMMARY GITLAB_CI GITLAB_USER_LOGIN CI_PROJECT_PATH CI_COMMIT_REF_NAME \
  CI_COMMIT_SHA CI_PIPELINE_SOURCE CI_JOB_NAME CI_ENVIRONMENT_NAME CI_DEFAULT_BRANCH CI \
  STEPGATE_GRANT STEPGATE_POLICY STEPGATE_SERVER STEPGATE_NOW STEPGATE_CHANGE_TICKET || true
cd "$WORK"

FAILURES=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; FAILURES=$((FAILURES + 1)); }
# expect_exit WANT NAME -- command...: runs the command, saving stdout/stderr in $WORK/out|err.
expect_exit() {
  local want="$1" name="$2"
  shift 3
  local got=0
  "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
  if [[ "$got" == "$want" ]]; then pass "$name (exit $got)"; return 0; fi
  fail "$name: exit $got, wanted $want"
  sed 's/^/  stdout: /' "$WORK/out" | sed -n 1,20p
  sed 's/^/  stderr: /' "$WORK/err" | sed -n 1,20p
  return 1
}
check() {  # check NAME COMMAND...: a predicate that must hold
  local name="$1"
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
# The value of NAME in a GITHUB_OUTPUT file written in the NAME<<DELIM form (last one wins).
output_value() {
  awk -v name="$2" '
    $0 ~ "^" name "<<" { delim = substr($0, length(name) + 3); value = ""; inside = 1; next }
    inside && $0 == delim { inside = 0; last = value; next }
    inside { value = (value == "" ? $0 : value "\n" $0) }
    END { print last }' "$1"
}

# ---- fixtures ---------------------------------------------------------------------------------
CAROL_KEY="$("$BIN" keygen --approver carol 2>/dev/null | sed -n 1p)"
[[ "$CAROL_KEY" == ed25519:* ]] || { echo "FAIL: keygen printed no public key"; exit 1; }
# The shipped pack with the change window opened up (these tests must not depend on the clock)
# and carol as an approver.
sed 's/^  change_window: .*/  change_window: ""/' "$SRC/policies/model-deploy.yaml" >policy.yaml
printf 'approvers:\n  - id: carol\n    public_key: "%s"\n' "$CAROL_KEY" >>policy.yaml

printf 'weights-v1.4.0' >model.bin
SHA="$(sha256sum model.bin | cut -d' ' -f1)"
write_manifest() {  # write_manifest FILE ENVIRONMENT VERSION SHA
  cat >"$1" <<EOF
model: {name: fraud-detector, version: "$3"}
artifact: {path: model.bin, uri: "s3://models/fraud-detector/$3.onnx", sha256: $4, size_bytes: 14}
target: {environment: $2}
previous: {version: "1.3.0", size_bytes: 14}
evaluation:
  candidate: {accuracy: 0.90, latency_ms: 41}
  baseline: {accuracy: 0.93, latency_ms: 40}
  metrics:
    accuracy: {direction: higher, tolerance_pct: 1}
    latency_ms: {direction: lower, tolerance_abs: 5}
EOF
}
write_manifest staging.yaml staging 1.4.0 "$SHA"
write_manifest prod.yaml production 1.4.0 "$SHA"
write_manifest prod-other.yaml production 1.4.1 "$SHA"
write_manifest tampered.yaml production 1.4.0 "$(printf '0%.0s' {1..64})"

github() {  # github COMMAND...: run in a simulated GitHub Actions job
  GITHUB_ACTIONS=true GITHUB_ACTOR=alice GITHUB_REPOSITORY=acme/models GITHUB_REF=refs/heads/main \
    GITHUB_REF_NAME=main GITHUB_SHA=0123456789abcdef GITHUB_EVENT_NAME=push GITHUB_RUN_ID=42 \
    GITHUB_RUN_ATTEMPT=1 GITHUB_WORKFLOW=deploy GITHUB_OUTPUT="$WORK/gh_output" \
    GITHUB_STEP_SUMMARY="$WORK/gh_summary" "$@"
}
gitlab() {  # gitlab COMMAND...: run in a simulated GitLab CI job
  GITLAB_CI=true CI=true GITLAB_USER_LOGIN=bob CI_PROJECT_PATH=acme/models CI_COMMIT_REF_NAME=main \
    CI_COMMIT_SHA=0123456789abcdef CI_PIPELINE_SOURCE=push CI_JOB_NAME=gate \
    CI_DEFAULT_BRANCH=main "$@"
}
gate() { "$BIN" ci gate --policy policy.yaml "$@"; }

# ---- GitHub Actions ---------------------------------------------------------------------------
: >gh_output
: >gh_summary
if expect_exit 0 "staging deploy is allowed" -- github gate --manifest staging.yaml; then
  check "GITHUB_OUTPUT decision=allow" test "$(output_value gh_output decision)" = allow
  check "GITHUB_OUTPUT has the action digest" \
    grep -Eq '^[0-9a-f]{64}$' <<<"$(output_value gh_output action_digest)"
  check "notice annotation" grep -q '^::notice title=stepgate%3A allowed::' out
  check "summary says allowed" grep -q 'stepgate: allowed' gh_summary
fi

: >gh_output
if expect_exit 3 "production deploy with a metric regression needs step-up" -- \
  github gate --manifest prod.yaml; then
  check "GITHUB_OUTPUT decision=step_up" test "$(output_value gh_output decision)" = step_up
  check "warning annotation names the rule" \
    grep -q '^::warning title=stepgate%3A step-up required::.*prod-metric-regression' out
  check "summary has the reasons table" grep -q '| `prod-metric-regression` | effect: step_up |' gh_summary
  check "summary has the approve command" grep -q "^stepgate approve --approver APPROVER_ID 'sgc1\." gh_summary
  check "summary lists each metric with candidate, baseline, change and tolerance" \
    grep -qF '| `accuracy` | 0.9 | 0.93 | -0.03 (-3.22581%) | 1% (higher is better) | **regressed** |' gh_summary
fi
CHALLENGE="$(output_value gh_output challenge)"
check "GITHUB_OUTPUT challenge is a challenge" grep -q '^sgc1\.' <<<"$CHALLENGE"

GRANT=""
if expect_exit 0 "carol approves the challenge" -- \
  "$BIN" approve --yes --approver carol --policy policy.yaml "$CHALLENGE"; then
  GRANT="$(tail -n 1 out)"
fi
: >gh_output
if expect_exit 0 "the approved deploy passes with --grant" -- \
  github gate --manifest prod.yaml --grant "$GRANT"; then
  check "GITHUB_OUTPUT decision=allow after step-up" test "$(output_value gh_output decision)" = allow
  check "the grant is masked first" test "$(head -n 1 out)" = "::add-mask::$GRANT"
fi
if expect_exit 3 "a replayed grant is refused" -- \
  github env STEPGATE_GRANT="$GRANT" "$BIN" ci gate --policy policy.yaml --manifest prod.yaml; then
  check "replay is explained" grep -q 'already used' out
fi

# A fresh grant for prod.yaml must not open prod-other.yaml.
github gate --manifest prod.yaml --format json >json_out 2>/dev/null || true
CHALLENGE2="$(tail -n 1 json_out | jq -r .challenge)"
GRANT2="$("$BIN" approve --yes --approver carol --policy policy.yaml "$CHALLENGE2" 2>/dev/null | tail -n 1)"
if expect_exit 3 "a grant for a different manifest is refused" -- \
  github gate --manifest prod-other.yaml --grant "$GRANT2"; then
  check "refusal names the digest mismatch" grep -q 'different action' out
fi

if expect_exit 1 "an artifact digest mismatch is denied" -- github gate --manifest tampered.yaml; then
  check "error annotation" grep -q '^::error title=stepgate%3A denied::.*artifact-digest-mismatch' out
fi

# ---- malformed manifests ----------------------------------------------------------------------
printf 'model: {name: fraud-detector, version: "1"\nartifact: [\n' >bad-yaml.yaml
sed 's/^target: {environment: production}/target: {environment: production, region: eu}/' \
  prod.yaml >unknown-field.yaml
sed 's/size_bytes: 14}$/size_bytes: "fourteen"}/' prod.yaml >wrong-type.yaml
sed 's/direction: higher/direction: up/' prod.yaml >bad-enum.yaml
sed 's/^artifact: {path: model.bin,/artifact: {path: missing.bin,/' prod.yaml >missing-artifact.yaml
for case in "bad-yaml.yaml:bad-yaml.yaml:2:" "unknown-field.yaml:field \`target.region\`: unknown field" \
  "wrong-type.yaml:field \`artifact.size_bytes\`: expected a number" \
  "bad-enum.yaml:field \`evaluation.metrics.accuracy.direction\`" \
  "missing-artifact.yaml:field \`artifact.path\`"; do
  file="${case%%:*}"
  want="${case#*:}"
  if expect_exit 2 "malformed manifest $file" -- github gate --manifest "$file"; then
    check "$file: one clear line naming the field" grep -qF "$want" <(head -n 1 err)
    check "$file: the line starts with stepgate:" grep -q "^stepgate: $file" <(head -n 1 err)
  fi
done

# ---- GitLab -----------------------------------------------------------------------------------
if expect_exit 3 "GitLab production deploy with a regression needs step-up" -- \
  gitlab gate --manifest prod.yaml --report-dir reports; then
  check "no GitHub workflow commands on GitLab" bash -c '! grep -q "^::" "$1"' _ out
  check "Code Quality report is a JSON array of issues" \
    jq -e >/dev/null 'type == "array" and length >= 2 and all(.[]; .fingerprint and .severity and .location.path == "prod.yaml")' \
    reports/gl-code-quality-report.json
  check "JUnit report has a failing decision testcase" \
    grep -q '<testcase classname="stepgate.model.deploy" name="decision">' reports/stepgate-junit.xml
  check "JUnit failure is step_up" grep -q '<failure type="step_up"' reports/stepgate-junit.xml
fi
if expect_exit 0 "GitLab staging deploy is allowed" -- \
  gitlab gate --manifest staging.yaml --report-dir reports-staging --format json; then
  check "JSON output says allow and names bob" \
    jq -e >/dev/null '.verdict == "allow" and .actor == "bob" and .signals.ci_provider == "gitlab"' out
  check "JUnit has no failure when allowed" bash -c '! grep -q "<failure" "$1"' _ reports-staging/stepgate-junit.xml
  check "the worst regression's signal names its metric" \
    jq -e >/dev/null '.signals.worst_regression_metric == "accuracy" and .signals.metric_regressions == ["accuracy"]' out
  check "JUnit lists each metric with its numbers" \
    grep -q '<system-out>accuracy: candidate 0.9, baseline 0.93, change -0.03 (-3.22581%), tolerance 1% (higher is better)</system-out>' reports-staging/stepgate-junit.xml
fi

# ---- any pipeline step ------------------------------------------------------------------------
if expect_exit 0 "a generic step gate (--kind) is allowed" -- \
  gitlab gate --kind db.migrate --resource db:orders --attr table=orders \
  --attr-json 'columns=["id","total"]' --format json; then
  check "attributes carry --attr and the commit" \
    jq -e >/dev/null '.kind == "db.migrate" and .resource == "db:orders"' out
fi
expect_exit 2 "--kind must be a dotted name" -- gitlab gate --kind 'Bad Kind' || true
expect_exit 2 "--manifest and --kind together are refused" -- \
  gitlab gate --kind db.migrate --manifest prod.yaml || true

if [[ "$FAILURES" -gt 0 ]]; then
  echo "ci_gate_test: $FAILURES failure(s)"
  exit 1
fi
echo "ci_gate_test: all passed"
