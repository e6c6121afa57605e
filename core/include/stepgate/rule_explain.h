#pragma once
/// `stepgate policy explain`: for one action, every rule of a policy with why it matched or not —
/// which parts of its `when` were true or false and the signal values they read.

#include <string>
#include <vector>

#include "stepgate/action.h"
#include "stepgate/policy.h"
#include "stepgate/value.h"

namespace stepgate {

/// One (sub-)expression of a rule's `when` and what it evaluated to. An `&&` or `||` at the top
/// of the expression (outside parentheses, which are looked into) is split into its operands.
struct ConditionTrace {
  std::string source;  // the text of this part
  std::string op;      // "&&" or "||" when `parts` holds the operands; "" for a leaf
  std::string result;  // "true", "false", another value as JSON, or "error: ..."
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

/// The top-level operands of `source` split at `op` ("&&" or "||"), outside parentheses,
/// brackets and string literals, after removing parentheses around the whole; one element when
/// there is no such operator (or a top-level ?: makes splitting wrong).
std::vector<std::string> split_top_level(const std::string& source, const std::string& op);

}  // namespace stepgate
