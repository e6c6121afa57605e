#pragma once
/// `stepgate policy explain`: for one action, every rule of a policy with why it matched or not —
/// which parts of its `when` were true or false and the signal values they read.

#include <string>
#include <vector>

#include "stepgate/action.h"
#include "stepgate/policy.h"
#include "stepgate/value.h"

namespace stepgate {

/// One (sub-)expression of a rule's `when` and what it evaluated to, with its operands below it:
/// the whole tree (to a bounded depth), not only the top-level `&&` and `||`.
struct ConditionTrace {
  std::string source;  // the text of this part
  /// The operator or function over `parts` ("&&", "||", ">", "!", "size()", "exists()"...);
  /// "" for a leaf. Literal operands are not listed as parts.
  std::string op;
  /// "true", "false", another value as JSON, "error: ...", or "(for each item)" for a macro's
  /// predicate.
  std::string result;
  /// The signals this part reads, "signals.NAME = JSON" ("(not set)" when absent).
  std::vector<std::string> reads;
  std::vector<ConditionTrace> parts;
};

struct RuleTrace {
  const Rule* rule = nullptr;
  bool applies = false;  // `on` matches the action's kind
  bool matched = false;
  ConditionTrace when;  // empty when the rule does not apply
};

/// Explains each rule of `policy` for `action` with `signals` (the signals the engine would be
/// given). Evaluates the rules' expressions again, piece by piece: for a person reading, not for
/// the request path.
std::vector<RuleTrace> explain_rules(const Policy& policy, const Action& action,
                                     const Value& signals);

}  // namespace stepgate
