#!/usr/bin/env bash
# Installs a stepgate release's Debian package on a CI runner, refusing it unless its SHA-256
# matches: $SG_SHA256, else the line for the package in packaging/release-sha256.txt at the
# action's own commit (pinning the action by commit pins the binary). Used by action.yml and the
# GitLab template.
set -euo pipefail
version="${SG_VERSION:?SG_VERSION: the release to install}"
deb="stepgate_${version}_amd64.deb"
url="${SG_URL:-https://github.com/${SG_ACTION_REPO:?SG_ACTION_REPO or SG_URL}/releases/download/v${version}/${deb}}"
here="$(cd "$(dirname "$0")" && pwd)"
sum="${SG_SHA256:-}"
if [ -z "$sum" ] && [ -f "$here/release-sha256.txt" ]; then
  sum="$(awk -v f="$deb" '$2 == f { print $1 }' "$here/release-sha256.txt")"
fi
if [ -z "$sum" ]; then
  echo "stepgate: no SHA-256 for $deb (set the sha256 input, or use an action commit that lists it)" >&2
  exit 2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --proto '=https' --retry 3 -o "$tmp/$deb" "$url"
echo "$sum  $tmp/$deb" | sha256sum -c --quiet -
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get install -y -q "$tmp/$deb" >/dev/null || { $SUDO apt-get update -q && $SUDO apt-get install -y -q "$tmp/$deb"; }
stepgate --version
