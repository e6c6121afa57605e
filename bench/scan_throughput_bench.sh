#!/usr/bin/env bash
# Scan throughput (#21.3): a push adding ~51 MB of text (C headers and Python sources from this
# machine's /usr/include and /usr/lib/python3.*) in 20 commits. In the same run, interleaved round
# by round, it times:
#   hook       the lean pre-push hook on that push, end to end (policy, repository reads, diffs,
#              the secret scan, the decision), as git starts it;
#   scan-git   `stepgate scan --git main..big` (git rev-list, then the push's own commit scanner);
#   scan-dir   `stepgate scan DIR` on the same files checked out (file reads, then the scanner);
#   rg         ripgrep with the same patterns (`stepgate scan --list-rules --format json`) on DIR,
#              with --no-unicode: RE2's \b, \s and classes are ASCII, so this is the same
#              language (with Unicode \b ripgrep 13 leaves its DFA and runs ~9x slower);
#   git-log-p  `git log -p --unified=0 main..big > /dev/null` (what printing the diff costs);
#   git-cat-file  `git rev-list --objects main..big | git cat-file --batch --buffer > /dev/null`:
#              git merely reading every pushed object once (the floor, bench/floor.sh); with,
#              once, zlib inflate of those objects' pack entries and how they are stored.
# Reports medians, ranges, MB/s of added text and ratios to rg, by wall-clock time and by CPU time
# (user + system of the process and its children: steadier on a shared machine); writes
# bench/results/scan_throughput.txt.
#
#   STEPGATE_BIN=build/stepgate N=7 MB=51 bench/scan_throughput_bench.sh
#   BASE_BIN=/path/to/older/stepgate adds its hook and scan --git as hook-base and scan-git-base.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/floor.sh"
HOOK=$(dirname "$BIN")/stepgate-git-hook
N=${N:-7}
MB=${MB:-51}
COMMITS=${COMMITS:-20}
BASE=${BASE_BIN:-}
[ -z "$BASE" ] || BASE=$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")
OUT=$HERE/results/scan_throughput.txt
command -v rg > /dev/null || { echo "ripgrep (rg) is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
bench_require_binaries stepgate-git-hook

bench_scratch_home

git init -q "$TMP/src"
cd "$TMP/src"
echo "# bench" > README.md && git add README.md && git commit -qm base
python3 - "$TMP/stream" "$MB" "$COMMITS" <<'PY'
import os, sys
out = open(sys.argv[1], "wb")
target, commits = int(float(sys.argv[2]) * 1e6), int(sys.argv[3])
roots = ["/usr/include"] + sorted(os.path.join("/usr/lib", d) for d in os.listdir("/usr/lib")
                                  if d.startswith("python3."))
exts = (".h", ".hpp", ".hh", ".hxx", ".tcc", ".def", ".inc", ".py", ".txt", ".cfg", ".ini",
        ".json", ".toml", ".yaml", ".yml")
chosen, total = [], 0
for root in roots:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            if not f.endswith(exts) or os.path.islink(p) or total >= target:
                continue
            try:
                b = open(p, "rb").read()
            except OSError:
                continue
            if b and b"\0" not in b and len(b) <= 2_000_000:
                chosen.append((p, b)); total += len(b)
per = (len(chosen) + commits - 1) // commits
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
for c in range(commits):
    out.write(b"commit refs/heads/big\n")
    for who in (b"author", b"committer"):
        out.write(b"%s Bench <bench@example.com> %d +0000\n" % (who, 1700000000 + c))
    data(b"add part %d" % c)
    if c == 0:
        out.write(b"from refs/heads/main^0\n")
    for p, b in chosen[c * per:(c + 1) * per]:
        out.write(b"M 644 inline %s\n" % p.lstrip("/").encode()); data(b)
print(total, file=open(os.path.join(os.path.dirname(sys.argv[1]), "bytes"), "w"))
PY
git fast-import --quiet < "$TMP/stream"
git gc -q
git init -q --bare "$TMP/remote.git"
git remote add origin "$TMP/remote.git"
git push -q origin main
mkdir -p .stepgate && cp "$SRC/policies/git.yaml" .stepgate/policy.yaml
echo .stepgate >> .git/info/exclude
echo "refs/heads/big $(git rev-parse big) refs/heads/big 0000000000000000000000000000000000000000" > "$TMP/ref.txt"
# The same text as files, for stepgate scan DIR and rg.
mkdir "$TMP/tree"
git archive big usr | tar -x -C "$TMP/tree"
"$BIN" scan --list-rules --format json --policy .stepgate/policy.yaml |
  jq -r '.[].regex' > "$TMP/patterns"
{ floor_storage main..big && floor_inflate && floor_pack_read; } > "$TMP/floor.txt"

python3 - "$TMP" "$BIN" "$HOOK" "$N" "$OUT" "$BASE" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
tmp, bin_, hook, n, out_path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
base = sys.argv[6]
total = int(open(os.path.join(tmp, "bytes")).read())
src, tree = os.path.join(tmp, "src"), os.path.join(tmp, "tree")
ref = open(os.path.join(tmp, "ref.txt"), "rb").read()
rg = ["rg", "--no-config", "--no-ignore", "--hidden", "--no-unicode", "--regex-size-limit", "1G",
      "--dfa-size-limit", "1G", "-c", "-f", os.path.join(tmp, "patterns"), tree]
configs = {
    "hook": ([hook, "pre-push", "--", "origin", os.path.join(tmp, "remote.git")], ref, src),
    "scan-git": ([bin_, "scan", "--git", "main..big"], b"", src),
    "scan-dir": ([bin_, "scan", "--policy", ".stepgate/policy.yaml", tree], b"", src),
    "rg": (rg, b"", src),
    "git-log-p": (["git", "log", "-p", "--unified=0", "main..big"], b"", src),
    "git-cat-file": (["sh", "-c", 'git rev-list --objects main..big | cut -d" " -f1 | '
                      'git cat-file --batch --buffer > /dev/null'], b"", src),
}
if base:
    configs["hook-base"] = ([os.path.join(os.path.dirname(base), "stepgate-git-hook"), "pre-push", "--",
                             "origin", os.path.join(tmp, "remote.git")], ref, src)
    configs["scan-git-base"] = ([base, "scan", "--git", "main..big"], b"", src)
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(name):
    argv, stdin, cwd = configs[name]
    c, t = cpu(), time.perf_counter()
    p = subprocess.run(argv, input=stdin, cwd=cwd, capture_output=True)
    return time.perf_counter() - t, p, cpu() - c
samples = {k: [] for k in configs}
cpus = {k: [] for k in configs}
for name in configs:
    run(name)  # warm-up: page cache, policy cache
for _ in range(n):
    for name in configs:
        wall, _, used = run(name)
        samples[name].append(wall)
        cpus[name].append(used)
_, p, _ = run("scan-dir")
findings = [l for l in p.stdout.decode().splitlines() if l]
_, g, _ = run("scan-git")
_, r, _ = run("rg")
rg_lines = sum(int(l.rsplit(":", 1)[1]) for l in r.stdout.decode().splitlines() if ":" in l)
_, h, _ = run("hook")
rg_med = statistics.median(samples["rg"])
rg_cpu = statistics.median(cpus["rg"])
lines = [f"scan throughput: {total / 1e6:.1f} MB of added text in 20 commits; {n} interleaved rounds; "
         f"{subprocess.run(['rg', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}; "
         f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}",
         f"{'config':<13}{'median ms':>11}{'range ms':>17}{'MB/s':>8}{'x rg time':>11}"
         f"{'CPU ms':>9}{'CPU MB/s':>10}{'x rg CPU':>10}"]
for name, xs in samples.items():
    med = statistics.median(xs)
    lines.append(f"{name:<13}{med * 1000:>11.0f}{f'{min(xs) * 1000:.0f}-{max(xs) * 1000:.0f}':>17}"
                 f"{total / 1e6 / med:>8.0f}{med / rg_med:>11.2f}"
                 f"{statistics.median(cpus[name]) * 1000:>9.0f}"
                 f"{total / 1e6 / statistics.median(cpus[name]):>10.0f}"
                 f"{statistics.median(cpus[name]) / rg_cpu:>10.2f}")
lines.append(f"findings: scan-dir {len(findings)}, scan-git {len(g.stdout.decode().splitlines())} "
             f"(entropy and placeholder checks applied); rg lines matching any pattern {rg_lines}; "
             f"hook exit {h.returncode}: {h.stderr.decode().strip().splitlines()[:2]}")
floor_cpu = statistics.median(cpus["git-cat-file"])
floor_wall = statistics.median(samples["git-cat-file"])
for name in [k for k in ("hook", "hook-base", "scan-git") if k in samples]:
    lines.append(f"floor: {name} / git-cat-file = {statistics.median(samples[name]) / floor_wall:.2f} wall, "
                 f"{statistics.median(cpus[name]) / floor_cpu:.2f} CPU")
lines += open(os.path.join(tmp, "floor.txt")).read().splitlines()
text = "\n".join(lines) + "\n"
os.makedirs(os.path.dirname(out_path), exist_ok=True)
open(out_path, "w").write(text)
print(text, end="")
PY
