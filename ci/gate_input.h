#pragma once
// Turns `ci gate` options plus the CI context into the Action and front-end signals the gate
// evaluates.

#include <string>
#include <vector>

#include "context.h"
#include "deploy_signals.h"
#include "stepgate/action.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/store.h"

namespace stepgate {
struct SignalDemand;
}  // namespace stepgate

namespace stepgate::ci {

/// What the command line says about the step being gated.
struct StepSpec {
  std::string manifest;                // --manifest FILE (model.deploy)
  std::string kind;                    // --kind (any other step)
  std::string resource;                // --resource
  std::vector<std::string> attrs;      // --attr key=value
  std::vector<std::string> attr_json;  // --attr-json key=JSON
  std::string environment;             // --environment (for --kind)
  std::string change_ticket;           // --change-ticket
};

/// The action to gate, its front-end signals, and where reports point.
struct GateInput {
  Action action;
  Value signals = Map{};
  std::string source_path;       // the manifest, or the CI config for --kind steps
  std::string deploy_namespace;  // store namespace for first_deploy_by_actor ("" when n/a)
  std::string deploy_key;
  std::vector<MetricComparison> metrics;  // --manifest: each declared metric, for the reports
};

/// Builds the input. Bad manifests, attributes or change windows are kInvalidArgument.
/// `store` answers first_deploy_by_actor (null: true). `demand`: what the rules read (see
/// add_manifest_signals; null: everything).
Result<GateInput> build_gate_input(const StepSpec& spec, const CiContext& context,
                                   const Policy& policy, const std::string& cwd, StateStore* store,
                                   UnixTime now, const Env& env,
                                   const SignalDemand* demand = nullptr);

/// Parses "key=value" attributes (and key=JSON ones) into `attributes`; a key given twice is an
/// error.
Status parse_attributes(const std::vector<std::string>& attrs,
                        const std::vector<std::string>& attr_json, Value& attributes);

}  // namespace stepgate::ci
