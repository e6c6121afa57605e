#!/usr/bin/env bash
# Builds a release: a Release build in build-release/, its Debian package (CPack), SHA256SUMS, and
# the line the GitHub Action needs in packaging/release-sha256.txt. docs/RELEASING.md walks
# through the rest.
#
# Usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--list FILE]
#   (no options: the release itself; the version is project()'s)
#   --build-dir DIR  package DIR, a build that is already configured and built, as it is
#                    (nothing is configured or rebuilt; tests/e2e/install_test.sh uses this)
#   --out DIR        where the .deb and SHA256SUMS go (default: the build directory)
#   --list FILE      the checksum list to add the package's line to
#                    (default: packaging/release-sha256.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
build=""
out=""
list=packaging/release-sha256.txt
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir | --out | --list)
      [ $# -ge 2 ] || { echo "package.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --build-dir) build="$2" ;; --out) out="$2" ;; --list) list="$2" ;; esac
      shift 2 ;;
    *) echo "package.sh: unknown option $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  scripts/setup.sh --no-node
  build=build-release
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTEPGATE_TESTS=OFF >/dev/null
  cmake --build "$build" -j "${STEPGATE_JOBS:-2}"
fi
[ -f "$build/CPackConfig.cmake" ] || { echo "package.sh: $build is not a configured build" >&2; exit 2; }
out="${out:-$build}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out"/stepgate_*.deb
# cpack from the build's own configuration packages what is built; it never rebuilds (the
# `package` target would build first, which a test running beside others must not do).
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
debs=("$out"/stepgate_*.deb)
[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] || { echo "package.sh: cpack made no single .deb in $out" >&2; exit 1; }
deb="${debs[0]}"
name="$(basename "$deb")"
(cd "$out" && sha256sum "$name" >SHA256SUMS)
sum="$(cut -d' ' -f1 "$out/SHA256SUMS")"
# One checksum per package name, never replaced: workflows pinned to the commit that lists it
# check the published package against it. A rebuild of a listed version is refused.
listed="$(awk -v f="$name" '$2 == f { print $1 }' "$list" 2>/dev/null || true)"
if [ -z "$listed" ]; then
  echo "$sum  $name" >>"$list"
elif [ "$listed" != "$sum" ]; then
  echo "package.sh: $list already lists $name with $listed; this build is $sum." >&2
  echo "  A released version is never rebuilt: bump project(stepgate VERSION ...), or remove the" >&2
  echo "  line if that version was never published." >&2
  exit 1
fi
echo "package:   $deb"
echo "sha256:    $sum"
echo "depends:   $(dpkg-deb -f "$deb" Depends)"
echo "action:    $list lists $name; commit it with the release tag"
