#include "stepgate/policy.h"

#include <doctest/doctest.h>

#include <string>

#include "stepgate/signals.h"

namespace stepgate {
namespace {

constexpr const char* kGood = R"(version: 1
name: t
thresholds: {step_up: 40, deny: 90}
step_up: {method: totp, max_age: 10m, approvers: 1}
grant_ttl: 2h
business_hours: {start: "09:00", end: "17:00", days: [mon, fri]}
approvers:
  - {id: alice, public_key: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", require_totp: true}
rules:
  - id: force
    on: git.push
    when: signals.force
    effect: step_up
    message: "force on {signals.ref}"
    step_up: {method: approval, approvers: 2}
  - id: big
    on: "git.*"
    when: signals.files_changed > 100
    score: 30
    mode: shadow
)";

TEST_CASE("a well-formed policy loads with every setting") {
  auto policy = load_policy_text(kGood, "p.yaml");
  REQUIRE_MESSAGE(policy.ok(), (policy.ok() ? "" : policy.error().message));
  const Policy& p = **policy;
  CHECK(p.name == "t");
  CHECK(p.step_up_threshold == 40);
  CHECK(p.deny_threshold == 90);
  CHECK(p.step_up.max_age == std::chrono::minutes(10));
  CHECK(p.grant_ttl == std::chrono::hours(2));
  CHECK(p.business_hours.start_hour == 9);
  CHECK(p.business_hours.end_hour == 17);
  CHECK(p.business_hours.weekdays == std::vector<int>{1, 5});
  REQUIRE(p.approvers.size() == 1);
  CHECK(p.approvers[0].require_totp);
  REQUIRE(p.rules.size() == 2);
  CHECK(p.rules[0].effect == Verdict::kStepUp);
  REQUIRE(p.rules[0].requirement.has_value());
  CHECK(p.rules[0].requirement->method == StepUpMethod::kApproval);
  CHECK(p.rules[0].requirement->approvers == 2);
  CHECK(p.rules[0].requirement->max_age == std::chrono::minutes(10));  // inherited default
  CHECK(p.rules[0].location.line == 10);
  CHECK(p.rules[1].mode == Mode::kShadow);
  CHECK(p.revision.rfind("sha256:", 0) == 0);
  CHECK(p.revision.size() == 7 + 64);
  CHECK(lint_policy(p).empty());
}

struct BadCase {
  const char* name;
  const char* text;
  const char* where;     // "LINE:COL"
  const char* fragment;  // must appear in the message
};

const BadCase kBad[] = {
    {"bad yaml", "rules: [\n  - id: a\n  when: x\n", "", "p.yaml:"},
    {"unclosed flow list", "name: x\nrules: [a, b\n", "", "p.yaml:"},
    {"unknown top-level key", "name: x\nthreshold: {}\n", "2:1",
     "unknown key `threshold` in `policy`"},
    {"unknown section key", "git:\n  protected: [main]\n", "2:3",
     "unknown key `protected` in `git`"},
    {"unknown nested key", "git:\n  secrets:\n    allow: []\n", "3:5",
     "unknown key `allow` in `git.secrets`"},
    {"unknown rule key", "rules:\n  - id: a\n    when: 'true'\n    score: 1\n    severity: high\n",
     "5:5", "unknown key `severity` in `rules[]`"},
    {"expected keys listed", "audit:\n  file: x\n", "2:3", "(expected one of: path, durable)"},
    {"audit.durable is a boolean", "audit:\n  durable: maybe\n", "2:12",
     "key `durable`: must be true or false"},
    {"wrong type: list for string", "name: [a]\n", "1:7", "key `name`: must be a string"},
    {"wrong type: bool", "allow_self_approval: sometimes\n", "1:22", "must be true or false"},
    {"wrong type: rules not a list", "rules: {a: 1}\n", "1:8", "`rules` must be a list"},
    {"wrong type: score", "rules:\n  - id: a\n    when: 'true'\n    score: high\n", "4:12",
     "key `score`: must be an integer"},
    {"duplicate rule id",
     "rules:\n  - {id: a, when: 'true', score: 1}\n  - {id: a, when: 'true', score: 2}\n", "3:10",
     "duplicate rule id `a`"},
    {"duplicate key", "name: a\nname: b\n", "2:1", "duplicate key `name`"},
    {"threshold not positive", "thresholds: {step_up: 0, deny: 10}\n", "1:23",
     "must be a positive integer"},
    {"threshold order", "thresholds: {step_up: 100, deny: 50}\n", "1:13", "must be below deny"},
    {"bad duration", "grant_ttl: 15 minutes\n", "1:12", "bad duration"},
    {"bad duration unit", "step_up: {max_age: 5w}\n", "1:20", "key `max_age`: bad duration"},
    {"bad expression", "rules:\n  - id: r1\n    when: signals.force &&\n    score: 1\n", "3:11",
     "rule `r1`: when: column"},
    {"missing when", "rules:\n  - id: r1\n    score: 1\n", "2:5", "key `when` is required"},
    {"neither score nor effect", "rules:\n  - id: r1\n    when: 'true'\n", "2:5",
     "needs `score`, `effect` or both"},
    {"bad effect", "rules:\n  - {id: r1, when: 'true', effect: block}\n", "2:36",
     "must be step_up or deny"},
    {"bad mode", "mode: loud\n", "1:7", "must be enforce or shadow"},
    {"bad method", "step_up: {method: sms}\n", "1:19", "must be totp or approval"},
    {"bad day", "business_hours: {days: [mon, funday]}\n", "1:30", "unknown day `funday`"},
    {"bad hour", "business_hours: {start: \"9am\"}\n", "1:25", "HH:00"},
    {"bad version", "version: 2\n", "1:10", "only version 1"},
    {"bad placeholder", "rules:\n  - {id: r1, when: 'true', score: 1, message: \"x {a b}\"}\n",
     "2:47", "bad placeholder"},
    {"empty policy", "", "", "the policy is empty"},
    {"secret rule: regex does not compile",
     "git:\n  secrets:\n    rules:\n      - id: acme\n        regex: \"(unclosed\"\n", "5:16",
     "secret rule `acme`: key `regex`: does not compile (RE2): missing )"},
    {"secret rule: short keyword",
     "git:\n  secrets:\n    rules:\n      - {id: acme, regex: a, keywords: [ok1, ab]}\n", "4:46",
     "secret rule `acme`: key `keywords`: `ab` must be at least 3 bytes"},
    {"secret rule: entropy not a number",
     "git:\n  secrets:\n    rules:\n      - {id: acme, regex: a, entropy: high}\n", "4:39",
     "key `entropy`: must be a number from 0 to 8"},
    {"secret rule: allow does not compile",
     "git:\n  secrets:\n    rules:\n      - {id: acme, regex: a, allow: [\"[z-a]\"]}\n", "4:38",
     "secret rule `acme`: key `allow`: does not compile"},
    {"secret rule: unknown key",
     "git:\n  secrets:\n    rules:\n      - {id: acme, regex: a, severity: high}\n", "4:30",
     "unknown key `severity` in `git.secrets.rules`"},
    {"secret rule: repeated id",
     "git:\n  secrets:\n    rules:\n      - {id: acme, regex: a}\n      - {id: acme, regex: b}\n",
     "5:14", "secret rule `acme`: key `id`: repeated"},
    {"secret rule: a built-in id", "git:\n  secrets:\n    rules:\n      - {id: jwt, regex: a}\n",
     "4:14", "is a built-in rule's id"},
    {"allow_rules: a misspelt id turns nothing off",
     "git:\n  secrets:\n    allow_rules: [aws-access-key-id, aws-acess-key]\n", "3:38",
     "key `allow_rules`: no secret rule `aws-acess-key`"},
    {"allow_rules: an id the policy's own rules do not have",
     "git:\n  secrets:\n    allow_rules: [acme]\n    rules:\n      - {id: acme2, regex: a}\n",
     "3:19", "no secret rule `acme`"},
};

TEST_CASE("malformed policies are refused with file:line:column and the key") {
  for (const BadCase& c : kBad) {
    const std::string name = c.name;
    CAPTURE(name);
    auto policy = load_policy_text(c.text, "p.yaml");
    REQUIRE_FALSE(policy.ok());
    const std::string& m = policy.error().message;
    CAPTURE(m);
    CHECK(policy.error().code == ErrorCode::kInvalidArgument);
    if (*c.where != '\0') CHECK(m.rfind(std::string("p.yaml:") + c.where + ": ", 0) == 0);
    CHECK(m.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("allow_rules may name a built-in rule or one of the policy's own") {
  auto policy = load_policy_text(
      "git:\n  secrets:\n    allow_rules: [jwt, acme]\n    rules:\n      - {id: acme, regex: a}\n",
      "p.yaml");
  REQUIRE(policy.ok());
  CHECK((*policy)->git.secrets_allow_rules == std::vector<std::string>{"jwt", "acme"});
}

TEST_CASE("JSON policies load too, with positions") {
  auto ok = load_policy_text(
      R"({"name": "j", "rules": [{"id": "a", "when": "signals.force", "score": 5}]})", "p.json");
  REQUIRE(ok.ok());
  CHECK((*ok)->rules.size() == 1);
  auto bad = load_policy_text("{\n  \"name\": \"j\",\n  \"nope\": 1\n}", "p.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.rfind("p.json:3:3: unknown key `nope`", 0) == 0);
}

TEST_CASE("parse_duration") {
  CHECK(parse_duration("0").value().count() == 0);
  CHECK(parse_duration("30s").value().count() == 30);
  CHECK(parse_duration("15m").value().count() == 900);
  CHECK(parse_duration("1h").value().count() == 3600);
  CHECK(parse_duration("2d").value().count() == 172800);
  for (const char* bad : {"", "m", "15", "1.5h", "-1m", "1w", "1 h"}) {
    const std::string text = bad;
    CAPTURE(text);
    CHECK_FALSE(parse_duration(bad).ok());
  }
}

TEST_CASE("lint flags signals not provided for a rule's kinds and unknown identifiers") {
  auto policy = load_policy_text(R"(rules:
  - {id: ok, on: git.push, when: signals.force && signals.off_hours, score: 1}
  - {id: wrong-kind, on: tool.call, when: signals.force, score: 1}
  - {id: typo, on: "*", when: signals.forse, score: 1}
  - {id: ident, on: "*", when: request.x == 1, score: 1}
  - {id: msg, on: git.push, when: "true", score: 1, message: "{nosuch}"}
)",
                                 "p.yaml");
  REQUIRE(policy.ok());
  const auto findings = lint_policy(**policy);
  std::string all;
  for (const auto& f : findings) all += f.rule_id + ": " + f.message + "\n";
  CAPTURE(all);
  CHECK(findings.size() == 4);
  CHECK(all.find("wrong-kind: rule `wrong-kind`: signals.force is not provided for `tool.call`") !=
        std::string::npos);
  CHECK(all.find("signals.forse is not provided by any collector") != std::string::npos);
  CHECK(all.find("unknown identifier `request`") != std::string::npos);
  CHECK(all.find("{nosuch}") != std::string::npos);
  CHECK(findings[0].location.line == 3);
}

TEST_CASE("every signal in the registry has a meaning, a collector and kinds") {
  const auto& registry = SignalRegistry::builtin();
  CHECK(registry.all().size() > 50);
  for (const auto& s : registry.all()) {
    CAPTURE(s.name);
    CHECK_FALSE(s.meaning.empty());
    CHECK_FALSE(s.collector.empty());
    CHECK_FALSE(s.kinds.empty());
  }
  CHECK(registry.provided_for("force", "git.*"));
  CHECK(registry.provided_for("force", "*"));
  CHECK_FALSE(registry.provided_for("force", "tool.call"));
  CHECK(registry.provided_for("off_hours", "tool.call"));
  CHECK(registry.find("secrets")->type == SignalType::kStringList);
}

}  // namespace
}  // namespace stepgate
