// The phases of a one-shot hook run that do not depend on the front-end, each as a fresh process
// pays for it: opening the state store (SQLite reads the schema and rebuilds the WAL index when no
// other connection is open), loading the agent pack through the parsed-policy cache, and the
// device fingerprint. bench/claude_hook_bench.sh measures the whole process.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "stepgate/collect.h"
#include "stepgate/policy.h"
#include "stepgate/store.h"

namespace stepgate {
namespace {

std::filesystem::path scratch_dir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / ("stepgate-bench-" + std::string(name));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Opening an existing store whose WAL holds `frames` frames written by earlier processes.
void BM_StoreOpenExisting(benchmark::State& state) {
  const auto dir = scratch_dir("store");
  const std::string path = (dir / "state.db").string();
  {
    auto store = StateStore::open(path);
    if (!store.ok()) throw std::runtime_error(store.error().message);
    for (int64_t i = 0; i < state.range(0) / 3; ++i) {
      (void)(*store)->record_action("tool.call", "bench", 1'000'000 + i);
      (void)(*store)->flush();
    }
  }
  for (auto _ : state) {
    auto store = StateStore::open(path);
    benchmark::DoNotOptimize(store.ok());
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreOpenExisting)->Arg(0)->Arg(150);

void BM_LoadAgentPackCached(benchmark::State& state) {
  const auto dir = scratch_dir("policy-cache");
  const std::string pack =
      (std::filesystem::path(STEPGATE_SOURCE_DIR) / "policies" / "agent-tools.yaml").string();
  (void)load_policy_file_cached(pack, dir.string());  // fills the cache
  for (auto _ : state) benchmark::DoNotOptimize(load_policy_file_cached(pack, dir.string()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LoadAgentPackCached);

void BM_LoadAgentPackUncached(benchmark::State& state) {
  const std::string pack =
      (std::filesystem::path(STEPGATE_SOURCE_DIR) / "policies" / "agent-tools.yaml").string();
  for (auto _ : state) benchmark::DoNotOptimize(load_policy_file(pack));
}
BENCHMARK(BM_LoadAgentPackUncached);

void BM_DeviceFingerprint(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(device_fingerprint());
}
BENCHMARK(BM_DeviceFingerprint);

}  // namespace
}  // namespace stepgate
