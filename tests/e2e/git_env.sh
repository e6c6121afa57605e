# Sourced by the git end-to-end suites (git_push_test.sh, git_receive_test.sh): a private HOME and
# STEPGATE_HOME under a temporary directory, git's identity, the check helpers, and the shipped
# git.yaml pack made independent of the clock.
BIN=${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}
SRC=${SOURCE_DIR:?SOURCE_DIR must point at the source tree}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export STEPGATE_HOME="$TMP/home" STEPGATE_NO_TTY=1 NO_COLOR=1
# libgit2 (inside the hook) reads $HOME/.gitconfig, so HOME moves too.
export HOME="$TMP" GIT_CONFIG_NOSYSTEM=1
git config --global init.defaultBranch main
git config --global user.email alice@example.com
git config --global user.name Alice
git config --global advice.detachedHead false
unset STEPGATE_GRANT STEPGATE_GRANT_FILE STEPGATE_ACTOR GIT_DIR || true

FAILED=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; FAILED=1; }
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
challenge_in() { grep -o 'sgc1\.[A-Za-z0-9._-]*' "$1" | sed -n 1p; }

# write_git_policy FILE APPROVER_KEY: the shipped pack with business hours around the clock (so
# no verdict depends on when the test runs: off-hours pushes to protected refs score 30), the
# velocity burst lifted (a suite pushes more than 20 times in ten minutes, and the order of its
# sections must not change verdicts; the pack's own tests cover the rule) and approver bob.
write_git_policy() {
  sed -e 's/start: "08:00"/start: "00:00"/; s/end: "19:00"/end: "24:00"/' \
    -e 's/days: \[mon, tue, wed, thu, fri\]/days: [mon, tue, wed, thu, fri, sat, sun]/' \
    -e 's/signals.velocity > 20/signals.velocity > 100000/' \
    "$SRC/policies/git.yaml" > "$1"
  grep -q 'end: "24:00"' "$1" && grep -q 'velocity > 100000' "$1"
  printf 'approvers:\n  - id: bob\n    public_key: %s\n' "$2" >> "$1"
}

# check_secret_push_denied: on a new branch `feature`, one commit adds an AWS key and the next
# removes it; pushing the branch must be denied for the first commit, naming the rule and never
# the key (on stderr or anywhere under STEPGATE_HOME). The caller checks the remote's refs.
check_secret_push_denied() {
  local fake_key
  fake_key="AKIA$(printf 'Q3EGRTY5LWJ7NXZP')"  # assembled here: the file holds no key verbatim
  git checkout -q -b feature
  printf 'aws_access_key_id = %s\n' "$fake_key" > config.ini
  git add config.ini && git commit -qm "add config"
  git rm -q config.ini && git commit -qm "remove config again"
  if git push origin feature 2> "$TMP/secret.err"; then fail "a secret added then removed is denied"; else
    check "a secret added then removed is denied" grep -q 'secrets-in-push' "$TMP/secret.err"
  fi
  check "the finding names the rule" grep -q 'aws-access-key-id' "$TMP/secret.err"
  check "the secret itself is never printed" bash -c "! grep -q '$fake_key' '$TMP/secret.err'"
  check "the secret is not in the audit log" bash -c "! grep -rq '$fake_key' '$STEPGATE_HOME'"
}

# new_repo NAME: a work repo with a bare remote, the git.yaml pack plus approver bob ($BOB_KEY),
# one commit; the shell is left in it.
new_repo() {
  local name=$1
  git init -q --bare "$TMP/$name.git"
  git init -q "$TMP/$name"
  cd "$TMP/$name"
  git remote add origin "../$name.git"
  mkdir -p .stepgate
  write_git_policy .stepgate/policy.yaml "$BOB_KEY"
  echo "hello" > README.md
  git add -A && git commit -qm "first"
}

# finish NAME: the suite's exit status.
finish() {
  if [ "$FAILED" -ne 0 ]; then echo "$1: FAILED"; exit 1; fi
  echo "$1: all passed"
}
