#include "stepgate/yaml_limits.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "stepgate/limits.h"
#include "stepgate/policy.h"

namespace stepgate {
namespace {

/// "Billion laughs" in YAML: nine levels of ten aliases each, 10^9 nodes from ~500 bytes.
std::string alias_bomb() {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i > 0 ? ", *" : "*") + prev;
    text += "]\n";
  }
  return text;
}

struct LimitCase {
  const char* name;
  std::string text;
  const char* where;  // "" when the document is within the limits
  const char* says;
};

std::vector<LimitCase> limit_cases() {
  const std::string deep_40 = std::string(40, '[') + std::string(40, ']');
  return {
      {"alias bomb", alias_bomb(), "p.yaml:5:", "limit of 100000 nodes"},
      {"flow nesting past the limit", std::string(100, '[') + std::string(100, ']'),
       "p.yaml:1:", "limit of 64 levels"},
      {"block nesting past the limit",
       [] {
         std::string t;
         for (int i = 0; i < 70; ++i)
           t += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
         return t;
       }(),
       "p.yaml:", "limit of 64 levels"},
      {"an alias that reaches past the limit",
       "a: &deep " + deep_40 + "\nb: " + std::string(30, '[') + "*deep" + std::string(30, ']') +
           "\n",
       "p.yaml:2:", "an alias expands deeper than the nesting limit of 64 levels"},
      {"an alias inside its own anchor", "a: &a [x, *a]\n", "p.yaml:1:", "(a cycle)"},
      {"nesting at the limit", std::string(64, '[') + std::string(64, ']'), "", ""},
      {"a few aliases", "a: &a {x: 1, y: [1, 2]}\nb: *a\nc: [*a, *a, *a]\n", "", ""},
      {"twenty thousand scalars",
       [] {
         std::string t = "[";
         for (int i = 0; i < 20000; ++i) t += "x, ";
         return t + "x]";
       }(),
       "", ""},
  };
}

}  // namespace

TEST_CASE("YAML from outside is held to the nesting limit and the expanded-node limit") {
  for (const LimitCase& c : limit_cases()) {
    CAPTURE(c.name);
    Status s = check_yaml_limits(c.text, "p.yaml");
    if (std::string(c.where).empty()) {
      CHECK_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
      continue;
    }
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == ErrorCode::kResourceExhausted);
    CHECK(s.error().message.rfind(c.where, 0) == 0);
    CHECK(s.error().message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("a policy that is an alias bomb or nests too deep is refused before it expands") {
  const std::string bomb = "version: 1\nname: bomb\nrules: []\nx:\n" + [] {
    std::string indented;
    std::string text = alias_bomb();
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      indented += "  " + text.substr(start, end - start + 1);
      start = end + 1;
    }
    return indented;
  }();
  auto policy = load_policy_text(bomb, "bomb.yaml");
  REQUIRE_FALSE(policy.ok());
  CHECK(policy.error().code == ErrorCode::kResourceExhausted);
  CHECK(exit_code_for(policy.error()) == 2);
  CHECK(policy.error().message.rfind("bomb.yaml:9:", 0) == 0);
  CHECK(policy.error().message.find("limit of 100000 nodes") != std::string::npos);

  auto deep = load_policy_text(
      "version: 1\nname: deep\nx: " + std::string(5000, '[') + std::string(5000, ']') + "\n",
      "deep.yaml");
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.error().message.rfind("deep.yaml:3:", 0) == 0);
  CHECK(deep.error().message.find("limit of 64 levels") != std::string::npos);
}

TEST_CASE("a policy sharing a requirement through an anchor still loads") {
  auto policy = load_policy_text(R"(version: 1
name: anchors
thresholds: {step_up: 40, deny: 90}
step_up: &req {method: totp, max_age: 10m, approvers: 1}
rules:
  - id: force
    on: git.push
    when: signals.force
    effect: step_up
    message: "force"
    step_up: *req
)",
                                 "anchors.yaml");
  CHECK_MESSAGE(policy.ok(), (policy.ok() ? "" : policy.error().message));
}

}  // namespace stepgate
