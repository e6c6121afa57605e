// CI context detection from provider environments, context signals and change windows.
#include "context.h"

#include <doctest/doctest.h>

#include <map>

#include "deploy_signals.h"

namespace stepgate::ci {
namespace {

Env env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
}

TEST_CASE("GitHub Actions context") {
  CiContext c = detect_ci_context(env_of({{"GITHUB_ACTIONS", "true"},
                                          {"GITHUB_ACTOR", "alice"},
                                          {"GITHUB_REPOSITORY", "acme/models"},
                                          {"GITHUB_REF", "refs/heads/feature/x"},
                                          {"GITHUB_SHA", "abc"},
                                          {"GITHUB_EVENT_NAME", "workflow_dispatch"},
                                          {"GITHUB_RUN_ATTEMPT", "3"},
                                          {"STEPGATE_ACTOR", "spoof"}}));
  CHECK(c.provider == Provider::kGithub);
  CHECK(c.actor == "alice");
  CHECK(c.ref_name == "feature/x");
  CHECK(c.run_attempt == 3);
  CiSettings settings;
  settings.deployers = {"alice"};
  Value s = Map{};
  add_context_signals(c, settings, s);
  CHECK(s.get_string("ci_provider") == "github");
  CHECK(s.get_bool("actor_is_deployer"));
  CHECK_FALSE(s.get_bool("default_branch"));
  CHECK(s.get_bool("manual_trigger"));
  CHECK(s.get_int("run_attempt") == 3);
  CHECK(context_attributes(c).get_string("commit") == "abc");
}

TEST_CASE("GitLab context uses CI_DEFAULT_BRANCH") {
  CiContext c = detect_ci_context(env_of({{"GITLAB_CI", "true"},
                                          {"GITLAB_USER_LOGIN", "bob"},
                                          {"CI_PROJECT_PATH", "acme/models"},
                                          {"CI_COMMIT_REF_NAME", "trunk"},
                                          {"CI_DEFAULT_BRANCH", "trunk"},
                                          {"CI_PIPELINE_SOURCE", "push"},
                                          {"CI_ENVIRONMENT_NAME", "production"}}));
  CHECK(c.provider == Provider::kGitlab);
  CHECK(c.actor == "bob");
  CHECK(c.environment == "production");
  Value s = Map{};
  add_context_signals(c, CiSettings{}, s);
  CHECK(s.get_bool("default_branch"));
  CHECK_FALSE(s.get_bool("manual_trigger"));
  CHECK_FALSE(s.get_bool("actor_is_deployer"));
  CHECK(s.get_int("run_attempt") == 1);
}

TEST_CASE("generic CI and no CI take the actor from STEPGATE_ACTOR or USER") {
  CHECK(detect_ci_context(env_of({{"CI", "true"}, {"STEPGATE_ACTOR", "carol"}})).actor == "carol");
  CiContext local = detect_ci_context(env_of({{"USER", "dave"}}));
  CHECK(local.provider == Provider::kNone);
  CHECK(local.actor == "dave");
  CHECK(std::string(provider_name(local.provider)).empty());
}

TEST_CASE("change windows") {
  // 2025-01-07 is a Tuesday.
  const UnixTime tue_1000 = 1736244000;
  constexpr UnixTime kHour = 3600;
  constexpr UnixTime kDay = 24 * kHour;
  const UnixTime tue_1700 = tue_1000 + 7 * kHour;
  const UnixTime fri_1000 = tue_1000 + 3 * kDay;
  const UnixTime sat_0100 = fri_1000 + 15 * kHour;
  struct Case {
    const char* spec;
    UnixTime at;
    bool inside;
  };
  const Case cases[] = {
      {"", tue_1700, true},
      {"Mon-Thu 09:00-16:00", tue_1000, true},
      {"Mon-Thu 09:00-16:00", tue_1700, false},
      {"Mon-Thu 09:00-16:00", fri_1000, false},
      {"Mon,Fri 09:00-11:00", fri_1000, true},
      {"Fri 22:00-02:00", sat_0100, true},
      {"Mon-Thu 09:00-16:00; Fri 09:00-12:00", fri_1000, true},
      {"Sat-Mon 00:00-24:00", tue_1000, false},
  };
  for (const Case& c : cases) {
    auto inside = inside_change_window(c.spec, c.at, "UTC");
    REQUIRE_MESSAGE(inside.ok(), c.spec << ": " << inside.error().message);
    CHECK_MESSAGE(*inside == c.inside, c.spec);
  }
  CHECK_FALSE(inside_change_window("Someday 09:00-10:00", tue_1000, "UTC").ok());
  CHECK_FALSE(inside_change_window("Mon 9-10", tue_1000, "UTC").ok());
}

}  // namespace
}  // namespace stepgate::ci
