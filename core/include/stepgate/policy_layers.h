#pragma once
/// Policy layers: every policy that applies to an action is evaluated and the strictest verdict
/// wins (deny > step_up > allow). A lower layer (the repository's, a client's) can add friction,
/// never remove it. In local mode the layers are the system's, the user's and the repository's;
/// the authority evaluates its own policy and the layers a client sends.

#include <memory>
#include <string>
#include <vector>

#include "stepgate/engine.h"
#include "stepgate/env.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate {

/// Where the system layer lives in local mode (root-owned; absent on most machines).
inline constexpr const char* kSystemPolicyPath = "/etc/stepgate/policy.yaml";

/// One policy and the layer it speaks for: "system", "user", "repository" or "authority".
struct PolicyLayer {
  std::string name;
  std::shared_ptr<const Policy> policy;
};

/// Where a layer's file is.
struct PolicyLayerPath {
  std::string name;
  std::string path;
};

/// Evaluates an action against every layer. The first layer (the most authoritative one present)
/// supplies the settings every layer shares: front-end settings, approvers, step-up defaults,
/// audit path, on_error. evaluate() is const and thread-safe.
class LayeredEngine {
 public:
  /// `layers` most authoritative first; none may be empty or hold a null policy.
  explicit LayeredEngine(std::vector<PolicyLayer> layers);
  /// One unnamed layer ("policy"): what a single policy file decides.
  explicit LayeredEngine(std::shared_ptr<const Policy> policy);

  /// Each layer's decision, combined by combine_layer_decisions().
  [[nodiscard]] Decision evaluate(const Action& action, const Value& signals) const;
  [[nodiscard]] Decision evaluate(const Action& action, const Value& signals,
                                  const std::string& digest) const;
  /// Each layer's own decision, in layer order (for `policy explain`).
  [[nodiscard]] std::vector<Decision> evaluate_each(const Action& action, const Value& signals,
                                                    const std::string& digest) const;

  /// The settings policy: the first layer's.
  [[nodiscard]] const Policy& policy() const { return *layers_.front().policy; }
  [[nodiscard]] const std::vector<PolicyLayer>& layers() const { return layers_; }

 private:
  std::vector<PolicyLayer> layers_;
  std::vector<Engine> engines_;
};

/// Combines per-layer decisions (`each[i]` is layer `names[i]`'s): the strictest verdict wins and
/// the first layer holding it is the one that decided (Decision::layer); score, reasons and
/// policy_revision are the deciding layer's (reasons of other layers with the same verdict are
/// added); the requirement is the strictest of the layers that ask for step-up (approval beats
/// totp, most approvers, shortest max_age). A shadow layer only reports: its would-be verdict
/// counts towards `would_be`, never towards `verdict`. Decision::layers lists every layer.
Decision combine_layer_decisions(const std::vector<std::string>& names,
                                 const std::vector<Decision>& each);

/// The stricter of two requirements: approval beats totp, the most approvers, the shortest max_age.
Requirement stricter_requirement(const Requirement& a, const Requirement& b);

/// Where the policy layers are, most authoritative first:
///  system     = `system_path` (kSystemPolicyPath outside tests), when the file exists;
///  user       = `explicit_path` (--policy) if given, else $STEPGATE_POLICY, else
///               config_dir/policy.yaml when it exists;
///  repository = .stepgate/policy.yaml in `cwd` or the nearest directory above it.
/// A file named by --policy or $STEPGATE_POLICY that does not exist is kNotFound, and so is no
/// layer at all. The same file found twice is one layer (the first).
Result<std::vector<PolicyLayerPath>> find_policy_layers(const std::string& explicit_path,
                                                        const std::string& cwd,
                                                        const std::string& system_path,
                                                        const Env& env = {});

/// Finds and loads every layer (find_policy_layers); `cache_dir` as load_policy_file_cached (""
/// for none). A layer that does not load is the error, naming its file: a broken repository layer
/// fails closed rather than being skipped.
Result<std::vector<PolicyLayer>> load_policy_layers(const std::string& explicit_path,
                                                    const std::string& cwd,
                                                    const std::string& system_path,
                                                    const std::string& cache_dir,
                                                    const Env& env = {});

}  // namespace stepgate
