#!/usr/bin/env bash
# End to end: the installed pre-push hook against real git and a real bare remote.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"

BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)

remote_tip() { git --git-dir="$TMP/$1.git" rev-parse -q --verify "$2" 2>/dev/null || echo none; }

# ---- install, fast-forward, force push with step-up, replay -----------------------------------
new_repo main1
"$BIN" hooks install > /dev/null
check "install writes an executable hook" test -x .git/hooks/pre-push
before=$(sha256sum .git/hooks/pre-push)
"$BIN" hooks install > /dev/null
check "second install is a no-op" test "$before" = "$(sha256sum .git/hooks/pre-push)"
LEAN="$(dirname "$BIN")/stepgate-git-hook"
CLIENT="$(dirname "$BIN")/stepgate-hook"
check "the installed hook is a /bin/sh script" test "$(head -1 .git/hooks/pre-push)" = "#!/bin/sh"
if [ -x "$LEAN" ] && [ -x "$CLIENT" ]; then
  check "by default it execs the lean stepgate-git-hook (no daemon)" \
    grep -q "^exec '$LEAN' pre-push --chained" .git/hooks/pre-push
  check "the script execs one program and nothing else" test "$(grep -vc '^#' .git/hooks/pre-push)" = 1
  "$BIN" hooks install --force --daemon > /dev/null
  check "--daemon: the script execs the stepgate-hook client" \
    grep -q "^exec '$CLIENT' pre-push --chained" .git/hooks/pre-push
  "$BIN" hooks install > "$TMP/reinstall.out"
  check "installing the other form asks for --force" grep -q 'add --force' "$TMP/reinstall.out"
  "$BIN" hooks install --force > /dev/null
  check "--force rewrites it as the lean hook" grep -q "^exec '$LEAN' pre-push" .git/hooks/pre-push
fi

check "fast-forward push to main is allowed" git push -q origin main
echo more >> README.md && git commit -qam second && git push -q origin main
old_tip=$(git rev-parse HEAD)
git reset -q --hard HEAD~1 && echo other >> README.md && git commit -qam rewritten
new_tip=$(git rev-parse HEAD)

if git push --force origin main 2> "$TMP/force.err"; then fail "force push to main is held"; else
  check "force push to main is held" grep -q 'step-up required' "$TMP/force.err"
fi
check "the remote was not rewritten" test "$(remote_tip main1 main)" = "$old_tip"
challenge=$(challenge_in "$TMP/force.err")
check "a challenge is printed" test -n "$challenge"
check "the approve command is printed" grep -q "stepgate approve $challenge" "$TMP/force.err"
grant=$("$BIN" approve --yes --approver bob "$challenge" 2> /dev/null)
check "approver bob signs a grant" test -n "$grant"
check "force push passes with the grant" env STEPGATE_GRANT="$grant" git push -q --force origin main
check "the remote now has the rewritten tip" test "$(remote_tip main1 main)" = "$new_tip"
# Put the remote back so the very same push (same digest) is attempted again.
git --git-dir="$TMP/main1.git" update-ref refs/heads/main "$old_tip"
if STEPGATE_GRANT="$grant" git push --force origin main 2> "$TMP/replay.err"; then
  fail "a replayed grant is refused"
else
  check "a replayed grant is refused" test "$(remote_tip main1 main)" = "$old_tip"
fi
check "the refusal says the grant was already used" grep -q 'already used' "$TMP/replay.err"

# ---- secrets ------------------------------------------------------------------------------------
new_repo secrets
"$BIN" hooks install > /dev/null
git push -q origin main
check_secret_push_denied
check "the secret branch did not reach the remote" test "$(remote_tip secrets feature)" = none

# ---- a push to a URL: the remote configured with that URL says what the other side has --------
new_repo byurl
old_key="AKIA$(printf 'Q3EGRTY5LWJ7NXZO')"
printf 'aws_access_key_id = %s\n' "$old_key" > legacy.ini  # pushed (and rotated) before stepgate
git add legacy.ini && git commit -qm legacy && git push -q origin main
"$BIN" hooks install > /dev/null
git checkout -q -b topic && echo topic > topic.txt && git add topic.txt && git commit -qm topic
check "a new branch pushed to origin's URL is allowed (history already there)" \
  git push -q "$TMP/byurl.git" topic
git clone -q --bare "$TMP/byurl.git" "$TMP/unknown.git"
if git push "$TMP/unknown.git" topic:refs/heads/other 2> "$TMP/unknown.err"; then
  fail "to a URL no remote has, the whole history is scanned"
else
  check "to a URL no remote has, the whole history is scanned" grep -q 'secrets-in-push' "$TMP/unknown.err"
fi

# ---- several refs in one push -------------------------------------------------------------------
cd "$TMP/main1"
git checkout -q -b harmless && echo x > x.txt && git add x.txt && git commit -qm harmless
git checkout -q main
if git push origin harmless:refs/heads/harmless +main:refs/heads/main 2> "$TMP/multi.err"; then
  fail "a risky second ref blocks the push"
else
  check "a risky second ref blocks the push" grep -q 'refs/heads/main: step-up required' "$TMP/multi.err"
fi
check "the harmless ref is reported allowed" grep -q 'refs/heads/harmless: allow' "$TMP/multi.err"
check "no ref of the blocked push was updated" test "$(remote_tip main1 harmless)" = none

# ---- delete, new branch without commits, tags ---------------------------------------------------
if git push origin :main 2> "$TMP/delete.err"; then fail "deleting main is denied"; else
  check "deleting main is denied" grep -q 'delete-protected-ref' "$TMP/delete.err"
fi
check "main still exists on the remote" test "$(remote_tip main1 main)" != none
check "a new branch with no new commits is allowed" git push -q origin "$old_tip:refs/heads/copy"
git tag v1 "$old_tip"
check "pushing a new tag is allowed" git push -q origin v1
git tag -f v1 "$old_tip~1" > /dev/null
if git push --force origin v1 2> "$TMP/tag.err"; then fail "moving a tag needs step-up"; else
  check "moving a tag needs step-up" grep -q 'tag-rewrite' "$TMP/tag.err"
fi

# ---- malformed stdin and a missing policy fail closed -------------------------------------------
set +e
echo "not a ref line" | "$BIN" hook pre-push origin url 2> "$TMP/bad.err"; rc=$?
set -e
check "malformed stdin exits 2" test "$rc" = 2
check "malformed stdin names the line" grep -q 'stdin line 1' "$TMP/bad.err"
if [ -x "$LEAN" ]; then
  set +e
  echo "not a ref line" | "$LEAN" pre-push origin url 2> "$TMP/lean-bad.err"; rc=$?
  "$LEAN" pre-push --bogus < /dev/null 2> "$TMP/lean-args.err"; args_rc=$?
  set -e
  check "lean hook: malformed stdin exits 2 and names the line" test "$rc" = 2
  check "lean hook: malformed stdin message" grep -q 'stdin line 1' "$TMP/lean-bad.err"
  check "lean hook: an unknown option exits 2 with the usage" test "$args_rc" = 2
  check "lean hook: usage printed" grep -q 'usage: stepgate-git-hook' "$TMP/lean-args.err"
fi
mkdir -p "$TMP/nopolicy" && cd "$TMP/nopolicy" && git init -q . && git commit -q --allow-empty -m x
set +e
echo "refs/heads/main $(git rev-parse HEAD) refs/heads/main $(printf '0%.0s' {1..40})" |
  STEPGATE_POLICY= "$BIN" hook pre-push origin url 2> "$TMP/nopol.err"; rc=$?
set -e
check "no policy: the push is blocked (exit 2)" test "$rc" = 2

# ---- chained hook, core.hooksPath, uninstall ----------------------------------------------------
new_repo chain
cat > .git/hooks/pre-push <<'EOF'
#!/bin/sh
cat > "$(dirname "$0")/../chained-stdin.txt"
test ! -e "$(dirname "$0")/../block"
EOF
chmod 750 .git/hooks/pre-push
orig_sum=$(sha256sum < .git/hooks/pre-push)
"$BIN" hooks install > /dev/null
check "the existing hook is kept as pre-push.stepgate-chained" test -x .git/hooks/pre-push.stepgate-chained
touch .git/block
if git push origin main 2> /dev/null; then fail "a failing chained hook blocks the push"; else
  pass "a failing chained hook blocks the push"
fi
check "the chained hook saw the ref lines" grep -q 'refs/heads/main' .git/chained-stdin.txt
rm .git/block
check "a passing chained hook lets stepgate decide (allow)" git push -q origin main
"$BIN" hooks uninstall > /dev/null
check "uninstall restores the original bytes" test "$orig_sum" = "$(sha256sum < .git/hooks/pre-push)"
check "uninstall restores the original mode" test "$(stat -c %a .git/hooks/pre-push)" = 750
check "no chained copy is left behind" test ! -e .git/hooks/pre-push.stepgate-chained

new_repo hookspath
git config core.hooksPath .githooks
"$BIN" hooks install > /dev/null
check "core.hooksPath is respected" test -x .githooks/pre-push
check "nothing is written to .git/hooks" test ! -e .git/hooks/pre-push
git reset -q --hard HEAD && git push -q origin main
git commit -q --amend -m "rewritten first"
if git push --force origin main 2> /dev/null; then fail "the hook in core.hooksPath runs"; else
  pass "the hook in core.hooksPath runs"
fi
"$BIN" hooks uninstall > /dev/null
check "uninstall with no previous hook removes the script" test ! -e .githooks/pre-push

# ---- a path with a space: the script execs the lean binary by its quoted path -----------------
if [ -x "$LEAN" ]; then
  mkdir -p "$TMP/with space"
  cp "$BIN" "$LEAN" "$TMP/with space/"
  new_repo spaced
  "$TMP/with space/stepgate" hooks install > /dev/null
  check "the sh hook execs the lean binary by its quoted path" \
    grep -q "exec '$TMP/with space/stepgate-git-hook' pre-push" .git/hooks/pre-push
  check "the sh hook lets a fast-forward through" git push -q origin main
  git commit -q --amend -m "rewritten first"
  if git push --force origin main 2> "$TMP/spaced.err"; then fail "the sh hook holds a force push"; else
    check "the sh hook holds a force push" grep -q 'step-up required' "$TMP/spaced.err"
  fi
fi

# ---- the programs the hook runs are gone: the push fails, names them, and git does not hang -----
if [ -x "$LEAN" ] && [ -x "$CLIENT" ]; then
  mkdir -p "$TMP/gone"
  cp "$BIN" "$LEAN" "$CLIENT" "$TMP/gone/"
  new_repo gone
  "$TMP/gone/stepgate" hooks install --daemon > /dev/null
  rm "$TMP/gone/stepgate-hook" "$TMP/gone/stepgate-git-hook"
  if timeout 60 git push origin main 2> "$TMP/gone.err"; then fail "a hook whose programs are gone blocks the push"; else
    check "a hook whose programs are gone blocks the push, naming what is missing" \
      grep -q "$TMP/gone/stepgate-hook" "$TMP/gone.err"
  fi
  check "nothing reached the remote" test "$(remote_tip gone refs/heads/main)" = none
fi

# ---- a long history: the second thread scans ahead while libgit2 walks -------------------------
# main: 2,000 commits the remote has; feature: 300 commits forked from main's 100th, the key added
# by its oldest commit and removed by the next. The walk reads main back to the fork (seconds of
# it under ASan) while the scan runs ahead down feature's first-parent chain, past its oldest
# commit into main's: the key commit sits in the run that straddles the two, which must be
# dropped and scanned again (tests/hooks/commit_scan_test.cpp checks the signals themselves).
new_repo longhist
python3 - "$(git rev-parse HEAD)" > "$TMP/longhist.stream" <<'PY'
import sys
base = sys.argv[1]
out = []
def commit(ref, mark, parent, files):
    out.append(f"commit {ref}\nmark :{mark}\ncommitter Alice <alice@example.com> {1700000000 + mark} +0000\n")
    out.append(f"data 8\nc{mark:06d}\n")
    out.append(f"from {parent}\n")
    for path, text in files:
        out.append(f"M 644 inline {path}\ndata {len(text)}\n{text}\n" if text is not None else f"D {path}\n")
key = "AKIA" + "Q3EGRTY5LWJ7NXZP"
for i in range(1, 2001):
    commit("refs/heads/main", i, base if i == 1 else f":{i - 1}", [(f"src/m{i % 13}.txt", f"main {i}\n")])
for branch, first, with_key in (("feature", 3001, True), ("clean", 4001, False)):
    for j in range(300):
        files = [(f"lib/f{j % 7}.txt", f"{branch} {j}\n")]
        if with_key and j == 0:
            files.append(("config.ini", f"aws_access_key_id = {key}\n"))
        if with_key and j == 1:
            files.append(("config.ini", None))
        commit(f"refs/heads/{branch}", first + j, ":100" if j == 0 else f":{first + j - 1}", files)
sys.stdout.write("".join(out))
PY
git fast-import --quiet < "$TMP/longhist.stream"
git push -q origin main
"$BIN" hooks install > /dev/null
if git push origin feature 2> "$TMP/longhist.err"; then
  fail "a key in the oldest of 300 commits forked 1,900 behind main is denied"
else
  check "a key in the oldest of 300 commits forked 1,900 behind main is denied" \
    grep -q 'secrets-in-push' "$TMP/longhist.err"
fi
check "the long branch with the key did not reach the remote" test "$(remote_tip longhist feature)" = none
check "the same shape without the key is allowed" git push -q origin clean

# ---- the gate's clock is not the pusher's: STEPGATE_NOW in a push's environment changes nothing -
# Business hours on one weekday only, three days from today (UTC): the real clock is outside them,
# so a push to main is off-hours; STEPGATE_NOW names noon on that weekday, inside them.
new_repo clock
day_at=$(($(date -u +%s) + 3 * 86400))
day=$(date -u -d "@$day_at" +%a | tr '[:upper:]' '[:lower:]')
noon=$(date -u -d "$(date -u -d "@$day_at" +%F) 12:00" +%s)
sed -i -e "s/days: \[mon, tue, wed, thu, fri, sat, sun\]/days: [$day]/" \
  -e 's/start: "00:00"/start: "08:00"/; s/end: "24:00"/end: "19:00"/' .stepgate/policy.yaml
check "the clock policy names one business day" grep -q "days: \[$day\]" .stepgate/policy.yaml
"$BIN" hooks install > /dev/null
if STEPGATE_NOW=$noon git push origin main 2> "$TMP/clock.err"; then
  fail "STEPGATE_NOW in the pusher's environment does not move the gate's clock"
else
  check "STEPGATE_NOW in the pusher's environment does not move the gate's clock" \
    grep -q 'off-hours-protected' "$TMP/clock.err"
fi
check "the off-hours push did not reach the remote" test "$(remote_tip clock refs/heads/main)" = none

finish git_push_test
