// Compile and evaluate costs of typical rule expressions.
// Run: build with -DSTEPGATE_BENCH=ON -DCMAKE_BUILD_TYPE=Release, then
//   ./stepgate_bench --benchmark_filter=Expr --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include "stepgate/expr.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

const Value& activation() {
  static const Value value = parse_json(R"({
    "action": {"kind": "git.push", "actor": "alice", "resource": "refs/heads/main",
               "attributes": {"ref": "refs/heads/main"}},
    "signals": {"force": true, "protected": true, "off_hours": false, "files_changed": 12,
                "secrets": [], "environment": "production",
                "paths": ["src/main.cc", "src/util.h", "docs/README.md", "models/v2/m.onnx",
                          "tests/a_test.cc", "scripts/build.sh"]}
  })")
                                 .value();
  return value;
}

constexpr const char* kRules[] = {
    "signals.force && signals.protected",
    "signals.files_changed > 50 || signals.secrets.size() > 0",
    "signals.paths.exists(p, p.endsWith('.onnx'))",
    "action.resource.matches('^refs/heads/(main|master|release/.*)$')",
    "signals.environment in ['prod', 'production', 'live']",
    "glob(action.kind, 'git.*') && !signals.off_hours",
};

void BM_ExprCompile(benchmark::State& state) {
  const char* source = kRules[state.range(0)];
  for (auto _ : state) {
    Result<Expression> e = Expression::compile(source);
    benchmark::DoNotOptimize(e);
  }
  state.SetLabel(source);
}
BENCHMARK(BM_ExprCompile)->DenseRange(0, std::size(kRules) - 1);

void BM_ExprEvaluate(benchmark::State& state) {
  const char* source = kRules[state.range(0)];
  Expression e = Expression::compile(source).value();
  const Value& a = activation();
  for (auto _ : state) {
    Result<bool> r = e.evaluate_bool(a);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(source);
}
BENCHMARK(BM_ExprEvaluate)->DenseRange(0, std::size(kRules) - 1);

// Ten rules, as a policy would run them for one decision.
void BM_ExprTenRules(benchmark::State& state) {
  std::vector<Expression> rules;
  for (int i = 0; i < 10; ++i)
    rules.push_back(Expression::compile(kRules[i % std::size(kRules)]).value());
  const Value& a = activation();
  for (auto _ : state) {
    int matched = 0;
    for (const Expression& e : rules) {
      Result<bool> r = e.evaluate_bool(a);
      matched += r.ok() && *r ? 1 : 0;
    }
    benchmark::DoNotOptimize(matched);
  }
}
BENCHMARK(BM_ExprTenRules);

}  // namespace
}  // namespace stepgate
