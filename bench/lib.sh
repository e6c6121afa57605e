# Shared by the push benches (git_push_bench.sh, hook_path_bench.sh, large_push_bench.sh): the
# stepgate binary, lefthook, a scratch HOME, one source repository with a long commit chain, and
# the per-configuration clones that pushes go from and to. Sourced, never run; every bench that
# uses it compares the same repository, so their figures stay comparable.
#
# After `. bench/lib.sh`: HERE (bench/), SRC (the source tree) and BIN (absolute path of
# $STEPGATE_BIN, default build/stepgate) are set.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(dirname "$HERE")
BIN=${STEPGATE_BIN:-$SRC/build/stepgate}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# bench_lefthook: sets LEFTHOOK to $LEFTHOOK if given, else bench/peers' pinned lefthook
# (installed there with npm on first use); exits 2 when there is none.
bench_lefthook() {
  if [ -z "${LEFTHOOK:-}" ] && [ ! -x "$SRC/bench/peers/node_modules/.bin/lefthook" ]; then
    (cd "$SRC/bench/peers" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
  fi
  LEFTHOOK=${LEFTHOOK:-$SRC/bench/peers/node_modules/.bin/lefthook}
  [ -x "$LEFTHOOK" ] || { echo "lefthook not found at $LEFTHOOK (npm install in bench/peers)" >&2; exit 2; }
}

# bench_require_binaries NAME...: exits 2 unless $BIN and each NAME beside it are executable.
bench_require_binaries() {
  local b
  for b in "$BIN" "${@/#/$(dirname "$BIN")/}"; do
    [ -x "$b" ] || { echo "not built: $b" >&2; exit 2; }
  done
}

# bench_scratch_home: TMP, a scratch directory removed on exit (stopping $DAEMON_PID if a bench
# started one), as HOME and STEPGATE_HOME, with a git identity and no system git config.
bench_scratch_home() {
  TMP=$(mktemp -d)
  DAEMON_PID=
  trap '[ -z "$DAEMON_PID" ] || kill "$DAEMON_PID" 2> /dev/null; rm -rf "$TMP"' EXIT
  export HOME=$TMP STEPGATE_HOME=$TMP/stepgate STEPGATE_NO_TTY=1 NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1
  git config --global user.email bench@example.com
  git config --global user.name Bench
  git config --global init.defaultBranch main
}

# bench_source_repo N: $TMP/src with main (one commit) and refs/heads/bench$N, a chain of N
# commits on it, each rewriting one of 50 Python files; when N > 100, bench100 names its first
# 100. The working directory is left at $TMP/src.
bench_source_repo() {
  git init -q "$TMP/src"
  cd "$TMP/src"
  echo "# bench" > README.md && git add README.md && git commit -qm base
  python3 - "$TMP/stream" "$1" <<'PY'
import sys
out, n = open(sys.argv[1], "wb"), int(sys.argv[2])
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
for i in range(1, n + 1):
    out.write(b"commit refs/heads/bench%d\nmark :%d\n" % (n, i))
    out.write(b"author Bench <bench@example.com> %d +0000\n" % (1700000000 + i))
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % (1700000000 + i))
    data(b"change %d" % i)
    out.write(b"from refs/heads/main^0\n" if i == 1 else b"from :%d\n" % (i - 1))
    body = "".join(
        f"def handler_{i}_{k}(request, options):\n"
        f"    value = compute(request.items[{k}], options.get('timeout', {i % 30}))\n"
        f"    return {{'id': {i * 100 + k}, 'value': value}}\n" for k in range(6))
    out.write(b"M 644 inline src/module_%d.py\n" % (i % 50))
    data(body.encode())
if n > 100:
    out.write(b"reset refs/heads/bench100\nfrom :100\n")
PY
  git fast-import --quiet < "$TMP/stream"
}

# bench_clones CFG...: per configuration, a bare remote $TMP/remote-CFG.git holding main only
# (so every bench* branch pushed to it is new) and a work copy $TMP/work-CFG pushing to it.
bench_clones() {
  local cfg
  for cfg in "$@"; do
    git clone -q --bare "$TMP/src" "$TMP/remote-$cfg.git"
    git --git-dir="$TMP/remote-$cfg.git" for-each-ref --format='%(refname)' refs/heads/bench* |
      xargs -r -n1 git --git-dir="$TMP/remote-$cfg.git" update-ref -d
    cp -r "$TMP/src" "$TMP/work-$cfg"
    git -C "$TMP/work-$cfg" remote add origin "$TMP/remote-$cfg.git"
    git -C "$TMP/work-$cfg" fetch -q origin
  done
}

# bench_install_stepgate CFG [hooks install options...]: the shipped git.yaml pack as the
# repository's policy and `stepgate hooks install` in $TMP/work-CFG.
bench_install_stepgate() {
  local cfg=$1
  shift
  (cd "$TMP/work-$cfg" && mkdir -p .stepgate && cp "$SRC/policies/git.yaml" .stepgate/policy.yaml &&
    echo .stepgate >> .git/info/exclude && "$BIN" hooks install "$@" > /dev/null)
}

# bench_expect_hook CFG PATTERN WHAT: exits 2 unless the pre-push hook of CFG matches PATTERN.
bench_expect_hook() {
  grep -aq -- "$2" "$TMP/work-$1/.git/hooks/pre-push" ||
    { echo "hooks install did not write $3 ($1)" >&2; exit 2; }
}

# bench_install_lefthook CFG: a no-op lefthook pre-push in $TMP/work-CFG (needs bench_lefthook).
bench_install_lefthook() {
  (cd "$TMP/work-$1" && printf 'pre-push:\n  commands:\n    noop:\n      run: "true"\n' > lefthook.yml &&
    echo lefthook.yml >> .git/info/exclude && "$LEFTHOOK" install > /dev/null)
}

# bench_start_daemon: `stepgate daemon` on $STEPGATE_DAEMON_SOCKET (default $TMP/run/hookd.sock,
# autostart off) as DAEMON_PID, stopped on exit; exits 2 when its socket does not appear.
bench_start_daemon() {
  export STEPGATE_DAEMON_SOCKET=${STEPGATE_DAEMON_SOCKET:-$TMP/run/hookd.sock} STEPGATE_DAEMON_AUTOSTART=0
  mkdir -p -m 700 "$(dirname "$STEPGATE_DAEMON_SOCKET")"
  "$BIN" daemon > "$TMP/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 100); do [ -S "$STEPGATE_DAEMON_SOCKET" ] && break; sleep 0.05; done
  [ -S "$STEPGATE_DAEMON_SOCKET" ] || { echo "stepgate daemon did not start:" >&2; cat "$TMP/daemon.log" >&2; exit 2; }
}
