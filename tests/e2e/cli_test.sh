#!/usr/bin/env bash
# End-to-end: the core commands of the built binary (eval, policy lint/test, signals, init).
set -euo pipefail
BIN="${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}"
SRC="${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export STEPGATE_HOME="$work/home" STEPGATE_DEVICE=e2e-device
NOW=1717491600  # Tue 09:00 UTC: eval --now, so no verdict depends on when the test runs
unset STEPGATE_POLICY || true
failures=0
passes=0
pass() { echo "PASS $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# expect_exit NAME CODE CMD...: runs CMD, checks its exit code; output in $work/out, $work/err.
expect_exit() {
  local name="$1" want="$2"; shift 2
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  if [ "$got" = "$want" ]; then pass "$name"; return 0; fi
  fail "$name" "exit $got, want $want; stderr: $(head -c 300 "$work/err")"
  return 1
}
expect_err() {  # NAME FRAGMENT: stderr's first line holds FRAGMENT
  if head -n1 "$work/err" | grep -qF -- "$2"; then pass "$1"; else fail "$1" "stderr: $(head -c 300 "$work/err")"; fi
}

pol="$SRC/policies/git.yaml"
action() { printf '{"kind":"git.push","actor":"alice","resource":"origin refs/heads/main","attributes":{}}'; }
action >"$work/push.json"
echo '{"ref":"refs/heads/main","protected":true}' >"$work/plain.json"
echo '{"ref":"refs/heads/main","protected":true,"force":true}' >"$work/force.json"
echo '{"ref":"refs/heads/wip","secrets":["aws-access-key-id"]}' >"$work/secret.json"

expect_exit "eval allow exits 0" 0 "$BIN" eval --now "$NOW" --action "$work/push.json" --policy "$pol" --signals "$work/plain.json" || true
expect_exit "eval step_up exits 3" 3 "$BIN" eval --now "$NOW" --action "$work/push.json" --policy "$pol" --signals "$work/force.json" || true
grep -q "force-push-protected" "$work/out" && pass "step_up names the rule" || fail "step_up names the rule" "$(cat "$work/out")"
expect_exit "eval deny exits 1 (action on stdin)" 1 "$BIN" eval --now "$NOW" --action - --policy "$pol" --signals "$work/secret.json" <"$work/push.json" || true
expect_exit "eval --format json" 1 "$BIN" eval --now "$NOW" --action "$work/push.json" --policy "$pol" --signals "$work/secret.json" --format json || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verdict"]=="deny" and d["reasons"][0]["rule"]=="secrets-in-push", d' "$work/out" \
  && pass "json decision parses" || fail "json decision parses" "$(head -c 300 "$work/out")"

echo 'this is not json' >"$work/bad.json"
expect_exit "action not JSON exits 2" 2 "$BIN" eval --now "$NOW" --action "$work/bad.json" --policy "$pol" && expect_err "not-JSON message" "stepgate: action:"
echo '{"kind":"git.push","actor":"a","extra":1}' >"$work/extra.json"
expect_exit "unknown action field exits 2" 2 "$BIN" eval --now "$NOW" --action "$work/extra.json" --policy "$pol" && expect_err "unknown field named" "\`extra\`"
head -c 100000000 /dev/zero | tr '\0' ' ' >"$work/huge.json"
expect_exit "100 MB action exits 2" 2 "$BIN" eval --now "$NOW" --action "$work/huge.json" --policy "$pol" && expect_err "size limit named" "limit of 16777216 bytes"
python3 -c 'import sys; sys.stdout.write("["*100000 + "]"*100000)' >"$work/deep.json"
expect_exit "100,000-deep JSON exits 2" 2 "$BIN" eval --now "$NOW" --action "$work/deep.json" --policy "$pol" && expect_err "depth limit named" "nesting deeper than the limit"

printf 'name: x\nrules:\n  - id: a\n    when: signals.force\n    scor: 5\n' >"$work/bad.yaml"
expect_exit "malformed policy exits 2" 2 "$BIN" eval --now "$NOW" --action "$work/push.json" --policy "$work/bad.yaml" && expect_err "file:line:col" "$work/bad.yaml:5:5: unknown key \`scor\`"
expect_exit "lint malformed policy exits 2" 2 "$BIN" policy lint "$work/bad.yaml" && expect_err "lint file:line:col" "$work/bad.yaml:5:5"
printf 'rules:\n  - {id: a, on: git.push, when: signals.forse, score: 5}\n' >"$work/typo.yaml"
expect_exit "lint rejects an unknown signal" 2 "$BIN" policy lint "$work/typo.yaml" && expect_err "unknown signal named" "signals.forse is not provided"
for p in git model-deploy agent-tools; do
  expect_exit "lint shipped $p pack" 0 "$BIN" policy lint "$SRC/policies/$p.yaml" || true
done

expect_exit "signals listing" 0 "$BIN" signals || true
grep -q "^signals.force  bool" "$work/out" && pass "signals lists force" || fail "signals lists force" "$(head -5 "$work/out")"
expect_exit "signals --kind tool.call --format json" 0 "$BIN" signals --kind tool.call --format json || true
python3 -c 'import json,sys; n={s["name"] for s in json.load(open(sys.argv[1]))}; assert "destructive" in n and "off_hours" in n and "force" not in n' "$work/out" \
  && pass "signals filtered by kind" || fail "signals filtered by kind" "$(head -c 300 "$work/out")"

mkdir -p "$work/repo"
(cd "$work/repo" && expect_exit "init writes a policy" 0 "$BIN" init --pack agent-tools) || true
cmp -s "$work/repo/.stepgate/policy.yaml" "$SRC/policies/agent-tools.yaml" && pass "init copies the pack byte for byte" || fail "init copies the pack" "differs"
(cd "$work/repo" && expect_exit "init refuses to overwrite" 2 "$BIN" init) || true
(cd "$work/repo" && expect_exit "init --force overwrites" 0 "$BIN" init --force --pack git) || true
(cd "$work/repo" && expect_exit "eval finds .stepgate/policy.yaml" 3 "$BIN" eval --now "$NOW" --action "$work/push.json" --signals "$work/force.json") || true
(cd "$work/repo" && expect_exit "init unknown pack exits 2" 2 "$BIN" init --force --pack nope) || true

# policy test on your own policy: init writes starter cases beside it, `policy test` finds them.
[ -f "$work/repo/.stepgate/policy.tests.yaml" ] && grep -q '^policy: policy.yaml' "$work/repo/.stepgate/policy.tests.yaml" \
  && pass "init writes starter cases beside the policy" || fail "init starter cases" "$(head -5 "$work/repo/.stepgate/policy.tests.yaml" 2>&1)"
(cd "$work/repo" && expect_exit "policy test with no argument runs .stepgate's cases" 0 "$BIN" policy test) || true
grep -q "^PASS policy: force push to main needs step-up" "$work/out" && pass "the starter cases run against .stepgate/policy.yaml" || fail "starter cases run" "$(head -3 "$work/out")"
expect_exit "policy test FILE finds X.tests.yaml beside X.yaml" 0 "$BIN" policy test "$work/repo/.stepgate/policy.yaml" || true
expect_exit "policy test a tests file" 0 "$BIN" policy test "$work/repo/.stepgate/policy.tests.yaml" || true
sed -i 's/when: signals.force \&\& signals.protected \&\& !signals.delete/when: signals.force \&\& signals.protected \&\& signals.delete/' "$work/repo/.stepgate/policy.yaml"
(cd "$work/repo" && expect_exit "a policy edit that breaks a case fails policy test" 1 "$BIN" policy test .stepgate) || true
grep -q "^FAIL policy: force push to main needs step-up: verdict allow, want step_up" "$work/out" && pass "the failing case is named with what differed" || fail "failing case named" "$(grep FAIL "$work/out" | head -3)"
expect_exit "policy test on a policy without cases exits 2" 2 "$BIN" policy test "$pol" || true
expect_err "the missing cases file is named" "git.tests.yaml"

# A case whose signals come from a fixture repository, through the real git collector.
mkdir -p "$work/fixture"
cp "$SRC/policies/git.yaml" "$work/fixture/policy.yaml"
cat >"$work/fixture/policy.tests.yaml" <<'YAML'
cases:
  - name: a key committed to a feature branch
    action: {kind: git.push, actor: test@example.com, resource: "origin refs/heads/feature/x"}
    fixture:
      git:
        base: {README.md: "hello\n"}
        ref: refs/heads/feature/x
        commits:
          - {message: add config, files: {config.py: "AWS_ACCESS_KEY_ID = 'AKIAZ7Q3XK2M4NPLW5RT'\n"}}
    expect:
      verdict: deny
      rules: [secrets-in-push]
      signals: {secrets: [aws-access-key-id], commits: 1, force: false}
  - name: rewriting main is a force push
    action: {kind: git.push, actor: test@example.com, resource: "origin refs/heads/main"}
    fixture: {git: {base: {a.txt: "a\n"}, rewrite: true, commits: [{files: {b.txt: "b\n"}}]}}
    expect: {verdict: step_up, signals: {force: true, protected: true},
             rules: [force-push-protected, unsigned-commits-protected]}
YAML
expect_exit "fixture cases run through the git collector" 0 "$BIN" policy test "$work/fixture" || true
grep -q "2 passed, 0 failed" "$work/out" && pass "both fixture cases pass" || fail "fixture cases" "$(cat "$work/out")"
sed -i 's/commits: 1, force: false/commits: 2, force: false/' "$work/fixture/policy.tests.yaml"
expect_exit "a wrong expected signal fails the case" 1 "$BIN" policy test "$work/fixture" || true
grep -q "signal commits 1, want 2" "$work/out" && pass "the differing signal is named" || fail "differing signal" "$(cat "$work/out")"
sed -i 's/rewrite: true/rewrte: true/' "$work/fixture/policy.tests.yaml"
expect_exit "an unknown fixture key fails the case" 1 "$BIN" policy test "$work/fixture" || true
grep -q "fixture.git: unknown key .rewrte." "$work/out" && pass "the unknown fixture key is named" || fail "unknown fixture key" "$(cat "$work/out")"

mkdir -p "$work/packs/tests"
cp "$SRC/policies/git.yaml" "$work/packs/"
sed 's/verdict: deny, rules: \[delete-protected-ref\]/verdict: allow, rules: []/' "$SRC/policies/tests/git.yaml" >"$work/packs/tests/git.yaml"
expect_exit "policy test fails on a wrong expectation" 1 "$BIN" policy test "$work/packs" || true
grep -q "1 failed" "$work/out" && pass "policy test counts the failure" || fail "policy test counts" "$(tail -2 "$work/out")"
expect_exit "policy test passes on the shipped packs" 0 "$BIN" policy test "$SRC/policies" || true
expect_exit "version" 0 "$BIN" version || true

# --signals takes inline JSON and @FILE as well as a file name.
expect_exit "eval --signals inline JSON" 3 "$BIN" eval --action "$work/push.json" --policy "$pol" \
  --signals '{"ref":"refs/heads/main","protected":true,"force":true}' || true
expect_exit "eval --signals @FILE" 3 "$BIN" eval --action "$work/push.json" --policy "$pol" --signals "@$work/force.json" || true
expect_exit "eval --signals bad inline JSON exits 2" 2 "$BIN" eval --action "$work/push.json" --policy "$pol" --signals '{"force":' \
  && expect_err "inline JSON error names the option" "stepgate: --signals:"
# #23: --signals with an unknown name or a wrong type is refused, not evaluated as given.
expect_exit "eval --signals unknown name exits 2" 2 "$BIN" eval --action "$work/push.json" --policy "$pol" --signals '{"forse":true}' \
  && expect_err "unknown signal named" "unknown signal \`forse\`"
expect_exit "eval --signals wrong type exits 2" 2 "$BIN" eval --action "$work/push.json" --policy "$pol" --signals '{"force":"yes"}' \
  && expect_err "wrong type named" "signal \`force\` must be bool, not string"
# #23: lint reports every error in one run, each FILE:LINE:COL, type errors included.
printf 'rules:\n  - {id: a, on: git.push, when: signals.forse, score: 5}\n  - {id: b, on: git.push, when: signals.force == "yes", score: 5}\n  - {id: c, on: git.push, when: "signals.force &&", score: 5}\n' >"$work/many.yaml"
expect_exit "lint with three broken rules exits 2" 2 "$BIN" policy lint "$work/many.yaml" || true
[ "$(grep -c "^stepgate: $work/many.yaml:[234]:[0-9]*: rule" "$work/err")" = 3 ] && pass "lint reports all three, each file:line:col" \
  || fail "lint reports all three" "$(cat "$work/err")"
# ...and every error within one section, the change window included (it used to fail only when
# a deployment ran).
printf 'git:\n  colour: red\n  large_file_bytes: -1\n  protected_refs: main\nci:\n  change_window: "Mon 9-17"\n' >"$work/section.yaml"
expect_exit "lint with three errors in git: and one in ci: exits 2" 2 "$BIN" policy lint "$work/section.yaml" || true
[ "$(grep -c "^stepgate: $work/section.yaml:[2-6]:[0-9]*: .*key" "$work/err")" = 4 ] && pass "lint reports all four, each file:line:col with its key" \
  || fail "lint reports every error in a section" "$(cat "$work/err")"

# keygen --show prints the existing public key, the same one keygen printed.
made="$("$BIN" keygen --approver shown 2>/dev/null | sed -n 1p)"
expect_exit "keygen --show" 0 "$BIN" keygen --approver shown --show || true
[ "$(sed -n 1p "$work/out")" = "$made" ] && pass "keygen --show prints the key keygen made" || fail "keygen --show" "$(cat "$work/out") vs $made"
expect_exit "keygen --show without a key exits 2" 2 "$BIN" keygen --approver nobody-has-this --show || true

# policy lint with no file lints the layers in effect here (the repository's and the user's).
mkdir -p "$work/lintrepo/.stepgate"
cp "$SRC/policies/git.yaml" "$work/lintrepo/.stepgate/policy.yaml"
(cd "$work/lintrepo" && expect_exit "policy lint with no file lints the layers in effect" 0 env -u STEPGATE_POLICY "$BIN" policy lint) || true
grep -q "^repository layer: .*lintrepo/.stepgate/policy.yaml: ok" "$work/out" && pass "it names the repository layer" || fail "lint names the layer" "$(cat "$work/out")"
printf 'rules:\n  - {id: a, on: git.push, when: signals.forse, score: 5}\n' >"$work/lintrepo/.stepgate/policy.yaml"
(cd "$work/lintrepo" && expect_exit "a broken layer in effect fails lint" 2 env -u STEPGATE_POLICY "$BIN" policy lint) || true

# A rule without a message is named without a dangling colon.
printf 'version: 1\nrules:\n  - {id: bare-rule, on: git.push, when: signals.force, effect: deny}\n' >"$work/bare.yaml"
expect_exit "eval with a message-less rule" 1 "$BIN" eval --action "$work/push.json" --policy "$work/bare.yaml" --signals "$work/force.json" || true
grep -q "bare-rule \[deny\]$" "$work/out" && pass "no dangling colon after a message-less rule" || fail "dangling colon" "$(cat "$work/out")"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
