// `policy lint` (#23): every error in one run with FILE:LINE:COL, expressions type-checked against
// the signal registry, keys and values validated, and the README's examples clean.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stepgate/change_window.h"
#include "stepgate/json.h"
#include "stepgate/policy.h"
#include "stepgate/signals.h"
#include "test_util.h"

namespace stepgate {
namespace {

/// Lints `text` as a file in a temporary directory; the problems found.
std::vector<std::string> lint_text(const std::string& text) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/policy.yaml";
  std::ofstream(path) << text;
  return lint_policy_file(path).problems;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

struct TypeCase {
  const char* on;
  const char* when;
  const char* error;  // a substring of the one finding expected; "" when clean
};

constexpr TypeCase kTypeCases[] = {
    {"git.push", "size(signals.secrets) > \"a\"", "no such overload: int > string"},
    {"git.push", "signals.force == \"yes\"", "no such overload: bool == string"},
    {"git.push", "signals.commits + \"x\" > 1", "no such overload: int + string"},
    {"git.push", "signals.ref > 3", "no such overload: string > int"},
    {"git.push", "signals.force.startsWith('x')", "startsWith() needs strings, got bool"},
    {"git.push", "signals.commits", "a rule's `when` needs a bool, got int"},
    {"git.push", "!signals.commits", "'!' needs a bool, got int"},
    {"git.push", "signals.force && signals.commits", "'&&' needs a bool, got int"},
    {"git.push", "size(signals.force) > 0", "size() is not defined for bool"},
    {"git.push", "signals.paths.exists(p, p > 3)", "no such overload: string > int"},
    {"git.push", "3 in signals.paths", "looks for a int in a list of string"},
    {"git.push", "signals.force in 'abc'", "no such overload: bool in string"},
    {"git.push", "signals.hour % 2.5 == 0", "'%' is not defined for double"},
    {"model.deploy", "signals.worst_regression_pct > \"5\"", "double > string"},
    // clean: matching types, numbers mixed, null, dyn values from maps and macros
    {"git.push", "size(signals.secrets) > 0", ""},
    {"git.push", "signals.force && signals.protected", ""},
    {"git.push", "signals.ref == 'refs/heads/main' || signals.ref.startsWith('refs/tags/')", ""},
    {"git.push", "signals.paths.exists(p, p.endsWith('.onnx') || glob(p, 'models/**'))", ""},
    {"git.push", "signals.commits > 2.5 && signals.hour != null", ""},
    {"git.push", "'main' in signals.paths || signals.ref in ['a', 'b']", ""},
    {"git.push", "action.attributes.n > 3 && action.kind == 'git.push'", ""},
    {"git.push", "signals.secret_findings.exists(f, f.rule == 'aws' && f.line > 3)", ""},
    {"git.push", "signals.paths.filter(p, p.contains('x')).size() > 1", ""},
    {"git.push", "(signals.force ? 1 : 2) > 0", ""},
    {"model.deploy", "signals.worst_regression_pct > 5", ""},
};

TEST_CASE("policy lint: expressions are type-checked against the signal registry") {
  for (const TypeCase& c : kTypeCases) {
    CAPTURE(c.when);
    std::string yaml = "rules:\n  - id: r\n    on: \"" + std::string(c.on) +
                       "\"\n    score: 1\n    when: >-\n      " + c.when + "\n";
    const std::vector<std::string> problems = lint_text(yaml);
    CAPTURE(joined(problems));
    if (std::string(c.error).empty()) {
      CHECK(problems.empty());
      continue;
    }
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find(c.error) != std::string::npos);
    CHECK(problems[0].find("policy.yaml:5:11: rule `r`: when: column ") != std::string::npos);
  }
}

TEST_CASE("policy lint: every error in one run, each FILE:LINE:COL") {
  const std::string text =
      "name: many\n"                                                             // 1
      "grant_ttl: 10 minutes\n"                                                  // 2
      "approvers:\n"                                                             // 3
      "  - {id: bob, public_key: \"ed25519:AAAA\"}\n"                            // 4
      "rules:\n"                                                                 // 5
      "  - {id: a, on: git.push, when: signals.force &&, score: 1}\n"            // 6
      "  - {id: b, on: git.push, when: signals.force, effect: maybe}\n"          // 7
      "  - {id: c, on: git.push, when: signals.forse, score: 1}\n"               // 8
      "  - {id: d, on: git.push, when: signals.force == \"yes\", score: 1}\n"    // 9
      "  - {id: e, on: git.push, when: signals.force, score: x, effect: no}\n";  // 10
  const std::vector<std::string> problems = lint_text(text);
  const std::string all = joined(problems);
  CAPTURE(all);
  const char* expected[] = {
      "policy.yaml:2:12: key `grant_ttl`: bad duration",
      "policy.yaml:4:27: approver `bob`: `public_key` must be",
      "policy.yaml:6:33: rule `a`: when:",
      "policy.yaml:7:56: rule `b`: key `effect`",
      "policy.yaml:10:55: key `score`: must be an integer",
      "policy.yaml:10:66: rule `e`: key `effect`",
      ":8:",  // unknown signal, from lint
      "signals.forse is not provided",
      ":9:",
      "no such overload: bool == string",
  };
  for (const char* e : expected) CHECK(all.find(e) != std::string::npos);
  CHECK(problems.size() == 8);
}

struct SectionCase {
  const char* name;
  const char* yaml;
  std::vector<const char*> expected;  // one problem each, in this order: "LINE:COL: text"
};

// Each file holds several errors in one section; the loader used to stop at a section's first.
const SectionCase kSectionCases[] = {
    {"git",
     "git:\n"
     "  protected_refs: main\n"
     "  large_file_bytes: -5\n"
     "  model_extensions: [1, [2]]\n"
     "  colour: red\n"
     "  secrets:\n"
     "    allow_paths: x\n"
     "    bogus: 1\n"
     "    rules:\n"
     "      - {id: a, regex: \"(\"}\n"
     "      - {id: b, regex: x, entropy: 9}\n"
     "      - {id: c, regex: x, nope: 1}\n",
     {"5:3: unknown key `colour` in `git`", "2:19: key `protected_refs`: must be a list",
      "3:21: key `large_file_bytes`: must be positive",
      "4:25: key `model_extensions`: items must be strings", "8:5: unknown key `bogus`",
      "7:18: key `allow_paths`: must be a list", "10:24: secret rule `a`: key `regex`",
      "11:36: key `entropy`: must be a number", "12:27: unknown key `nope`"}},
    {"ci",
     "ci:\n"
     "  production_environments: prod\n"
     "  deployers: [[x]]\n"
     "  extra: 1\n"
     "  change_window: \"Someday 09:00-10:00\"\n",
     {"4:3: unknown key `extra` in `ci`", "2:28: key `production_environments`: must be a list",
      "3:15: key `deployers`: items must be strings",
      "5:18: key `change_window`: change window `Someday 09:00-10:00`: unknown weekday"}},
    {"agents",
     "agents:\n"
     "  known_hosts: x\n"
     "  hold: 10 minutes\n"
     "  max_body_bytes: 0\n"
     "  step_up_response: maybe\n",
     {"2:16: key `known_hosts`: must be a list", "3:9: key `hold`: bad duration",
      "4:19: key `max_body_bytes`: must be positive",
      "5:21: key `step_up_response`: must be hold"}},
    {"business_hours",
     "business_hours:\n"
     "  start: \"9\"\n"
     "  end: \"25:00\"\n"
     "  days: [mon, funday, tue, blursday]\n",
     {"2:10: key `start`: must be a whole hour", "3:8: key `end`: hour must be 00-24",
      "4:15: key `days`: unknown day `funday`", "4:28: key `days`: unknown day `blursday`"}},
    {"approvers",
     "approvers:\n"
     "  - {id: [bob], public_key: x, colour: 1}\n"
     "  - {public_key: \"ed25519:5GwYxo2x-eRy6fUWCtJv8eaClf0ThtiFRoUgtl30BXw\", "
     "require_totp: maybe}\n",
     {"2:32: unknown key `colour` in `approvers`", "2:10: key `id`: must be a string",
      "2:29: approver ``: `public_key` must be", "3:87: key `require_totp`: must be true or false",
      "3:5: approver: `id` is required"}},
    {"thresholds and step_up",
     "thresholds: {step_up: x, deny: 0, warn: 3}\n"
     "step_up: {method: sms, max_age: forever, approvers: 0}\n",
     {"1:35: unknown key `warn` in `thresholds`", "1:23: key `step_up`: must be an integer",
      "1:32: key `deny`: must be a positive integer", "2:19: key `method`: must be totp",
      "2:33: key `max_age`: bad duration", "2:53: key `approvers`: must be a positive integer"}},
    {"a rule",
     "rules:\n"
     "  - {id: r, on: git.push, when: signals.force, effect: maybe, colour: 1, mode: loud}\n",
     {"2:63: unknown key `colour` in `rules[]`", "2:56: rule `r`: key `effect`",
      "2:80: key `mode`: must be enforce or shadow"}},
    {"audit and timezone",
     "timezone: Mars/Olympus_Mons\n"
     "audit: {path: [x], durable: maybe}\n",
     {"1:11: key `timezone`: unknown timezone", "2:15: key `path`: must be a string",
      "2:29: key `durable`: must be true or false"}},
};

TEST_CASE("policy lint: every error within a section, each FILE:LINE:COL with its key") {
  for (const SectionCase& c : kSectionCases) {
    CAPTURE(c.name);
    const std::vector<std::string> problems = lint_text(c.yaml);
    CAPTURE(joined(problems));
    REQUIRE(problems.size() == c.expected.size());
    for (std::size_t i = 0; i < problems.size(); ++i) {
      CHECK(problems[i].find(std::string("policy.yaml:") + c.expected[i]) != std::string::npos);
    }
  }
}

struct WindowCase {
  const char* window;
  const char* error;  // a substring of the one problem; "" when clean
};

TEST_CASE("policy: ci.change_window is checked when the policy loads") {
  const WindowCase cases[] = {
      {"Mon-Thu 09:00-16:00", ""},
      {"Mon,Wed,Fri 22:00-06:00; Sat-Sun 10:00-12:00", ""},
      {"", ""},
      {"Someday 09:00-10:00", "unknown weekday `someday`"},
      {"Mon 9-10", "bad time `9` (want HH:MM)"},
      {"Mon 09:00", "no time range"},
      {"Mon-Thu 09:00-16:00 UTC", "want \"Mon-Thu 09:00-16:00\""},
      {"Mon 09:00-25:00", "bad time `25:00`"},
      {"Mon 09:00-10:00;", ""},
      {"Mon 09:00-10:00;;Tue 09:00-10:00", "change window ``"},
  };
  for (const WindowCase& c : cases) {
    CAPTURE(c.window);
    auto policy =
        load_policy_text(std::string("ci:\n  change_window: \"") + c.window + "\"\n", "p.yaml");
    CHECK(policy.ok() == std::string(c.error).empty());
    if (policy.ok()) continue;
    CHECK(policy.error().message.find("p.yaml:2:18: key `change_window`: ") == 0);
    CHECK(policy.error().message.find(c.error) != std::string::npos);
  }
  auto loaded = load_policy_text("ci: {change_window: \"Sat-Sun 22:00-02:00\"}\n", "p.yaml");
  REQUIRE(loaded.ok());
  const std::vector<ChangeWindow>& windows = (*loaded)->ci.change_windows;
  REQUIRE(windows.size() == 1);
  CHECK(inside_change_windows(windows, 6, 23 * 60));        // Saturday 23:00
  CHECK(inside_change_windows(windows, 1, 60));             // Monday 01:00, from Sunday night
  CHECK_FALSE(inside_change_windows(windows, 1, 23 * 60));  // Monday 23:00
  CHECK(inside_change_windows({}, 1, 0));                   // none configured: always inside
}

struct KeyCase {
  const char* key;
  bool ok;
};

TEST_CASE("policy: ed25519 public keys decode to 32 bytes") {
  const KeyCase cases[] = {
      {"ed25519:5GwYxo2x-eRy6fUWCtJv8eaClf0ThtiFRoUgtl30BXw", true},
      {"ed25519:AAAA", false},                                           // 3 bytes
      {"ed25519:5GwYxo2x-eRy6fUWCtJv8eaClf0ThtiFRoUgtl30BXwAA", false},  // 34 bytes
      {"ed25519:5GwYxo2x+eRy6fUWCtJv8eaClf0ThtiFRoUgtl30BXw", false},    // not base64url
      {"ed25519:", false},
      {"rsa:5GwYxo2x-eRy6fUWCtJv8eaClf0ThtiFRoUgtl30BXw", false},
  };
  for (const KeyCase& c : cases) {
    CAPTURE(c.key);
    auto policy = load_policy_text(
        std::string("approvers:\n  - {id: bob, public_key: \"") + c.key + "\"}\n", "p.yaml");
    CHECK(policy.ok() == c.ok);
    if (!policy.ok()) CHECK(policy.error().message.find("p.yaml:2:") == 0);
  }
}

struct SignalValueCase {
  const char* json;
  const char* error;  // "" when accepted
};

TEST_CASE("signals given from outside are checked against the registry") {
  const SignalValueCase cases[] = {
      {R"({"force": true, "commits": 3, "ref": "x", "paths": ["a"]})", ""},
      {R"({"worst_regression_pct": 3})", ""},  // an int where a double is declared
      {R"({"forse": true})", "unknown signal `forse`"},
      {R"({"force": "yes"})", "signal `force` must be bool, not string"},
      {R"({"commits": 1.5})", "signal `commits` must be int, not double"},
      {R"({"paths": ["a", 1]})", "signal `paths` must be list<string>"},
      {R"({"secret_findings": {}})", "signal `secret_findings` must be list, not map"},
  };
  for (const SignalValueCase& c : cases) {
    CAPTURE(c.json);
    const Status s = SignalRegistry::builtin().check_values(parse_json(c.json).value());
    CHECK(s.ok() == std::string(c.error).empty());
    if (!s.ok()) CHECK(s.error().message.find(c.error) != std::string::npos);
  }
}

// Every ```yaml block of the README that holds a policy (has `rules:`) lints clean.
TEST_CASE("policy lint: the README's policy examples lint clean") {
  std::ifstream in(std::string(STEPGATE_SOURCE_DIR) + "/README.md");
  REQUIRE(in);
  std::vector<std::string> blocks;
  std::string line;
  std::string block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      if (block.find("rules:") != std::string::npos) blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  REQUIRE_FALSE(blocks.empty());
  for (const std::string& b : blocks) {
    CAPTURE(b);
    const std::vector<std::string> problems = lint_text(b);
    CAPTURE(joined(problems));
    CHECK(problems.empty());
  }
}

}  // namespace
}  // namespace stepgate
