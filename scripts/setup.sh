#!/usr/bin/env bash
# Installs what stepgate's build and tests need on a Debian machine.
# Idempotent: skips packages that are present; runs `apt-get update` only when something is missing.
# Usage: scripts/setup.sh [--no-node]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git clang clang-format clang-tidy
  libclang-rt-14-dev
  libcpp-httplib-dev nlohmann-json3-dev libgit2-dev libcli11-dev doctest-dev
  libssl-dev libsqlite3-dev libre2-dev libyaml-cpp-dev libqrencode-dev libbenchmark-dev
  libdeflate-dev
  oathtool curl jq chromium pre-commit zsh fish
)
# Node.js and npm: any install will do (the machine may carry NodeSource's); Debian's otherwise.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [ "${STEPGATE_BENCH_PEERS:-0}" = 1 ]; then
  packages+=(nginx-light wrk hyperfine ripgrep)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" != "--no-node" ] && [ -f tests/e2e/package.json ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    echo "setup: npm ci in tests/e2e" >&2
    (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
fi
