#include "context.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "stepgate/glob.h"
#include "stepgate/paths.h"

namespace stepgate::ci {
namespace {

int64_t parse_attempt(const std::string& text) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < 1) return 1;
  return n;
}

std::string strip_ref(const std::string& ref) {
  for (const char* prefix : {"refs/heads/", "refs/tags/"}) {
    const std::string p(prefix);
    if (ref.rfind(p, 0) == 0) return ref.substr(p.size());
  }
  return ref;
}

CiContext github_context(const Env& env) {
  CiContext c;
  c.provider = Provider::kGithub;
  c.actor = env("GITHUB_ACTOR");
  c.repository = env("GITHUB_REPOSITORY");
  c.ref_name = env("GITHUB_REF_NAME");
  if (c.ref_name.empty()) c.ref_name = strip_ref(env("GITHUB_REF"));
  c.commit = env("GITHUB_SHA");
  c.event = env("GITHUB_EVENT_NAME");
  c.run_id = env("GITHUB_RUN_ID");
  c.run_attempt = parse_attempt(env("GITHUB_RUN_ATTEMPT"));
  c.workflow = env("GITHUB_WORKFLOW");
  return c;
}

CiContext gitlab_context(const Env& env) {
  CiContext c;
  c.provider = Provider::kGitlab;
  c.actor = env("GITLAB_USER_LOGIN");
  c.repository = env("CI_PROJECT_PATH");
  c.ref_name = env("CI_COMMIT_REF_NAME");
  c.default_branch = env("CI_DEFAULT_BRANCH");
  c.commit = env("CI_COMMIT_SHA");
  c.event = env("CI_PIPELINE_SOURCE");
  c.run_id = env("CI_PIPELINE_ID");
  c.workflow = env("CI_JOB_NAME");
  c.environment = env("CI_ENVIRONMENT_NAME");
  return c;
}

bool any_glob(const std::vector<std::string>& patterns, const std::string& text) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_match(p, text); });
}

}  // namespace

const char* provider_name(Provider provider) {
  switch (provider) {
    case Provider::kGithub:
      return "github";
    case Provider::kGitlab:
      return "gitlab";
    case Provider::kGeneric:
      return "generic";
    case Provider::kNone:
      break;
  }
  return "";
}

Env process_env() {
  return [](const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
}

CiContext detect_ci_context(const Env& env) {
  CiContext c;
  if (env("GITHUB_ACTIONS") == "true") {
    c = github_context(env);
  } else if (env("GITLAB_CI") == "true") {
    c = gitlab_context(env);
  } else if (env("CI") == "true" || env("CI") == "1") {
    c.provider = Provider::kGeneric;
  }
  // Outside GitHub/GitLab the provider does not name the actor.
  if (c.actor.empty() && c.provider != Provider::kGithub && c.provider != Provider::kGitlab) {
    c.actor = env("STEPGATE_ACTOR");
    if (c.actor.empty()) c.actor = env("USER");
    if (c.actor.empty()) c.actor = os_user_name();  // the account running the step
  }
  if (c.actor.empty()) c.actor = "unknown";
  return c;
}

Value context_attributes(const CiContext& context) {
  Value attrs = Map{};
  if (!context.repository.empty()) attrs["repository"] = context.repository;
  if (!context.commit.empty()) attrs["commit"] = context.commit;
  return attrs;
}

void add_context_signals(const CiContext& c, const CiSettings& settings, Value& signals) {
  signals["ci_provider"] = provider_name(c.provider);
  signals["actor_is_deployer"] = std::find(settings.deployers.begin(), settings.deployers.end(),
                                           c.actor) != settings.deployers.end();
  bool on_default = !c.ref_name.empty() && (c.ref_name == c.default_branch ||
                                            any_glob(settings.default_branches, c.ref_name));
  signals["default_branch"] = on_default;
  signals["run_attempt"] = c.run_attempt;
  signals["manual_trigger"] =
      c.event == "workflow_dispatch" || c.event == "web" || c.event == "manual";
}

}  // namespace stepgate::ci
