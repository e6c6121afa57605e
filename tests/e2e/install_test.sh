#!/usr/bin/env bash
# End-to-end: installing stepgate. `cmake --install` into a prefix, the generated man page and
# shell completions, the CLI's --version, typo suggestions and colour, and the release path: the
# Debian package made by scripts/package.sh, served over local HTTPS and installed by
# packaging/install-release.sh (the GitHub Action's installer) into this machine when run as root
# (purged at the end) or into a scratch root; a new user's clean bill from `stepgate doctor`; and
# every other end-to-end suite run against the installed binaries.
# STEPGATE_INSTALL_TEST_SCRATCH=1 keeps to the scratch root even as root.
set -euo pipefail
BIN="${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}"
SRC="${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
build="$(cd "$(dirname "$BIN")" && pwd)"
work="$(mktemp -d)"
https_pid=""  # the local HTTPS server of the release path, once started
daemon_pid="" # a `stepgate daemon` the doctor checks look at
purge=""      # set once the package goes into this machine: purged on the way out
cleanup() {   # each step may fail (errexit holds in traps too), none may skip the next
  [ -z "$purge" ] || dpkg --purge stepgate >/dev/null 2>&1 || true
  [ -z "$https_pid" ] || kill "$https_pid" 2>/dev/null || true
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP  # an interrupted run cleans up too (SIGKILL from a timeout aside)
failures=0
passes=0
pass() { echo "PASS $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
check() {  # NAME CMD...: passes when CMD exits 0
  local name="$1"; shift
  if "$@" >"$work/out" 2>"$work/err"; then pass "$name"; else fail "$name" "$(head -c 400 "$work/err" "$work/out")"; fi
}
version="$(sed -n 's/^project(stepgate VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")"

# --- the CLI helps ----------------------------------------------------------------------------
check "--version prints the version" test "$("$BIN" --version)" = "stepgate $version"
got=0; "$BIN" polcy lint >"$work/out" 2>"$work/err" || got=$?
[ "$got" = 2 ] && grep -qF "unknown command 'polcy' for 'stepgate' (did you mean 'policy'?)" "$work/err" \
  && pass "a mistyped command names the closest" || fail "a mistyped command names the closest" "exit $got: $(cat "$work/err")"
got=0; "$BIN" policy lnit >"$work/out" 2>"$work/err" || got=$?
[ "$got" = 2 ] && grep -qF "did you mean 'lint'?" "$work/err" \
  && pass "a mistyped nested command names the closest" || fail "nested suggestion" "exit $got: $(cat "$work/err")"
got=0; "$BIN" zzzzzzzz >"$work/out" 2>"$work/err" || got=$?
[ "$got" = 2 ] && grep -qF "unknown command 'zzzzzzzz'" "$work/err" && ! grep -q "did you mean" "$work/err" \
  && pass "no suggestion for a word far from every command" || fail "no far suggestion" "$(cat "$work/err")"

# --- cmake --install into a prefix --------------------------------------------------------------
prefix="$work/prefix"
check "cmake --install exits 0" cmake --install "$build" --prefix "$prefix"
for f in bin/stepgate bin/stepgate-git-hook bin/stepgate-claude-hook bin/stepgate-hook \
         share/man/man1/stepgate.1.gz share/bash-completion/completions/stepgate \
         share/zsh/vendor-completions/_stepgate share/fish/vendor_completions.d/stepgate.fish \
         share/stepgate/policies/git.yaml share/stepgate/policies/agent-tools.yaml \
         share/stepgate/policies/tests/git.yaml lib/systemd/system/stepgate-authority.service \
         lib/systemd/user/stepgate-daemon.service share/doc/stepgate/README.md; do
  [ -e "$prefix/$f" ] && pass "installs $f" || fail "installs $f" "missing"
done
grep -qxF "ExecStart=$prefix/bin/stepgate daemon" "$prefix/lib/systemd/user/stepgate-daemon.service" \
  && pass "the daemon unit starts the installed program" || fail "daemon unit ExecStart" "$(grep ExecStart "$prefix/lib/systemd/user/stepgate-daemon.service")"
grep -qF "ExecStart=$prefix/bin/stepgate authority serve" "$prefix/lib/systemd/system/stepgate-authority.service" \
  && pass "the authority unit starts the installed program" || fail "authority unit ExecStart" "$(grep ExecStart "$prefix/lib/systemd/system/stepgate-authority.service")"
check "installed stepgate runs" "$prefix/bin/stepgate" --version
check "installed packs lint clean" "$prefix/bin/stepgate" policy lint "$prefix/share/stepgate/policies/git.yaml"

# Hooks name the program as installed, and installing from a build tree warns.
git init -q "$work/repo"
(cd "$work/repo" && "$prefix/bin/stepgate" hooks install >"$work/out" 2>"$work/err") || true
grep -qF "$prefix/bin/stepgate-git-hook" "$work/repo/.git/hooks/pre-push" && ! grep -qF "$build" "$work/repo/.git/hooks/pre-push" \
  && pass "the installed stepgate's hook names the installed program" || fail "installed hook program" "$(cat "$work/repo/.git/hooks/pre-push")"
! grep -q "build tree" "$work/err" && pass "no build-tree warning from the installed program" || fail "installed: no warning" "$(cat "$work/err")"
(cd "$work/repo" && "$BIN" hooks install --force >"$work/out" 2>"$work/err") || true
grep -q "is in a build tree" "$work/err" && pass "hooks install from a build tree warns" || fail "build-tree warning" "$(cat "$work/err")"

# The man page names every listed command and renders without warnings.
zcat "$prefix/share/man/man1/stepgate.1.gz" >"$work/stepgate.1"
for cmd in "hooks install" "ci gate" "policy lint" "audit verify" "approve"; do
  grep -qF ".SS \"stepgate $cmd\"" "$work/stepgate.1" && pass "man page has '$cmd'" || fail "man page has '$cmd'" "missing"
done
if command -v groff >/dev/null; then
  groff -man -Tutf8 -ww -z "$work/stepgate.1" 2>"$work/groff.err" && [ ! -s "$work/groff.err" ] \
    && pass "man page renders without warnings" || fail "man page renders" "$(head -c 400 "$work/groff.err")"
fi

# Help never sends the user to a file they do not have: every *.md the man page (all commands'
# help) names is installed with the docs.
{ grep -oE '[A-Za-z0-9_-]+\.md\b' "$work/stepgate.1" || true; } | sort -u >"$work/named-docs"
missing=""
while read -r doc; do [ -e "$prefix/share/doc/stepgate/$doc" ] || missing="$missing $doc"; done <"$work/named-docs"
[ -z "$missing" ] && pass "every file the help names is installed ($(wc -l <"$work/named-docs") named)" \
  || fail "help names files the user does not have" "$missing"

# Printed Claude Code settings name the installed programs, never the build tree.
"$prefix/bin/stepgate" agent-hook claude --print-config >"$work/settings.json" 2>"$work/err" || true
grep -qF "\"command\": \"$prefix/bin/stepgate-" "$work/settings.json" && ! grep -qF "$build" "$work/settings.json" \
  && pass "printed Claude Code settings name the installed hook" || fail "printed settings" "$(cat "$work/settings.json" "$work/err")"

# Colour only on a terminal, and never with NO_COLOR: the installed lean git hook's verdict, run
# on a pseudo-terminal by script(1) and through a pipe.
if command -v script >/dev/null; then
  git -C "$work/repo" -c user.email=t@example.com -c user.name=t commit -q --allow-empty -m one
  printf 'refs/heads/topic %s refs/heads/topic %040d\n' "$(git -C "$work/repo" rev-parse HEAD)" 0 >"$work/refline"
  verdict() {  # verdict [VAR=value...]: the hook's stderr on a pseudo-terminal
    (cd "$work/repo" && env -u NO_COLOR STEPGATE_HOME="$work/colour-home" STEPGATE_POLICY="$SRC/policies/git.yaml" "$@" \
      script -qec "'$prefix/bin/stepgate-git-hook' pre-push origin /nowhere <'$work/refline'" /dev/null) 2>&1
  }
  # Captured whole before grep looks: `verdict | grep -q` under pipefail failed whenever grep quit
  # at its match while script(1) still had output to write (SIGPIPE).
  on_tty=$(verdict)
  grep -qF $'\033[32mallow\033[0m' <<<"$on_tty" && pass "a verdict on a terminal is in colour" || fail "colour on a terminal" "$(od -c <<<"$on_tty" | head -3)"
  on_tty=$(verdict NO_COLOR=1)
  grep -q $'\033' <<<"$on_tty" && fail "NO_COLOR" "$(od -c <<<"$on_tty" | head -3)" || pass "NO_COLOR turns colour off"
  (cd "$work/repo" && env -u NO_COLOR STEPGATE_HOME="$work/colour-home" STEPGATE_POLICY="$SRC/policies/git.yaml" \
    "$prefix/bin/stepgate-git-hook" pre-push origin /nowhere <"$work/refline" 2>&1 | cat) >"$work/piped"
  grep -q "allow" "$work/piped" && ! grep -q $'\033' "$work/piped" && pass "no colour through a pipe" || fail "no colour through a pipe" "$(od -c "$work/piped" | head -3)"
fi

# bash completion, driven as bash drives it.
complete_words() {  # WORDS...: prints COMPREPLY for completing the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _stepgate; printf "%s\n" "${COMPREPLY[@]}"' \
    bash "$prefix/share/bash-completion/completions/stepgate" "$@"
}
# completes WANT WORDS...: WANT is among the completions. Captured whole before grep looks (under
# pipefail, grep quitting at its match could SIGPIPE the printf still writing the next line).
completes() {
  local want=$1 words
  shift
  words=$(complete_words "$@")
  grep -qx -- "$want" <<<"$words"
}
completes policy stepgate pol && pass "bash completes 'pol' to policy" || fail "bash completes pol" "$(complete_words stepgate pol)"
completes lint stepgate policy l && pass "bash completes 'policy l' to lint" || fail "bash completes policy l" "$(complete_words stepgate policy l)"
completes --daemon stepgate hooks install --d && pass "bash completes an option of a nested command" \
  || fail "bash completes options" "$(complete_words stepgate hooks install --d)"
bash -n "$prefix/share/bash-completion/completions/stepgate" && pass "bash completion parses" || fail "bash completion parses" ""
# zsh and fish are in scripts/setup.sh's list: a missing shell is a failure, not a skipped check.
zsh -n "$prefix/share/zsh/vendor-completions/_stepgate" && pass "zsh completion parses" || fail "zsh completion parses" ""
# The completion function run with stand-ins for the completion system's compadd and _files: it
# offers a nested command's options and leaves PATH alone (a `local path` in zsh is PATH itself).
cat > "$work/zsh-complete.zsh" <<'ZSH'
compadd() { [[ $1 == -a ]] && print -l -- ${(P)2}; }
_files() { print -r -- "PATH=$PATH"; }
file=$1; shift
words=(stepgate "$@" "")
CURRENT=${#words}
source $file
ZSH
zsh_out=$(PATH="/usr/bin:/bin" zsh "$work/zsh-complete.zsh" "$prefix/share/zsh/vendor-completions/_stepgate" hooks install)
grep -qx -- --daemon <<<"$zsh_out" && pass "zsh completes an option of a nested command" \
  || fail "zsh completes an option of a nested command" "$zsh_out"
grep -qx "PATH=/usr/bin:/bin" <<<"$zsh_out" && pass "zsh completion leaves PATH alone" \
  || fail "zsh completion leaves PATH alone" "$zsh_out"
fish -n "$prefix/share/fish/vendor_completions.d/stepgate.fish" && pass "fish completion parses" || fail "fish completion parses" ""
fish_out=$(fish --no-config -c "source '$prefix/share/fish/vendor_completions.d/stepgate.fish'; complete -C 'stepgate hooks install --d'")
grep -q -- '^--daemon' <<<"$fish_out" && pass "fish completes an option of a nested command" \
  || fail "fish completes an option of a nested command" "$fish_out"

# --- the Debian package, released and installed as a user would ---------------------------------
# scripts/package.sh packages this build (no rebuild) with its SHA256SUMS and checksum list; the
# .deb is served over local HTTPS and installed by packaging/install-release.sh, the action's
# installer. As root, with dpkg and apt-get and no stepgate package already installed, it goes
# into THIS machine with apt-get (no --force: Depends must be right) and is purged at the end;
# otherwise into a scratch root with `dpkg --root` (SG_INSTALL_ROOT), which checks no Depends.
if command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null; then
  check "scripts/package.sh packages the build" \
    "$SRC/scripts/package.sh" --build-dir "$build" --out "$work/release" --list "$work/release-sha256.txt"
  deb="$(ls "$work"/release/stepgate_*.deb 2>/dev/null | head -n1)"
fi
if [ -n "${deb:-}" ]; then
  debname="$(basename "$deb")"
  check "SHA256SUMS holds the package's checksum" sh -c 'cd "$1" && sha256sum -c --quiet SHA256SUMS' sh "$work/release"
  sum="$(sha256sum "$deb" | cut -d' ' -f1)"
  grep -qxF "$sum  $debname" "$work/release-sha256.txt" && pass "package.sh lists the checksum for the action" \
    || fail "package.sh lists the checksum" "$(cat "$work/release-sha256.txt")"
  # A listed version packaged again (a stand-in cpack, so no second real packaging) is refused.
  mkdir -p "$work/fake-cpack"
  printf '#!/bin/sh\nwhile [ "$1" != -B ]; do shift; done\necho rebuilt >"$2/%s"\n' "$debname" >"$work/fake-cpack/cpack"
  chmod +x "$work/fake-cpack/cpack"
  cp "$work/release-sha256.txt" "$work/other-list.txt"
  got=0; PATH="$work/fake-cpack:$PATH" "$SRC/scripts/package.sh" --build-dir "$build" --out "$work/release2" \
    --list "$work/other-list.txt" >"$work/out" 2>"$work/err" || got=$?
  [ "$got" = 1 ] && grep -q "already lists $debname" "$work/err" && cmp -s "$work/release-sha256.txt" "$work/other-list.txt" \
    && pass "package.sh refuses a listed version with another checksum, list untouched" \
    || fail "package.sh relist" "exit $got: $(cat "$work/err")"
  dpkg-deb -f "$deb" Depends >"$work/depends"
  for lib in libc6 libssl3 libcpp-httplib; do
    grep -q "$lib" "$work/depends" && pass "Depends names $lib (dpkg-shlibdeps)" || fail "Depends names $lib" "$(cat "$work/depends")"
  done
  dpkg-deb -c "$deb" >"$work/contents"
  grep -q '\./usr/bin/stepgate$' "$work/contents" && pass "package holds /usr/bin/stepgate" || fail "package holds /usr/bin/stepgate" ""
  ! grep -q "$build" "$work/contents" && pass "package holds no build path" || fail "package holds no build path" ""
  dpkg-deb -e "$deb" "$work/control"
  ! ls "$work/control" | grep -qE '^(pre|post)(inst|rm)$' \
    && pass "package has no maintainer scripts" || fail "package has no maintainer scripts" "$(ls "$work/control")"

  # The release served over HTTPS with a self-signed certificate that only curl is told to trust
  # (CURL_CA_BUNDLE); the installer's `--proto =https` stays as it is.
  mkdir -p "$work/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
  python3 - "$work/release" "$work/tls" "$work/port" 2>"$work/https.log" <<'PY' &
import functools, http.server, os, ssl, sys
root, tls, port_file = sys.argv[1:4]
httpd = http.server.HTTPServer(("127.0.0.1", 0),
                               functools.partial(http.server.SimpleHTTPRequestHandler, directory=root))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{tls}/cert.pem", f"{tls}/key.pem")
httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(httpd.server_address[1]))
os.rename(port_file + ".tmp", port_file)
httpd.serve_forever()
PY
  https_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  url="https://127.0.0.1:$(cat "$work/port" 2>/dev/null)/$debname"
  # The action's checkout: the installer beside the checksum list package.sh wrote.
  mkdir -p "$work/action/packaging"
  cp "$SRC/packaging/install-release.sh" "$work/action/packaging/"
  : >"$work/action/packaging/release-sha256.txt"
  # apt-get, dpkg and sudo that only record being run: a refused package must never reach them.
  mkdir -p "$work/spy"
  for tool in apt-get dpkg sudo; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/spy.log"\nexit 1\n' "$tool" "$work" >"$work/spy/$tool"
    chmod +x "$work/spy/$tool"
  done
  release() {  # release [VAR=value...]: packaging/install-release.sh as the action runs it
    env SG_VERSION="$version" SG_URL="$url" CURL_CA_BUNDLE="$work/tls/cert.pem" "$@" \
      bash "$work/action/packaging/install-release.sh"
  }
  refused() {  # refused NAME EXIT MESSAGE [VAR=value...]
    local name="$1" want="$2" message="$3" got=0
    shift 3
    rm -f "$work/spy.log"
    release PATH="$work/spy:$PATH" "$@" >"$work/out" 2>"$work/err" || got=$?
    if [ "$got" = "$want" ] && grep -qF "$message" "$work/err" && [ ! -e "$work/spy.log" ]; then
      pass "$name"
    else
      fail "$name" "exit $got; $(cat "$work/err"); installer run: $(cat "$work/spy.log" 2>/dev/null)"
    fi
  }
  refused "no checksum: the installer refuses, naming the package" 2 "no SHA-256 for $debname"
  refused "a wrong checksum: refused before anything is installed" 1 "not the expected $(printf '0%.0s' {1..64})" \
    SG_SHA256="$(printf '0%.0s' {1..64})"
  refused "plain http is refused (--proto =https)" 1 'Protocol "http"' SG_URL="http://127.0.0.1:$(cat "$work/port")/$debname" \
    SG_SHA256="$sum"
  grep -q "GET /$debname" "$work/https.log" && pass "the installer downloaded the package over HTTPS" \
    || fail "HTTPS download" "$(tail -3 "$work/https.log")"
  # From here the checksum comes from the action's own list, as a workflow pinning the action by
  # commit gets it.
  cp "$work/release-sha256.txt" "$work/action/packaging/release-sha256.txt"

  real=""
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${STEPGATE_INSTALL_TEST_SCRATCH:-}" ]; then
    if dpkg-query -W -f '${Status}' stepgate 2>/dev/null | grep -q installed; then
      echo "NOTE a stepgate package is already installed on this machine: left alone; installing into a scratch root"
    elif ! { exec 9>>/tmp/stepgate-install-test.lock && flock -n 9; } 2>/dev/null; then
      echo "NOTE another install_test holds the machine's install: installing into a scratch root"
    else
      real=1
    fi
  fi
  if [ -n "$real" ]; then
    dpkg-query -W -f '${Package}\n' | sort >"$work/packages.before"
    purge=1  # leave the machine as found
    check "the release installs into this machine with apt-get (Depends right, no --force)" release
    prefix_bin=/usr/bin
    check "dpkg says stepgate is installed" sh -c 'dpkg-query -W -f "\${Status}" stepgate | grep -qx "install ok installed"'
    dpkg-query -W -f '${Package}\n' | sort >"$work/packages.after"
    [ "$(comm -13 "$work/packages.before" "$work/packages.after")" = stepgate ] \
      && pass "the install added no package but stepgate (its Depends were all here)" \
      || fail "only stepgate added" "$(comm -13 "$work/packages.before" "$work/packages.after" | tr '\n' ' ')"
    check "stepgate is found on PATH as /usr/bin/stepgate" test "$(command -v stepgate)" = /usr/bin/stepgate
  else
    root="$work/root"
    check "the release installs into a scratch root (SG_INSTALL_ROOT)" release SG_INSTALL_ROOT="$root"
    prefix_bin="$root/usr/bin"
  fi
  kill "$https_pid" 2>/dev/null || true
  https_pid=""
  check "the installed binary reports the version" test "$("$prefix_bin/stepgate" --version)" = "stepgate $version"

  # A new user: a repository, a policy from `stepgate init`, the hook, and a clean bill.
  fresh="$work/fresh"
  mkdir -p "$fresh/home"
  fresh_env=(env -i PATH="$prefix_bin:/usr/bin:/bin" HOME="$fresh/home" LANG=C.UTF-8)
  "${fresh_env[@]}" git init -q "$fresh/repo"
  (cd "$fresh/repo" && "${fresh_env[@]}" "$prefix_bin/stepgate" init >/dev/null && "${fresh_env[@]}" "$prefix_bin/stepgate" hooks install \
    >"$work/out" 2>"$work/err") && pass "a new user: init and hooks install" || fail "new user set-up" "$(cat "$work/err")"
  grep -qF "exec '$prefix_bin/stepgate-git-hook'" "$fresh/repo/.git/hooks/pre-push" \
    && pass "the new user's hook runs the installed program" || fail "new user's hook program" "$(cat "$fresh/repo/.git/hooks/pre-push")"
  got=0; (cd "$fresh/repo" && "${fresh_env[@]}" "$prefix_bin/stepgate" doctor >"$work/doctor.out" 2>&1) || got=$?
  [ "$got" = 0 ] && ! grep -qE '^\[(warn|FAIL)\]' "$work/doctor.out" && grep -q '^\[ok\] git: pre-push — blocks' "$work/doctor.out" \
    && pass "doctor gives the new user a clean bill of health" || fail "doctor's clean bill" "exit $got: $(cat "$work/doctor.out")"
  (cd "$fresh/repo" && "${fresh_env[@]}" "$prefix_bin/stepgate" doctor --format json >"$work/doctor.json" 2>/dev/null) || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True and not [c for c in d["checks"] if c["status"] in ("warn","fail")], d' \
    "$work/doctor.json" && pass "doctor --format json: ok, nothing to warn about" || fail "doctor json" "$(head -c 400 "$work/doctor.json")"

  # The hook daemon: this installation's is named as such; one running another stepgate (here a
  # copy of the build's, as an old daemon is after an upgrade) is a warning naming its pid.
  mkdir -m 700 "$fresh/run"
  daemon_doctor() {  # daemon_doctor PROGRAM: doctor's daemon line, with PROGRAM's daemon running
    # (into $work/daemon-line; not in a $(...) subshell, so cleanup can stop the daemon)
    "${fresh_env[@]}" STEPGATE_DAEMON_SOCKET="$fresh/run/hookd.sock" "$1" daemon >/dev/null 2>&1 9>&- &
    daemon_pid=$!
    for _ in $(seq 100); do [ -S "$fresh/run/hookd.sock" ] && break; sleep 0.05; done
    (cd "$fresh/repo" && "${fresh_env[@]}" STEPGATE_DAEMON_SOCKET="$fresh/run/hookd.sock" "$prefix_bin/stepgate" doctor 2>&1) \
      | grep '^\[[a-zA-Z]*\] daemon:' >"$work/daemon-line" || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
    rm -f "$fresh/run/hookd.sock"
  }
  daemon_doctor "$prefix_bin/stepgate"
  line="$(cat "$work/daemon-line")"
  echo "$line" | grep -q '^\[ok\] daemon: stepgate daemon — running (pid [0-9]*) .*: this stepgate' \
    && pass "doctor: the installed daemon is this installation's" || fail "doctor: own daemon" "$line"
  cp "$BIN" "$work/other-stepgate"
  daemon_doctor "$work/other-stepgate"
  line="$(cat "$work/daemon-line")"
  echo "$line" | grep -q '^\[warn\] daemon: stepgate daemon — pid [0-9]* .* is not this installation.s daemon' \
    && pass "doctor: a daemon running another stepgate is a warning" || fail "doctor: foreign daemon" "$line"

  # The end-to-end suites, each run against the installed binaries (not the build tree's).
  # Left out: this test itself, and authority_test, which installs its own authority into a
  # scratch root with system users and already runs in the suite.
  for suite in "$SRC"/tests/e2e/*_test.sh; do
    name=$(basename "$suite" .sh)
    case "$name" in install_test | authority_test) continue ;; esac
    if STEPGATE_BIN="$prefix_bin/stepgate" SOURCE_DIR="$SRC" bash "$suite" >"$work/$name.log" 2>&1 9>&-; then
      pass "$name passes against the installed package"
    else
      fail "$name against the installed package" "$(grep -m5 FAIL "$work/$name.log" || tail -5 "$work/$name.log")"
    fi
  done
  # And the Node suites (the official MCP SDK client and servers, Chromium for the report).
  for suite in "$SRC"/tests/e2e/*.test.mjs; do
    name=$(basename "$suite" .test.mjs)
    if STEPGATE_BIN="$prefix_bin/stepgate" SOURCE_DIR="$SRC" node --test "$suite" >"$work/$name.log" 2>&1 9>&-; then
      pass "node $name passes against the installed package"
    else
      fail "node $name against the installed package" "$(grep -m5 -E '^not ok|Error' "$work/$name.log" || tail -5 "$work/$name.log")"
    fi
  done

  if [ -n "$real" ]; then
    check "dpkg --purge removes the package" dpkg --purge stepgate
    [ ! -e /usr/bin/stepgate ] && [ ! -e /usr/share/stepgate ] && [ ! -e /usr/share/man/man1/stepgate.1.gz ] \
      && pass "the purge leaves none of its files" || fail "purge leaves files" "$(ls -d /usr/bin/stepgate* /usr/share/stepgate 2>&1)"
    dpkg-query -W -f '${Package}\n' | sort >"$work/packages.end"
    cmp -s "$work/packages.before" "$work/packages.end" && pass "the machine's packages are as they were" \
      || fail "packages as they were" "$(diff "$work/packages.before" "$work/packages.end" | head -5)"
  fi
elif command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null; then
  fail "scripts/package.sh makes the .deb" "no stepgate_*.deb in $work/release"
else
  echo "SKIP the Debian package: dpkg-deb or dpkg-shlibdeps (dpkg-dev) is not installed"
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
