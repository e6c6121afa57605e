#include "stepgate/policy_layers.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "stepgate/action.h"
#include "stepgate/paths.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

bool same_reason(const Reason& a, const Reason& b) {
  return a.rule_id == b.rule_id && a.message == b.message && a.shadow == b.shadow;
}

void add_reasons(const Decision& from, Decision& to) {
  for (const Reason& r : from.reasons) {
    const auto same = [&r](const Reason& have) { return same_reason(have, r); };
    if (std::none_of(to.reasons.begin(), to.reasons.end(), same)) to.reasons.push_back(r);
  }
}

void add_errors(const Decision& from, Decision& to) {
  for (const RuleError& e : from.errors) {
    const auto same = [&e](const RuleError& have) {
      return have.rule_id == e.rule_id && have.message == e.message;
    };
    if (std::none_of(to.errors.begin(), to.errors.end(), same)) to.errors.push_back(e);
  }
}

/// The nearest `.stepgate/policy.yaml` at or above `cwd`, or "".
std::string repository_policy(const std::string& cwd) {
  std::error_code ec;
  fs::path dir = fs::absolute(cwd.empty() ? "." : cwd, ec);
  for (int depth = 0; depth < 64 && !dir.empty(); ++depth) {
    const fs::path candidate = dir / ".stepgate" / "policy.yaml";
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return {};
}

/// The user's layer: --policy, else $STEPGATE_POLICY (both must exist), else the config dir's.
/// Relative names are the caller's: the hook daemon serves processes in other directories.
Result<std::string> user_policy(const std::string& explicit_path, const std::string& cwd,
                                const Env& env) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    const std::string path = relative_to(explicit_path, cwd);
    if (fs::is_regular_file(path, ec)) return path;
    return make_error(ErrorCode::kNotFound, explicit_path + ": no such policy file");
  }
  if (std::string named = env.get("STEPGATE_POLICY"); !named.empty()) {
    const std::string path = relative_to(named, cwd);
    if (fs::is_regular_file(path, ec)) return path;
    return make_error(ErrorCode::kNotFound,
                      named + ": no such policy file (from $STEPGATE_POLICY)");
  }
  const std::string fallback = Paths::from_environment(env).config_dir + "/policy.yaml";
  if (fs::is_regular_file(fallback, ec)) return fallback;
  return std::string();
}

}  // namespace

Requirement stricter_requirement(const Requirement& a, const Requirement& b) {
  Requirement r;
  r.method = (a.method == StepUpMethod::kApproval || b.method == StepUpMethod::kApproval)
                 ? StepUpMethod::kApproval
                 : StepUpMethod::kTotp;
  r.approvers = std::max(a.approvers, b.approvers);
  r.max_age = std::min(a.max_age, b.max_age);
  return r;
}

Decision combine_layer_decisions(const std::vector<std::string>& names,
                                 const std::vector<Decision>& each) {
  if (each.empty()) return {};
  std::size_t decider = 0;
  for (std::size_t i = 1; i < each.size(); ++i) {
    if (each[i].verdict > each[decider].verdict) decider = i;
  }
  const Decision& top = each[decider];
  Decision out;
  out.verdict = top.verdict;
  out.score = top.score;
  out.policy_revision = top.policy_revision;
  out.action_digest = top.action_digest;
  out.layer = decider < names.size() ? names[decider] : std::string();
  add_reasons(top, out);
  bool all_shadow = true;
  bool shadow_raises = false;
  for (std::size_t i = 0; i < each.size(); ++i) {
    const Decision& d = each[i];
    if (d.verdict == out.verdict || d.shadow) add_reasons(d, out);
    add_errors(d, out);
    out.would_be = std::max(out.would_be, std::max(d.would_be, d.verdict));
    all_shadow = all_shadow && d.shadow;
    shadow_raises = shadow_raises || (d.shadow && d.would_be > out.verdict);
    if (out.verdict == Verdict::kStepUp && d.verdict == Verdict::kStepUp && d.requirement) {
      out.requirement =
          out.requirement ? stricter_requirement(*out.requirement, *d.requirement) : *d.requirement;
    }
    out.layers.push_back(LayerVerdict{i < names.size() ? names[i] : std::string(),
                                      d.policy_revision, d.verdict, d.would_be});
  }
  out.shadow = all_shadow || shadow_raises;
  return out;
}

LayeredEngine::LayeredEngine(std::vector<PolicyLayer> layers) : layers_(std::move(layers)) {
  engines_.reserve(layers_.size());
  for (const PolicyLayer& layer : layers_) engines_.emplace_back(layer.policy);
}

LayeredEngine::LayeredEngine(std::shared_ptr<const Policy> policy)
    : LayeredEngine(std::vector<PolicyLayer>{PolicyLayer{"policy", std::move(policy)}}) {}

Decision LayeredEngine::evaluate(const Action& action, const Value& signals) const {
  return evaluate(action, signals, action_digest(action));
}

Decision LayeredEngine::evaluate(const Action& action, const Value& signals,
                                 const std::string& digest) const {
  std::vector<std::string> names;
  names.reserve(layers_.size());
  for (const PolicyLayer& layer : layers_) names.push_back(layer.name);
  return combine_layer_decisions(names, evaluate_each(action, signals, digest));
}

std::vector<Decision> LayeredEngine::evaluate_each(const Action& action, const Value& signals,
                                                   const std::string& digest) const {
  std::vector<Decision> each;
  each.reserve(engines_.size());
  for (const Engine& engine : engines_) each.push_back(engine.evaluate(action, signals, digest));
  return each;
}

Result<std::vector<PolicyLayerPath>> find_policy_layers(const std::string& explicit_path,
                                                        const std::string& cwd,
                                                        const std::string& system_path,
                                                        const Env& env) {
  std::vector<PolicyLayerPath> found;
  std::error_code ec;
  const auto add = [&found, &ec](const char* name, const std::string& path) {
    if (path.empty()) return;
    for (const PolicyLayerPath& have : found) {
      if (fs::equivalent(have.path, path, ec)) return;  // one file is one layer
    }
    found.push_back(PolicyLayerPath{name, path});
  };
  if (!system_path.empty() && fs::is_regular_file(system_path, ec)) add("system", system_path);
  Result<std::string> user = user_policy(explicit_path, cwd, env);
  if (!user.ok()) return user.error();
  add("user", *user);
  add("repository", repository_policy(cwd));
  if (found.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "no policy found (.stepgate/policy.yaml, $STEPGATE_POLICY or " +
                          Paths::from_environment(env).config_dir +
                          "/policy.yaml); run `stepgate init`");
  }
  return found;
}

Result<std::vector<PolicyLayer>> load_policy_layers(const std::string& explicit_path,
                                                    const std::string& cwd,
                                                    const std::string& system_path,
                                                    const std::string& cache_dir, const Env& env) {
  auto paths = find_policy_layers(explicit_path, cwd, system_path, env);
  if (!paths.ok()) return paths.error();
  std::vector<PolicyLayer> layers;
  for (const PolicyLayerPath& p : *paths) {
    auto policy =
        cache_dir.empty() ? load_policy_file(p.path) : load_policy_file_cached(p.path, cache_dir);
    if (!policy.ok()) return policy.error();
    layers.push_back(PolicyLayer{p.name, std::move(policy).value()});
  }
  return layers;
}

}  // namespace stepgate
