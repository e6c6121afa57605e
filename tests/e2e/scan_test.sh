#!/usr/bin/env bash
# End to end: `stepgate scan` on a real repository, outside a push — a directory and a git range,
# text and JSON, exit codes, a baseline written and then accepting the known findings, a rule the
# policy adds (git.secrets.rules) found both by `scan` and by the pre-push hook, and a policy
# whose rule does not compile refused with file:line:col.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"

# Secret-shaped values are assembled here so this file holds none verbatim.
AWS="AKIA$(printf 'Q3EGRTY5LWJ7NXZP')"
STRIPE="sk_$(printf 'live_')4eC39HqLyjWDarjtT1zdp7dc"
ACME="acme_$(printf 'Zq8Lm2Xv7Kp4Wr9Tn3Bc')"
BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)

new_repo r
echo "config = {'region': 'eu-west-1'}" > app.py
git add app.py && git commit -qm "clean code"
BASE=$(git rev-parse HEAD)
git push -q origin HEAD:refs/heads/main

# ---- a clean tree and a clean range -----------------------------------------------------------
"$BIN" scan . > "$TMP/out" 2> "$TMP/err" && rc=0 || rc=$?
check "a clean tree exits 0" test "$rc" = 0
check "the summary counts no finding" grep -q '0 finding(s)' "$TMP/err"

# ---- secrets in files and commits ---------------------------------------------------------------
printf 'aws_access_key_id = %s\n' "$AWS" > creds.ini
printf 'import stripe\nstripe.api_key = "%s"\n' "$STRIPE" > billing.py
mkdir -p vendor && printf 'x = "%s"\n' "$AWS" > vendor/blob.bin && printf '\0' >> vendor/blob.bin
git add creds.ini billing.py && git commit -qm "add credentials"

"$BIN" scan . > "$TMP/out" 2> "$TMP/err" && rc=0 || rc=$?
check "findings in the tree exit 1" test "$rc" = 1
check "the text report names file:line:col and rule" grep -q '^creds.ini:1:21: aws-access-key-id' "$TMP/out"
check "the Stripe key is found" grep -q '^billing.py:2:19: stripe-secret-key' "$TMP/out"
check "a binary file is skipped, and counted" grep -q '1 binary or oversized file(s) skipped' "$TMP/err"
check "no secret value is printed" bash -c "! grep -q -e '$AWS' -e '$STRIPE' '$TMP/out' '$TMP/err'"

"$BIN" scan --git "$BASE..HEAD" --format json > "$TMP/range.json" && rc=0 || rc=$?
check "findings in a git range exit 1" test "$rc" = 1
check "the JSON names the rule, path, line and commit" \
  test "$(jq -r '.findings[] | select(.rule == "aws-access-key-id") | "\(.path):\(.line):\(.commit)"' "$TMP/range.json")" = \
  "creds.ini:1:$(git rev-parse HEAD)"
check "the range found two findings" test "$(jq '.findings | length' "$TMP/range.json")" = 2
check "the range before the secrets is clean" "$BIN" scan --git "HEAD~2..HEAD~1"

# What the push scans beyond text diffs, `scan --git` scans too (it runs the push's own scanner;
# `git log -p` showed neither): a key in a commit message, in a UTF-16 file, in a file with a NUL.
git checkout -q -b more-places
printf 'name = app\r\naws_access_key_id = %s\r\n' "$AWS" | iconv -f UTF-8 -t UTF-16 > creds16.ini
printf 'head\0er\ntoken = "%s"\n' "$STRIPE" > notes.dat
git add creds16.ini notes.dat && git commit -qm "config; the old key was $AWS"
"$BIN" scan --git "HEAD~1..HEAD" --format json > "$TMP/more.json" && rc=0 || rc=$?
check "a range with keys only outside text diffs exits 1" test "$rc" = 1
short=$(git rev-parse HEAD | cut -c1-12)
check "the key in the commit message is found" \
  test "$(jq -r --arg w "commit message of $short" '[.findings[] | select(.path == $w) | .rule] | join(",")' "$TMP/more.json")" = aws-access-key-id
check "the key in the UTF-16 file is found, at its line" \
  test "$(jq -r '[.findings[] | select(.path == "creds16.ini") | "\(.rule):\(.line)"] | unique | join(",")' "$TMP/more.json")" = aws-access-key-id:2
check "the key in the file with a NUL is found" \
  test "$(jq -r '[.findings[] | select(.path == "notes.dat") | .rule] | unique | join(",")' "$TMP/more.json")" = stripe-secret-key
check "no secret value is printed by scan --git" bash -c "! grep -q -e '$AWS' -e '$STRIPE' '$TMP/more.json'"
git checkout -q -

# A baseline of the findings here; a line that moves keeps its fingerprint.
"$BIN" scan --write-baseline "$TMP/baseline.json" . 2> "$TMP/err"
check "--write-baseline exits 0 and says how many" grep -q 'wrote 2 finding(s)' "$TMP/err"
printf '# a comment first\naws_access_key_id = %s\n' "$AWS" > creds.ini
"$BIN" scan --baseline "$TMP/baseline.json" . > "$TMP/out" 2> "$TMP/err" && rc=0 || rc=$?
check "known findings (even moved) are accepted by the baseline: exit 0" test "$rc" = 0
check "the summary counts them" grep -q '2 accepted by the baseline' "$TMP/err"
printf 'token = "%s"\n' "$STRIPE" > more.py
"$BIN" scan --baseline "$TMP/baseline.json" --format json . > "$TMP/new.json" && rc=0 || rc=$?
check "a new finding beside the baseline exits 1" test "$rc" = 1
check "only the new finding is listed" \
  test "$(jq -r '[.findings[].path] | join(",")' "$TMP/new.json"),$(jq '.accepted_by_baseline' "$TMP/new.json")" = "more.py,2"
rm more.py
echo '{"nope": []}' > "$TMP/bad-baseline.json"
"$BIN" scan --baseline "$TMP/bad-baseline.json" . 2> "$TMP/err" && rc=0 || rc=$?
check "a malformed baseline is bad input (exit 2)" test "$rc" = 2
# #23: the baseline holds no fast hash of a secret (the old fingerprint, SHA-256 of rule, path
# and secret, truncated), and a baseline in that old format is refused with what to do.
OLD_PRINT=$(printf 'aws-access-key-id\0creds.ini\0%s' "$AWS" | sha256sum | cut -c1-32)
check "the baseline holds neither the secret nor its old fingerprint" \
  bash -c "! grep -q -e '$AWS' -e '$OLD_PRINT' '$TMP/baseline.json'"
check "the baseline says how its fingerprints are derived" \
  test "$(jq -r '.fingerprint.kdf' "$TMP/baseline.json")" = pbkdf2-hmac-sha256
printf '{"version": 1, "findings": [{"rule": "aws-access-key-id", "path": "creds.ini", "fingerprint": "%s"}]}' \
  "$OLD_PRINT" > "$TMP/old-baseline.json"
"$BIN" scan --baseline "$TMP/old-baseline.json" . 2> "$TMP/err" && rc=0 || rc=$?
check "an old-format baseline is refused (exit 2), saying to write it again" \
  bash -c "test $rc = 2 && grep -q 'write-baseline' '$TMP/err'"
"$BIN" scan --git=--output="$TMP/x" 2> "$TMP/err" && rc=0 || rc=$?
check "an option in place of a range is refused (exit 2)" test "$rc" = 2

# ---- the policy's own rule -----------------------------------------------------------------------
# On a branch from before the credentials, so a push below carries only the policy rule's token.
git checkout -q -- creds.ini && git checkout -q -b acme "$BASE" && rm -rf vendor
python3 - .stepgate/policy.yaml <<'PY'
import sys
p = sys.argv[1]
text = open(p).read()
rule = ('    rules:\n'
        '      - id: acme-token\n'
        '        description: ACME deploy token\n'
        '        regex: "\\\\b(acme_[A-Za-z0-9]{20})\\\\b"\n'
        '        keywords: [acme_]\n'
        '        entropy: 3.0\n'
        '        allow: ["^acme_test"]\n')
text = text.replace("    allow_rules: []\n", "    allow_rules: []\n" + rule, 1)
open(p, "w").write(text)
PY
check "the policy with a rule lints clean" "$BIN" policy lint .stepgate/policy.yaml
"$BIN" scan --list-rules > "$TMP/rules"
check "--list-rules lists the policy's rule" grep -q '^acme-token (policy): ACME deploy token' "$TMP/rules"
check "--list-rules lists the new built-ins" grep -q '^huggingface-token:' "$TMP/rules"
printf 'deploy_with("%s")\nfixture("acme_testZq8Lm2Xv7Kp4Wr9T")\n' "$ACME" > deploy.py
"$BIN" scan deploy.py > "$TMP/out" 2> "$TMP/err" && rc=0 || rc=$?
check "scan finds the policy's rule (and not its allowed value)" \
  test "$rc:$(cat "$TMP/out" | cut -d' ' -f1-2)" = "1:deploy.py:1:14: acme-token"

"$BIN" hooks install --no-daemon > /dev/null 2>&1
git add deploy.py && git commit -qm "deploy" -q
if git push origin acme 2> "$TMP/push.err"; then fail "a push with the policy rule's token is denied"; else
  check "a push with the policy rule's token is denied" grep -q 'secrets-in-push' "$TMP/push.err"
  check "the push names the policy's rule" grep -q 'acme-token' "$TMP/push.err"
fi
check "the token is never printed by the push" bash -c "! grep -q '$ACME' '$TMP/push.err'"

# ---- a rule that does not compile --------------------------------------------------------------
sed -i 's|regex: "\\\\b(acme_|regex: "((acme_|' .stepgate/policy.yaml
"$BIN" policy lint .stepgate/policy.yaml > "$TMP/lint" 2>&1 && rc=0 || rc=$?
line=$(grep -n 'regex: "((acme_' .stepgate/policy.yaml | cut -d: -f1)
check "an invalid rule regex is a lint error (exit 2)" test "$rc" = 2
check "the error names file:line:col and the key" \
  grep -q "policy.yaml:$line:16: secret rule \`acme-token\`: key \`regex\`: does not compile" "$TMP/lint"
"$BIN" scan . > /dev/null 2> "$TMP/err" && rc=0 || rc=$?
check "scan refuses the broken policy (exit 2)" test "$rc" = 2

exit $FAILED
