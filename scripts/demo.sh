#!/usr/bin/env bash
# README command 1: install what is missing, build, and run `stepgate demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/stepgate demo "$@"
