#include "gate_input.h"

#include <filesystem>
#include <set>

#include "deploy_signals.h"
#include "manifest.h"
#include "stepgate/glob.h"
#include "stepgate/json.h"
#include "stepgate/signal_demand.h"

namespace stepgate::ci {
namespace {

std::string resolve(const std::string& cwd, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(cwd) / p).lexically_normal().string();
}

Status split_pair(const std::string& item, const char* flag, std::string& key, std::string& value) {
  auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    return invalid_argument(std::string(flag) + " `" + item + "`: want key=value");
  }
  key = item.substr(0, eq);
  value = item.substr(eq + 1);
  return {};
}

Status add_manifest_input(const StepSpec& spec, const CiContext& context, const Policy& policy,
                          const std::string& cwd, GateInput& in, const SignalDemand* demand) {
  const std::string path = resolve(cwd, spec.manifest);
  auto manifest = load_manifest(path, spec.manifest);
  if (!manifest) return manifest.error();
  if (manifest->change_ticket.empty()) manifest->change_ticket = spec.change_ticket;
  Value extra = context_attributes(context);
  if (auto s = parse_attributes(spec.attrs, spec.attr_json, extra); !s) return s;
  in.action = manifest_action(*manifest, context.actor, extra);
  // artifact.path is relative to the manifest's directory, like most config files.
  const std::string base = std::filesystem::path(path).parent_path().string();
  if (auto s = add_manifest_signals(*manifest, policy.ci, base, in.signals, demand); !s) return s;
  in.metrics = compare_evaluation(*manifest).metrics;
  in.source_path = spec.manifest;
  in.deploy_namespace = "deployer:" + manifest->model_name;
  in.deploy_key = context.actor + " to " + manifest->environment;
  in.signals["change_ticket"] = manifest->change_ticket;
  return {};
}

Status add_step_input(const StepSpec& spec, const CiContext& context, const Policy& policy,
                      GateInput& in) {
  if (!is_valid_kind(spec.kind)) {
    return invalid_argument("--kind `" + spec.kind +
                            "`: want a dotted lower-case name like db.migrate");
  }
  in.action.kind = spec.kind;
  in.action.actor = context.actor;
  in.action.resource = spec.resource;
  in.action.attributes = context_attributes(context);
  if (auto s = parse_attributes(spec.attrs, spec.attr_json, in.action.attributes); !s) return s;
  const std::string environment = spec.environment.empty() ? context.environment : spec.environment;
  if (!environment.empty()) {
    in.signals["environment"] = environment;
    bool production = false;
    for (const auto& p : policy.ci.production_environments)
      production |= glob_match(p, environment);
    in.signals["production"] = production;
  }
  in.signals["change_ticket"] = spec.change_ticket;
  in.source_path = context.provider == Provider::kGitlab ? ".gitlab-ci.yml" : ".";
  const Value* model = in.action.attributes.find("model");
  if (spec.kind == "model.deploy" && model != nullptr && model->is_string()) {
    in.deploy_namespace = "deployer:" + model->as_string();
    in.deploy_key = context.actor + " to " + environment;
  }
  return {};
}

}  // namespace

Status parse_attributes(const std::vector<std::string>& attrs,
                        const std::vector<std::string>& attr_json, Value& attributes) {
  std::set<std::string> given;
  for (const std::string& item : attrs) {
    std::string key;
    std::string value;
    if (auto s = split_pair(item, "--attr", key, value); !s) return s;
    if (!given.insert(key).second) return invalid_argument("--attr `" + key + "` given twice");
    attributes[key] = value;
  }
  for (const std::string& item : attr_json) {
    std::string key;
    std::string text;
    if (auto s = split_pair(item, "--attr-json", key, text); !s) return s;
    if (!given.insert(key).second) return invalid_argument("--attr-json `" + key + "` given twice");
    auto value = parse_json(text, JsonLimits{std::size_t{1024} * 1024});
    if (!value) return invalid_argument("--attr-json `" + key + "`: " + value.error().message);
    attributes[key] = std::move(value).value();
  }
  return {};
}

Result<GateInput> build_gate_input(const StepSpec& spec, const CiContext& context,
                                   const Policy& policy, const std::string& cwd, StateStore* store,
                                   UnixTime now, const Env& env, const SignalDemand* demand) {
  GateInput in;
  StepSpec effective = spec;
  if (effective.change_ticket.empty()) effective.change_ticket = env("STEPGATE_CHANGE_TICKET");
  Status built = effective.manifest.empty()
                     ? add_step_input(effective, context, policy, in)
                     : add_manifest_input(effective, context, policy, cwd, in, demand);
  if (!built) return built.error();
  add_context_signals(context, policy.ci, in.signals);
  auto inside = inside_change_window(policy.ci.change_windows, now, policy.timezone);
  if (!inside) return invalid_argument("policy ci.change_window: " + inside.error().message);
  in.signals["outside_change_window"] = !*inside;
  bool first = true;
  if (store != nullptr && !in.deploy_namespace.empty()) {
    auto seen = store->has_seen(in.deploy_namespace, in.deploy_key);
    if (seen) first = !*seen;
  }
  if (!in.deploy_namespace.empty()) in.signals["first_deploy_by_actor"] = first;
  return in;
}

}  // namespace stepgate::ci
