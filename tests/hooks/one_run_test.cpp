// allocate_for_one_run / huge_pages_for_this_thread: the heap a one-run process (the git hook)
// allocates from, on the main thread and on a scan thread, is advised for transparent huge pages;
// a long-running process's threads are left alone. Each case runs in a forked child, whose heap
// settings then die with it.
#include <doctest/doctest.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "git_signals.h"

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcHeap = false;  // ASan's allocator, not glibc's heap
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcHeap = false;
#else
constexpr bool kGlibcHeap = true;
#endif
#else
constexpr bool kGlibcHeap = true;
#endif

/// Whether the kernel has transparent huge pages at all (on, or on when advised).
bool kernel_has_thp() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(in, mode);
  return !mode.empty() && mode.find("[never]") == std::string::npos;
}

/// Whether the mapping holding `address` carries the huge-page advice (VmFlags "hg").
bool advised_huge(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t from = 0;
    std::uintptr_t to = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> from >> dash >> to && dash == '-') {
      inside = at >= from && at < to;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.find(" hg") != std::string::npos;
  }
  return false;
}

/// Allocates ~8 MiB in 4 KiB blocks, touching each, and returns whether the last block lies in
/// advised memory (the first ones may sit in the heap's older, 4 KiB-paged start).
bool allocations_advised() {
  std::vector<char*> blocks;
  for (int i = 0; i < 2048; ++i) {
    auto* block = static_cast<char*>(std::malloc(4096));  // NOLINT(cppcoreguidelines-no-malloc)
    if (block == nullptr) return false;
    block[0] = 1;
    blocks.push_back(block);
  }
  const bool advised = advised_huge(blocks.back());
  for (char* block : blocks) std::free(block);  // NOLINT(cppcoreguidelines-no-malloc)
  return advised;
}

#if defined(__GLIBC__)
/// Grows the main heap in small steps until its free top reaches past a 2 MiB boundary from
/// at least 4 KiB below it: glibc then serves a block up to that boundary from the top, without
/// growing the heap (where the heap starts makes this so in about 1 run in 20).
void straddle_a_boundary() {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
  static std::vector<void*> kept;  // never freed: the steps must stay taken
  for (int step = 0; step < 4096; ++step) {
    const auto brk = reinterpret_cast<std::uintptr_t>(sbrk(0));
    const std::uintptr_t top = brk - mallinfo2().keepcost;
    const std::uintptr_t boundary = (top + kHugePage) & ~(kHugePage - 1);
    if (brk > boundary && boundary - top > 4096) return;
    kept.push_back(std::malloc(std::size_t{16} << 10));  // NOLINT(cppcoreguidelines-no-malloc)
  }
  FAIL("the heap's top never reached past a 2 MiB boundary");
}
#endif

/// Runs the probe case below in a fresh process (this binary again): a forked child would carry
/// this process's heap, its free blocks and the idle heaps of earlier tests' threads, which a new
/// thread reuses. Its exit status (0: the probe's checks held).
int probe(const char* mode) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv("STEPGATE_TEST_ONE_RUN_PROBE", mode, 1);
    execl("/proc/self/exe", "stepgate_tests", "--test-case=one-run heap probe", "--no-version",
          "--minimal", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

// Not a test on its own: what `probe` runs in a fresh process.
TEST_CASE("one-run heap probe") {
  const char* mode = std::getenv("STEPGATE_TEST_ONE_RUN_PROBE");
  if (mode == nullptr) return;
  const std::string m = mode;
  if (m == "one-run" || m == "one-run-straddling") {
#if defined(__GLIBC__)
    if (m == "one-run-straddling") straddle_a_boundary();
#endif
    stepgate::allocate_for_one_run();
    CHECK(allocations_advised());
    bool thread_advised = false;
    std::thread scan([&] {
      stepgate::huge_pages_for_this_thread();
      thread_advised = allocations_advised();
    });
    scan.join();
    CHECK(thread_advised);
  } else {  // a long-running process: huge_pages_for_this_thread without allocate_for_one_run
    bool thread_advised = true;
    std::thread worker([&] {
      stepgate::huge_pages_for_this_thread();
      thread_advised = allocations_advised();
    });
    worker.join();
    CHECK(!thread_advised);
  }
}

TEST_CASE("a one-run process's heap, main thread and scan threads, is advised for huge pages") {
  if (!kGlibcHeap || !kernel_has_thp()) return;  // nothing to advise
  CHECK(probe("one-run") == 0);
  // The heap's free top already past a boundary: the advice went to a range the heap had not
  // grown into yet, and its growth came without it.
  CHECK(probe("one-run-straddling") == 0);
}

TEST_CASE("a long-running process's threads keep the heap glibc gives them") {
  if (!kGlibcHeap || !kernel_has_thp()) return;
  CHECK(probe("daemon") == 0);
}
