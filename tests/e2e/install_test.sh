#!/usr/bin/env bash
# End-to-end: installing stepgate. `cmake --install` into a prefix, the generated man page and
# shell completions, the CLI's --version and typo suggestions, and the Debian package built by
# CPack, unpacked with dpkg into a scratch root, whose binaries then pass the core CLI suite.
set -euo pipefail
BIN="${STEPGATE_BIN:?STEPGATE_BIN must point at the built stepgate}"
SRC="${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
build="$(cd "$(dirname "$BIN")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
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

# bash completion, driven as bash drives it.
complete_words() {  # WORDS...: prints COMPREPLY for completing the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _stepgate; printf "%s\n" "${COMPREPLY[@]}"' \
    bash "$prefix/share/bash-completion/completions/stepgate" "$@"
}
complete_words stepgate pol | grep -qx policy && pass "bash completes 'pol' to policy" || fail "bash completes pol" "$(complete_words stepgate pol)"
complete_words stepgate policy l | grep -qx lint && pass "bash completes 'policy l' to lint" || fail "bash completes policy l" "$(complete_words stepgate policy l)"
complete_words stepgate hooks install --d | grep -qx -- --daemon && pass "bash completes an option of a nested command" \
  || fail "bash completes options" "$(complete_words stepgate hooks install --d)"
bash -n "$prefix/share/bash-completion/completions/stepgate" && pass "bash completion parses" || fail "bash completion parses" ""
if command -v zsh >/dev/null; then
  zsh -n "$prefix/share/zsh/vendor-completions/_stepgate" && pass "zsh completion parses" || fail "zsh completion parses" ""
fi
if command -v fish >/dev/null; then
  fish -n "$prefix/share/fish/vendor_completions.d/stepgate.fish" && pass "fish completion parses" || fail "fish completion parses" ""
fi

# --- the Debian package ------------------------------------------------------------------------
if command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null; then
  # cpack straight from the build tree's config: it packages what is built and never rebuilds
  # (the `package` target would, racing the other tests that run the same binaries).
  check "cpack builds the .deb" sh -c 'cd "$1" && cpack -G DEB -B "$2"' sh "$build" "$work/pkg"
  deb="$(ls -t "$work"/pkg/stepgate_*.deb 2>/dev/null | head -n1)"
  if [ -n "$deb" ]; then
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
    # dpkg into a scratch root: the machine's own dpkg database is left alone.
    root="$work/root"
    mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
    : >"$root/var/lib/dpkg/status"
    check "dpkg -i installs the package" dpkg --root="$root" --force-not-root --force-depends --force-script-chrootless -i "$deb"
    check "the installed binary reports the version" test "$("$root/usr/bin/stepgate" --version)" = "stepgate $version"
    # The end-to-end suites, each run against the installed binaries (not the build tree's).
    # Left out: this test itself, and authority_test, which installs its own authority into a
    # scratch root with system users and already runs in the suite.
    for suite in "$SRC"/tests/e2e/*_test.sh; do
      name=$(basename "$suite" .sh)
      case "$name" in install_test | authority_test) continue ;; esac
      if STEPGATE_BIN="$root/usr/bin/stepgate" SOURCE_DIR="$SRC" bash "$suite" >"$work/$name.log" 2>&1; then
        pass "$name passes against the installed package"
      else
        fail "$name against the installed package" "$(grep -m5 FAIL "$work/$name.log" || tail -5 "$work/$name.log")"
      fi
    done
    # And the Node suites (the official MCP SDK client and servers, Chromium for the report).
    for suite in "$SRC"/tests/e2e/*.test.mjs; do
      name=$(basename "$suite" .test.mjs)
      if STEPGATE_BIN="$root/usr/bin/stepgate" SOURCE_DIR="$SRC" node --test "$suite" >"$work/$name.log" 2>&1; then
        pass "node $name passes against the installed package"
      else
        fail "node $name against the installed package" "$(grep -m5 -E '^not ok|Error' "$work/$name.log" || tail -5 "$work/$name.log")"
      fi
    done
  else
    fail "cpack builds the .deb" "no stepgate_*.deb in $work/pkg"
  fi
else
  echo "SKIP the Debian package: dpkg-deb or dpkg-shlibdeps (dpkg-dev) is not installed"
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
