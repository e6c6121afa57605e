#include "stepgate/engine.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "stepgate/collect.h"

namespace stepgate {
namespace {

constexpr const char* kPolicy = R"(name: engine-test
thresholds: {step_up: 50, deny: 100}
step_up: {method: totp, max_age: 15m, approvers: 1}
rules:
  - {id: s30, on: "git.*", when: signals.commits > 10, score: 30, message: "{commits} commits on {signals.ref}"}
  - {id: s25, on: "git.*", when: signals.files_changed > 10, score: 25}
  - {id: s60, on: git.push, when: signals.lines_added > 1000, score: 60}
  - {id: floor-step, on: "git.*", when: signals.force, effect: step_up,
     step_up: {method: approval, approvers: 2, max_age: 1h}}
  - {id: floor-step2, on: "git.*", when: signals.tag, effect: step_up, step_up: {approvers: 1, max_age: 5m}}
  - {id: floor-deny, on: "*", when: size(signals.secrets) > 0, effect: deny, score: 5}
  - {id: shadowed, on: "*", when: signals.off_hours, score: 200, mode: shadow}
  - {id: type-error, on: "git.*", when: signals.ref > 3, score: 100}
  - {id: error-step-up, on: deploy.*, when: signals.ref > 3, effect: step_up}
  - {id: error-deny, on: deploy.risky, when: 'signals.ref.startsWith(1)', effect: deny}
  - {id: tool-only, on: tool.call, when: "true", score: 70}
  - {id: neg, on: "git.*", when: signals.elevated, score: -40}
)";

struct Case {
  const char* name;
  const char* kind;
  Map signals;
  Verdict verdict;
  int score;
  std::vector<std::string> rules;
};

std::vector<Case> cases() {
  return {
      {"nothing matches", "git.push", {}, Verdict::kAllow, 0, {}},
      {"one score under threshold", "git.push", {{"commits", 11}}, Verdict::kAllow, 30, {"s30"}},
      {"scores sum to step_up",
       "git.push",
       {{"commits", 11}, {"files_changed", 11}},
       Verdict::kStepUp,
       55,
       {"s30", "s25"}},
      {"scores sum to deny",
       "git.push",
       {{"commits", 11}, {"files_changed", 11}, {"lines_added", 5000}},
       Verdict::kDeny,
       115,
       {"s30", "s25", "s60"}},
      {"negative score lowers",
       "git.push",
       {{"lines_added", 5000}, {"elevated", true}},
       Verdict::kAllow,
       20,
       {"s60", "neg"}},
      {"effect floor with no score",
       "git.push",
       {{"force", true}},
       Verdict::kStepUp,
       0,
       {"floor-step"}},
      {"deny floor beats step_up floor",
       "git.push",
       {{"force", true}, {"secrets", List{Value("aws")}}},
       Verdict::kDeny,
       5,
       {"floor-step", "floor-deny"}},
      {"threshold beats a lower floor",
       "git.push",
       {{"force", true}, {"lines_added", 5000}, {"commits", 11}, {"files_changed", 11}},
       Verdict::kDeny,
       115,
       {"s30", "s25", "s60", "floor-step"}},
      {"shadow rule reported, not counted",
       "git.push",
       {{"off_hours", true}},
       Verdict::kAllow,
       0,
       {"shadowed"}},
      {"on glob: exact kind only", "git.receive", {{"lines_added", 5000}}, Verdict::kAllow, 0, {}},
      {"on glob: other kinds skip git rules",
       "tool.call",
       {{"commits", 11}},
       Verdict::kStepUp,
       70,
       {"tool-only"}},
  };
}

Value with_defaults(const char* kind, Map m) {
  m.try_emplace("ref", Value("refs/heads/main"));
  Value v(std::move(m));
  fill_signal_defaults(kind, v);
  return v;
}

std::shared_ptr<const Policy> load(const char* text) {
  auto p = load_policy_text(text, "engine.yaml");
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
  return *p;
}

TEST_CASE("engine: table of decisions") {
  const Engine engine(load(kPolicy));
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Action action{c.kind, "alice", "origin main", Map{}};
    const Decision d = engine.evaluate(action, with_defaults(c.kind, c.signals));
    CHECK(d.verdict == c.verdict);
    CHECK(d.score == c.score);
    std::vector<std::string> ids;
    for (const Reason& r : d.reasons) ids.push_back(r.rule_id);
    CHECK(ids == c.rules);
    CHECK(d.action_digest == action_digest(action));
    CHECK(d.policy_revision == engine.policy().revision);
    CHECK(d.requirement.has_value() == (c.verdict == Verdict::kStepUp));
  }
}

TEST_CASE("engine: a rule that errors does not match and is reported") {
  const Engine engine(load(kPolicy));
  const Decision d =
      engine.evaluate(Action{"git.push", "a", "r", Map{}}, with_defaults("git.push", {}));
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].rule_id == "type-error");
  CHECK_FALSE(d.errors[0].message.empty());
  CHECK(d.verdict == Verdict::kAllow);
}

// #23: a rule with an effect whose `when` errors fails closed: it counts as matched and the
// decision names the error. (On the old engine both rows allowed.)
TEST_CASE("engine: a step_up or deny rule that errors counts as matched (fail closed)") {
  const Engine engine(load(kPolicy));
  struct Row {
    const char* kind;
    Verdict verdict;
    std::vector<std::string> errored;
  };
  const Row rows[] = {
      {"deploy.safe", Verdict::kStepUp, {"error-step-up"}},
      {"deploy.risky", Verdict::kDeny, {"error-step-up", "error-deny"}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.kind);
    // The git signals (`ref` is a string) for an action of another kind: both rules type-error.
    const Decision d =
        engine.evaluate(Action{row.kind, "a", "r", Map{}}, with_defaults("git.push", {}));
    CHECK(d.verdict == row.verdict);
    std::vector<std::string> errored;
    for (const RuleError& e : d.errors) errored.push_back(e.rule_id);
    CHECK(errored == row.errored);
    REQUIRE(d.reasons.size() == row.errored.size());
    for (const Reason& r : d.reasons) {
      CHECK(r.message.find("could not be evaluated") != std::string::npos);
      CHECK(r.message.find("no such overload") != std::string::npos);
    }
  }
}

TEST_CASE("engine: requirement merges the matching step-up rules, else policy defaults") {
  const Engine engine(load(kPolicy));
  Action action{"git.push", "a", "r", Map{}};
  const Decision both =
      engine.evaluate(action, with_defaults("git.push", {{"force", true}, {"tag", true}}));
  REQUIRE(both.requirement.has_value());
  CHECK(both.requirement->method == StepUpMethod::kApproval);
  CHECK(both.requirement->approvers == 2);
  CHECK(both.requirement->max_age == std::chrono::minutes(5));
  const Decision by_score =
      engine.evaluate(action, with_defaults("git.push", {{"commits", 11}, {"files_changed", 11}}));
  REQUIRE(by_score.requirement.has_value());
  CHECK(by_score.requirement->method == StepUpMethod::kTotp);
  CHECK(by_score.requirement->max_age == std::chrono::minutes(15));
}

TEST_CASE("engine: a shadow policy allows and reports what it would have done") {
  std::string text = std::string("mode: shadow\n") + kPolicy;
  const Engine engine(load(text.c_str()));
  const Decision d = engine.evaluate(Action{"git.push", "a", "r", Map{}},
                                     with_defaults("git.push", {{"secrets", List{Value("k")}}}));
  CHECK(d.verdict == Verdict::kAllow);
  CHECK(d.shadow);
  CHECK(d.would_be == Verdict::kDeny);
  CHECK_FALSE(d.requirement.has_value());
}

TEST_CASE("engine: messages render signals, action fields and lists") {
  const Engine engine(load(kPolicy));
  const Decision d = engine.evaluate(Action{"git.push", "a", "r", Map{}},
                                     with_defaults("git.push", {{"commits", 12}}));
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].message == "12 commits on refs/heads/main");
  Action action{"git.push", "bob", "origin main", Map{{"remote", Value("origin")}}};
  const Value signals(
      Map{{"paths", Value(List{Value("a"), Value("b")})}, {"n", Value(3)}, {"f", Value(true)}});
  CHECK(render_message(
            "{paths} by {action.actor} to {action.attributes.remote}: {signals.n} {f} {missing}",
            action, signals) == "a, b by bob to origin: 3 true {missing}");
  CHECK(render_message("no placeholders", action, signals) == "no placeholders");
  CHECK(render_message("open { brace", action, signals) == "open { brace");
}

TEST_CASE("decision_to_value carries verdict, reasons and requirement") {
  const Engine engine(load(kPolicy));
  const Decision d = engine.evaluate(Action{"git.push", "a", "r", Map{}},
                                     with_defaults("git.push", {{"force", true}}));
  const Value v = decision_to_value(d);
  CHECK(v.get_string("verdict") == "step_up");
  REQUIRE(v.find("requirement") != nullptr);
  CHECK(v.find("requirement")->get_string("method") == "approval");
  CHECK(v.find("reasons")->as_list().size() == 1);
  CHECK(v.find("errors")->as_list().size() == 1);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

TEST_CASE("engine: dynamic signal access still sees every signal") {
  const Engine engine(load(R"(rules:
  - {id: dyn, on: "git.*", when: 'signals["for" + "ce"]', effect: step_up}
  - {id: stat, on: "git.*", when: 'signals["tag"] && action.resource == "r"', effect: deny}
  - {id: other-kind, on: db.migrate, when: signals.elevated, score: 60}
)"));
  const Decision d = engine.evaluate(Action{"git.push", "a", "r", Map{}},
                                     with_defaults("git.push", {{"force", true}, {"tag", true}}));
  CHECK(d.verdict == Verdict::kDeny);
  CHECK(d.reasons.size() == 2);
  CHECK(d.errors.empty());
  const Decision custom =
      engine.evaluate(Action{"db.migrate", "a", "r", Map{}}, Value(Map{{"elevated", Value(true)}}));
  CHECK(custom.verdict == Verdict::kStepUp);
}

}  // namespace
}  // namespace stepgate
