#!/usr/bin/env bash
# What a PBKDF2 baseline costs `stepgate scan`: a tree with K findings (default 10) scanned with
# `--baseline` that accepts them all (K derivations) vs the same scan with no baseline, interleaved.
# Also times `--write-baseline`. Usage: bench/scan_baseline_bench.sh (N=15 pairs, K=10; BIN
# overrides the binary). Prints medians (ms), ranges and the ratio; the difference over K is the
# cost of one derivation (200,000 rounds of HMAC-SHA256).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/stepgate}
N=${N:-15}
K=${K:-10}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
export STEPGATE_HOME=$DIR/home
unset STEPGATE_POLICY
mkdir -p "$DIR/tree"
for i in $(seq 1 "$K"); do  # a password assignment per file, above the entropy floor
  printf 'password = "Zq8%sLm2Xv7Kp4Wr9Tn3B"\n' "$i" > "$DIR/tree/conf$i.py"
done
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
"$BIN" scan --write-baseline "$DIR/baseline.json" "$DIR/tree" 2>/dev/null
a=(); b=(); w=()
for _ in $(seq 1 "$N"); do
  a+=("$(ms "$BIN" scan --baseline "$DIR/baseline.json" "$DIR/tree")")
  b+=("$(ms "$BIN" scan "$DIR/tree")")
  w+=("$(ms "$BIN" scan --write-baseline "$DIR/w.json" "$DIR/tree")")
done
stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{printf "median %d ms (range %d-%d)", v[int((NR+1)/2)], v[1], v[NR]}'; }
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo "scan --baseline ($K accepted): $(stats "${a[@]}")"
echo "scan, no baseline:            $(stats "${b[@]}")"
echo "scan --write-baseline:        $(stats "${w[@]}")"
ma=$(med "${a[@]}"); mb=$(med "${b[@]}")
python3 -c "print(f'ratio {($ma)/max($mb,1):.2f}; about {($ma-$mb)/$K:.1f} ms per accepted finding')"
