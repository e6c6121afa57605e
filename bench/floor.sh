# The floor of a push (#21 §2, §3): what merely READING the pushed objects costs, so a bench can
# say what fraction of it stepgate is at. Sourced by large_push_bench.sh and
# scan_throughput_bench.sh after bench_scratch_home (needs TMP). Three measurements:
#   git-cat-file  `git rev-list --objects RANGE | git cat-file --batch --buffer > /dev/null`:
#                 git itself reading every pushed object once (commits, trees, blobs), with
#                 its delta base cache; no diff, no scan;
#   git-log-p     `git log -p -U0 --no-color RANGE > /dev/null`: git diffing every pushed commit;
#   inflate       bench/inflate_floor.c: zlib inflate of exactly the pack entries of the pushed
#                 objects, as stored (a delta entry inflated, not applied), one stream each, one
#                 thread, best of 5 passes: the part no reader of this repository avoids.
# The first two are timed by the benches in their interleaved rounds; floor_storage and
# floor_inflate print one line each.

FLOOR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# floor_storage RANGE: how the pushed objects are stored (run in the repository): loose or
# packed, how many are deltas, the longest delta chain among them.
floor_storage() {
  git rev-list --objects "$1" | cut -d' ' -f1 > "$TMP/floor-objects"  # in walk order: the blob reads follow it
  local pack
  pack=$(ls -S .git/objects/pack/*.idx 2> /dev/null | head -1)
  python3 - "$TMP/floor-objects" "$pack" <<'PY'
import subprocess, sys
wanted = set(open(sys.argv[1]).read().split())
pack = sys.argv[2]
packed, deltas, depth, stored, size = 0, 0, 0, 0, 0
if pack:
    out = subprocess.run(["git", "verify-pack", "-v", pack], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] in wanted and f[1] in ("commit", "tree", "blob", "tag"):
            packed += 1
            size += int(f[2]); stored += int(f[3])
            if len(f) >= 7:
                deltas += 1
                depth = max(depth, int(f[5]))
def mb(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
print(f"storage: {len(wanted)} pushed objects, {packed} in one pack ({len(wanted) - packed} "
      f"elsewhere: loose or other packs), {deltas} of them deltas, longest chain {depth}; "
      f"the stored entries: {mb(stored)} compressed, {mb(size)} inflated (a delta as a delta)")
PY
}

# floor_inflate: compiles bench/inflate_floor.c (needs cc and zlib's header; with libdeflate's
# header too, when installed, it also times libdeflate on the same entries) and inflates the
# pushed objects' pack entries (floor_storage must have run). Prints "inflate: ..." or why not.
floor_inflate() {
  local pack
  pack=$(ls -S .git/objects/pack/*.pack 2> /dev/null | head -1)
  if ! cc -O2 -DWITH_LIBDEFLATE -o "$TMP/inflate_floor" "$FLOOR_DIR/inflate_floor.c" -lz -ldeflate 2> /dev/null &&
    ! cc -O2 -o "$TMP/inflate_floor" "$FLOOR_DIR/inflate_floor.c" -lz 2> "$TMP/cc.err"; then
    echo "inflate: not measured (cc or zlib.h missing: $(head -1 "$TMP/cc.err"))"
    return
  fi
  git show-index < "${pack%.pack}.idx" | python3 -c '
import os, sys
wanted = set(open(sys.argv[1]).read().split())
end = os.path.getsize(sys.argv[2]) - 20
rows = sorted((int(l.split()[0]), l.split()[1]) for l in sys.stdin)
for i, (off, oid) in enumerate(rows):
    nxt = rows[i + 1][0] if i + 1 < len(rows) else end
    if oid in wanted:
        print(off, nxt - off)
' "$TMP/floor-objects" "$pack" | "$TMP/inflate_floor" "$pack" 5 |
    awk '$1 == "libdeflate" { printf "inflate with libdeflate (as hooks/pack_reader.cpp does): %.2f ms = %.2fx zlib\n", $2, $2 / zlib; next }
         { zlib = $4; printf "inflate: %d pack entries, %.2f MB compressed -> %.2f MB, %.2f ms (zlib, one thread, best of 5) = %.0f MB/s out, %.2f us per entry\n", $1, $2/1e6, $3/1e6, $4, $3/1e3/$4, $4*1e3/$1 }'
}

# floor_pack_read: reads the pushed blobs (floor_storage must have run) through libgit2, as the
# hook does, and through bench/pack_read_floor.cpp, a prototype reader of the pack with
# libdeflate (needs libgit2's and libdeflate's headers: libgit2-dev, libdeflate-dev), checking
# they give the same bytes. Prints "blob reads: ..." or why not.
floor_pack_read() {
  local idx
  idx=$(ls -S .git/objects/pack/*.idx 2> /dev/null | head -1)
  if ! c++ -O2 -std=c++20 -o "$TMP/pack_read_floor" "$FLOOR_DIR/pack_read_floor.cpp" -lgit2 -ldeflate 2> "$TMP/cxx.err"; then
    echo "blob reads: not measured (libgit2-dev or libdeflate-dev missing: $(grep -m1 error "$TMP/cxx.err"))"
    return
  fi
  git cat-file --batch-check='%(objecttype) %(objectname)' < "$TMP/floor-objects" |
    awk '$1 == "blob" { print $2 }' > "$TMP/floor-blobs"
  "$TMP/pack_read_floor" . "$idx" 3 < "$TMP/floor-blobs" |
    awk '{ printf "blob reads: %d blobs, %.1f MB: libgit2 (git_blob_lookup, as the hook) %.1f ms, a pack reader of our own (bench/pack_read_floor.cpp: idx, delta chains, libdeflate) %.1f ms = %.2fx; one thread, best of 3\n", $6, $8/1e6, $2, $4, $4/$2 }'
}
