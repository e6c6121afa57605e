#include "stepgate/paths.h"

#include <filesystem>

#include "stepgate/policy_layers.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

std::string first_set(std::initializer_list<std::string> candidates) {
  for (const std::string& c : candidates) {
    if (!c.empty()) return c;
  }
  return {};
}

}  // namespace

Paths Paths::from_environment(const Env& env) {
  const auto var = [&env](const char* name) { return env.get(name); };
  std::string home_dir = env.get("HOME");
  if (home_dir.empty()) home_dir = "/tmp";
  const std::string home = var("STEPGATE_HOME");
  const std::string xdg_config = var("XDG_CONFIG_HOME");
  const std::string xdg_state = var("XDG_STATE_HOME");
  Paths p;
  p.config_dir = first_set({var("STEPGATE_CONFIG_DIR"), home.empty() ? "" : home + "/config",
                            xdg_config.empty() ? "" : xdg_config + "/stepgate",
                            home_dir + "/.config/stepgate"});
  p.state_dir = first_set({var("STEPGATE_STATE_DIR"), home.empty() ? "" : home + "/state",
                           xdg_state.empty() ? "" : xdg_state + "/stepgate",
                           home_dir + "/.local/state/stepgate"});
  p.secrets_dir = first_set({var("STEPGATE_SECRETS_DIR"), p.config_dir});
  p.state_db = p.state_dir + "/state.db";
  p.audit_log = first_set({var("STEPGATE_AUDIT"), p.state_dir + "/audit.jsonl"});
  return p;
}

// The caller's directory need not be this process's: the hook daemon serves other processes.
std::string relative_to(const std::string& path, const std::string& cwd) {
  if (path.empty() || path[0] == '/' || cwd.empty() || cwd == ".") return path;
  return (fs::path(cwd) / path).string();
}

Result<std::string> find_policy_path(const std::string& explicit_path, const std::string& cwd,
                                     const Env& env) {
  // The settings layer: a repository's file never stands in for the user's (policy_layers.h).
  auto layers = find_policy_layers(explicit_path, cwd, kSystemPolicyPath, env);
  if (!layers.ok()) return layers.error();
  return layers->front().path;
}

}  // namespace stepgate
