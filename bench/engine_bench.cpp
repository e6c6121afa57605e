// Decision latency of the engine with signals already collected: the shipped git.yaml pack on a
// typical push, and generated 10- to 1,000-rule policies. Target: <= 2 us median for git.yaml;
// <= 100 ns per applicable rule, flat from 10 to 1,000 rules (#21).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "stepgate/collect.h"
#include "stepgate/engine.h"
#include "stepgate/policy.h"

namespace stepgate {
namespace {

std::shared_ptr<const Policy> load_pack(const char* name) {
  const auto dir = std::filesystem::path(STEPGATE_SOURCE_DIR) / "policies";
  auto policy = load_policy_file((dir / name).string());
  if (!policy.ok()) throw std::runtime_error(policy.error().message);
  return *policy;
}

Action push_action() {
  return Action{"git.push", "alice@example.com", "origin refs/heads/main",
                Map{{"remote", Value("origin")},
                    {"ref", Value("refs/heads/main")},
                    {"old", Value("3f2a1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49")},
                    {"new", Value("9e8d7c6b5a493f2a1c0d9e8b7a6f5e4d3c2b1a0f")}}};
}

// A push of 3 commits touching 4 files to main, in business hours, from a known device.
Value push_signals() {
  Value s = Map{{"ref", Value("refs/heads/main")},
                {"protected", Value(true)},
                {"commits", Value(3)},
                {"files_changed", Value(4)},
                {"lines_added", Value(120)},
                {"lines_deleted", Value(30)},
                {"paths", Value(List{Value("src/engine.cpp"), Value("src/engine.h"),
                                     Value("tests/engine_test.cpp"), Value("README.md")})},
                {"remote", Value("origin")},
                {"hour", Value(11)},
                {"weekday", Value(2)},
                {"off_hours", Value(false)},
                {"actor", Value("alice@example.com")},
                {"device", Value("0123456789abcdef")},
                {"device_known", Value(true)},
                {"velocity", Value(2)},
                {"elevated", Value(false)}};
  fill_signal_defaults("git.push", s);
  return s;
}

void BM_GitPackPush(benchmark::State& state) {
  const Engine engine(load_pack("git.yaml"));
  const Action action = push_action();
  const Value signals = push_signals();
  const std::string digest = action_digest(action);
  for (auto _ : state) benchmark::DoNotOptimize(engine.evaluate(action, signals, digest));
}
BENCHMARK(BM_GitPackPush);

void BM_GitPackPushWithDigest(benchmark::State& state) {
  const Engine engine(load_pack("git.yaml"));
  const Action action = push_action();
  const Value signals = push_signals();
  for (auto _ : state) benchmark::DoNotOptimize(engine.evaluate(action, signals));
}
BENCHMARK(BM_GitPackPushWithDigest);

void BM_GitPackForcePush(benchmark::State& state) {
  const Engine engine(load_pack("git.yaml"));
  const Action action = push_action();
  Value signals = push_signals();
  signals["force"] = Value(true);
  signals["off_hours"] = Value(true);
  const std::string digest = action_digest(action);
  for (auto _ : state) benchmark::DoNotOptimize(engine.evaluate(action, signals, digest));
}
BENCHMARK(BM_GitPackForcePush);

std::string generated_policy(int rules) {
  std::string text = "name: generated\nrules:\n";
  const char* kinds[] = {"git.push", "git.*", "tool.call", "model.deploy", "*"};
  for (int i = 0; i < rules; ++i) {
    const std::string n = std::to_string(i);
    text += "  - id: r" + n + "\n    on: \"" + kinds[i % 5] +
            "\"\n    when: signals.hour == " + std::to_string(100 + i) +
            " || (signals.velocity > " + n + "000 && !signals.elevated)\n" +
            "    score: " + std::to_string(1 + i % 7) + "\n    message: \"rule " + n +
            " {actor}\"\n";
  }
  return text;
}

void BM_Generated200Rules(benchmark::State& state) {
  auto policy = load_policy_text(generated_policy(200), "generated.yaml");
  if (!policy.ok()) throw std::runtime_error(policy.error().message);
  const Engine engine(*policy);
  const Action action = push_action();
  const Value signals = push_signals();
  const std::string digest = action_digest(action);
  for (auto _ : state) benchmark::DoNotOptimize(engine.evaluate(action, signals, digest));
}
BENCHMARK(BM_Generated200Rules);

// #21: decision time per applicable rule at 10, 100 and 1,000 rules (3 in 5 of the generated rules
// apply to git.push). `per_rule` is the time per applicable rule; it should stay flat.
void BM_GeneratedRules(benchmark::State& state) {
  const int rules = static_cast<int>(state.range(0));
  auto policy = load_policy_text(generated_policy(rules), "generated.yaml");
  if (!policy.ok()) throw std::runtime_error(policy.error().message);
  const Engine engine(*policy);
  const Action action = push_action();
  const Value signals = push_signals();
  const std::string digest = action_digest(action);
  int applicable = 0;
  for (const Rule& rule : (*policy)->rules)
    applicable += rule.on != "tool.call" && rule.on != "model.deploy";
  for (auto _ : state) benchmark::DoNotOptimize(engine.evaluate(action, signals, digest));
  state.counters["per_rule"] = benchmark::Counter(
      applicable, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_GeneratedRules)->Arg(10)->Arg(100)->Arg(1000);

// Loading a 1,000-rule policy: from its text (YAML parsed) and from the parsed-policy cache.
void BM_Load1000Rules(benchmark::State& state) {
  const std::string text = generated_policy(1000);
  for (auto _ : state) benchmark::DoNotOptimize(load_policy_text(text, "generated.yaml"));
}
BENCHMARK(BM_Load1000Rules)->Unit(benchmark::kMillisecond);

void BM_Load1000RulesCached(benchmark::State& state) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("stepgate-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "policy.yaml").string();
  { std::ofstream(file) << generated_policy(1000); }
  const std::string cache = (dir / "cache").string();
  if (!load_policy_file_cached(file, cache).ok()) throw std::runtime_error("load failed");
  for (auto _ : state) benchmark::DoNotOptimize(load_policy_file_cached(file, cache));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Load1000RulesCached)->Unit(benchmark::kMillisecond);

void BM_LoadGitPack(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(load_pack("git.yaml"));
}
BENCHMARK(BM_LoadGitPack);

}  // namespace
}  // namespace stepgate
