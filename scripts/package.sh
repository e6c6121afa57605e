#!/usr/bin/env bash
# Builds a release: a Release build in build-release/, its Debian package (CPack), SHA256SUMS, and
# the line the GitHub Action needs in packaging/release-sha256.txt. docs/RELEASING.md walks
# through the rest. Usage: scripts/package.sh   (no arguments; the version is project()'s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-node
build=build-release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTEPGATE_TESTS=OFF >/dev/null
cmake --build "$build" -j "${STEPGATE_JOBS:-2}"
rm -f "$build"/stepgate_*.deb
cmake --build "$build" --target package >/dev/null
deb="$(ls "$build"/stepgate_*.deb)"
name="$(basename "$deb")"
(cd "$build" && sha256sum "$name" >SHA256SUMS)
sum="$(cut -d' ' -f1 "$build/SHA256SUMS")"
if ! grep -q " $name\$" packaging/release-sha256.txt; then
  echo "$sum  $name" >>packaging/release-sha256.txt
fi
echo "package:   $deb"
echo "sha256:    $sum"
echo "depends:   $(dpkg-deb -f "$deb" Depends)"
echo "action:    packaging/release-sha256.txt lists $name; commit it with the release tag"
