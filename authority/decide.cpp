// The authority's `decide`: the caller's action and signals, the authority's own signals and
// policy, the client's layers (friction only), step-up from the authority's store, a held
// challenge with a short id, and one audit record of record.
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "service.h"
#include "stepgate/audit.h"
#include "stepgate/authority.h"
#include "stepgate/baselines.h"
#include "stepgate/collect.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/policy_layers.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

constexpr std::size_t kMaxLayers = 8;
constexpr std::size_t kMaxCachedEngines = 64;
constexpr std::size_t kMaxGrants = 16;

/// A StepUpIo whose only "terminal" is the code the front-end relayed, offered once.
class RelayedCodeIo : public StepUpIo {
 public:
  explicit RelayedCodeIo(std::string code) : code_(std::move(code)) {}
  bool has_terminal() override { return !code_.empty(); }
  Result<std::string> prompt_secret(const std::string&, std::chrono::seconds) override {
    if (code_.empty()) return make_error(ErrorCode::kUnavailable, "no further code was offered");
    return std::exchange(code_, {});
  }
  void notice(const std::string&) override {}

 private:
  std::string code_;
};

Value summary_of(const Action& action, const Decision& d, const Value& signals) {
  List reasons;
  for (const Reason& r : d.reasons) {
    if (!r.shadow) reasons.emplace_back(r.rule_id + ": " + r.message);
  }
  const Requirement req = d.requirement.value_or(Requirement{});
  Value s = Map{{"kind", action.kind},
                {"actor", action.actor},
                {"resource", action.resource},
                {"reasons", std::move(reasons)},
                {"score", d.score},
                {"digest", d.action_digest},
                {"method", method_name(req.method)},
                {"approvers", req.approvers}};
  // Redacted as the audit record is: any local user can read a pending challenge at the inbox,
  // and the approver needs to see what the action does, not the secrets it carries.
  std::string attributes = to_json(redact_secrets(action.attributes));
  if (attributes.size() > 4096) attributes = attributes.substr(0, 4096) + "...";
  s["attributes"] = std::move(attributes);
  (void)signals;
  return s;
}

/// True when an approved challenge was held for a requirement at least `now`'s: the same method,
/// with as many approvers. A challenge whose stored form cannot be read meets nothing.
bool meets(const ChallengeRecord& approved, const Requirement& now) {
  auto held = decode_challenge(approved.token);
  return held.ok() && held->requirement.method == now.method &&
         held->requirement.approvers >= now.approvers;
}

std::string instructions_for(const ChallengeRecord& c, const Decision& d,
                             const AuthorityConfig& config, const std::string& retry) {
  const bool approval = d.requirement && d.requirement->method == StepUpMethod::kApproval;
  std::string text = "Held by the stepgate authority as challenge " + c.id + ".\n";
  if (config.inbox_port != 0) {
    text += "Approve it at http://" + config.inbox_host + ":" + std::to_string(config.inbox_port) +
            "/approvals";
  } else {
    text += "Approve it with `stepgate authority approve " + c.id + "`";
  }
  text += approval ? " (an approver's code from their authenticator),\n"
                   : " (a code from your authenticator),\n";
  text += "then retry " + (retry.empty() ? std::string("the same action") : retry) + ".\n";
  if (!approval) text += "Or run it again from a terminal to be asked for the code.\n";
  return text;
}

}  // namespace

/// A client's layer name as the decision shows it: the names find_policy_layers gives, or "client".
std::string layer_name(const std::string& name) {
  return name == "user" || name == "repository" ? name : std::string("client");
}

Result<std::shared_ptr<const LayeredEngine>> Authority::layered_engine(const Value* layers) {
  std::vector<std::pair<std::string, std::string>> texts;  // name, text
  std::string key;
  if (layers != nullptr && layers->is_list()) {
    for (const Value& layer : layers->as_list()) {
      texts.emplace_back(layer_name(layer.get_string("name")), layer.get_string("text"));
      key += texts.back().first + ":" + sha256_hex(texts.back().second) + ";";
    }
  }
  {
    // Every decision looks here; only a new set of client layers writes.
    std::shared_lock read(engines_mu_);
    if (auto it = engines_.find(key); it != engines_.end()) return it->second;
  }
  // The authority's policy first: it supplies the settings (approvers, step-up defaults,
  // on_error) and the client layers can only make the verdict stricter.
  std::vector<PolicyLayer> all{PolicyLayer{"authority", policy_}};
  for (const auto& [name, text] : texts) {
    auto policy = load_policy_text(text, name + " layer");
    if (!policy.ok()) return policy.error();
    all.push_back(PolicyLayer{name, std::move(*policy)});
  }
  auto engine = std::make_shared<const LayeredEngine>(std::move(all));
  std::unique_lock write(engines_mu_);
  if (auto it = engines_.find(key); it != engines_.end()) return it->second;  // built meanwhile
  if (engines_.size() >= kMaxCachedEngines) engines_.erase(engines_.begin());
  engines_.emplace(std::move(key), engine);
  return engine;
}

Value Authority::decide(Value& request, const Peer& peer) {
  const auto started = std::chrono::steady_clock::now();
  // The action and the signals are moved out of the request, not copied (the rest of it is read
  // below as it is).
  auto take = [&request](std::string_view key) {
    if (!request.is_map()) return Value();
    auto it = request.as_map().find(key);
    return it != request.as_map().end() ? std::move(it->second) : Value();
  };
  auto parsed = action_from_value(take("action"));
  if (!parsed.ok()) return refuse("decide", peer, parsed.error());
  Action action = std::move(*parsed);
  // The kernel says who is asking; what the request claims does not count.
  const std::string claimed = action.actor;
  action.actor = peer.actor;
  Value signals = take("signals");
  if (!signals.is_map()) signals = Value(Map{});
  for (std::string_view name : kAuthoritySignals) {
    if (auto it = signals.as_map().find(name); it != signals.as_map().end()) {
      signals.as_map().erase(it);
    }
  }
  std::vector<std::string> grants;
  if (const Value* g = request.find("grants"); g != nullptr && g->is_list()) {
    for (const Value& item : g->as_list()) {
      if (item.is_string() && grants.size() < kMaxGrants) grants.push_back(item.as_string());
    }
  }
  const Value* layers_in = request.find("layers");
  if (layers_in != nullptr && layers_in->is_list() && layers_in->as_list().size() > kMaxLayers) {
    return refuse("decide", peer,
                  make_error(ErrorCode::kResourceExhausted,
                             "more than " + std::to_string(kMaxLayers) + " client policy layers"));
  }

  const Policy& policy = *policy_;
  const UnixTime now = this->now();
  const std::string digest = action_digest(action);
  // Elevations and known devices are per caller uid on this authority's machine.
  const std::string device = "uid:" + std::to_string(peer.uid);
  // The store and the audit log are thread-safe on their own: the lock covers only the layer
  // cache and the challenge bookkeeping below, so concurrent allows evaluate in parallel.
  auto engine = layered_engine(layers_in);

  GateOutcome out;
  CollectContext context{now, device, store_.get()};
  // The baselines cost store look-ups: only those a rule of some layer reads are computed.
  const SignalDemand demand = engine.ok() ? signals_read(**engine, action.kind) : SignalDemand{};
  Status collected = collect_common_signals(action, policy, context, signals);
  if (collected.ok()) {
    collected = collect_baseline_signals(action, policy, context, demand, signals);
  }
  if (Status s = collected; !s.ok()) {
    out.decision.verdict = policy.on_error == OnError::kAllow ? Verdict::kAllow : Verdict::kDeny;
    out.decision.reasons.push_back(
        Reason{"stepgate.error", 0, Verdict::kDeny, "signals: " + s.error().message, false});
  } else if (!engine.ok()) {
    // A client layer that does not load fails closed: it may only add friction, so it denies.
    out.decision.verdict = Verdict::kDeny;
    out.decision.reasons.push_back(
        Reason{"client/stepgate.error", 0, Verdict::kDeny, engine.error().message, false});
  } else {
    fill_signal_defaults(action.kind, signals);
    out.decision = (*engine)->evaluate(action, signals, digest);
  }
  out.decision.action_digest = digest;
  out.final_verdict = out.decision.verdict;
  if (out.decision.verdict == Verdict::kStepUp && !out.decision.requirement) {
    out.decision.requirement = policy.step_up;
  }

  ChallengeRecord held;
  if (out.decision.verdict == Verdict::kStepUp) {
    // One request at a time finds, consumes or creates the challenge for a digest.
    std::lock_guard challenges(mu_);
    auto existing = store_->find_challenge_by_digest(digest, now);
    if (existing.ok() && existing->has_value() && (*existing)->state == ChallengeState::kDenied) {
      out.final_verdict = Verdict::kDeny;
      out.decision.reasons.push_back(Reason{"stepgate.refused", 0, Verdict::kDeny,
                                            "refused by " + (*existing)->decided_by, false});
    } else if (existing.ok() && existing->has_value() &&
               (*existing)->state == ChallengeState::kApproved &&
               !meets(**existing, *out.decision.requirement)) {
      // Approved under a weaker requirement than the action has now (its signals changed, or a
      // client layer was left out when it was held): that approval is spent without effect, and
      // the action is held again for what is required now.
      (void)store_->consume_challenge((*existing)->id);
      (void)audit("stepup", Map{{"action_digest", digest},
                                {"actor", action.actor},
                                {"method", "challenge"},
                                {"challenge", (*existing)->id},
                                {"outcome", "superseded"},
                                {"identity", (*existing)->decided_by},
                                {"required", method_name(out.decision.requirement->method)}});
    } else if (existing.ok() && existing->has_value() &&
               (*existing)->state == ChallengeState::kApproved) {
      auto consumed = store_->consume_challenge((*existing)->id);
      if (consumed.ok() && *consumed) {
        out.step_up.satisfied = true;
        out.step_up.method = "challenge";
        out.step_up.identity = (*existing)->decided_by;
        (void)audit("stepup", Map{{"action_digest", digest},
                                  {"actor", action.actor},
                                  {"method", "challenge"},
                                  {"challenge", (*existing)->id},
                                  {"outcome", "satisfied"},
                                  {"identity", (*existing)->decided_by}});
      }
    }
    if (!out.step_up.satisfied && out.final_verdict == Verdict::kStepUp) {
      StepUp step_up(policy, *store_, audit_.get(), paths());
      StepUpRequest sr;
      sr.action = action;
      sr.decision = out.decision;
      sr.signals = signals;
      sr.device = device;
      sr.grants = grants;
      sr.allow_interactive = !request.get_string("totp").empty();
      sr.approvals_only = request.get_bool("approvals_only");
      sr.now = now;
      RelayedCodeIo io(request.get_string("totp"));
      out.step_up = step_up.satisfy(sr, io);
    }
    if (out.step_up.satisfied) out.final_verdict = Verdict::kAllow;
    if (out.final_verdict == Verdict::kStepUp) {
      // Hold it: one pending challenge per digest, in the authority's store.
      if (existing.ok() && existing->has_value() &&
          (*existing)->state == ChallengeState::kPending) {
        held = **existing;
      } else if (auto id = short_challenge_id(); id.ok()) {
        // The full challenge stays in the authority's store (Approvals::decide reads the
        // requirement and actor from it); callers only ever see the short id.
        auto challenge = make_challenge(action, out.decision, policy, signals, now);
        if (challenge.ok()) {
          challenge->id = *id;
          held.id = *id;
          held.action_digest = digest;
          held.summary_json = to_json(summary_of(action, out.decision, signals));
          held.token = encode_challenge(*challenge);
          held.state = ChallengeState::kPending;
          held.created_at = now;
          held.expires_at = challenge->expires_at;
          if (Status s = store_->put_challenge(held); !s.ok()) held.id.clear();
        }
      }
      out.step_up.challenge.id = held.id;
      out.step_up.instructions =
          held.id.empty()
              ? "the authority could not hold this action for approval\n"
              : instructions_for(held, out.decision, config_, request.get_string("retry_command"));
    }
  }

  if (request.get_bool("record_velocity", true))
    (void)store_->record_action(action.kind, action.actor, now);
  if (out.final_verdict == Verdict::kAllow && !signals.get_bool("device_known")) {
    (void)store_->mark_device_known(action.actor, device);
  }
  if (out.final_verdict == Verdict::kAllow) {
    (void)remember_baseline(action, context, demand);  // best effort: a signal only
  }

  Value step_up = Map{{"satisfied", out.step_up.satisfied}};
  if (!out.step_up.method.empty()) step_up["method"] = out.step_up.method;
  if (!out.step_up.identity.empty()) step_up["identity"] = out.step_up.identity;
  if (!held.id.empty()) {
    step_up["challenge_id"] = held.id;
    step_up["created_at"] = held.created_at;
    step_up["expires_at"] = held.expires_at;
  }
  if (!out.step_up.instructions.empty()) step_up["instructions"] = out.step_up.instructions;
  if (!out.step_up.problems.empty()) {
    step_up["problems"] = List(out.step_up.problems.begin(), out.step_up.problems.end());
  }

  Value decision = decision_to_value(out.decision);
  // map_of moves each value in (an initializer list copies them: a quarter of a decision's work
  // was deep copies of the action and the decision into this record and the reply).
  Value record = map_of("front_end", request.get_string("front_end"),          //
                        "uid", static_cast<int64_t>(peer.uid),                 //
                        "action",                                              //
                        map_of("kind", action.kind, "actor", action.actor,     //
                               "resource", action.resource, "digest", digest,  //
                               "attributes", std::move(action.attributes)),    //
                        "decision", decision,                                  //
                        "final_verdict", verdict_name(out.final_verdict));
  if (claimed != action.actor) record["claimed_actor"] = claimed;
  if (out.decision.verdict == Verdict::kStepUp) record["step_up"] = step_up;
  if (Status s = audit("decision", std::move(record));
      !s.ok() && out.final_verdict == Verdict::kAllow && policy.on_error == OnError::kDeny) {
    out.final_verdict = Verdict::kDeny;
    out.decision.reasons.push_back(
        Reason{"stepgate.audit", 0, Verdict::kDeny, "the audit log could not be written", false});
    decision = decision_to_value(out.decision);
  }
  // The signals the client does not have: the authority's own (kAuthoritySignals). Sending the
  // whole map, defaults and all, was half of every answer's bytes to write and to parse.
  Map computed;
  for (std::string_view name : kAuthoritySignals) {
    if (const Value* v = signals.find(name); v != nullptr) computed.emplace(name, *v);
  }
  // The per-layer verdicts and evaluation errors are the log's; the front-end reads neither.
  decision.as_map().erase("layers");
  decision.as_map().erase("errors");
  Value outcome = map_of("decision", std::move(decision),                   //
                         "final_verdict", verdict_name(out.final_verdict),  //
                         "signals", std::move(computed), "step_up", std::move(step_up));
  // The time spent here (evaluation, store, audit), so a client can tell it from the transport's.
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return {map_of("ok", true, "outcome", std::move(outcome),  //
                 "elapsed_us", static_cast<int64_t>(elapsed.count()))};
}

}  // namespace stepgate::authority
