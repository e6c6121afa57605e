#include "stepgate/engine.h"

#include <algorithm>

#include "stepgate/glob.h"

namespace stepgate {
namespace {

void append_rendered(const Value& v, std::string& out) {
  switch (v.type()) {
    case Value::Type::kString: out += v.as_string(); return;
    case Value::Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kList: {
      bool first = true;
      for (const Value& item : v.as_list()) {
        if (!first) out += ", ";
        first = false;
        append_rendered(item, out);
      }
      return;
    }
    default: out += to_json(v); return;
  }
}

// Follows a dotted path ("a.b") through maps; nullptr when a step is missing.
const Value* lookup_path(const Value* v, std::string_view path) {
  while (v != nullptr && !path.empty()) {
    const std::size_t dot = path.find('.');
    v = v->find(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return v;
}

// The value for a placeholder name, or nullptr. `owned` keeps a temporary alive.
const Value* resolve(std::string_view name, const Action& action, const Value& signals, Value& owned) {
  if (name.rfind("signals.", 0) == 0) return lookup_path(&signals, name.substr(8));
  if (name.rfind("action.", 0) != 0) return lookup_path(&signals, name);
  const std::string_view field = name.substr(7);
  if (field == "kind") owned = Value(action.kind);
  else if (field == "actor") owned = Value(action.actor);
  else if (field == "resource") owned = Value(action.resource);
  else if (field.rfind("attributes.", 0) == 0) return lookup_path(&action.attributes, field.substr(11));
  else return nullptr;
  return &owned;
}

// Method approval beats totp; the most approvers; the shortest max_age.
Requirement stricter(const Requirement& a, const Requirement& b) {
  Requirement r;
  r.method = (a.method == StepUpMethod::kApproval || b.method == StepUpMethod::kApproval)
                 ? StepUpMethod::kApproval
                 : StepUpMethod::kTotp;
  r.approvers = std::max(a.approvers, b.approvers);
  r.max_age = std::min(a.max_age, b.max_age);
  return r;
}

Verdict threshold_verdict(const Policy& policy, int score) {
  if (score >= policy.deny_threshold) return Verdict::kDeny;
  if (score >= policy.step_up_threshold) return Verdict::kStepUp;
  return Verdict::kAllow;
}

Value requirement_to_value(const Requirement& r) {
  Map m;
  m.emplace("method", Value(method_name(r.method)));
  m.emplace("approvers", Value(r.approvers));
  m.emplace("max_age", Value(static_cast<int64_t>(r.max_age.count())));
  return Value(std::move(m));
}

}  // namespace

std::string render_message(const std::string& message, const Action& action, const Value& signals) {
  std::string out;
  out.reserve(message.size() + 32);
  std::size_t i = 0;
  while (i < message.size()) {
    const std::size_t open = message.find('{', i);
    const std::size_t close = open == std::string::npos ? open : message.find('}', open);
    if (close == std::string::npos) {
      out.append(message, i, std::string::npos);
      break;
    }
    out.append(message, i, open - i);
    Value owned;
    const std::string_view name(message.data() + open + 1, close - open - 1);
    if (const Value* v = resolve(name, action, signals, owned); v != nullptr) {
      append_rendered(*v, out);
    } else {
      out.append(message, open, close - open + 1);  // unknown: left as written, visibly
    }
    i = close + 1;
  }
  return out;
}

Engine::Engine(std::shared_ptr<const Policy> policy) : policy_(std::move(policy)) {}

Decision Engine::evaluate(const Action& action, const Value& signals) const {
  return evaluate(action, signals, action_digest(action));
}

Decision Engine::evaluate(const Action& action, const Value& signals,
                          const std::string& digest) const {
  const Policy& policy = *policy_;
  Decision d;
  d.policy_revision = policy.revision;
  d.action_digest = digest;
  Map bindings;
  bindings.emplace("action", action_to_value(action));
  bindings.emplace("signals", signals.is_map() ? signals : Value(Map{}));
  const Value activation(std::move(bindings));

  Verdict floor = Verdict::kAllow;
  std::optional<Requirement> rule_requirement;
  for (const Rule& rule : policy.rules) {
    if (!glob_match(rule.on, action.kind)) continue;
    Result<bool> matched = rule.when.evaluate_bool(activation);
    if (!matched.ok()) {
      d.errors.push_back(RuleError{rule.id, matched.error().message});
      continue;
    }
    if (!*matched) continue;
    const bool shadow = rule.mode == Mode::kShadow;
    d.reasons.push_back(Reason{rule.id, rule.score, rule.effect,
                               render_message(rule.message, action, signals), shadow});
    if (shadow) continue;
    d.score += rule.score;
    if (rule.effect) floor = std::max(floor, *rule.effect);
    if (rule.requirement) {
      rule_requirement = rule_requirement ? stricter(*rule_requirement, *rule.requirement)
                                          : *rule.requirement;
    }
  }
  const Verdict verdict = std::max(floor, threshold_verdict(policy, d.score));
  d.would_be = verdict;
  if (policy.mode == Mode::kShadow) {
    d.shadow = true;
    d.verdict = Verdict::kAllow;
    return d;
  }
  d.verdict = verdict;
  if (verdict == Verdict::kStepUp) d.requirement = rule_requirement.value_or(policy.step_up);
  return d;
}

Value decision_to_value(const Decision& decision) {
  List reasons;
  for (const Reason& r : decision.reasons) {
    Map m;
    m.emplace("rule", Value(r.rule_id));
    m.emplace("score", Value(r.score));
    if (r.effect) m.emplace("effect", Value(verdict_name(*r.effect)));
    m.emplace("message", Value(r.message));
    m.emplace("shadow", Value(r.shadow));
    reasons.emplace_back(std::move(m));
  }
  List errors;
  for (const RuleError& e : decision.errors) {
    Map m;
    m.emplace("rule", Value(e.rule_id));
    m.emplace("message", Value(e.message));
    errors.emplace_back(std::move(m));
  }
  Map out;
  out.emplace("verdict", Value(verdict_name(decision.verdict)));
  out.emplace("score", Value(decision.score));
  out.emplace("reasons", Value(std::move(reasons)));
  out.emplace("errors", Value(std::move(errors)));
  if (decision.requirement) out.emplace("requirement", requirement_to_value(*decision.requirement));
  out.emplace("policy_revision", Value(decision.policy_revision));
  out.emplace("action_digest", Value(decision.action_digest));
  out.emplace("shadow", Value(decision.shadow));
  out.emplace("would_be", Value(verdict_name(decision.would_be)));
  return Value(std::move(out));
}

}  // namespace stepgate
