#include "stepgate/signals.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include "stepgate/policy.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

const char* const kCommon[] = {"hour",   "weekday",      "off_hours", "actor",
                               "device", "device_known", "velocity",  "elevated"};

std::set<std::string> names_for(std::string_view kind) {
  std::set<std::string> out;
  for (const SignalSpec* spec : SignalRegistry::builtin().for_kind(kind)) out.insert(spec->name);
  return out;
}

TEST_CASE("signals: every built-in spec is complete, and names are unique per kind") {
  const SignalRegistry& registry = SignalRegistry::builtin();
  REQUIRE_FALSE(registry.all().empty());
  std::set<std::pair<std::string, std::string>> name_kind;
  for (const SignalSpec& spec : registry.all()) {
    CAPTURE(spec.name);
    CHECK_FALSE(spec.name.empty());
    CHECK(spec.name.find("signals.") != 0);
    CHECK_FALSE(spec.meaning.empty());
    CHECK_FALSE(spec.collector.empty());
    REQUIRE_FALSE(spec.kinds.empty());
    for (const std::string& kind : spec.kinds) {
      CAPTURE(kind);
      CHECK_FALSE(kind.empty());
      CHECK(name_kind.insert({spec.name, kind}).second);  // no duplicate (name, kind)
    }
  }
  // A name declared twice (e.g. `paths` by git and tool) must keep one type and never overlap
  // kinds, so for_kind never lists a name twice.
  for (const char* kind : {"git.push", "git.receive", "model.deploy", "tool.call", "db.migrate"}) {
    CAPTURE(kind);
    const auto specs = registry.for_kind(kind);
    std::set<std::string> seen;
    for (const SignalSpec* spec : specs) CHECK(seen.insert(spec->name).second);
  }
  for (const SignalSpec& a : registry.all()) {
    for (const SignalSpec& b : registry.all()) {
      if (&a != &b && a.name == b.name) {
        CAPTURE(a.name);
        CHECK(a.type == b.type);
      }
    }
  }
}

TEST_CASE("signals: find") {
  const SignalRegistry& registry = SignalRegistry::builtin();
  struct Row {
    const char* name;
    bool found;
    SignalType type;
  };
  const Row rows[] = {
      {"hour", true, SignalType::kInt},
      {"off_hours", true, SignalType::kBool},
      {"force", true, SignalType::kBool},
      {"secrets", true, SignalType::kStringList},
      {"production", true, SignalType::kBool},
      {"worst_regression_pct", true, SignalType::kDouble},
      {"tool", true, SignalType::kString},
      {"secret_findings", true, SignalType::kList},
      {"no_such_signal", false, SignalType::kBool},
      {"", false, SignalType::kBool},
      {"signals.hour", false, SignalType::kBool},
      {"HOUR", false, SignalType::kBool},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const SignalSpec* spec = registry.find(row.name);
    REQUIRE((spec != nullptr) == row.found);
    if (spec != nullptr) {
      CHECK(spec->name == row.name);
      CHECK(spec->type == row.type);
    }
  }
}

TEST_CASE("signals: provided_for against rule kind globs") {
  const SignalRegistry& registry = SignalRegistry::builtin();
  struct Row {
    const char* name;
    const char* pattern;
    bool provided;
  };
  const Row rows[] = {
      {"force", "git.push", true},
      {"force", "git.receive", true},
      {"force", "git.*", true},
      {"force", "*", true},
      {"force", "tool.call", false},
      {"force", "model.deploy", false},
      {"hour", "*", true},
      {"hour", "tool.call", true},
      {"hour", "db.migrate", true},
      {"production", "model.deploy", true},
      {"production", "model.*", true},
      {"production", "git.push", false},
      {"tool", "tool.call", true},
      {"tool", "git.push", false},
      {"destructive", "tool.*", true},
      {"no_such_signal", "*", false},
      {"actor_is_deployer", "git.push", true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    CAPTURE(row.pattern);
    CHECK(registry.provided_for(row.name, row.pattern) == row.provided);
  }
}

TEST_CASE("signals: for_kind lists the kind's signals plus the common ones") {
  struct Row {
    const char* kind;
    std::vector<const char*> includes;
    std::vector<const char*> excludes;
  };
  const Row rows[] = {
      {"model.deploy",
       {"production", "environment", "eval_missing", "worst_regression_pct"},
       {"force", "tool", "commits"}},
      {"git.push",
       {"force", "commits", "protected", "secrets", "paths"},
       {"production", "tool", "destructive"}},
      {"tool.call", {"tool", "destructive", "paths", "rate"}, {"force", "production"}},
      {"db.migrate", {}, {"force", "production", "tool"}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.kind);
    const std::set<std::string> names = names_for(row.kind);
    for (const char* common : kCommon) {
      CAPTURE(common);
      CHECK(names.count(common) == 1);
    }
    for (const char* name : row.includes) {
      CAPTURE(name);
      CHECK(names.count(name) == 1);
    }
    for (const char* name : row.excludes) {
      CAPTURE(name);
      CHECK(names.count(name) == 0);
    }
  }
}

TEST_CASE("signals: default_signal_value and signal_type_name per type") {
  // Fields in the order of the table's columns, not packed: six rows, built once.
  struct Row {  // NOLINT(clang-analyzer-optin.performance.Padding)
    SignalType type;
    const char* name;
    Value expected;
    Value::Type value_type;
  };
  const Row rows[] = {
      {SignalType::kBool, "bool", Value(false), Value::Type::kBool},
      {SignalType::kInt, "int", Value(0), Value::Type::kInt},
      {SignalType::kDouble, "double", Value(0.0), Value::Type::kDouble},
      {SignalType::kString, "string", Value(std::string()), Value::Type::kString},
      {SignalType::kStringList, "list<string>", Value(List{}), Value::Type::kList},
      {SignalType::kList, "list", Value(List{}), Value::Type::kList},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const Value v = default_signal_value(row.type);
    CHECK(v.type() == row.value_type);
    CHECK(v == row.expected);
    CHECK(std::string(signal_type_name(row.type)) == row.name);
  }
}

TEST_CASE("signals: every signal the shipped packs reference is declared for the rule's kinds") {
  const fs::path dir = fs::path(STEPGATE_SOURCE_DIR) / "policies";
  std::vector<fs::path> packs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      packs.push_back(entry.path());
  }
  std::sort(packs.begin(), packs.end());
  REQUIRE(packs.size() >= 3);
  const SignalRegistry& registry = SignalRegistry::builtin();
  for (const fs::path& pack : packs) {
    CAPTURE(pack.string());
    auto policy = load_policy_file(pack.string());
    REQUIRE_MESSAGE(policy.ok(), (policy.ok() ? "" : policy.error().message));
    REQUIRE_FALSE((*policy)->rules.empty());
    int references = 0;
    for (const Rule& rule : (*policy)->rules) {
      for (const std::string& name : rule.when.referenced_signals()) {
        CAPTURE(rule.id);
        CAPTURE(name);
        CHECK(registry.provided_for(name, rule.on));
        ++references;
      }
    }
    CHECK(references > 0);
    for (const LintFinding& f : lint_policy(**policy)) {
      FAIL_CHECK(f.rule_id << " line " << f.location.line << ": " << f.message);
    }
  }
}

TEST_CASE("signals: lint_policy flags a signal not provided for the rule's kind") {
  struct Row {
    const char* on;
    const char* when;
    bool finding;
  };
  const Row rows[] = {
      {"tool.call", "signals.force", true},
      {"git.push", "signals.force", false},
      {"git.push", "signals.no_such > 1", true},
      {"tool.call", "signals.off_hours", false},
      {"model.deploy", "signals.production && signals.destructive", true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.on);
    CAPTURE(row.when);
    const std::string text = std::string("version: 1\nname: t\nrules:\n  - id: r\n    on: \"") +
                             row.on + "\"\n    when: " + row.when + "\n    score: 10\n";
    auto policy = load_policy_text(text, "t.yaml");
    REQUIRE_MESSAGE(policy.ok(), (policy.ok() ? "" : policy.error().message));
    CHECK(lint_policy(**policy).empty() == !row.finding);
  }
}

}  // namespace
}  // namespace stepgate
