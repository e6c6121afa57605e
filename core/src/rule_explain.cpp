// explain_rules: a rule's `when`, evaluated part by part for `policy explain` (rule_explain.h),
// from the tree of sub-expressions Expression::trace gives.
#include "stepgate/rule_explain.h"

#include "stepgate/glob.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

/// Parts shown below a rule's `when`: deep enough for any rule a person writes, bounded so that a
/// generated expression does not print thousands of lines.
constexpr int kMaxDepth = 8;

std::string render(const Value& v) {
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return to_json(v);
}

ConditionTrace convert(const ExpressionTrace& e, const Value& signals) {
  ConditionTrace t;
  t.source = e.source;
  t.op = e.op;
  if (!e.evaluated) {
    t.result = "(for each item)";
  } else {
    t.result = e.error.empty() ? render(e.value) : "error: " + e.error;
  }
  for (const std::string& name : e.signals) {
    const Value* v = signals.find(name);
    t.reads.push_back("signals." + name + " = " + (v != nullptr ? render(*v) : "(not set)"));
  }
  for (const ExpressionTrace& part : e.parts) t.parts.push_back(convert(part, signals));
  return t;
}

}  // namespace

std::vector<RuleTrace> explain_rules(const Policy& policy, const Action& action,
                                     const Value& signals) {
  const Value activation = Map{{"action", action_to_value(action)}, {"signals", signals}};
  std::vector<RuleTrace> out;
  for (const Rule& rule : policy.rules) {
    RuleTrace t;
    t.rule = &rule;
    t.applies = glob_match(rule.on, action.kind);
    if (t.applies) {
      t.when = convert(rule.when.trace(activation, kMaxDepth), signals);
      t.matched = t.when.result == "true";
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace stepgate
