#pragma once
// The CI run around a gate: which provider, who triggered it, which branch and commit, read from
// the provider's environment variables (GitHub Actions, GitLab CI, or a generic CI=true).

#include <functional>
#include <string>

#include "stepgate/policy.h"
#include "stepgate/value.h"

namespace stepgate::ci {

enum class Provider { kNone, kGithub, kGitlab, kGeneric };

/// "github", "gitlab", "generic", or "" outside CI.
const char* provider_name(Provider provider);

/// Environment lookup ("" when unset), injectable for tests.
using Env = std::function<std::string(const char*)>;

/// The process environment.
Env process_env();

struct CiContext {
  Provider provider = Provider::kNone;
  std::string actor;
  std::string repository;
  std::string ref_name;        // branch or tag name
  std::string default_branch;  // GitLab's CI_DEFAULT_BRANCH
  std::string commit;
  std::string event;  // GITHUB_EVENT_NAME / CI_PIPELINE_SOURCE
  std::string run_id;
  int64_t run_attempt = 1;
  std::string workflow;     // GITHUB_WORKFLOW / CI_JOB_NAME
  std::string environment;  // CI_ENVIRONMENT_NAME (GitLab)
};

/// Reads the CI context. Outside CI the actor is $STEPGATE_ACTOR or $USER.
CiContext detect_ci_context(const Env& env);

/// Attributes the approval digest binds to besides the manifest: repository and commit, when
/// known (the run id and attempt stay out, so a re-run can use the grant).
Value context_attributes(const CiContext& context);

/// The CI signals that depend only on the context and the policy: actor_is_deployer,
/// default_branch, run_attempt, manual_trigger, ci_provider.
void add_context_signals(const CiContext& context, const CiSettings& settings, Value& signals);

}  // namespace stepgate::ci
