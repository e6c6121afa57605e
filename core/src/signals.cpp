#include "stepgate/signals.h"

#include <algorithm>

#include "stepgate/glob.h"

namespace stepgate {
namespace {

using T = SignalType;

struct Row {
  const char* name;
  SignalType type;
  const char* collector;
  const char* kinds;  // space-separated kind globs
  const char* meaning;
};

// The one table: every signal every collector provides. Front-ends fill these; `stepgate
// signals` lists them and `policy lint` checks rule references against them.
constexpr Row kSignals[] = {
    // common: time, device, velocity, elevation (every kind)
    {"hour", T::kInt, "time", "*", "local hour 0-23 in the policy timezone"},
    {"weekday", T::kInt, "time", "*", "local weekday 0-6 in the policy timezone, 0 = Sunday"},
    {"off_hours", T::kBool, "time", "*", "outside the policy's business_hours (hours or days)"},
    {"actor", T::kString, "device", "*", "who acts (the action's actor)"},
    {"device", T::kString, "device", "*", "fingerprint of this device (16 hex digits)"},
    {"device_known", T::kBool, "device", "*", "this actor has used this device before"},
    {"velocity", T::kInt, "velocity", "*",
     "actions of this kind by this actor within velocity_window, this one included"},
    {"elevated", T::kBool, "elevation", "*",
     "the actor holds a live elevation (recent step-up) on this device"},
    // baselines: learnt from the actor's own history in the state store (baselines.h)
    {"unusual_hour", T::kBool, "baseline", "*",
     "this actor rarely acts at this time of day (under 1 in 50 of their last 30 days' actions of "
     "this kind; needs 20 of them first)"},
    {"unusual_hour_reason", T::kString, "baseline", "*",
     "why, e.g. \"git.push at 03:00 is 1 in 400 for alice over 30 days\""},
    {"volume_z", T::kDouble, "baseline", "*",
     "z score of this actor's last-24h count of this kind against their 14 days before"},
    {"volume_reason", T::kString, "baseline", "*", "the count, daily mean and deviation behind it"},
    {"new_resource", T::kBool, "baseline", "*",
     "the first time this actor acts on this resource with this kind"},
    {"new_resource_reason", T::kString, "baseline", "*", "which resource is new to whom"},
    // git: pre-push / pre-receive
    {"commits", T::kInt, "git", "git.push git.receive", "new commits the push sends"},
    {"force", T::kBool, "git", "git.push git.receive",
     "a non-fast-forward update (history rewrite)"},
    {"delete", T::kBool, "git", "git.push git.receive", "the ref is being deleted"},
    {"new_branch", T::kBool, "git", "git.push git.receive",
     "the ref does not exist on the remote yet"},
    {"tag", T::kBool, "git", "git.push git.receive", "the ref is a tag (refs/tags/...)"},
    {"protected", T::kBool, "git", "git.push git.receive", "the ref matches git.protected_refs"},
    {"ref", T::kString, "git", "git.push git.receive", "full ref name, e.g. refs/heads/main"},
    {"files_changed", T::kInt, "git", "git.push git.receive",
     "files changed across the new commits"},
    {"lines_added", T::kInt, "git", "git.push git.receive", "lines added across the new commits"},
    {"lines_deleted", T::kInt, "git", "git.push git.receive",
     "lines deleted across the new commits"},
    {"paths", T::kStringList, "git", "git.push git.receive", "paths changed by the new commits"},
    {"secrets", T::kStringList, "git", "git.push git.receive",
     "ids of the secret-scanning rules that matched added lines (after allow lists)"},
    {"secret_findings", T::kList, "git", "git.push git.receive",
     "secret findings as maps {rule, file, line} (values never included)"},
    {"large_files", T::kStringList, "git", "git.push git.receive",
     "added files larger than git.large_file_bytes"},
    {"model_artifacts", T::kStringList, "git", "git.push git.receive",
     "added or changed files with a git.model_extensions extension"},
    {"ci_config_changed", T::kBool, "git", "git.push git.receive",
     "a path matching git.ci_config_paths changed"},
    {"unsigned_commits", T::kInt, "git", "git.push git.receive", "new commits without a signature"},
    {"foreign_authors", T::kStringList, "git", "git.push git.receive",
     "author emails of new commits that are not the pusher's"},
    {"remote", T::kString, "git", "git.push git.receive", "remote name or URL pushed to"},
    {"scan_incomplete", T::kBool, "git", "git.push git.receive",
     "the push exceeded the scan limits: some commits were not diffed or some added lines not "
     "scanned for secrets"},
    // ci: deployment gate (model.deploy) and CI context (every kind run in CI)
    {"production", T::kBool, "ci", "model.deploy",
     "target environment is in ci.production_environments"},
    {"environment", T::kString, "ci", "model.deploy", "target environment name"},
    {"metric_regressions", T::kStringList, "ci", "model.deploy",
     "metrics worse than the baseline beyond their tolerance"},
    {"worst_regression_pct", T::kDouble, "ci", "model.deploy",
     "largest relative regression across metrics, in percent (0 when none)"},
    {"worst_regression_metric", T::kString, "ci", "model.deploy",
     "the metric with the largest relative regression (\"\" when none regressed)"},
    {"eval_missing", T::kBool, "ci", "model.deploy", "no evaluation report for the candidate"},
    {"artifact_digest_mismatch", T::kBool, "ci", "model.deploy",
     "the artifact's SHA-256 differs from the digest in the manifest"},
    {"size_change_pct", T::kDouble, "ci", "model.deploy",
     "artifact size change against the baseline, in percent"},
    {"actor_is_deployer", T::kBool, "ci", "*", "the CI actor is listed in ci.deployers"},
    {"first_deploy_by_actor", T::kBool, "ci", "model.deploy",
     "this actor has never deployed to this environment before"},
    {"outside_change_window", T::kBool, "ci", "*", "now is outside ci.change_window"},
    {"default_branch", T::kBool, "ci", "*", "the run is on one of ci.default_branches"},
    {"run_attempt", T::kInt, "ci", "*", "attempt number of this CI run (1 for the first)"},
    {"manual_trigger", T::kBool, "ci", "*", "the run was started by hand (workflow_dispatch, web)"},
    {"ci_provider", T::kString, "ci", "*", "github, gitlab, generic, or empty outside CI"},
    {"change_ticket", T::kString, "ci", "*", "change ticket id given to the run, or empty"},
    // tool: agent tool calls
    {"tool", T::kString, "tool", "tool.call", "tool name"},
    {"server", T::kString, "tool", "tool.call", "MCP server (upstream) name"},
    {"destructive", T::kBool, "tool", "tool.call",
     "the call matches a destructive pattern (rm -rf, DROP TABLE, force push...)"},
    {"destructive_patterns", T::kStringList, "tool", "tool.call",
     "ids of the destructive patterns matched: rm-recursive-force, find-delete, shred, "
     "git-force-push, git-push-delete, git-skip-hooks, git-reset-hard, git-clean-force, "
     "kubectl-delete, terraform-destroy, mkfs, dd-to-device, redirect-to-device, "
     "chmod-777-recursive, pipe-to-shell, sql-drop, sql-truncate, sql-delete-without-where, "
     "tool-delete, write-outside-workspace"},
    {"shell_command", T::kString, "tool", "tool.call", "the shell command, for shell-like tools"},
    {"shell_programs", T::kStringList, "tool", "tool.call",
     "programs the shell command runs, as base names (/bin/rm, \\rm -> rm), through sh -c, env, "
     "sudo, xargs, nice, timeout, find -exec..., wrappers included"},
    {"shell_unresolved", T::kStringList, "tool", "tool.call",
     "why part of the shell command cannot be known before it runs: variable-program, eval, "
     "dynamic-script, dynamic-option, shell-reads-pipe, git-alias, program-alias, "
     "unbalanced-quote, "
     "unbalanced-paren, syntax-error, limit-size, limit-depth, limit-commands, limit-paths"},
    {"stepgate_paths", T::kStringList, "tool", "tool.call",
     "paths in stepgate's own config, secrets or state directories (seeds, keys, state, audit), "
     "however spelled (cd, .., ~, $HOME, globs, a parent given to a recursive reader)"},
    {"stepgate_writes", T::kStringList, "tool", "tool.call",
     "paths the call writes or removes in stepgate's own directories or in any .stepgate/ "
     "directory (the repository policy layer)"},
    {"paths", T::kStringList, "tool", "tool.call", "file paths found in the arguments (absolute)"},
    {"outside_workspace", T::kStringList, "tool", "tool.call",
     "paths written or read outside agents.workspaces"},
    {"sensitive_paths", T::kStringList, "tool", "tool.call",
     "paths matching agents.sensitive_paths"},
    {"network_hosts", T::kStringList, "tool", "tool.call", "hosts found in URLs in the arguments"},
    {"new_host", T::kBool, "tool", "tool.call",
     "a network host not in agents.known_hosts and not seen before"},
    {"secrets_in_args", T::kStringList, "tool", "tool.call",
     "ids of secret-scanning rules matching the arguments"},
    {"args_bytes", T::kInt, "tool", "tool.call", "size of the arguments as JSON, in bytes"},
    {"rate", T::kInt, "tool", "tool.call",
     "calls of this tool by this actor within velocity_window"},
};

std::vector<std::string> split_kinds(const char* kinds) {
  std::vector<std::string> out;
  std::string current;
  for (const char* p = kinds; *p != '\0'; ++p) {
    if (*p == ' ') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += *p;
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

// Two kind globs overlap when one matches the other (a good-enough test for the patterns
// policies use: exact kinds, `git.*`, `*`).
bool kinds_overlap(std::string_view a, std::string_view b) {
  return a == "*" || b == "*" || glob_match(a, b) || glob_match(b, a);
}

}  // namespace

const char* signal_type_name(SignalType type) {
  switch (type) {
    case T::kBool:
      return "bool";
    case T::kInt:
      return "int";
    case T::kDouble:
      return "double";
    case T::kString:
      return "string";
    case T::kStringList:
      return "list<string>";
    case T::kList:
      return "list";
  }
  return "list";
}

Value default_signal_value(SignalType type) {
  switch (type) {
    case T::kBool:
      return {false};
    case T::kInt:
      return {0};
    case T::kDouble:
      return {0.0};
    case T::kString:
      return {std::string()};
    case T::kStringList:
    case T::kList:
      return {List{}};
  }
  return {};
}

const SignalRegistry& SignalRegistry::builtin() {
  static const SignalRegistry registry = [] {
    SignalRegistry r;
    for (const Row& row : kSignals) {
      r.add(SignalSpec{row.name, row.type, row.meaning, row.collector, split_kinds(row.kinds)});
    }
    return r;
  }();
  return registry;
}

void SignalRegistry::add(SignalSpec spec) {
  slots_.try_emplace(spec.name, static_cast<int>(specs_.size()));
  specs_.push_back(std::move(spec));
}

namespace {
bool fits(SignalType type, const Value& v) {
  switch (type) {
    case T::kBool:
      return v.is_bool();
    case T::kInt:
      return v.is_int();
    case T::kDouble:
      return v.is_number();
    case T::kString:
      return v.is_string();
    case T::kStringList:
      return v.is_list() && std::all_of(v.as_list().begin(), v.as_list().end(),
                                        [](const Value& item) { return item.is_string(); });
    case T::kList:
      return v.is_list();
  }
  return false;
}
}  // namespace

Status SignalRegistry::check_values(const Value& signals) const {
  if (!signals.is_map()) return invalid_argument("signals must be a JSON object");
  for (const auto& [name, value] : signals.as_map()) {
    const SignalSpec* spec = find(name);
    if (spec == nullptr) {
      return invalid_argument("unknown signal `" + name +
                              "` (no collector provides it; see `stepgate signals`)");
    }
    if (!fits(spec->type, value)) {
      return invalid_argument("signal `" + name + "` must be " + signal_type_name(spec->type) +
                              ", not " + Value::type_name(value.type()));
    }
  }
  return {};
}

int SignalRegistry::slot(std::string_view name) const {
  auto it = slots_.find(name);
  return it == slots_.end() ? -1 : it->second;
}

const SignalSpec* SignalRegistry::find(std::string_view name) const {
  for (const SignalSpec& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool SignalRegistry::provided_for(std::string_view name, std::string_view kind_pattern) const {
  for (const SignalSpec& s : specs_) {
    if (s.name != name) continue;
    for (const std::string& k : s.kinds) {
      if (kinds_overlap(k, kind_pattern)) return true;
    }
  }
  return false;
}

std::vector<const SignalSpec*> SignalRegistry::for_kind(std::string_view kind) const {
  std::vector<const SignalSpec*> out;
  for (const SignalSpec& s : specs_) {
    for (const std::string& k : s.kinds) {
      if (k == "*" || glob_match(k, kind)) {
        out.push_back(&s);
        break;
      }
    }
  }
  return out;
}

}  // namespace stepgate
