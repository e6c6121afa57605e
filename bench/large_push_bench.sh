#!/usr/bin/env bash
# Large pushes (#21 §2): the lean hook (`stepgate hooks install`: a /bin/sh script exec'ing
# stepgate-git-hook, deciding in-process) against a no-op lefthook pre-push hook, on pushes of 100
# and 10,000 new commits to a local bare remote. Two measurements, each interleaved round by round
# so machine noise hits both alike:
#   1. `git push` with no hook, with lefthook, with stepgate: median, range, added over no hook;
#   2. the installed hook alone, run as git runs it (the script with REMOTE URL and the ref line on
#      stdin): wall-clock and CPU time (user + system, from the kernel's child rusage);
#   3. in the same rounds as 2., the floor (bench/floor.sh): git itself merely reading the pushed
#      objects (git-cat-file) and diffing the pushed commits (git-log-p), plus, once, zlib
#      inflate of the pushed objects' pack entries and how they are stored.
# Ratios are stepgate / lefthook and stepgate / floor. Writes bench/results/large_push.txt.
#
#   STEPGATE_BIN=build/stepgate bench/large_push_bench.sh      (N=11 rounds, N_LARGE=7, HOOK_RUNS=11;
#   LEFTHOOK=PATH to use a lefthook binary already installed; BASE_BIN=PATH/stepgate adds that
#   older build's hook, run alone on the same repository, as stepgate-base)
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/floor.sh"
N=${N:-11}
N_LARGE=${N_LARGE:-7}
HOOK_RUNS=${HOOK_RUNS:-11}
OUT=$HERE/results/large_push.txt
bench_lefthook
bench_require_binaries stepgate-git-hook

bench_scratch_home

# ---- the source repository: main + a 10,000-commit chain (bench100 = its first 100), as in
# git_push_bench.sh: each commit rewrites one of 50 Python files.
bench_source_repo 10000
CONFIGS=(none lefthook stepgate)
bench_clones "${CONFIGS[@]}"
bench_install_stepgate stepgate
bench_expect_hook stepgate "^exec .*stepgate-git-hook' pre-push" "the lean hook into the sh hook"
bench_install_lefthook lefthook

mkdir -p "$(dirname "$OUT")"
# The floor's one-off lines, per push size, from the work copy the hook runs in.
for size in 100 10000; do
  (cd "$TMP/work-stepgate" && floor_storage "main..bench$size" && floor_inflate && floor_pack_read) > "$TMP/floor-$size.txt"
done
BASE=${BASE_BIN:-}
[ -z "$BASE" ] || BASE=$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")
python3 - "$TMP" "$N" "$N_LARGE" "$HOOK_RUNS" "$BIN" "$BASE" <<'PY' | tee "$OUT"
import os, resource, statistics, subprocess, sys, time, platform
tmp, n, n_large, hook_runs, binary = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = sys.argv[6]
configs = ["none", "lefthook", "stepgate"]
alone = ["lefthook", "stepgate"]
floors = ["git-cat-file", "git-log-p"]
if base:
    # The same installed hook script, exec'ing the older build's stepgate-git-hook instead.
    script = open(f"{tmp}/work-stepgate/.git/hooks/pre-push").read()
    script = script.replace(os.path.dirname(binary) + "/", os.path.dirname(base) + "/")
    with open(f"{tmp}/base-pre-push", "w") as f:
        f.write(script)
    os.chmod(f"{tmp}/base-pre-push", 0o755)
    alone.append("stepgate-base")
zeros = "0" * 40

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000.0

def git(cfg, *args, **kw):
    return subprocess.run(["git", *args], cwd=f"{tmp}/work-{cfg}", check=True, capture_output=True, **kw)

def push(cfg, size):
    """One push of bench<size> as a new branch, undone on both sides afterwards."""
    t = time.perf_counter()
    p = subprocess.run(["git", "push", "-q", "origin", f"bench{size}:refs/heads/bench"],
                       cwd=f"{tmp}/work-{cfg}", capture_output=True)
    wall = (time.perf_counter() - t) * 1000.0
    if p.returncode != 0:
        sys.exit(f"push failed for {cfg}/{size}: {p.stderr.decode()}")
    subprocess.run(["git", "--git-dir", f"{tmp}/remote-{cfg}.git", "update-ref", "-d", "refs/heads/bench"], check=True)
    subprocess.run(["git", "update-ref", "-d", "refs/remotes/origin/bench"], cwd=f"{tmp}/work-{cfg}")
    return wall

def floor(cfg, size):
    """git reading (git-cat-file) or diffing (git-log-p) the pushed range, no hook involved."""
    rng = f"main..bench{size}"
    argv = (["sh", "-c", f'git rev-list --objects {rng} | cut -d" " -f1 | git cat-file --batch --buffer > /dev/null']
            if cfg == "git-cat-file" else ["git", "log", "-p", "-U0", "--no-color", rng])
    before = cpu()
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=f"{tmp}/work-stepgate", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = (time.perf_counter() - t) * 1000.0
    if p.returncode != 0:
        sys.exit(f"{cfg} failed for {size}: {p.stderr.decode()}")
    return wall, cpu() - before

def hook_alone(cfg, size):
    if cfg in floors:
        return floor(cfg, size)
    hook = f"{tmp}/base-pre-push" if cfg == "stepgate-base" else None
    cfg = "stepgate" if hook else cfg
    hook = hook or f"{tmp}/work-{cfg}/.git/hooks/pre-push"
    tip = git(cfg, "rev-parse", f"bench{size}").stdout.decode().strip()
    line = f"refs/heads/bench{size} {tip} refs/heads/bench {zeros}\n".encode()
    before = cpu()
    t = time.perf_counter()
    p = subprocess.run([hook, "origin", f"{tmp}/remote-{cfg}.git"],
                       input=line, cwd=f"{tmp}/work-{cfg}", capture_output=True)
    wall = (time.perf_counter() - t) * 1000.0
    if p.returncode != 0:
        sys.exit(f"hook failed for {cfg}/{size}: {p.stderr.decode()}")
    return wall, cpu() - before

pushes, walls, cpus = {}, {}, {}
for size in (100, 10000):
    rounds = n if size == 100 else n_large
    for cfg in configs:
        push(cfg, size)  # warm-up: page cache, lefthook's and stepgate's caches
    for _ in range(rounds):
        for cfg in configs:
            pushes.setdefault((cfg, size), []).append(push(cfg, size))
    for _ in range(hook_runs):
        for cfg in alone + floors:
            w, c = hook_alone(cfg, size)
            walls.setdefault((cfg, size), []).append(w)
            cpus.setdefault((cfg, size), []).append(c)

def fmt(xs):
    return f"{statistics.median(xs):8.1f} [{min(xs):.0f}-{max(xs):.0f}]"

git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
load = os.getloadavg()[0]
print(f"Large pushes: lean stepgate-git-hook ({binary}) vs lefthook no-op; {git_version}; "
      f"{platform.machine()}; {os.cpu_count()} CPUs; load {load:.1f} at the end")
print(f"git push of N new commits to a local bare remote, median [min-max] ms over {n} (100) / "
      f"{n_large} (10000) interleaved rounds")
print(f"{'hook':<12}{'commits':>8}{'push ms':>24}{'added ms':>10}")
for size in (100, 10000):
    base = statistics.median(pushes[("none", size)])
    for cfg in configs:
        m = statistics.median(pushes[(cfg, size)])
        print(f"{cfg:<12}{size:>8}{fmt(pushes[(cfg, size)]):>24}{m - base:>10.1f}")
    sg = statistics.median(pushes[("stepgate", size)]) - base
    lh = statistics.median(pushes[("lefthook", size)]) - base
    added_ratio = f"{sg / lh:.2f}" if lh > 0 else "n/a (lefthook added nothing measurable)"
    print(f"  {size} commits: stepgate added / lefthook added = {added_ratio}; "
          f"push time stepgate / lefthook = {statistics.median(pushes[('stepgate', size)]) / statistics.median(pushes[('lefthook', size)]):.2f}")
print(f"the installed hook alone (as git runs it), median [min-max] over {hook_runs} interleaved runs")
print(f"{'hook':<12}{'commits':>8}{'wall ms':>24}{'CPU ms':>24}")
for size in (100, 10000):
    for cfg in alone + floors:
        print(f"{cfg:<14}{size:>6}{fmt(walls[(cfg, size)]):>24}{fmt(cpus[(cfg, size)]):>24}")
    w = statistics.median(walls[("stepgate", size)]) / statistics.median(walls[("lefthook", size)])
    c = statistics.median(cpus[("stepgate", size)]) / statistics.median(cpus[("lefthook", size)])
    print(f"  {size} commits: hook alone stepgate / lefthook = {w:.2f} wall, {c:.2f} CPU")
    if "stepgate-base" in alone:  # BASE_BIN given (`base` above is the no-hook push time)
        w = statistics.median(walls[("stepgate", size)]) / statistics.median(walls[("stepgate-base", size)])
        c = statistics.median(cpus[("stepgate", size)]) / statistics.median(cpus[("stepgate-base", size)])
        print(f"  {size} commits: hook alone stepgate / stepgate-base = {w:.2f} wall, {c:.2f} CPU")
    for f in floors:
        w = statistics.median(walls[("stepgate", size)]) / statistics.median(walls[(f, size)])
        c = statistics.median(cpus[("stepgate", size)]) / statistics.median(cpus[(f, size)])
        lw = statistics.median(walls[(f, size)]) / statistics.median(walls[("lefthook", size)])
        print(f"  {size} commits: floor: stepgate / {f} = {w:.2f} wall, {c:.2f} CPU; "
              f"{f} / lefthook = {lw:.2f} wall")
print("the floor, once per push size (bench/floor.sh)")
for size in (100, 10000):
    for line in open(f"{tmp}/floor-{size}.txt").read().splitlines():
        print(f"  {size} commits: {line}")
        if line.startswith("inflate:") and " ms (" in line:
            # zlib alone, measured once (best of 5), against lefthook's median in the rounds above.
            ms = float(line.split(" ms (")[0].rsplit(" ", 1)[1])
            print(f"  {size} commits: zlib inflate alone / lefthook = "
                  f"{ms / statistics.median(walls[('lefthook', size)]):.2f} wall")
PY
