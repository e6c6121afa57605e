#pragma once
/// The engine: evaluate(action, signals) -> Decision. No I/O, no JSON, no git/CI/HTTP.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stepgate/action.h"
#include "stepgate/policy.h"
#include "stepgate/value.h"

namespace stepgate {

namespace engine_detail {
struct Index;  // rules grouped by kind, precomputed once per policy (engine.cpp)
}

/// Why a rule contributed to a decision.
struct Reason {
  std::string rule_id;
  int score = 0;
  std::optional<Verdict> effect;
  std::string message;  // rendered: {placeholders} filled from signals/action
  bool shadow = false;  // the rule is in shadow mode: recorded, not enforced
};

/// "rule-id: message", or just "rule-id" when the rule has no message (no dangling colon).
std::string reason_text(const Reason& reason);

/// A rule whose expression ended in an error value (type mismatch...). A rule with an `effect`
/// (step_up, deny) then counts as matched, failing closed, and its reason names the error; a
/// score-only rule does not match.
struct RuleError {
  std::string rule_id;
  std::string message;
};

/// What one policy layer decided (policy_layers.h), kept in the combined decision.
struct LayerVerdict {
  std::string layer;  // "system", "user", "repository", "authority"
  std::string policy_revision;
  Verdict verdict = Verdict::kAllow;
  Verdict would_be = Verdict::kAllow;  // differs from verdict for a shadow layer
};

struct Decision {
  Verdict verdict = Verdict::kAllow;
  int score = 0;
  std::vector<Reason> reasons;
  std::vector<RuleError> errors;
  std::optional<Requirement> requirement;  // set when verdict == kStepUp
  std::string policy_revision;
  std::string action_digest;
  bool shadow = false;  // the policy is in shadow mode: `would_be` is what it would have done
  Verdict would_be = Verdict::kAllow;
  std::string layer;                 // the layer whose verdict stood; empty from a bare Engine
  std::vector<LayerVerdict> layers;  // every layer evaluated, in order (empty from a bare Engine)
};

/// Decision as a Value (for JSON output and the audit log).
Value decision_to_value(const Decision& decision);

/// Holds one compiled policy; evaluate() is const and thread-safe.
class Engine {
 public:
  explicit Engine(std::shared_ptr<const Policy> policy);

  /// Evaluates the action against every rule whose `on` matches its kind. Signals are the
  /// collected signals map (name -> value). Deny beats step_up beats allow; a rule's effect is a
  /// floor; the summed score is held against the thresholds; shadow rules only report; a shadow
  /// policy reports `would_be` and allows.
  [[nodiscard]] Decision evaluate(const Action& action, const Value& signals) const;

  /// Same, with the digest already computed (front-ends that evaluate many times).
  [[nodiscard]] Decision evaluate(const Action& action, const Value& signals,
                                  const std::string& digest) const;

  [[nodiscard]] const Policy& policy() const { return *policy_; }

 private:
  std::shared_ptr<const Policy> policy_;
  std::shared_ptr<const engine_detail::Index> index_;
};

/// Renders "{signals.x}" / "{action.resource}" / "{x}" (shorthand for signals.x) placeholders.
std::string render_message(const std::string& message, const Action& action, const Value& signals);

}  // namespace stepgate
