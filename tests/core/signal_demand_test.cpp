// The engine–collector contract: what the loaded rules read, decided from the syntax tree.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "stepgate/engine.h"
#include "stepgate/expr.h"
#include "stepgate/policy_layers.h"
#include "stepgate/signal_demand.h"

namespace stepgate {
namespace {

TEST_CASE("expr: whether an expression reads the whole signals map comes from its tree") {
  struct Case {
    const char* source;
    bool reads_all;
  };
  const Case cases[] = {
      {"signals.force", false},
      {"signals[\"force\"] == true", false},
      {"signals['force'] && signals.tag", false},
      {"has(signals.force)", false},
      {"size(signals.secrets) > 0", false},
      {"action.kind == \"signals\"", false},           // the word inside a string
      {"[1, 2].exists(signals, signals > 1)", false},  // a macro's variable, not the map
      {"'signals.force'.size() > 0", false},           // text that looks like an access
      {"size(signals) > 3", true},
      {"signals.size() > 3", true},  // a method on the map itself
      {"[signals].size() == 1", true},
      {"signals[action.kind] == true", true},  // a computed key
      {"(signals).force", false},              // parentheses leave a plain select
      {"true ? signals : signals", true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.source);
    auto e = Expression::compile(c.source);
    REQUIRE(e.ok());
    CHECK(reads_all_signals(*e) == c.reads_all);
  }
}

std::shared_ptr<const Policy> policy_with(
    const std::vector<std::pair<std::string, std::string>>& rules) {
  auto p = std::make_shared<Policy>();
  for (const auto& [on, when] : rules) {
    Rule rule;
    rule.id = "r" + std::to_string(p->rules.size());
    rule.on = on;
    rule.when = *Expression::compile(when);
    rule.score = 1;
    p->rules.push_back(rule);
  }
  return p;
}

TEST_CASE("engine: a collector learns which signals the rules for a kind read") {
  Engine engine(policy_with({{"git.*", "signals.force || signals.commits > 3"},
                             {"git.push", "size(signals.secrets) > 0"},
                             {"deploy.*", "size(signals) > 0"},
                             {"*", "signals.off_hours"}}));
  SignalDemand push = signals_read(engine, "git.push");
  CHECK_FALSE(push.all);
  CHECK(push.names == std::vector<std::string>{"commits", "force", "off_hours", "secrets"});
  CHECK(push.wants("secrets"));
  CHECK_FALSE(push.wants("lines_added"));
  SignalDemand receive = signals_read(engine, "git.receive");
  CHECK_FALSE(receive.wants("secrets"));  // no rule for git.receive reads it: no secret scan
  CHECK(signals_read(engine, "deploy.model").all);
  CHECK(signals_read(engine, "deploy.model").wants("anything"));
  // A kind no front-end in stepgate knows by name is evaluated the same way.
  SignalDemand custom = signals_read(engine, "backup.run");
  CHECK(custom.names == std::vector<std::string>{"off_hours"});
  Decision d =
      engine.evaluate(Action{"backup.run", "alice", "db", Map{}}, Value(Map{{"off_hours", true}}));
  CHECK(d.score == 1);
}

TEST_CASE("engine: layered demand is the sorted union of the layers', one layer its own") {
  auto first = policy_with(
      {{"tool.call", "signals.rate > 3 || signals.args_bytes > 10"}, {"*", "signals.off_hours"}});
  auto second = policy_with({{"tool.*", "signals.destructive || signals.args_bytes > 0"}});
  struct Case {
    std::vector<PolicyLayer> layers;
    std::vector<std::string> names;
  };
  const std::vector<Case> cases = {
      {{{"user", first}}, {"args_bytes", "off_hours", "rate"}},
      {{{"system", second}}, {"args_bytes", "destructive"}},
      {{{"system", second}, {"user", first}}, {"args_bytes", "destructive", "off_hours", "rate"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.layers.size());
    const LayeredEngine engine(c.layers);
    const SignalDemand demand = signals_read(engine, "tool.call");
    CHECK_FALSE(demand.all);
    CHECK(demand.names == c.names);
    if (c.layers.size() == 1) {
      CHECK(demand.names == signals_read(Engine(c.layers.front().policy), "tool.call").names);
    }
  }
}

}  // namespace
}  // namespace stepgate
