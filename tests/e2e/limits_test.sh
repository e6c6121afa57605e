#!/usr/bin/env bash
# End to end: hostile input against the built binary. A YAML alias bomb and a too-deep policy are
# refused with file:line:col and exit 2 by `policy lint`, `eval` and `ci gate`, and a cloned
# repository shipping the bomb as its policy makes the real pre-push hook fail closed; `ci gate`
# prints no secret given in --resource in any of its outputs. Every stepgate run here is held to
# 1 GiB of address space and a timeout, so a regression fails fast instead of eating the machine.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"
unset GITHUB_ACTIONS GITHUB_OUTPUT GITHUB_STEP_SUMMARY GITLAB_CI CI STEPGATE_POLICY || true

# bounded CMD...: runs CMD with at most 1 GiB of memory and 60 s. An AddressSanitizer build
# reserves terabytes of shadow address space, so there the cap is ASan's own RSS limit instead of
# ulimit -v (a regression still dies at 1 GiB rather than eating the machine). ldd's output is
# read whole: under pipefail, `ldd | grep -q` fails whenever grep quits before ldd has written its
# last line (SIGPIPE), which sent an ASan build down the ulimit path now and then.
libraries=$(ldd "$BIN" 2> /dev/null || true)
if [[ $libraries == *libasan* ]]; then
  bounded() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:hard_rss_limit_mb=1024" timeout 60 "$@"; }
else
  bounded() { (ulimit -v 1048576; exec timeout 60 "$@"); }
fi
# expect_exit WANT NAME CMD...: CMD's stdout/stderr go to $TMP/out and $TMP/err.
expect_exit() {
  local want=$1 name=$2 got=0
  shift 2
  bounded "$@" > "$TMP/out" 2> "$TMP/err" || got=$?
  if [ "$got" = "$want" ]; then pass "$name (exit $got)"; return 0; fi
  fail "$name: exit $got, wanted $want"
  sed 's/^/  stderr: /' "$TMP/err" | head -5
}

# "Billion laughs": nine levels of ten aliases, 10^9 nodes once expanded, under 1 KB.
write_bomb() {
  {
    printf 'version: 1\nname: bomb\nrules: []\nx:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n'
    local prev=a
    for c in b c d e f g h i; do
      printf '  %s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n' \
        "$c" "$c" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev"
      prev=$c
    done
  } > "$1"
}
write_bomb "$TMP/bomb.yaml"
check "the bomb is under 1 KB" test "$(wc -c < "$TMP/bomb.yaml")" -lt 1024
{ printf 'version: 1\nname: deep\nx: '; head -c 100000 /dev/zero | tr '\0' '['; echo; } > "$TMP/deep.yaml"

expect_exit 2 "policy lint refuses the alias bomb" "$BIN" policy lint "$TMP/bomb.yaml"
check "  naming file:line:col and the node limit" \
  grep -qE "bomb.yaml:9:[0-9]+: .*limit of 100000 nodes" "$TMP/err"
echo '{"kind":"git.push","actor":"alice","resource":"refs/heads/main"}' > "$TMP/action.json"
expect_exit 2 "eval refuses the alias bomb" "$BIN" eval --policy "$TMP/bomb.yaml" \
  --action "$TMP/action.json"
check "  naming the node limit" grep -q "limit of 100000 nodes" "$TMP/err"
expect_exit 2 "policy lint refuses a policy nested 100,000 deep" "$BIN" policy lint "$TMP/deep.yaml"
check "  naming file:line:col and the nesting limit" \
  grep -qE "deep.yaml:3:[0-9]+: .*limit of 64 levels" "$TMP/err"

cp "$TMP/bomb.yaml" "$TMP/manifest.yaml"
expect_exit 2 "ci gate refuses a manifest that is an alias bomb" "$BIN" ci gate \
  --manifest "$TMP/manifest.yaml" --policy "$SRC/policies/model-deploy.yaml"
check "  naming the node limit" grep -q "manifest.yaml:9:.*limit of 100000 nodes" "$TMP/err"

# ---- a cloned repository that ships the bomb as its policy ----------------------------------------
BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)
new_repo hostile
write_bomb .stepgate/policy.yaml
git add -A && git commit -qm "ship a policy that expands to 10^9 nodes"
git push -q --no-verify origin main
git clone -q "$TMP/hostile.git" "$TMP/clone"
cd "$TMP/clone"
"$BIN" hooks install > /dev/null 2>&1
echo change >> README.md && git commit -qam change
before=$(git --git-dir="$TMP/hostile.git" rev-parse main)
got=0
bounded git push origin main > "$TMP/out" 2> "$TMP/err" || got=$?
check "the push with the bomb as repository policy fails closed" test "$got" -ne 0
check "  git reports the hook's refusal, not a timeout" test "$got" -ne 124
check "  the hook names the node limit" grep -q "limit of 100000 nodes" "$TMP/err"
check "  the remote is unchanged" \
  test "$(git --git-dir="$TMP/hostile.git" rev-parse main)" = "$before"
cd "$TMP"

# ---- ci gate: a secret in --resource reaches no output in clear ----------------------------------
fake_key="AKIA$(printf 'Z7Q3XK2M4NPLW5RT')"  # assembled here: the file holds no key verbatim
cat > "$TMP/ci.yaml" <<'YAML'
version: 1
name: ci-redaction
thresholds: {step_up: 50, deny: 100}
step_up: {method: approval, approvers: 1}
rules:
  - id: migrations-need-a-human
    on: db.migrate
    when: action.resource.startsWith("db:")
    effect: step_up
    message: "migration of {action.resource}"
YAML
printf 'approvers:\n  - id: bob\n    public_key: "%s"\n' "$BOB_KEY" >> "$TMP/ci.yaml"
: > "$TMP/summary.md"
: > "$TMP/github_output"
for format in text json; do
  got=0
  GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY="$TMP/summary.md" GITHUB_OUTPUT="$TMP/github_output" \
    bounded "$BIN" ci gate --kind db.migrate --resource "db:orders?key=$fake_key" \
    --policy "$TMP/ci.yaml" --format "$format" --report-dir "$TMP/reports" \
    > "$TMP/ci.out" 2> "$TMP/ci.err" || got=$?
  check "ci gate ($format) holds the migration" test "$got" = 3
  # ::add-mask:: lines are how GitHub hides a value: the runner consumes them, the log never shows them.
  check "  stdout shows the resource redacted" grep -q "REDACTED:aws-access-key-id" "$TMP/ci.out"
  check "  stdout holds the key only in ::add-mask::" \
    bash -c "! grep -v '^::add-mask::' '$TMP/ci.out' | grep -q '$fake_key'"
  check "  stderr does not hold the key" bash -c "! grep -q '$fake_key' '$TMP/ci.err'"
  # The challenge travels in the same outputs: its body is base64url, not a hiding place.
  body=$(grep -o 'sgc1\.[A-Za-z0-9_-]*' "$TMP/ci.out" | sed -n 1p | cut -d. -f2 | tr '_-' '/+')
  while [ $((${#body} % 4)) -ne 0 ]; do body="$body="; done
  check "  the challenge token is there" test -n "$body"
  check "  the challenge body does not hold the key" \
    bash -c "! printf %s '$body' | base64 -d | grep -q '$fake_key'"
done
check "the job summary shows the resource redacted" grep -q "REDACTED:aws-access-key-id" "$TMP/summary.md"
for f in "$TMP/summary.md" "$TMP/github_output" "$TMP/reports/gl-code-quality-report.json" \
  "$TMP/reports/stepgate-junit.xml"; do
  check "$(basename "$f") does not hold the key" bash -c "! grep -q '$fake_key' '$f'"
done
check "the audit log does not hold the key" bash -c "! grep -rq '$fake_key' '$STEPGATE_HOME'"

finish limits_test
