#!/usr/bin/env bash
# End to end: stepgate under the hook managers people already use, configured exactly as
# hooks/README.md and .pre-commit-hooks.yaml say: lefthook (its linux-x64 binary package) and
# husky from the npm registry, and pre-commit (Debian). Each must let a fast-forward through and
# hold a force push to main.
set -euo pipefail

. "$(dirname "$0")/git_env.sh"
E2E=$(cd "$(dirname "$0")" && pwd)
export PATH="$(dirname "$BIN"):$PATH"  # the snippets call `stepgate` from PATH
export PRE_COMMIT_HOME="$TMP/pre-commit-cache"
# lefthook's binary package: the `lefthook` wrapper lists every platform's binary as optional, and
# `npm ci` refuses a lock without one the registry lacks. (Not $LEFTHOOK: lefthook reads that.)
LH="$E2E/node_modules/lefthook-linux-x64/bin/lefthook"
for tool in "$LH" "$E2E/node_modules/.bin/husky"; do
  [ -x "$tool" ] || { echo "missing $tool: run scripts/setup.sh (npm ci in tests/e2e)"; exit 1; }
done
command -v pre-commit > /dev/null || { echo "pre-commit is not installed: run scripts/setup.sh"; exit 1; }

BOB_KEY=$("$BIN" keygen --approver bob 2> /dev/null | sed -n 1p)
remote_tip() { git --git-dir="$TMP/$1.git" rev-parse -q --verify "$2" 2>/dev/null || echo none; }

# managed_repo NAME: new_repo with main pushed before any hook is there.
managed_repo() {
  new_repo "$1"
  git push -q origin main
}

# gates NAME: with the manager's hook in place, a fast-forward goes through and a force push to
# main is held with stepgate's verdict, the remote left as it was.
gates() {
  local name=$1 out="$TMP/$1.err" tip
  echo more >> README.md && git commit -qam second
  check "$name: a fast-forward push goes through" git push -q origin main
  tip=$(git rev-parse HEAD)
  git commit -q --amend -m "second, rewritten"
  if git push --force origin main > "$out" 2>&1; then fail "$name: a force push to main is held"; else
    check "$name: a force push to main is held" grep -q 'refs/heads/main: step-up required' "$out"
  fi
  check "$name: the reason is stepgate's" grep -q 'force-push-protected' "$out"
  check "$name: the remote was not rewritten" test "$(remote_tip "$name" main)" = "$tip"
}

# ---- lefthook: the lefthook.yml of hooks/README.md ----------------------------------------------
managed_repo lefthook
cat > lefthook.yml <<'EOF'
pre-push:
  commands:
    stepgate:
      run: stepgate hook pre-push {1} {2}
      use_stdin: true
EOF
echo lefthook.yml >> .git/info/exclude
"$LH" install > /dev/null
check "lefthook: its pre-push hook is installed" grep -q lefthook .git/hooks/pre-push
gates lefthook

# ---- husky: .husky/pre-push of hooks/README.md --------------------------------------------------
managed_repo husky
"$E2E/node_modules/.bin/husky" > /dev/null
check "husky: core.hooksPath points into .husky" test "$(git config core.hooksPath)" = .husky/_
printf 'stepgate hook pre-push "$@"\n' > .husky/pre-push
echo .husky >> .git/info/exclude
gates husky

# ---- pre-commit: the repository's own .pre-commit-hooks.yaml ------------------------------------
# pre-commit clones the hook repository at a rev: a throwaway repository holding this tree's
# .pre-commit-hooks.yaml, so the file under test is the one checked out here.
git init -q "$TMP/hook-repo"
cp "$SRC/.pre-commit-hooks.yaml" "$TMP/hook-repo/"
git -C "$TMP/hook-repo" add .pre-commit-hooks.yaml
git -C "$TMP/hook-repo" commit -qm hooks
managed_repo precommit
cat > .pre-commit-config.yaml <<EOF
repos:
  - repo: $TMP/hook-repo
    rev: $(git -C "$TMP/hook-repo" rev-parse HEAD)
    hooks:
      - id: stepgate
EOF
echo .pre-commit-config.yaml >> .git/info/exclude
pre-commit install -t pre-push > /dev/null
gates precommit

# ---- pre-commit, `repo: local`: the snippet of hooks/README.md, taken from the file itself ---------
managed_repo precommit-local
awk '/^# .pre-commit-config.yaml$/ {on = 1; next} on && /^```/ {exit} on' "$SRC/hooks/README.md" \
  > .pre-commit-config.yaml
check "pre-commit local: hooks/README.md has the snippet" grep -q 'repo: local' .pre-commit-config.yaml
echo .pre-commit-config.yaml >> .git/info/exclude
pre-commit install -t pre-push > /dev/null
gates precommit-local

finish hook_managers_test
