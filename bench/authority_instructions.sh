#!/usr/bin/env bash
# User-space instructions per decision through the authority (valgrind's callgrind), for one or
# more builds side by side: counts that the load of other processes does not change, unlike the
# CPU times and rates of stepgate_authority_bench on this VM (its host moves them by up to 2x from
# one minute to the next). For each build directory (a Release build: scripts/build.sh --bench):
#   authority  the authority's instructions per `decide` (whole process, so the socket, the
#              audit log's batch thread and the store are in), under the durable phase of
#              stepgate_authority_bench with 2 front-end Gates for SECONDS
#   front-end  one front-end Gate's instructions per decision (AuthoritySource::decide: the
#              request built and written, the reply read, parsed and checked), the same bench
#              under callgrind with its authority running natively
# SHA-256 is counted in software (valgrind hides the CPU's SHA extensions from OpenSSL): about
# 25k of the authority's count is the audit chain's hash, a few hundred cycles on this machine.
# Usage: bench/authority_instructions.sh BUILD_DIR [BUILD_DIR...]   (env: SECONDS_EACH=3)
set -euo pipefail
seconds="${SECONDS_EACH:-3}"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

calls() {  # calls FILE FUNCTION: how many times FUNCTION was called
  callgrind_annotate --threshold=100 --tree=caller "$1" 2>/dev/null |
    grep -B1 -F "*  ???:$2" | grep -o '([0-9,]*x)' | tr -d ',()x' | awk '{n += $1} END {print n + 0}'
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'; }
inclusive() {  # inclusive FILE FUNCTION: instructions in FUNCTION and what it calls
  callgrind_annotate --threshold=100 --inclusive=yes "$1" 2>/dev/null |
    grep -F "???:$2" | head -1 | awk '{gsub(",", "", $1); print $1}'
}

i=0
for dir in "$@"; do
  i=$((i + 1))
  bin="$dir/stepgate"
  bench="$dir/bench/stepgate_authority_bench"
  [ -x "$bin" ] && [ -x "$bench" ] || { echo "$dir: no stepgate or bench/stepgate_authority_bench" >&2; exit 2; }
  wrapper="$work/authority$i"
  printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/a%s.%%p "%s" "$@"\n' \
    "$work" "$i" "$bin" >"$wrapper"
  chmod +x "$wrapper"
  "$bench" --bin "$wrapper" --n 100 --rounds 1 --clients 2 --seconds "$seconds" --only durable \
    >/dev/null 2>&1
  # The durable phase's first authority (front-end Gates); the second serves bare clients.
  first="$(ls "$work"/a"$i".* | sort -t. -k2 -n | head -1)"
  decisions="$(calls "$first" 'stepgate::authority::Authority::decide(')"
  authority=$(($(total "$first") / decisions))
  valgrind --tool=callgrind --callgrind-out-file="$work/f$i.out" "$bench" --bin "$bin" --n 100 \
    --rounds 1 --clients 2 --seconds "$seconds" --only durable >/dev/null 2>&1
  fn='stepgate::(anonymous namespace)::AuthoritySource::decide('
  front=$(($(inclusive "$work/f$i.out" "$fn") / $(calls "$work/f$i.out" "$fn")))
  printf '%s: %s decisions; per decision: authority %s, front-end %s instructions\n' \
    "$dir" "$decisions" "$authority" "$front"
done
