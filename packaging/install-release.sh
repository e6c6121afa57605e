#!/usr/bin/env bash
# Installs a stepgate release's Debian package on a CI runner, refusing it unless its SHA-256
# matches: $SG_SHA256, else the line for the package in packaging/release-sha256.txt at the
# action's own commit (pinning the action by commit pins the binary). Used by action.yml;
# tests/e2e/install_test.sh serves a package over local HTTPS and runs it.
#
# Environment:
#   SG_VERSION       the release to install (required)
#   SG_SHA256        the package's SHA-256 (default: its line in release-sha256.txt beside this)
#   SG_URL           where to download it (https only; default: the release of SG_ACTION_REPO)
#   SG_ACTION_REPO   owner/name whose GitHub release holds the package (when SG_URL is unset)
#   SG_INSTALL_ROOT  install with `dpkg --root DIR` into DIR instead of apt-get into this system
#                    (a scratch root for tests or a look inside; Depends are not checked there)
# Exit codes: 0 installed; 2 no checksum or a bad setting; 1 download failed, checksum mismatch
# or the install failed. Nothing is installed unless the checksum matched.
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
got="$(sha256sum "$tmp/$deb" | cut -d' ' -f1)"
if [ "$got" != "$sum" ]; then
  echo "stepgate: $url has SHA-256 $got, not the expected $sum: refusing to install it" >&2
  exit 1
fi
if [ -n "${SG_INSTALL_ROOT:-}" ]; then
  mkdir -p "$SG_INSTALL_ROOT/var/lib/dpkg/info" "$SG_INSTALL_ROOT/var/lib/dpkg/updates"
  [ -f "$SG_INSTALL_ROOT/var/lib/dpkg/status" ] || : >"$SG_INSTALL_ROOT/var/lib/dpkg/status"
  dpkg --root="$SG_INSTALL_ROOT" --force-not-root --force-depends --force-script-chrootless -i "$tmp/$deb" >/dev/null
  "$SG_INSTALL_ROOT/usr/bin/stepgate" --version
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# apt-get (not dpkg -i) so the runner fetches the Depends it lacks; the lock timeout waits out an
# unattended upgrade holding dpkg's lock on a fresh runner.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q)
$SUDO "${apt[@]}" "$tmp/$deb" >/dev/null || { $SUDO apt-get update -q && $SUDO "${apt[@]}" "$tmp/$deb"; }
stepgate --version
