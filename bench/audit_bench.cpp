// Audit log: append throughput (fsync every append, batched fsync, no fsync) and verify speed over
// a 1,000,000-record log generated once in a temporary directory.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "stepgate/audit.h"

namespace {

namespace fs = std::filesystem;

/// A temporary directory removed when the process ends.
const std::string& bench_dir() {
  static struct Dir {
    std::string path;
    Dir() {
      char tmpl[] = "/tmp/stepgate-audit-bench-XXXXXX";
      path = mkdtemp(tmpl);
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } dir;
  return dir.path;
}

/// A decision record of typical size (~400 bytes on disk).
stepgate::Value decision(int64_t i) {
  using stepgate::Map;
  Map action{{"kind", "git.push"},
             {"actor", "alice@example.com"},
             {"resource", "github.com/acme/api"},
             {"attributes", Map{{"ref", "refs/heads/main"}, {"commits", i % 50}}}};
  Map reasons{{"rule", "force-push-protected"}, {"score", 40}};
  return Map{{"action", action},
             {"verdict", i % 7 == 0 ? "step_up" : "allow"},
             {"score", i % 100},
             {"reasons", stepgate::List{reasons}},
             {"policy_revision", "3f2a9c0d1e"}};
}

void append_bench(benchmark::State& state, stepgate::AuditOptions options, const char* name) {
  std::string path = bench_dir() + "/" + name + ".jsonl";
  fs::remove(path);
  auto log = stepgate::AuditLog::open(path, options);
  if (!log.ok()) {
    state.SkipWithError(log.error().message.c_str());
    return;
  }
  int64_t i = 0;
  for (auto _ : state) {
    if (!(*log)->append("decision", decision(++i)).ok()) state.SkipWithError("append failed");
  }
  (void)(*log)->flush();
  state.SetItemsProcessed(state.iterations());
}

void BM_AuditAppendFsyncEach(benchmark::State& state) {
  append_bench(state, {.fsync = true, .fsync_batch_ms = 0}, "fsync_each");
}
void BM_AuditAppendFsyncBatched10ms(benchmark::State& state) {
  append_bench(state, {.fsync = true, .fsync_batch_ms = 10}, "fsync_batched");
}
void BM_AuditAppendNoFsync(benchmark::State& state) {
  append_bench(state, {.fsync = false, .fsync_batch_ms = 0}, "no_fsync");
}
BENCHMARK(BM_AuditAppendFsyncEach)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_AuditAppendFsyncBatched10ms)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_AuditAppendNoFsync)->Unit(benchmark::kMicrosecond)->UseRealTime();

/// The 1M-record log, written once through AuditLog (no fsync) on first use.
const std::string& million_record_log() {
  static const std::string path = [] {
    std::string p = bench_dir() + "/million.jsonl";
    auto log = stepgate::AuditLog::open(p, {.fsync = false, .fsync_batch_ms = 0});
    for (int64_t i = 1; log.ok() && i <= 1'000'000; ++i) {
      if (!(*log)->append("decision", decision(i)).ok()) break;
    }
    return p;
  }();
  return path;
}

void BM_AuditVerify1M(benchmark::State& state) {
  const std::string& path = million_record_log();
  uint64_t records = 0;
  for (auto _ : state) {
    auto report = stepgate::verify_audit_log(path);
    if (!report.ok() || !report->ok) {
      state.SkipWithError("verify failed");
      return;
    }
    records = report->records;
  }
  state.counters["records"] = static_cast<double>(records);
  state.counters["MB"] = static_cast<double>(fs::file_size(path)) / 1e6;
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records));
}
BENCHMARK(BM_AuditVerify1M)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
