#include "stepgate/policy_layers.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Policies that decide tool.call by the signal `level`: the user's steps up from level 1 and
// denies from 3; the permissive one (what a hostile repository ships) allows everything; the
// strict one asks two approvers from level 2; the shadow one would deny everything.
constexpr const char* kUser = R"(name: user
step_up: {method: totp, max_age: 15m}
rules:
  - {id: user-step, on: tool.call, when: signals.level >= 1, effect: step_up}
  - {id: user-deny, on: tool.call, when: signals.level >= 3, effect: deny}
)";
constexpr const char* kPermissive = R"(name: permissive
thresholds: {step_up: 100000, deny: 200000}
rules:
  - {id: anything-goes, on: "*", when: "true", score: -1000}
)";
constexpr const char* kStrict = R"(name: strict
rules:
  - {id: strict-step, on: tool.call, when: signals.level >= 2, effect: step_up,
     step_up: {method: approval, approvers: 2, max_age: 5m}}
)";
constexpr const char* kShadow = R"(name: shadow
mode: shadow
rules:
  - {id: would-deny, on: "*", when: "true", effect: deny}
)";

std::shared_ptr<const Policy> policy(const char* text) {
  auto p = load_policy_text(text, "test.yaml");
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
  return *p;
}

Action tool_call() {
  Action a;
  a.kind = "tool.call";
  a.actor = "agent";
  a.resource = "shell";
  return a;
}

TEST_CASE("policy layers: the strictest verdict wins and names the layer that decided") {
  struct Row {
    const char* what;
    std::vector<std::pair<const char*, const char*>> layers;  // name, policy text
    int level;
    Verdict verdict;
    const char* layer;
  };
  const Row rows[] = {
      {"a permissive repository does not lift the user's step-up",
       {{"user", kUser}, {"repository", kPermissive}},
       1,
       Verdict::kStepUp,
       "user"},
      {"a permissive repository does not lift the user's deny",
       {{"user", kUser}, {"repository", kPermissive}},
       3,
       Verdict::kDeny,
       "user"},
      {"a repository can add friction the user's layer lacks",
       {{"user", kPermissive}, {"repository", kUser}},
       1,
       Verdict::kStepUp,
       "repository"},
      {"all allow: the first layer decided",
       {{"user", kUser}, {"repository", kPermissive}},
       0,
       Verdict::kAllow,
       "user"},
      {"equal verdicts: the more authoritative layer decided",
       {{"system", kUser}, {"user", kUser}, {"repository", kStrict}},
       2,
       Verdict::kStepUp,
       "system"},
      {"a permissive system layer does not lift the repository's deny",
       {{"system", kPermissive}, {"user", kPermissive}, {"repository", kUser}},
       3,
       Verdict::kDeny,
       "repository"},
      {"a shadow layer only reports",
       {{"user", kPermissive}, {"repository", kShadow}},
       0,
       Verdict::kAllow,
       "user"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    std::vector<PolicyLayer> layers;
    for (const auto& [name, text] : row.layers) layers.push_back({name, policy(text)});
    const LayeredEngine engine(layers);
    const Decision d = engine.evaluate(tool_call(), Value(Map{{"level", Value(row.level)}}));
    CHECK(verdict_name(d.verdict) == std::string(verdict_name(row.verdict)));
    CHECK(d.layer == row.layer);
    REQUIRE(d.layers.size() == row.layers.size());
    for (std::size_t i = 0; i < d.layers.size(); ++i)
      CHECK(d.layers[i].layer == row.layers[i].first);
    const auto decider = std::find_if(d.layers.begin(), d.layers.end(),
                                      [&d](const LayerVerdict& l) { return l.layer == d.layer; });
    REQUIRE(decider != d.layers.end());
    CHECK(decider->verdict == d.verdict);
    CHECK(engine.policy().name == engine.layers().front().policy->name);  // settings: first
  }
}

TEST_CASE("policy layers: shadow reports would_be, the requirement is the strictest") {
  const LayeredEngine shadowed(
      std::vector<PolicyLayer>{{"user", policy(kPermissive)}, {"repository", policy(kShadow)}});
  const Decision s = shadowed.evaluate(tool_call(), Value(Map{{"level", Value(0)}}));
  CHECK(s.verdict == Verdict::kAllow);
  CHECK(s.shadow);
  CHECK(s.would_be == Verdict::kDeny);

  const LayeredEngine both(
      std::vector<PolicyLayer>{{"user", policy(kUser)}, {"repository", policy(kStrict)}});
  const Decision d = both.evaluate(tool_call(), Value(Map{{"level", Value(2)}}));
  REQUIRE(d.verdict == Verdict::kStepUp);
  REQUIRE(d.requirement);
  CHECK(d.requirement->method == StepUpMethod::kApproval);
  CHECK(d.requirement->approvers == 2);
  CHECK(d.requirement->max_age == std::chrono::minutes(5));
  std::vector<std::string> rules;
  for (const Reason& r : d.reasons) rules.push_back(r.rule_id);
  CHECK(rules == std::vector<std::string>{"user-step", "strict-step"});

  // One layer decides exactly what its engine decides.
  const LayeredEngine one(policy(kUser));
  const Engine engine(policy(kUser));
  const Decision a = one.evaluate(tool_call(), Value(Map{{"level", Value(1)}}));
  const Decision b = engine.evaluate(tool_call(), Value(Map{{"level", Value(1)}}));
  CHECK(a.verdict == b.verdict);
  CHECK(a.score == b.score);
  CHECK(a.reasons.size() == b.reasons.size());
  CHECK(a.policy_revision == b.policy_revision);
}

// Sets (or unsets) an environment variable for a scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> saved;
  ScopedEnv(const char* n, std::optional<std::string> value) : name(n) {
    if (const char* old = std::getenv(n)) saved = old;
    if (value)
      setenv(n, value->c_str(), 1);
    else
      unsetenv(n);
  }
  ~ScopedEnv() {
    if (saved)
      setenv(name.c_str(), saved->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST_CASE("policy layers: every layer present is found, the repository's last") {
  TempDir dir;
  const std::string repo = dir.path() + "/repo";
  const std::string nested = repo + "/src/deep";
  const std::string outside = dir.path() + "/outside";
  const std::string home = dir.path() + "/home";
  const std::string repo_policy = repo + "/.stepgate/policy.yaml";
  const std::string user_policy = dir.path() + "/user.yaml";
  const std::string config_policy = home + "/config/policy.yaml";
  const std::string system_policy = dir.path() + "/etc/policy.yaml";
  const std::string explicit_policy = dir.path() + "/explicit.yaml";
  for (const std::string& p : {repo_policy, user_policy, system_policy, explicit_policy})
    write_text(p, kUser);
  fs::create_directories(nested);
  fs::create_directories(outside);
  const std::string none = dir.path() + "/no-system.yaml";

  struct Row {
    const char* what;
    std::string explicit_path, cwd, system;
    std::optional<std::string> env_policy;
    bool config_exists;
    std::vector<std::pair<std::string, std::string>> expected;  // empty: kNotFound
  };
  const Row rows[] = {
      {"$STEPGATE_POLICY and the repository's are both layers",
       "",
       nested,
       none,
       user_policy,
       false,
       {{"user", user_policy}, {"repository", repo_policy}}},
      {"the system layer comes first",
       "",
       nested,
       system_policy,
       user_policy,
       false,
       {{"system", system_policy}, {"user", user_policy}, {"repository", repo_policy}}},
      {"--policy is the user layer, the repository still applies",
       explicit_policy,
       nested,
       none,
       user_policy,
       false,
       {{"user", explicit_policy}, {"repository", repo_policy}}},
      {"the config dir's policy is the user layer",
       "",
       nested,
       none,
       std::nullopt,
       true,
       {{"user", config_policy}, {"repository", repo_policy}}},
      {"the repository alone", "", repo, none, std::nullopt, false, {{"repository", repo_policy}}},
      {"one file named twice is one layer",
       repo_policy,
       nested,
       none,
       std::nullopt,
       false,
       {{"user", repo_policy}}},
      {"outside a repository", "", outside, none, user_policy, false, {{"user", user_policy}}},
      {"nothing at all", "", outside, none, std::nullopt, false, {}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    ScopedEnv sg_home("STEPGATE_HOME", home);
    ScopedEnv config("STEPGATE_CONFIG_DIR", std::nullopt);
    ScopedEnv env("STEPGATE_POLICY", row.env_policy);
    std::error_code ec;
    fs::remove(config_policy, ec);
    if (row.config_exists) write_text(config_policy, kUser);
    auto found = find_policy_layers(row.explicit_path, row.cwd, row.system);
    if (row.expected.empty()) {
      REQUIRE_FALSE(found.ok());
      CHECK(found.error().code == ErrorCode::kNotFound);
      continue;
    }
    REQUIRE_MESSAGE(found.ok(), (found.ok() ? "" : found.error().message));
    REQUIRE(found->size() == row.expected.size());
    for (std::size_t i = 0; i < found->size(); ++i) {
      CHECK((*found)[i].name == row.expected[i].first);
      CHECK(fs::equivalent((*found)[i].path, row.expected[i].second));
    }
  }
}

TEST_CASE("policy layers: a repository layer that does not load fails closed, naming its file") {
  TempDir dir;
  const std::string repo_policy = dir.path() + "/repo/.stepgate/policy.yaml";
  const std::string user_policy = dir.path() + "/user.yaml";
  write_text(user_policy, kUser);
  write_text(repo_policy, "rules: [ {id: x, on: tool.call, bogus: 1} ]\n");
  ScopedEnv env("STEPGATE_POLICY", user_policy);
  auto layers = load_policy_layers("", dir.path() + "/repo", dir.path() + "/none.yaml", "");
  REQUIRE_FALSE(layers.ok());
  CHECK(layers.error().message.find(repo_policy) != std::string::npos);
}

}  // namespace
}  // namespace stepgate
