#!/usr/bin/env bash
# End to end: what the push scan must see, on the client (pre-push hook, plain bare remote) and on
# the server (a bare repository with pre-receive from `stepgate hooks install`, a client without a
# hook) alike: tokens in UTF-16 files, in files with a NUL byte, in large files, in commit and tag
# messages, in tagged blobs and trees and in file names; a force push through a symbolic ref;
# a feature branch's commits judged again when pushed as a new protected branch;
# what pre-push cannot see (--mirror deletions, --no-verify) and pre-receive catches; the limit on
# refs per push; one push counted once for velocity.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"

BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)
KEY="AKIA$(printf 'Q3EGRTY5LWJ7NXZP')"  # assembled here: the file holds no key verbatim
tip_of() { git --git-dir="$1" rev-parse -q --verify "$2" 2> /dev/null || echo none; }

# The client side: repository `cli` with the pre-push hook, remote cli.git with no hook.
new_repo cli
"$BIN" hooks install --no-daemon > /dev/null
git push -q origin main

# The server side: srv.git with pre-receive, and a clone `work` with no hook of its own.
git init -q --bare "$TMP/srv.git"
mkdir -p "$TMP/srv.git/.stepgate"
write_git_policy "$TMP/srv.git/.stepgate/policy.yaml" "$BOB_KEY"
(cd "$TMP/srv.git" && "$BIN" hooks install > /dev/null)
check "the server has a pre-receive hook" grep -aq 'stepgate-managed hook' "$TMP/srv.git/hooks/pre-receive"
git clone -q "$TMP/srv.git" "$TMP/work" 2> /dev/null
cd "$TMP/work"
echo hello > README.md && git add README.md && git commit -qm first && git push -q origin main

# blocked SIDE NAME REMOTE_GIT REF PUSH-ARGS...: the push fails naming secrets-in-push (the
# server's verdict arrives as "remote: ..."), never prints the key, and REF is not on the remote.
blocked() {
  local side=$1 name=$2 remote=$3 ref=$4
  shift 4
  if git push "$@" 2> "$TMP/push.err"; then fail "$side: $name is denied"; return; fi
  check "$side: $name is denied" grep -q 'secrets-in-push' "$TMP/push.err"
  check "$side: $name: the key is not printed" bash -c "! grep -q '$KEY' '$TMP/push.err'"
  check "$side: $name: nothing reached the remote" test "$(tip_of "$remote" "$ref")" = none
}

# secret_cases SIDE REMOTE_GIT: one new branch or tag per hiding place, from the current main.
secret_cases() {
  local side=$1 remote=$2 blob tree
  git checkout -q main
  git checkout -q -b utf16-bom main
  printf 'aws_access_key_id = %s\r\n' "$KEY" | iconv -f UTF-8 -t UTF-16 > creds.ini
  git add creds.ini && git commit -qm "utf-16 with a byte-order mark"
  blocked "$side" "a key in a UTF-16 file with a BOM" "$remote" refs/heads/utf16-bom origin utf16-bom

  git checkout -q -b utf16-be main
  printf 'first line\naws_access_key_id = %s\n' "$KEY" | iconv -f UTF-8 -t UTF-16BE > creds.txt
  git add creds.txt && git commit -qm "utf-16 big-endian without a mark"
  blocked "$side" "a key in a big-endian UTF-16 file without a BOM" "$remote" refs/heads/utf16-be origin utf16-be

  git checkout -q -b modified-utf16 main
  printf 'name = app\n' | iconv -f UTF-8 -t UTF-16LE > app.cfg
  git add app.cfg && git commit -qm "a utf-16 file"
  printf 'name = app\naws_access_key_id = %s\n' "$KEY" | iconv -f UTF-8 -t UTF-16LE > app.cfg
  git commit -qam "a key added to it"
  blocked "$side" "a key added to an existing UTF-16 file" "$remote" refs/heads/modified-utf16 origin modified-utf16

  git checkout -q -b stray-nul main
  printf 'header\0 rest of the text\naws_access_key_id = %s\n' "$KEY" > notes.txt
  git add notes.txt && git commit -qm "text with a NUL byte"
  blocked "$side" "a key in a text file holding a NUL byte" "$remote" refs/heads/stray-nul origin stray-nul

  # Above git.large_file_bytes (5 MiB), with the key across the scanner's first window edge.
  git checkout -q -b large main
  python3 - "$KEY" > big.log <<'PY'
import sys
line = b"2026-12-06 12:00:00 INFO request served in 12 ms\n"
head = line * ((1 << 20) // len(line))
sys.stdout.buffer.write(head + b"x" * ((1 << 20) - len(head) - 12))
sys.stdout.buffer.write(b" aws_key " + sys.argv[1].encode() + b"\n")
sys.stdout.buffer.write(line * (5 * (1 << 20) // len(line)))
PY
  git add big.log && git commit -qm "a large log"
  blocked "$side" "a key in a file above large_file_bytes" "$remote" refs/heads/large origin large

  git checkout -q -b message main
  git commit -q --allow-empty -m "deploy with key $KEY"
  blocked "$side" "a key in a commit message" "$remote" refs/heads/message origin message

  git checkout -q main
  git tag -a tag-message -m "release notes: key $KEY"
  blocked "$side" "a key in an annotated tag's message" "$remote" refs/tags/tag-message origin tag-message
  git tag -d tag-message > /dev/null

  blob=$(printf 'aws_access_key_id = %s\n' "$KEY" | git hash-object -w --stdin)
  git tag tag-blob "$blob"
  blocked "$side" "a key in a tagged blob" "$remote" refs/tags/tag-blob origin tag-blob
  git tag -d tag-blob > /dev/null

  tree=$(printf '100644 blob %s\tcreds.ini\n' "$blob" | git mktree)
  git tag -a tag-tree -m "a tree" "$tree"
  blocked "$side" "a key in a tagged tree" "$remote" refs/tags/tag-tree origin tag-tree
  git tag -d tag-tree > /dev/null

  git checkout -q -b file-name main
  echo harmless > "$KEY.txt"
  git add -A && git commit -qm "a file named after a key"
  blocked "$side" "a key as a file name" "$remote" refs/heads/file-name origin file-name
  git checkout -q main
}

# past_cap SIDE REMOTE_GIT: a file above the 64 MiB scan cap makes the scan incomplete: reported
# on a feature branch (allowed), held for step-up on main.
past_cap() {
  local side=$1 remote=$2
  git checkout -q -b huge main
  python3 -c 'import sys; sys.stdout.buffer.write(b"0123456789abcdef" * (65 << 16))' > huge.dat
  git add huge.dat && git commit -qm "a file above the scan cap"
  git push origin huge 2> "$TMP/huge.err" || true
  check "$side: past the cap, a feature branch push is reported as incompletely scanned" \
    grep -q 'scan-incomplete-reported' "$TMP/huge.err"
  check "$side: past the cap, a feature branch push still goes" test "$(tip_of "$remote" refs/heads/huge)" != none
  if git push origin huge:main 2> "$TMP/huge-main.err"; then
    fail "$side: past the cap, a push to main is held"
  else
    check "$side: past the cap, a push to main is held" grep -q 'scan-incomplete:' "$TMP/huge-main.err"
  fi
  check "$side: main did not move" test "$(tip_of "$remote" refs/heads/main)" = "$(git rev-parse main)"
  git checkout -q main
}

cd "$TMP/cli"
secret_cases client "$TMP/cli.git"
past_cap client "$TMP/cli.git"
cd "$TMP/work"
secret_cases server "$TMP/srv.git"
past_cap server "$TMP/srv.git"

# ---- a force push through a symbolic ref is judged as a push to its target ----------------------
# symref_force SIDE REMOTE_GIT: trunk -> main on the remote; rewriting main through trunk is held.
symref_force() {
  local side=$1 remote=$2 old
  git --git-dir="$remote" symbolic-ref refs/heads/trunk refs/heads/main
  git checkout -q main
  echo more >> README.md && git commit -qam "more" && git push -q origin main
  old=$(tip_of "$remote" refs/heads/main)
  git commit -q --amend -m "more, rewritten"
  if git push --force origin HEAD:refs/heads/trunk 2> "$TMP/symref.err"; then
    fail "$side: a force push to main through trunk is held"
  else
    check "$side: a force push to main through trunk is held" grep -q 'refs/heads/main: step-up required' "$TMP/symref.err"
  fi
  check "$side: the hold names the force push on a protected ref" grep -q 'force-push-protected' "$TMP/symref.err"
  check "$side: main was not rewritten" test "$(tip_of "$remote" refs/heads/main)" = "$old"
  git reset -q --hard "$old"
}
cd "$TMP/cli"
symref_force client "$TMP/cli.git"
cd "$TMP/work"
symref_force server "$TMP/srv.git"

# ---- a branch pushed first as a feature branch is judged again as a new protected branch -------
# rejudged SIDE REMOTE_GIT: a CI change is reported on a feature branch (score 30, allowed); the
# same commit pushed as a new release branch is held (ci-config-protected and unsigned commits on
# a protected ref: 70). The remote holding the commit under the lax feature branch must not hide
# it from the protected branch's rules.
rejudged() {
  local side=$1 remote=$2
  git checkout -q -b ci-change main
  mkdir -p .github/workflows && echo "on: push" > .github/workflows/ci.yml
  git add .github/workflows/ci.yml && git commit -qm "a CI change"
  check "$side: a CI change on a feature branch goes" git push -q origin ci-change
  if git push origin ci-change:refs/heads/release/1 2> "$TMP/rejudged.err"; then
    fail "$side: the same commit as a new protected branch is held"
  else
    check "$side: the same commit as a new protected branch is held" grep -q 'refs/heads/release/1: step-up required' "$TMP/rejudged.err"
  fi
  check "$side: the hold names the protected branch's rule" grep -q 'ci-config-protected' "$TMP/rejudged.err"
  check "$side: release/1 is not on the remote" test "$(tip_of "$remote" refs/heads/release/1)" = none
  git checkout -q main
}
cd "$TMP/cli"
rejudged client "$TMP/cli.git"
cd "$TMP/work"
rejudged server "$TMP/srv.git"

# ---- what pre-push cannot see, pre-receive catches --------------------------------------------
cd "$TMP/work"
"$BIN" hooks install --no-daemon > /dev/null  # the client hook, to be skipped
main_tip=$(tip_of "$TMP/srv.git" refs/heads/main)
git commit -q --amend -m "rewritten again"
if git push --no-verify --force origin main 2> "$TMP/noverify.err"; then
  fail "pre-receive holds a --no-verify force push to main"
else
  check "pre-receive holds a --no-verify force push to main" grep -q 'remote: stepgate: refs/heads/main: step-up required' "$TMP/noverify.err"
fi
check "--no-verify: main was not rewritten" test "$(tip_of "$TMP/srv.git" refs/heads/main)" = "$main_tip"
git reset -q --hard "$main_tip"

# A mirror push from a repository without main deletes main on the remote; git does not list
# that deletion to pre-push, and pre-receive denies it.
git clone -q "$TMP/srv.git" "$TMP/mirror" 2> /dev/null
cd "$TMP/mirror"
git checkout -q -b other && git branch -q -D main
git push -q origin other 2> /dev/null || true
if git push --mirror origin 2> "$TMP/mirror.err"; then
  fail "pre-receive denies a --mirror push that deletes main"
else
  check "pre-receive denies a --mirror push that deletes main" grep -q 'delete-protected-ref' "$TMP/mirror.err"
fi
check "--mirror: main is still on the server" test "$(tip_of "$TMP/srv.git" refs/heads/main)" = "$main_tip"

# ---- a limit on refs per push (named in the refusal), and one push is one for velocity --------
# ref_limit SIDE REMOTE_GIT PUSH-ARGS...: 1,001 new branches in one push are refused.
ref_limit() {
  local side=$1 remote=$2
  shift 2
  for i in $(seq 1 1001); do echo "create refs/heads/many/b$i HEAD"; done | git update-ref --stdin
  if git push "$@" origin 'refs/heads/many/*:refs/heads/many/*' 2> "$TMP/many.err"; then
    fail "$side: a push of 1,001 refs is refused"
  else
    check "$side: a push of 1,001 refs is refused, naming the limit" grep -q 'more than 1000 ref updates in one push (the limit on refs per push' "$TMP/many.err"
  fi
  check "$side: none of them reached the remote" test "$(tip_of "$remote" refs/heads/many/b1)" = none
  git for-each-ref --format='delete %(refname)' refs/heads/many | git update-ref --stdin
}
cd "$TMP/cli"
ref_limit client "$TMP/cli.git"
cd "$TMP/work"
ref_limit server "$TMP/srv.git" --no-verify

# velocity > 2 denies: a first push of five branches is one push (velocity 1 on every ref), the
# second push is the second (allowed), the third is denied.
cd "$TMP/cli"
sed -i -e "s/signals.velocity > 100000/signals.velocity > 2/" -e "/id: velocity-burst/,/message:/ s/score: 40/effect: deny/" .stepgate/policy.yaml
check "the velocity rule now denies" grep -q "velocity > 2" .stepgate/policy.yaml
export STEPGATE_HOME="$TMP/velocity-home"
for i in 1 2 3 4 5; do git branch -q "burst$i" main; done
check "one push of five branches is one push" git push -q origin burst1 burst2 burst3 burst4 burst5
git branch -q second main
check "the next push is the second (allowed)" git push -q origin second
git branch -q third main
if git push origin third 2> "$TMP/velocity.err"; then fail "the third push is over the velocity limit"; else
  check "the third push is over the velocity limit" grep -q 'velocity-burst' "$TMP/velocity.err"
fi

# The two readers of the repository agree: every branch of both repositories (all the tricky
# commits above stay in them, pushed or not), packed with deltas by `git gc`, scanned once through
# stepgate's own pack reader and once through libgit2 alone, give the same findings.
for repo in "$TMP/cli" "$TMP/work"; do
  cd "$repo"
  git gc -q
  check "$(basename "$repo"): the objects are packed" test -n "$(ls .git/objects/pack/*.pack 2> /dev/null)"
  root=$(git rev-list --max-parents=0 main | tail -1)
  : > "$TMP/own.txt"
  : > "$TMP/libgit2.txt"
  for ref in $(git for-each-ref --format='%(refname:short)' refs/heads); do
    "$BIN" scan --git "$root..$ref" >> "$TMP/own.txt" 2>&1 || :
    STEPGATE_GIT_READER=libgit2 "$BIN" scan --git "$root..$ref" >> "$TMP/libgit2.txt" 2>&1 || :
  done
  check "$(basename "$repo"): the scans find something" grep -q 'aws-access-key-id' "$TMP/own.txt"
  check "$(basename "$repo"): the pack reader and libgit2 find the same" cmp -s "$TMP/own.txt" "$TMP/libgit2.txt"
done

finish git_scan_test
