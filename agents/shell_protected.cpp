#include "shell_protected.h"

#include <fnmatch.h>

#include <algorithm>
#include <string_view>

#include "stepgate/paths.h"

namespace stepgate {
namespace {

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t slash = path.find('/', i);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > i) out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

bool component_matches(std::string_view pattern, std::string_view name, bool glob) {
  if (!glob) return pattern == name;
  const std::string p(pattern);
  const std::string n(name);
  return fnmatch(p.c_str(), n.c_str(), FNM_PERIOD) == 0;
}

/// Whether `path` (a glob when `glob`) names `dir` or something under it (kOwnFiles), or a
/// directory above it (kAncestor).
StepgateReach reaches(std::string_view path, std::string_view dir, bool glob) {
  const auto p = components(path);
  const auto d = components(dir);
  const std::size_t common = std::min(p.size(), d.size());
  for (std::size_t k = 0; k < common; ++k) {
    if (!component_matches(p[k], d[k], glob)) return StepgateReach::kNone;
  }
  return p.size() >= d.size() ? StepgateReach::kOwnFiles : StepgateReach::kAncestor;
}

bool names_stepgate(std::string_view path, bool glob) {
  return std::ranges::any_of(components(path), [&](std::string_view c) {
    return component_matches(c, "stepgate", glob) || component_matches(c, ".stepgate", glob) ||
           c == "stepgate" || c == ".stepgate";
  });
}

bool names_repo_layer(std::string_view path, bool glob) {
  return std::ranges::any_of(components(path), [&](std::string_view c) {
    return c == ".stepgate" || (glob && component_matches(c, ".stepgate", true));
  });
}

}  // namespace

std::vector<std::string> stepgate_dirs(const std::string& home, const Env& env) {
  const Paths paths = Paths::from_environment(env);
  std::vector<std::string> dirs = {paths.config_dir, paths.state_dir, paths.secrets_dir,
                                   "/etc/stepgate"};
  if (!home.empty()) {
    dirs.push_back(home + "/.config/stepgate");
    dirs.push_back(home + "/.local/state/stepgate");
  }
  const std::size_t audit_slash = paths.audit_log.rfind('/');
  if (audit_slash != std::string::npos && audit_slash > 0) {
    dirs.push_back(paths.audit_log.substr(0, audit_slash));
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::erase_if(dirs, [](const std::string& d) { return d.empty() || d == "/"; });
  return dirs;
}

StepgateReach stepgate_reach(const ShellPath& p, const std::vector<std::string>& dirs) {
  if (p.uncertain) {
    if (!names_stepgate(p.path, p.glob)) return StepgateReach::kNone;
    return names_repo_layer(p.path, p.glob) ? StepgateReach::kRepoLayer : StepgateReach::kOwnFiles;
  }
  StepgateReach found = StepgateReach::kNone;
  for (const std::string& dir : dirs) {
    const StepgateReach r = reaches(p.path, dir, p.glob);
    if (r == StepgateReach::kOwnFiles) return r;
    if (r == StepgateReach::kAncestor && p.recursive) found = r;
  }
  if (found != StepgateReach::kNone) return found;
  return names_repo_layer(p.path, p.glob) ? StepgateReach::kRepoLayer : StepgateReach::kNone;
}

}  // namespace stepgate
