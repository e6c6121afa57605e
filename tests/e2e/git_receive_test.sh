#!/usr/bin/env bash
# End to end: the server-side pre-receive hook, installed in a real bare repository, against real
# `git push` from a clone (git-receive-pack runs the hook with the pushed objects in quarantine).
# Step-up on a server is satisfied only by grants, which pushers pass as push options.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"
remote_tip() { git --git-dir="$TMP/srv.git" rev-parse -q --verify "$1" 2>/dev/null || echo none; }

BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)

# The server: a bare repository with the pack and approver bob in the directory the hook runs in.
git init -q --bare "$TMP/srv.git"
mkdir -p "$TMP/srv.git/.stepgate"
write_git_policy "$TMP/srv.git/.stepgate/policy.yaml" "$BOB_KEY"

# An old pre-receive hook the server already had: it must keep running first.
cat > "$TMP/srv.git/hooks/pre-receive" <<'EOF'
#!/bin/sh
cat >> "$GIT_DIR/old-hook-stdin.txt"
ls "$GIT_OBJECT_DIRECTORY/pack" > "$GIT_DIR/quarantine-packs.txt" 2>/dev/null || :
test ! -e "$GIT_DIR/block"
EOF
chmod 755 "$TMP/srv.git/hooks/pre-receive"

cd "$TMP/srv.git"
"$BIN" hooks install > "$TMP/install.out"
check "a bare repository gets a pre-receive hook" grep -q 'stepgate-managed hook' hooks/pre-receive
check "the old pre-receive hook is kept" test -x hooks/pre-receive.stepgate-chained
check "push options are turned on for grants" test "$(git config receive.advertisePushOptions)" = true
check "install says it turned them on" grep -q 'receive.advertisePushOptions true' "$TMP/install.out"
LEAN="$(dirname "$BIN")/stepgate-git-hook"
if [ -x "$LEAN" ]; then
  check "the hook is a /bin/sh script that execs the lean binary" \
    grep -q "^exec '$LEAN' pre-receive --chained" hooks/pre-receive
fi
before=$(sha256sum < hooks/pre-receive)
"$BIN" hooks install > /dev/null
check "a second install changes nothing" test "$before" = "$(sha256sum < hooks/pre-receive)"

# The client: no hook of its own.
git clone -q "$TMP/srv.git" "$TMP/work" 2> /dev/null
cd "$TMP/work"
echo hello > README.md && git add README.md && git commit -qm first
check "a first push of main is allowed" env GL_USERNAME=carol git push -q origin main
check "the server has main" test "$(remote_tip main)" = "$(git rev-parse HEAD)"
check "the old hook saw the ref line" grep -q ' refs/heads/main' "$TMP/srv.git/old-hook-stdin.txt"
check "the pusher the transport names is the actor" grep -q '"actor":"carol"' "$STEPGATE_HOME/state/audit.jsonl"
check "the action is a git.receive" grep -q '"kind":"git.receive"' "$STEPGATE_HOME/state/audit.jsonl"

echo more >> README.md && git commit -qam second && git push -q origin main
old_tip=$(git rev-parse HEAD)
git commit -q --amend -m "second, rewritten"
new_tip=$(git rev-parse HEAD)

# ---- force push: held; only a grant in a push option lets it through -------------------------
if git push --force origin main 2> "$TMP/force.err"; then fail "a force push to main is held"; else
  check "a force push to main is held" grep -q 'remote: stepgate: refs/heads/main: step-up required' "$TMP/force.err"
fi
check "the server's main was not rewritten" test "$(remote_tip main)" = "$old_tip"
check "the server says no code can be asked for" grep -q 'cannot be asked for here' "$TMP/force.err"
check "no terminal advice from a server" bash -c "! grep -q 'from a terminal' '$TMP/force.err'"
check "the retry names the push option" grep -q 'git push -o stepgate-grant=<grant>' "$TMP/force.err"
challenge=$(challenge_in "$TMP/force.err")
check "a challenge is printed" test -n "$challenge"
grant=$(cd "$TMP/srv.git" && "$BIN" approve --yes --approver bob "$challenge" 2> /dev/null)
check "approver bob signs a grant" test -n "$grant"
if git push --force -o "stepgate-grant=not-a-grant" origin main 2> "$TMP/bad-grant.err"; then
  fail "a malformed grant in a push option is refused"
else
  check "a malformed grant in a push option is refused" test "$(remote_tip main)" = "$old_tip"
fi
check "the force push passes with the grant as a push option" \
  git push -q --force -o "stepgate-grant=$grant" origin main
check "the server now has the rewritten tip" test "$(remote_tip main)" = "$new_tip"
git --git-dir="$TMP/srv.git" update-ref refs/heads/main "$old_tip"
if git push --force -o "stepgate-grant=$grant" origin main 2> "$TMP/replay.err"; then
  fail "a replayed grant is refused"
else
  check "a replayed grant is refused" test "$(remote_tip main)" = "$old_tip"
fi
check "the refusal says the grant was already used" grep -q 'already used' "$TMP/replay.err"

# ---- secrets in the quarantined objects, deleting main, a failing old hook --------------------
git reset -q --hard "$old_tip"
check_secret_push_denied
check "the branch did not reach the server" test "$(remote_tip feature)" = none

# The same secret kept as a pack in the quarantine (receive.unpackLimit 1; by default git unpacks
# a push under 100 objects into loose ones): the hook reads the pushed objects from the pack in
# GIT_OBJECT_DIRECTORY with its own pack reader, and finds the secret there too.
git --git-dir="$TMP/srv.git" config receive.unpackLimit 1
git checkout -q -b packed "$old_tip"
printf 'aws_access_key_id = %s\n' "AKIA$(printf 'Q3EGRTY5LWJ7NXZP')" > packed.ini
git add packed.ini && git commit -qm "add packed config"
if git push origin packed 2> "$TMP/packed.err"; then fail "a secret in a quarantined pack is denied"; else
  check "a secret in a quarantined pack is denied" grep -q 'aws-access-key-id' "$TMP/packed.err"
fi
check "the pushed objects were a pack in the quarantine" grep -q '^pack-.*\.pack$' "$TMP/srv.git/quarantine-packs.txt"
check "the packed branch did not reach the server" test "$(remote_tip packed)" = none
git --git-dir="$TMP/srv.git" config --unset receive.unpackLimit
git checkout -q feature

if git push origin :main 2> "$TMP/delete.err"; then fail "deleting main is denied"; else
  check "deleting main is denied" grep -q 'delete-protected-ref' "$TMP/delete.err"
fi
check "main is still on the server" test "$(remote_tip main)" = "$old_tip"

git checkout -q main && echo third >> README.md && git commit -qam third
touch "$TMP/srv.git/block"
if git push origin main 2> /dev/null; then fail "a failing old hook blocks the push"; else
  check "a failing old hook blocks the push" test "$(remote_tip main)" = "$old_tip"
fi
rm "$TMP/srv.git/block"
check "with the old hook passing, the push goes through" git push -q origin main

cd "$TMP/srv.git"
"$BIN" hooks uninstall > /dev/null
check "uninstall puts the old hook back" grep -q 'old-hook-stdin' hooks/pre-receive
check "no chained copy is left" test ! -e hooks/pre-receive.stepgate-chained

finish git_receive_test
