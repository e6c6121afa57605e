// The shim's per-request gate path in process: one tools/call through gate_tool_call with the
// gate opened as `stepgate shim` opens it (the shipped agent pack with its rate rule raised out of
// reach, audit on with fsyncs batched every 50 ms, the store's 1 s cache, a policy check every
// second): signals, rules, the velocity rows, the audit record and its checkpoint. What the shim
// adds around it (HTTP, JSON-RPC, the upstream) is bench/shim_bench.sh's and
// bench/shim_instructions.sh's.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "stepgate/gate.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

std::string shim_policy(const std::filesystem::path& dir) {
  std::ifstream in(std::filesystem::path(STEPGATE_SOURCE_DIR) / "policies" / "agent-tools.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string policy = text.str();
  const std::string rate = "signals.rate > 30";
  if (auto at = policy.find(rate); at != std::string::npos) {
    policy.replace(at, rate.size(), "signals.rate > 100000000");  // the allow path, as shim_bench
  }
  const auto path = dir / "policy.yaml";
  std::ofstream(path) << policy;
  return path.string();
}

void BM_ShimToolCallGate(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / "stepgate-bench-shim-gate";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "ws");
  ::setenv("STEPGATE_HOME", (dir / "home").c_str(), 1);
  GateOptions options;
  options.policy_path = shim_policy(dir);
  options.cwd = (dir / "ws").string();
  options.paths = Paths::from_environment(Env());
  options.front_end = "shim";
  options.audit_options.fsync_batch_ms = 50;  // as run_shim
  options.store_options.cache_ms = 1000;
  options.policy_check_ms = 1000;
  auto opened = Gate::open(options);
  if (!opened.ok()) throw std::runtime_error(opened.error().message);
  Gate& gate = **opened;
  ToolCall call;
  call.server = "fixed";
  call.tool = "echo";
  call.arguments = Map{{"message", Value("bench")}};
  call.session = "bench-session";
  call.client = "bench";
  for (auto _ : state) {
    (void)gate.refresh_policy();
    ToolGateAnswer answer =
        gate_tool_call(gate, call, "bench", {}, "http://127.0.0.1:8787", unix_now(), "device");
    if (!answer.forward) throw std::runtime_error("the bench call was not allowed: " + answer.text);
    benchmark::DoNotOptimize(answer);
  }
  opened->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ShimToolCallGate)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace stepgate
