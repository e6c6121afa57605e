/* The zlib floor of a push (#21 §2, §3): inflates the pack entries of the given objects exactly as
 * they are stored (a delta entry is inflated as the delta it is, not applied), one zlib stream per
 * entry as git and libgit2 do, and prints the best of PASSES passes:
 *   <entries> <stored bytes> <inflated bytes> <milliseconds>
 * Input on stdin: "<offset> <stored size>" per entry (bench/lib.sh's bench_pack_entries writes it
 * from `git show-index`). Usage: inflate_floor PACK [PASSES]. Built by the benches with
 * `cc -O2 bench/inflate_floor.c -lz`; not part of stepgate. Built with -DWITH_LIBDEFLATE (and
 * -ldeflate) it also prints the same passes with libdeflate, which only a pack reader of our own
 * could use (libgit2 inflates through zlib's stream interface):
 *   libdeflate <milliseconds> */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>
#ifdef WITH_LIBDEFLATE
#include <libdeflate.h>
#endif

/* The zlib stream of one pack entry and its inflated size, past the entry's header. */
static const unsigned char* entry_stream(const unsigned char* p, size_t* size) {
  unsigned c = *p++;
  const int type = (c >> 4) & 7;
  *size = c & 15;
  for (int shift = 4; c & 0x80; shift += 7) {
    c = *p++;
    *size |= (size_t)(c & 0x7f) << shift;
  }
  if (type == 6) {
    while (*p++ & 0x80) {
    }
  } else if (type == 7) {
    p += 20;
  }
  return p;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: inflate_floor PACK [PASSES] < entries\n");
    return 2;
  }
  const int passes = argc > 2 ? atoi(argv[2]) : 3;
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 2;
  }
  const unsigned char* pack = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (pack == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  size_t cap = 1024, n = 0;
  long long(*entries)[2] = malloc(cap * sizeof *entries);
  long long off, len;
  while (scanf("%lld %lld", &off, &len) == 2) {
    if (n == cap) entries = realloc(entries, (cap *= 2) * sizeof *entries);
    entries[n][0] = off;
    entries[n][1] = len;
    n++;
  }
  size_t out_cap = 1 << 20;
  unsigned char* out = malloc(out_cap);
  double best = -1;
  long long stored = 0, inflated = 0;
  for (int pass = 0; pass < passes; pass++) {
    stored = inflated = 0;
    const double start = now_ms();
    for (size_t i = 0; i < n; i++) {
      size_t size;
      const unsigned char* p = entry_stream(pack + entries[i][0], &size);
      const unsigned char* end = pack + entries[i][0] + entries[i][1];
      if (size + 1 > out_cap) {
        while (size + 1 > out_cap) out_cap *= 2;
        out = realloc(out, out_cap);
      }
      z_stream z;
      memset(&z, 0, sizeof z);
      if (inflateInit(&z) != Z_OK) return 1;
      z.next_in = (unsigned char*)p;
      z.avail_in = (uInt)(end - p);
      z.next_out = out;
      z.avail_out = (uInt)(size + 1);
      const int rc = inflate(&z, Z_FINISH);
      if (rc != Z_STREAM_END || z.total_out != size) {
        fprintf(stderr, "inflate_floor: entry at %lld did not inflate (%d)\n", entries[i][0], rc);
        return 1;
      }
      inflateEnd(&z);
      stored += entries[i][1];
      inflated += (long long)size;
    }
    const double ms = now_ms() - start;
    if (best < 0 || ms < best) best = ms;
  }
  printf("%zu %lld %lld %.2f\n", n, stored, inflated, best);
#ifdef WITH_LIBDEFLATE
  struct libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  double best_ld = -1;
  for (int pass = 0; pass < passes; pass++) {
    const double start = now_ms();
    for (size_t i = 0; i < n; i++) {
      size_t size, got = 0;
      const unsigned char* p = entry_stream(pack + entries[i][0], &size);
      const unsigned char* end = pack + entries[i][0] + entries[i][1];
      if (libdeflate_zlib_decompress(d, p, (size_t)(end - p), out, size, &got) != LIBDEFLATE_SUCCESS ||
          got != size) {
        fprintf(stderr, "inflate_floor: libdeflate failed at %lld\n", entries[i][0]);
        return 1;
      }
    }
    const double ms = now_ms() - start;
    if (best_ld < 0 || ms < best_ld) best_ld = ms;
  }
  printf("libdeflate %.2f\n", best_ld);
  libdeflate_free_decompressor(d);
#endif
  return 0;
}
