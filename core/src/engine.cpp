#include "stepgate/engine.h"

#include <algorithm>
#include <set>

#include "stepgate/glob.h"

namespace stepgate {

namespace engine_detail {

/// The rules that apply to one kind, and what their expressions read, so evaluate() copies only
/// the signals the rules name instead of the whole map.
struct Group {
  std::vector<const Rule*> rules;
  std::vector<std::string> signals;  // referenced names, sorted and unique
  bool needs_action = false;
  bool needs_all_signals = false;  // some rule reads `signals` other than as signals.NAME
};

struct Index {
  std::vector<std::pair<std::string, Group>> by_kind;  // the built-in kinds, precomputed
  const Group* find(std::string_view kind) const {
    for (const auto& [k, g] : by_kind) {
      if (k == kind) return &g;
    }
    return nullptr;
  }
};

}  // namespace engine_detail

namespace {

using engine_detail::Group;

bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// True when every use of `signals` in the source is `signals.NAME` or `signals["NAME"]`, the
// forms Expression::referenced_signals() records. Conservative: anything else (including the
// word inside a string literal) makes the engine pass the whole signals map.
bool only_static_signal_access(std::string_view src) {
  constexpr std::string_view kWord = "signals";
  for (std::size_t i = src.find(kWord); i != std::string_view::npos; i = src.find(kWord, i + 1)) {
    if (i > 0 && (is_ident_char(src[i - 1]) || src[i - 1] == '.')) continue;
    std::size_t j = i + kWord.size();
    if (j < src.size() && is_ident_char(src[j])) continue;
    while (j < src.size() && src[j] == ' ') ++j;
    if (j < src.size() && src[j] == '.') continue;
    if (j + 1 < src.size() && src[j] == '[' && (src[j + 1] == '"' || src[j + 1] == '\'')) {
      const char quote = src[j + 1];
      const std::size_t end = src.find(quote, j + 2);
      if (end != std::string_view::npos && end + 1 < src.size() && src[end + 1] == ']' &&
          src.substr(j + 2, end - j - 2).find('\\') == std::string_view::npos) {
        continue;
      }
    }
    return false;
  }
  return true;
}

Group build_group(const Policy& policy, std::string_view kind) {
  Group g;
  std::set<std::string> names;
  for (const Rule& rule : policy.rules) {
    if (!glob_match(rule.on, kind)) continue;
    g.rules.push_back(&rule);
    const auto& ids = rule.when.identifiers();
    g.needs_action = g.needs_action || std::find(ids.begin(), ids.end(), "action") != ids.end();
    g.needs_all_signals = g.needs_all_signals || !only_static_signal_access(rule.when.source());
    names.insert(rule.when.referenced_signals().begin(), rule.when.referenced_signals().end());
  }
  g.signals.assign(names.begin(), names.end());
  return g;
}

// {"action": ..., "signals": ...} holding only what the group's rules read.
Value make_activation(const Group& g, const Action& action, const Value& signals) {
  Map bindings;
  if (g.needs_action) bindings.emplace("action", action_to_value(action));
  if (!signals.is_map()) {
    bindings.emplace("signals", Value(Map{}));
  } else if (g.needs_all_signals) {
    bindings.emplace("signals", signals);
  } else {
    Map subset;
    const Map& all = signals.as_map();
    for (const std::string& name : g.signals) {
      if (auto it = all.find(name); it != all.end()) subset.emplace_hint(subset.end(), *it);
    }
    bindings.emplace("signals", Value(std::move(subset)));
  }
  return {std::move(bindings)};
}

void append_rendered(const Value& v, std::string& out) {
  switch (v.type()) {
    case Value::Type::kString:
      out += v.as_string();
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kList: {
      bool first = true;
      for (const Value& item : v.as_list()) {
        if (!first) out += ", ";
        first = false;
        append_rendered(item, out);
      }
      return;
    }
    default:
      out += to_json(v);
      return;
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
const Value* resolve(std::string_view name, const Action& action, const Value& signals,
                     Value& owned) {
  if (name.rfind("signals.", 0) == 0) return lookup_path(&signals, name.substr(8));
  if (name.rfind("action.", 0) != 0) return lookup_path(&signals, name);
  const std::string_view field = name.substr(7);
  if (field == "kind")
    owned = Value(action.kind);
  else if (field == "actor")
    owned = Value(action.actor);
  else if (field == "resource")
    owned = Value(action.resource);
  else if (field.rfind("attributes.", 0) == 0)
    return lookup_path(&action.attributes, field.substr(11));
  else
    return nullptr;
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
  return {std::move(m)};
}

}  // namespace

std::string reason_text(const Reason& reason) {
  return reason.message.empty() ? reason.rule_id : reason.rule_id + ": " + reason.message;
}

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

Engine::Engine(std::shared_ptr<const Policy> policy) : policy_(std::move(policy)) {
  auto index = std::make_shared<engine_detail::Index>();
  for (const char* kind : {"git.push", "git.receive", "model.deploy", "tool.call"}) {
    index->by_kind.emplace_back(kind, build_group(*policy_, kind));
  }
  index_ = std::move(index);
}

Decision Engine::evaluate(const Action& action, const Value& signals) const {
  return evaluate(action, signals, action_digest(action));
}

Decision Engine::evaluate(const Action& action, const Value& signals,
                          const std::string& digest) const {
  const Policy& policy = *policy_;
  Decision d;
  d.policy_revision = policy.revision;
  d.action_digest = digest;
  Group built;  // for a kind outside the precomputed ones
  const Group* group = index_->find(action.kind);
  if (group == nullptr) {
    built = build_group(policy, action.kind);
    group = &built;
  }
  const Value activation = make_activation(*group, action, signals);

  Verdict floor = Verdict::kAllow;
  std::optional<Requirement> rule_requirement;
  for (const Rule* rule_ptr : group->rules) {
    const Rule& rule = *rule_ptr;
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
      rule_requirement =
          rule_requirement ? stricter(*rule_requirement, *rule.requirement) : *rule.requirement;
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
  if (!decision.layer.empty()) out.emplace("layer", Value(decision.layer));
  if (!decision.layers.empty()) {
    List layers;
    for (const LayerVerdict& l : decision.layers) {
      layers.emplace_back(Map{{"layer", Value(l.layer)},
                              {"policy_revision", Value(l.policy_revision)},
                              {"verdict", Value(verdict_name(l.verdict))},
                              {"would_be", Value(verdict_name(l.would_be))}});
    }
    out.emplace("layers", Value(std::move(layers)));
  }
  return {std::move(out)};
}

}  // namespace stepgate
