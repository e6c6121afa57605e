#include "stepgate/rule_explain.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace stepgate {
namespace {

TEST_CASE("split_top_level: operands outside parentheses, brackets and strings") {
  struct Case {
    std::string source;
    std::string op;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"a && b", "&&", {"a", "b"}},
      {"a && b && !c", "&&", {"a", "b", "!c"}},
      {"(a && b)", "&&", {"a", "b"}},
      {"((a || b))", "||", {"a", "b"}},
      {"(a || b) && c", "&&", {"(a || b)", "c"}},
      {"(a || b) && c", "||", {"(a || b) && c"}},
      {"a || b && c", "||", {"a", "b && c"}},
      {"f(a && b)", "&&", {"f(a && b)"}},
      {"[a && b][0]", "&&", {"[a && b][0]"}},
      {"s == \"x && y\" && t", "&&", {"s == \"x && y\"", "t"}},
      {"s == 'it\\'s && so' && t", "&&", {"s == 'it\\'s && so'", "t"}},
      {"a ? b && c : d", "&&", {"a ? b && c : d"}},
      {"(a) && (b)", "&&", {"(a)", "(b)"}},
      {"single", "&&", {"single"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.source);
    CHECK(split_top_level(c.source, c.op) == c.want);
  }
}

TEST_CASE("explain_rules: each part of a rule's when, with the signals it read") {
  auto policy = load_policy_text(R"(
name: t
rules:
  - id: force-main
    on: git.*
    when: signals.force && (signals.protected || signals.ref == "refs/heads/main")
    effect: step_up
  - id: secrets
    on: git.push
    when: size(signals.secrets) > 0
    effect: deny
  - id: deploy-only
    on: model.deploy
    when: "true"
    score: 5
)",
                                 "test.yaml");
  REQUIRE_MESSAGE(policy.ok(), policy.error().message);
  Action action{"git.push", "alice", "origin refs/heads/main", Map{}};
  const Value signals = Map{{"force", Value(true)},
                            {"protected", Value(false)},
                            {"ref", Value("refs/heads/main")},
                            {"secrets", Value(List{})}};
  const std::vector<RuleTrace> traces = explain_rules(**policy, action, signals);
  REQUIRE(traces.size() == 3);

  const RuleTrace& force = traces[0];
  CHECK(force.applies);
  CHECK(force.matched);
  CHECK(force.when.op == "&&");
  REQUIRE(force.when.parts.size() == 2);
  CHECK(force.when.parts[0].source == "signals.force");
  CHECK(force.when.parts[0].result == "true");
  const ConditionTrace& either = force.when.parts[1];
  CHECK(either.op == "||");
  REQUIRE(either.parts.size() == 2);
  CHECK(either.parts[0].result == "false");
  CHECK(either.parts[0].reads == std::vector<std::string>{"signals.protected = false"});
  CHECK(either.parts[1].result == "true");
  CHECK(either.parts[1].reads == std::vector<std::string>{"signals.ref = \"refs/heads/main\""});

  const RuleTrace& secrets = traces[1];
  CHECK_FALSE(secrets.matched);
  CHECK(secrets.when.result == "false");
  CHECK(secrets.when.reads == std::vector<std::string>{"signals.secrets = []"});

  CHECK_FALSE(traces[2].applies);
  CHECK_FALSE(traces[2].matched);
}

TEST_CASE("explain_rules: a signal that is not set is named, and the error shown") {
  auto policy = load_policy_text(R"(
name: t
rules:
  - id: needs-force
    on: "*"
    when: signals.force
    score: 1
)",
                                 "test.yaml");
  REQUIRE(policy.ok());
  Action action{"git.push", "alice", "r", Map{}};
  const auto traces = explain_rules(**policy, action, Value(Map{}));
  REQUIRE(traces.size() == 1);
  CHECK_FALSE(traces[0].matched);
  CHECK(traces[0].when.result.rfind("error: ", 0) == 0);
  CHECK(traces[0].when.reads == std::vector<std::string>{"signals.force = (not set)"});
}

}  // namespace
}  // namespace stepgate
