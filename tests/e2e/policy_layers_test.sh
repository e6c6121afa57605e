#!/usr/bin/env bash
# End to end: policy layers. The user's policy ($STEPGATE_POLICY) and a repository's
# .stepgate/policy.yaml are both evaluated and the strictest verdict wins, so a cloned repository
# (or an agent) that ships a permissive .stepgate/policy.yaml cannot turn the gate off — checked
# with a real `git push` through the installed pre-push hook, `stepgate eval` and
# `stepgate policy explain`. Before layers, the repository's file replaced the user's.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"

BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)
USER_POLICY="$TMP/user-policy.yaml"
write_git_policy "$USER_POLICY" "$BOB_KEY"
export STEPGATE_POLICY="$USER_POLICY"
PERMISSIVE='name: hostile
thresholds: {step_up: 100000, deny: 200000}
rules:
  - {id: anything-goes, on: "*", when: "true", score: -100000, message: "all fine"}
'
remote_tip() { git --git-dir="$TMP/$1.git" rev-parse -q --verify "$2" 2>/dev/null || echo none; }

# A repository that ships a permissive policy of its own.
git init -q --bare "$TMP/hostile.git"
git init -q "$TMP/hostile"
cd "$TMP/hostile"
git remote add origin ../hostile.git
mkdir -p .stepgate
printf '%s' "$PERMISSIVE" > .stepgate/policy.yaml
echo hello > README.md
git add -A && git commit -qm first
"$BIN" hooks install > /dev/null
git push -q origin main
echo more >> README.md && git commit -qam second && git push -q origin main
old_tip=$(git rev-parse HEAD)
git reset -q --hard HEAD~1 && echo other >> README.md && git commit -qam rewritten

# ---- a real push: the repository's layer cannot lift the user's step-up ------------------------
if git push --force origin main 2> "$TMP/force.err"; then
  fail "a force push to main is held although the repository's policy allows everything"
else
  check "a force push to main is held although the repository's policy allows everything" \
    grep -q 'step-up required' "$TMP/force.err"
fi
check "the remote was not rewritten" test "$(remote_tip hostile main)" = "$old_tip"
check "the audit record names the user layer as the one that decided" \
  bash -c "'$BIN' audit show --format json | tail -n 1 | grep -q '\"layer\":\"user\"'"

# ---- stepgate eval and policy explain, in the same repository ----------------------------------
printf '{"kind":"git.push","actor":"alice","resource":"origin refs/heads/main","attributes":{}}' \
  > "$TMP/push.json"
printf '{"ref":"refs/heads/main","protected":true,"force":true}' > "$TMP/force.json"
rc=0
"$BIN" eval --action "$TMP/push.json" --signals "$TMP/force.json" > "$TMP/eval.out" 2>&1 || rc=$?
check "eval in the repository steps up (exit 3, not the repository's allow)" test "$rc" = 3
check "eval says which layer decided" grep -q '^decided by: user layer' "$TMP/eval.out"
rc=0
"$BIN" policy explain --action "$TMP/push.json" --signals "$TMP/force.json" > "$TMP/explain.out" \
  2>&1 || rc=$?
check "policy explain exits 0" test "$rc" = 0
check "policy explain lists the user layer" grep -q "^  user: $USER_POLICY" "$TMP/explain.out"
check "policy explain lists the repository layer" \
  grep -q "^  repository: .*hostile/.stepgate/policy.yaml" "$TMP/explain.out"
check "policy explain shows the repository layer's own allow" \
  grep -q '^\[repository layer\] verdict: allow' "$TMP/explain.out"
check "policy explain names the layer that decided" \
  grep -q '^result: step_up, decided by the user layer' "$TMP/explain.out"
# Each rule, part by part, with the signal values read (issue 23).
check "policy explain marks the rule that matched in each layer" \
  grep -q '^  + anything-goes \[score -100000\]: matched' "$TMP/explain.out"
check "policy explain shows each part of a matched rule's when with its value" \
  grep -qE '^        true  signals\.force$' "$TMP/explain.out"
check "policy explain shows the signal values a part read" \
  grep -q 'reads signals.force = true' "$TMP/explain.out"
check "policy explain shows why a rule did not match" \
  grep -qE '^  - [a-z-]+ \[.*\]: not matched' "$TMP/explain.out"

# ---- a repository's layer can add friction -----------------------------------------------------
cat > .stepgate/policy.yaml << 'EOF'
name: strict-repo
rules:
  - {id: no-pushes-here, on: git.push, when: "true", effect: deny, message: "this repository is frozen"}
EOF
rc=0
"$BIN" eval --action "$TMP/push.json" > "$TMP/eval2.out" 2>&1 || rc=$?
check "a stricter repository layer denies what the user's allows (exit 1)" test "$rc" = 1
check "and is named as the layer that decided" grep -q '^decided by: repository layer' "$TMP/eval2.out"
echo again >> README.md && git commit -qam again
if git push origin HEAD:refs/heads/topic 2> "$TMP/frozen.err"; then fail "a push is denied by the repository layer"; else
  check "a push is denied by the repository layer" grep -q 'no-pushes-here' "$TMP/frozen.err"
fi

# ---- a broken repository layer fails closed -----------------------------------------------------
printf 'rules: [ {id: x, on: git.push, bogus: 1} ]\n' > .stepgate/policy.yaml
rc=0
"$BIN" eval --action "$TMP/push.json" > "$TMP/eval3.out" 2>&1 || rc=$?
check "a repository layer that does not load is an error naming its file (exit 2)" \
  bash -c "test $rc = 2 && grep -q '.stepgate/policy.yaml' '$TMP/eval3.out'"

finish policy_layers_test
