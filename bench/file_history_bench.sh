#!/usr/bin/env bash
# A long history of large files (#21 §2): a push of 299 commits, each editing a few lines of a
# ~250 KB text file and one line of a ~90 KB one, repacked as git gc does (--depth=50): every
# version of either file is a delta in a chain up to 50 deep. What costs here is not the number
# of commits but rebuilding those versions, each from a base of hundreds of KB.
# In one run, round by round: `stepgate scan --git main..big` (the push's own commit scanner and
# pack reader), the older build's (BASE_BIN) if given, and the floor (bench/floor.sh's
# git-cat-file: git merely reading every pushed object; git log -p of the range). Reports wall
# and CPU medians, ranges, page faults (from the kernel's child rusage) and ratios. Writes
# bench/results/file_history.txt.
#
#   STEPGATE_BIN=build/stepgate N=7 bench/file_history_bench.sh
#   BASE_BIN=/path/to/older/stepgate adds its `scan --git` as scan-base
set -euo pipefail

. "$(dirname "$0")/lib.sh"
N=${N:-7}
BASE=${BASE_BIN:-}
[ -z "$BASE" ] || BASE=$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")
OUT=$HERE/results/file_history.txt
bench_require_binaries
bench_scratch_home

git init -q "$TMP/src"
cd "$TMP/src"
python3 - <<'PY' | git fast-import --quiet
import random, sys
random.seed(1)
big = ["line %d %s\n" % (i, "x" * random.randint(10, 60)) for i in range(6000)]
mid = ["other %d %s\n" % (i, "y" * random.randint(10, 60)) for i in range(3000)]
out = sys.stdout.buffer
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
for c in range(1, 301):
    for k in range(5):
        big[random.randrange(len(big))] = "edit %d %d %s\n" % (c, k, "z" * random.randint(5, 50))
    mid[random.randrange(len(mid))] = "e %d\n" % c
    out.write(b"commit refs/heads/%s\nmark :%d\n" % (b"main" if c == 1 else b"big", c))
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % (1700000000 + c))
    data(b"c%d\n" % c)
    if c > 1:
        out.write(b"from :%d\n" % (c - 1))
    out.write(b"M 644 inline big.txt\n"); data("".join(big).encode())
    out.write(b"M 644 inline mid.txt\n"); data("".join(mid).encode())
PY
git repack -a -d -f -q --depth=50 --window=50
objects=$(git rev-list --objects main..big | wc -l)
deltas=$(git verify-pack -v .git/objects/pack/*.idx | awk '$2 == "blob" && NF > 5 {n++} END {print n + 0}')

python3 - "$BIN" "$BASE" "$N" "$objects" "$deltas" <<'PY' | tee "$OUT"
import resource, statistics, subprocess, sys, time
binary, base, n, objects, deltas = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
runs = {"scan": [binary, "scan", "--git", "main..big"]}
if base:
    runs["scan-base"] = [base, "scan", "--git", "main..big"]
runs["git-cat-file"] = ["sh", "-c", "git rev-list --objects main..big | cut -d' ' -f1 | git cat-file --batch --buffer > /dev/null"]
runs["git-log-p"] = ["sh", "-c", "git log -p --unified=0 main..big > /dev/null"]
res = {k: ([], [], []) for k in runs}

def usage():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000.0, r.ru_minflt

for _ in range(n):
    for name, argv in runs.items():
        cpu0, flt0 = usage()
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True)
        wall = (time.perf_counter() - t) * 1000.0
        cpu1, flt1 = usage()
        if p.returncode not in (0, 1):  # scan exits 1 on findings (there are none here)
            sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode()}")
        res[name][0].append(wall)
        res[name][1].append(cpu1 - cpu0)
        res[name][2].append(flt1 - flt0)

med = lambda xs: statistics.median(xs)
print(f"file history: 299 pushed commits, {objects} pushed objects; blob entries stored as deltas: {deltas}")
print(f"median [min-max] over {n} interleaved runs")
print(f"{'config':<14}{'wall ms':>22}{'CPU ms':>12}{'page faults':>14}")
for name, (w, c, f) in res.items():
    print(f"{name:<14}{med(w):>10.1f} [{min(w):.0f}-{max(w):.0f}]{med(c):>12.1f}{med(f):>14.0f}")
scan = med(res["scan"][0])
for name in runs:
    if name != "scan":
        print(f"  scan / {name} = {scan / med(res[name][0]):.2f} wall, "
              f"{med(res['scan'][1]) / med(res[name][1]):.2f} CPU")
PY
