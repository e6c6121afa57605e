#include "stepgate/engine.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "stepgate/glob.h"
#include "stepgate/policy_layers.h"
#include "stepgate/signal_demand.h"
#include "stepgate/signals.h"

namespace stepgate {

namespace engine_detail {

/// The rules that apply to one kind, and what their expressions read: evaluate() looks up each
/// declared signal the rules name once per decision, into its registry slot, and the rules read
/// the slots (a vector index) instead of looking names up per reference.
struct Group {
  std::vector<const Rule*> rules;
  std::vector<std::string> signals;                // referenced names, sorted and unique
  std::vector<std::pair<int, std::string>> slots;  // (registry slot, name) of declared ones
  bool needs_action = false;
  bool needs_all_signals = false;  // some rule reads `signals` other than as signals.NAME
};

/// Groups by kind, built the first time a kind is evaluated: the engine knows no front-end's
/// kinds by name, and a policy's groups are fixed once built.
struct Index {
  mutable std::shared_mutex mu;
  mutable std::map<std::string, std::shared_ptr<const Group>, std::less<>> by_kind;
};

}  // namespace engine_detail

namespace {

using engine_detail::Group;

Group build_group(const Policy& policy, std::string_view kind) {
  Group g;
  std::set<std::string> names;
  for (const Rule& rule : policy.rules) {
    if (!glob_match(rule.on, kind)) continue;
    g.rules.push_back(&rule);
    const auto& ids = rule.when.identifiers();
    g.needs_action = g.needs_action || std::find(ids.begin(), ids.end(), "action") != ids.end();
    g.needs_all_signals = g.needs_all_signals || rule.when.reads_all_signals();
    names.insert(rule.when.referenced_signals().begin(), rule.when.referenced_signals().end());
  }
  g.signals.assign(names.begin(), names.end());
  const SignalRegistry& registry = SignalRegistry::builtin();
  for (const std::string& name : g.signals) {
    if (const int slot = registry.slot(name); slot >= 0) g.slots.emplace_back(slot, name);
  }
  return g;
}

/// The group for `kind`, built the first time that kind is evaluated.
std::shared_ptr<const Group> group_for(const Policy& policy, const engine_detail::Index& index,
                                       std::string_view kind) {
  {
    std::shared_lock lock(index.mu);
    if (auto it = index.by_kind.find(kind); it != index.by_kind.end()) return it->second;
  }
  auto built = std::make_shared<const Group>(build_group(policy, kind));
  std::unique_lock lock(index.mu);
  // Kinds come from outside (a CI step names its own): past a bound, build without keeping.
  constexpr std::size_t kMaxKinds = 256;
  if (index.by_kind.size() >= kMaxKinds) return built;
  return index.by_kind.emplace(std::string(kind), std::move(built)).first->second;
}

/// The default value of the declared signal in `slot`. A declared signal missing from the map is
/// one not provided for this action's kind (a `*` rule reading `signals.secrets` on a tool call):
/// it reads as its type's default, as collectors fill the kind's own, so that such a rule does not
/// match rather than erroring, which would fail closed on every action of the other kinds.
const Value& declared_default(int slot) {
  static const std::vector<Value> defaults = [] {
    std::vector<Value> out;
    for (const SignalSpec& spec : SignalRegistry::builtin().all()) {
      out.push_back(default_signal_value(spec.type));
    }
    return out;
  }();
  return defaults[static_cast<std::size_t>(slot)];
}

/// The signal values the group's rules read, by registry slot, for one decision. Small enough
/// for the stack; the registry is fixed, so its size only grows with new built-in signals.
class SlotTable {
 public:
  SlotTable(const Group& g, const Value& signals) {
    const std::size_t count = SignalRegistry::builtin().slot_count();
    if (count > kInline) heap_.resize(count);
    table_ = count > kInline ? heap_.data() : inline_;
    std::fill(table_, table_ + count, nullptr);
    for (const auto& [slot, name] : g.slots) {
      const Value* v = signals.find(name);
      table_[slot] = v != nullptr ? v : &declared_default(slot);
    }
  }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;
  [[nodiscard]] const Value* const* data() const { return table_; }

 private:
  static constexpr std::size_t kInline = 128;
  const Value* inline_[kInline];  // NOLINT: filled in the constructor
  std::vector<const Value*> heap_;
  const Value** table_ = nullptr;
};

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

Engine::Engine(std::shared_ptr<const Policy> policy)
    : policy_(std::move(policy)), index_(std::make_shared<engine_detail::Index>()) {}

bool SignalDemand::wants(std::string_view name) const {
  return all || std::binary_search(names.begin(), names.end(), name);
}

namespace {
SignalDemand demand_of(const Policy& policy, std::string_view kind);
}  // namespace

SignalDemand signals_read(const Engine& engine, std::string_view kind) {
  return demand_of(engine.policy(), kind);
}

SignalDemand signals_read(const LayeredEngine& engine, std::string_view kind) {
  // One layer's names are already sorted and unique (a shim under --policy asks on every call).
  if (engine.layers().size() == 1) return demand_of(*engine.layers().front().policy, kind);
  SignalDemand out;
  for (const PolicyLayer& layer : engine.layers()) {
    SignalDemand d = demand_of(*layer.policy, kind);
    out.all = out.all || d.all;
    out.names.insert(out.names.end(), d.names.begin(), d.names.end());
  }
  if (out.all) out.names.clear();
  std::sort(out.names.begin(), out.names.end());
  out.names.erase(std::unique(out.names.begin(), out.names.end()), out.names.end());
  return out;
}

namespace {
SignalDemand demand_of(const Policy& policy, std::string_view kind) {
  // Collectors ask once per action: remembered per (policy revision, kind), so the answer costs
  // a map look-up, not a pass over the rules. Policies built in code (no revision) are not kept.
  static std::mutex mu;
  static std::map<std::string, SignalDemand, std::less<>> cache;
  const std::string key = policy.revision.empty() ? "" : policy.revision + '\n' + std::string(kind);
  if (!key.empty()) {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const Group group = build_group(policy, kind);
  SignalDemand demand;
  demand.all = group.needs_all_signals;
  if (!demand.all) demand.names = group.signals;
  if (!key.empty()) {
    std::lock_guard lock(mu);
    constexpr std::size_t kMaxEntries = 256;
    if (cache.size() >= kMaxEntries) cache.clear();
    cache.emplace(key, demand);
  }
  return demand;
}
}  // namespace

Decision Engine::evaluate(const Action& action, const Value& signals) const {
  return evaluate(action, signals, action_digest(action));
}

Decision Engine::evaluate(const Action& action, const Value& signals,
                          const std::string& digest) const {
  const Policy& policy = *policy_;
  Decision d;
  d.policy_revision = policy.revision;
  d.action_digest = digest;
  const std::shared_ptr<const Group> group = group_for(policy, *index_, action.kind);
  static const Value kNoSignals = Value(Map{});
  const Value& bound_signals = signals.is_map() ? signals : kNoSignals;
  const Value action_value = group->needs_action ? action_to_value(action) : Value();
  const SlotTable slots(*group, bound_signals);
  const Activation activation{group->needs_action ? &action_value : nullptr, &bound_signals,
                              slots.data()};

  Verdict floor = Verdict::kAllow;
  std::optional<Requirement> rule_requirement;
  for (const Rule* rule_ptr : group->rules) {
    const Rule& rule = *rule_ptr;
    Result<bool> matched = rule.when.evaluate_bool(activation);
    if (!matched.ok()) {
      d.errors.push_back(RuleError{rule.id, matched.error().message});
      // Fail closed: a rule that would hold or deny the action and cannot be decided counts as
      // matched, naming the error; a score-only rule that errors adds nothing.
      if (!rule.effect) continue;
    } else if (!*matched) {
      continue;
    }
    const bool shadow = rule.mode == Mode::kShadow;
    std::string message = matched.ok() ? render_message(rule.message, action, signals)
                                       : "could not be evaluated (" + matched.error().message +
                                             "); counted as matched (fail closed)";
    d.reasons.push_back(Reason{rule.id, rule.score, rule.effect, std::move(message), shadow});
    if (shadow) continue;
    d.score += rule.score;
    if (rule.effect) floor = std::max(floor, *rule.effect);
    if (rule.requirement) {
      rule_requirement = rule_requirement
                             ? stricter_requirement(*rule_requirement, *rule.requirement)
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
