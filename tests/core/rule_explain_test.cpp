#include "stepgate/rule_explain.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace stepgate {
namespace {

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

/// The tree as lines "DEPTH op result source", depth-first, for comparing whole trees.
void flatten(const ConditionTrace& t, int depth, std::vector<std::string>& out) {
  out.push_back(std::to_string(depth) + " [" + t.op + "] " + t.result + " | " + t.source);
  for (const ConditionTrace& p : t.parts) flatten(p, depth + 1, out);
}

struct TreeCase {
  const char* when;
  std::vector<std::string> want;
};

// Nested parts below the top-level && and ||: comparisons, negation, calls, the ternary,
// parentheses kept in the text, literals left out, a macro's predicate shown but not evaluated.
TEST_CASE("explain_rules: the tree of sub-expressions below a rule's when, with their values") {
  const Value signals = Map{{"force", Value(true)},
                            {"commits", Value(3)},
                            {"ref", Value("refs/heads/main")},
                            {"paths", Value(List{Value("a.onnx"), Value("b.txt")})},
                            {"secrets", Value(List{})}};
  const TreeCase cases[] = {
      {"signals.force && !(signals.commits > 2 || size(signals.secrets) == 0)",
       {"0 [&&] false | signals.force && !(signals.commits > 2 || size(signals.secrets) == 0)",
        "1 [] true | signals.force",
        "1 [!] false | !(signals.commits > 2 || size(signals.secrets) == 0)",
        "2 [||] true | (signals.commits > 2 || size(signals.secrets) == 0)",
        "3 [>] true | signals.commits > 2", "4 [] 3 | signals.commits",
        "3 [==] true | size(signals.secrets) == 0", "4 [size()] 0 | size(signals.secrets)",
        "5 [] [] | signals.secrets"}},
      {"signals.paths.exists(p, p.endsWith('.onnx')) && signals.ref.startsWith('refs/tags/')",
       {"0 [&&] false | signals.paths.exists(p, p.endsWith('.onnx')) && "
        "signals.ref.startsWith('refs/tags/')",
        "1 [exists()] true | signals.paths.exists(p, p.endsWith('.onnx'))",
        R"(2 [] ["a.onnx","b.txt"] | signals.paths)",
        "2 [endsWith()] (for each item) | p.endsWith('.onnx')",
        "1 [startsWith()] false | signals.ref.startsWith('refs/tags/')",
        R"(2 [] "refs/heads/main" | signals.ref)"}},
      {"(signals.force ? signals.commits : 0) - 1 >= -2",
       {"0 [>=] true | (signals.force ? signals.commits : 0) - 1 >= -2",
        "1 [-] 2 | (signals.force ? signals.commits : 0) - 1",
        "2 [?:] 3 | (signals.force ? signals.commits : 0)", "3 [] true | signals.force",
        "3 [] 3 | signals.commits"}},
      {"has(signals.force) && signals[\"ref\"] in ['x', 'y']",
       {"0 [&&] false | has(signals.force) && signals[\"ref\"] in ['x', 'y']",
        "1 [] true | has(signals.force)", "1 [in] false | signals[\"ref\"] in ['x', 'y']",
        "2 [] \"refs/heads/main\" | signals[\"ref\"]"}},
  };
  for (const TreeCase& c : cases) {
    CAPTURE(c.when);
    auto policy = load_policy_text(
        std::string("rules:\n  - id: r\n    on: git.push\n    score: 1\n    when: >-\n      ") +
            c.when + "\n",
        "test.yaml");
    REQUIRE_MESSAGE(policy.ok(), policy.error().message);
    const auto traces = explain_rules(**policy, Action{"git.push", "alice", "r", Map{}}, signals);
    std::vector<std::string> got;
    flatten(traces.at(0).when, 0, got);
    CHECK(got == c.want);
  }
}

TEST_CASE("explain_rules: the tree stops at a bounded depth") {
  std::string when = "signals.commits";
  for (int i = 0; i < 12; ++i) when = "-(" + when + ")";
  auto policy = load_policy_text(
      "rules:\n  - id: r\n    on: '*'\n    score: 1\n    when: '" + when + " < 0'\n", "t.yaml");
  REQUIRE_MESSAGE(policy.ok(), policy.error().message);
  const auto traces = explain_rules(**policy, Action{"git.push", "a", "r", Map{}},
                                    Value(Map{{"commits", Value(1)}}));
  int depth = 0;
  for (const ConditionTrace* t = &traces.at(0).when; !t->parts.empty(); t = &t->parts[0]) ++depth;
  CHECK(depth == 8);
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
