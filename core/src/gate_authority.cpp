// A Gate that asks the authority: the action, the front-end's signals and the client policy
// layers go over the socket; the signed decision comes back. The authority holds every proof, so
// this side only relays a TOTP code typed at the terminal.
#include "gate_authority.h"

#include <mutex>
#include <utility>
#include <vector>

#include "stepgate/approvals.h"
#include "stepgate/collect.h"
#include "stepgate/json.h"
#include "stepgate/policy_layers.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxLayerBytes = std::size_t{1} * 1024 * 1024;
constexpr int kTotpTries = 3;
constexpr std::chrono::seconds kPromptTimeout{60};
// The policy the front-end uses for its own settings when it has nothing better (no authority
// reachable, no verified cached copy): defaults only, no rules.
constexpr std::string_view kFallbackPolicy = "version: 1\nname: authority-unreachable\n";
constexpr const char* kPolicyCacheFile = "/authority-policy.json";
// How long the authority's signed policy, kept by a front-end, decides on_error when the
// authority cannot be reached; and how far ahead of this machine's clock its time may be.
constexpr int64_t kCachedPolicyMaxAgeSeconds = 3600;
constexpr int64_t kClockSkewSeconds = 300;

Verdict verdict_from_name(std::string_view name) {
  if (name == "allow") return Verdict::kAllow;
  if (name == "step_up") return Verdict::kStepUp;
  return Verdict::kDeny;  // anything unknown fails closed
}

Requirement requirement_from(const Value& v) {
  Requirement r;
  r.method = v.get_string("method") == "approval" ? StepUpMethod::kApproval : StepUpMethod::kTotp;
  r.approvers = static_cast<int>(v.get_int("approvers", 1));
  r.max_age = std::chrono::seconds(v.get_int("max_age", 0));
  return r;
}

Decision decision_from(const Value& v) {
  Decision d;
  d.verdict = verdict_from_name(v.get_string("verdict"));
  d.score = static_cast<int>(v.get_int("score"));
  if (const Value* reasons = v.find("reasons"); reasons != nullptr && reasons->is_list()) {
    for (const Value& r : reasons->as_list()) {
      Reason reason;
      reason.rule_id = r.get_string("rule");
      reason.score = static_cast<int>(r.get_int("score"));
      reason.message = r.get_string("message");
      reason.shadow = r.get_bool("shadow");
      if (const std::string effect = r.get_string("effect"); !effect.empty()) {
        reason.effect = verdict_from_name(effect);
      }
      d.reasons.push_back(std::move(reason));
    }
  }
  if (const Value* req = v.find("requirement"); req != nullptr && req->is_map()) {
    d.requirement = requirement_from(*req);
  }
  d.policy_revision = v.get_string("policy_revision");
  d.action_digest = v.get_string("action_digest");
  d.shadow = v.get_bool("shadow");
  d.would_be = verdict_from_name(v.get_string("would_be", "allow"));
  return d;
}

int exit_code_of(Verdict v) {
  return v == Verdict::kAllow ? 0 : v == Verdict::kStepUp ? 3 : 1;
}

/// The outcome when the authority could not decide: deny, naming why, unless the authority's
/// own (signed) policy said on_error: allow.
GateOutcome failure_outcome(const std::string& why, OnError on_error, const GateRequest& request) {
  GateOutcome out;
  const bool allow = on_error == OnError::kAllow;
  out.decision.verdict = allow ? Verdict::kAllow : Verdict::kDeny;
  out.decision.action_digest = action_digest(request.action);
  Reason r;
  r.rule_id = "stepgate.authority";
  r.effect = allow ? std::nullopt : std::optional<Verdict>(Verdict::kDeny);
  r.message = why + (allow ? "; allowed (the authority's policy says on_error: allow)"
                           : "; denied (fail closed)");
  out.decision.reasons.push_back(std::move(r));
  out.final_verdict = out.decision.verdict;
  out.signals = request.signals;
  out.exit_code = exit_code_of(out.final_verdict);
  return out;
}

/// The client policy layers: the user's and the repository's (find_policy_layers, without the
/// system layer: the authority's own policy stands for it). They can only add friction there.
Value client_layers(const GateOptions& options) {
  List layers;
  auto found = find_policy_layers(options.policy_path, options.cwd, "", options.env);
  if (!found.ok()) return layers;  // none, or a named file missing: nothing to add
  for (const PolicyLayerPath& layer : *found) {
    auto text = read_file(layer.path, kMaxLayerBytes);
    if (!text.ok()) continue;  // unreadable local files add nothing
    layers.emplace_back(
        Map{{"name", layer.name}, {"path", layer.path}, {"text", std::move(*text)}});
  }
  return layers;
}

/// The signals the authority decided on: what this side sent, less the authority's own
/// (kAuthoritySignals), which its reply carries, with the kind's defaults for the rest.
Value decided_signals(const Value& sent, const Value& computed, const std::string& kind) {
  Value out = sent.is_map() ? sent : Value(Map{});
  Map& map = out.as_map();
  for (std::string_view name : kAuthoritySignals) {
    if (auto it = map.find(name); it != map.end()) map.erase(it);
  }
  if (computed.is_map()) {
    for (const auto& [name, value] : computed.as_map()) map.insert_or_assign(name, value);
  }
  fill_signal_defaults(kind, out);
  return out;
}

/// Connections to the authority, shared by the threads of a long-running front-end (the shim
/// gates calls concurrently): a request takes an idle connection or opens one, and gives it back.
class ConnectionPool {
 public:
  ConnectionPool(std::string socket, std::unique_ptr<AuthorityConnection> first,
                 std::string unreachable)
      : socket_(std::move(socket)), unreachable_(std::move(unreachable)) {
    if (first) idle_.push_back(std::move(first));
  }

  /// An idle connection, else a fresh one; null (with why()) when the authority cannot be reached.
  std::unique_ptr<AuthorityConnection> take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return fresh();
  }

  /// A new connection (an authority that restarted is asked again before a call fails closed).
  std::unique_ptr<AuthorityConnection> fresh() {
    auto c = AuthorityConnection::connect(socket_);
    if (c.ok()) return std::move(*c);
    std::lock_guard lock(mu_);
    unreachable_ = c.error().message;
    return nullptr;
  }

  void give_back(std::unique_ptr<AuthorityConnection> c) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
  }

  std::string why() {
    std::lock_guard lock(mu_);
    return unreachable_;
  }

 private:
  static constexpr std::size_t kMaxIdle = 16;
  std::string socket_;
  std::mutex mu_;
  std::vector<std::unique_ptr<AuthorityConnection>> idle_;
  std::string unreachable_;
};

class AuthoritySource : public DecisionSource {
 public:
  AuthoritySource(AuthorityEndpoint endpoint, std::unique_ptr<AuthorityConnection> connection,
                  std::string unreachable, OnError on_error, Value layers, std::string front_end)
      : endpoint_(std::move(endpoint)),
        pool_(endpoint_.socket, std::move(connection), std::move(unreachable)),
        on_error_(on_error),
        layers_(std::move(layers)),
        front_end_(std::move(front_end)) {}

  GateOutcome decide(const GateRequest& request, StepUpIo& io) override {
    Value call = Map{};
    call["op"] = "decide";
    call["front_end"] = front_end_;
    call["action"] = action_to_value(request.action);
    call["signals"] = request.signals.is_map() ? request.signals : Value(Map{});
    call["layers"] = layers_;
    call["grants"] = List(request.grants.begin(), request.grants.end());
    call["retry_command"] = request.retry_command;
    call["approvals_only"] = request.approvals_only;
    call["record_velocity"] = request.record_velocity;
    for (int attempt = 0;; ++attempt) {
      bool forged = false;
      auto reply = ask(call, &forged);
      if (forged) {
        // Whatever on_error says: an answer that is not the authority's decides nothing.
        return failure_outcome(reply.error().message + " (" + endpoint_.source + ")",
                               OnError::kDeny, request);
      }
      if (!reply.ok()) return failure_outcome(reply.error().message, on_error_, request);
      const Value* outcome_value = reply->find("outcome");
      auto outcome = outcome_from_value(outcome_value != nullptr ? *outcome_value : Value());
      if (!outcome.ok()) return failure_outcome(outcome.error().message, OnError::kDeny, request);
      outcome->signals = decided_signals(call["signals"], outcome->signals, request.action.kind);
      if (attempt >= kTotpTries || !wants_code(*outcome, request, io)) return std::move(*outcome);
      if (attempt == 0) {
        io.notice("stepgate: " + request.action.kind + " on " + request.action.resource +
                  " needs a code from your authenticator (checked by the authority)");
      }
      auto code = io.prompt_secret("TOTP code: ", kPromptTimeout);
      if (!code.ok()) return std::move(*outcome);
      call["totp"] = *code;
      call["record_velocity"] = false;  // the same action, asked again
    }
  }

  Result<std::optional<ChallengeRecord>> find_challenge(const std::string& id) override {
    bool forged = false;
    auto reply = ask(Value(Map{{"op", "challenge"}, {"id", id}}), &forged);
    if (forged) return make_error(ErrorCode::kUnavailable, reply.error().message);
    if (!reply.ok()) {
      if (reply.error().code == ErrorCode::kNotFound) return std::optional<ChallengeRecord>{};
      return reply.error();
    }
    auto state = parse_challenge_state(reply->get_string("state"));
    if (!state) return make_error(ErrorCode::kUnavailable, "the authority sent an unknown state");
    ChallengeRecord record;
    record.id = reply->get_string("id");
    record.state = *state;
    record.decided_by = reply->get_string("decided_by");
    record.expires_at = reply->get_int("expires_at");
    if (const Value* summary = reply->find("summary"); summary != nullptr) {
      record.action_digest = summary->get_string("digest");
      record.summary_json = to_json(*summary);
    }
    return std::optional<ChallengeRecord>(std::move(record));
  }

 private:
  /// One request on a pooled connection, its answer checked against the pinned key (the first
  /// on each connection is signed over a nonce; later ones ride on that proof: call_authority).
  /// A connection that broke (the authority restarted) is replaced once before the call fails.
  /// `*forged`: the answer did not prove itself the authority's.
  Result<Value> ask(const Value& request, bool* forged) {
    auto connection = pool_.take();
    if (!connection) return make_error(ErrorCode::kUnavailable, pool_.why());
    auto reply = call_authority(*connection, request, endpoint_.public_key, forged);
    if (!reply.ok() && reply.error().code == ErrorCode::kUnavailable) {
      connection = pool_.fresh();
      if (!connection) return make_error(ErrorCode::kUnavailable, pool_.why());
      reply = call_authority(*connection, request, endpoint_.public_key, forged);
    }
    // A refusal is an answer: the connection is still good. A forged one is dropped.
    if (!*forged && (reply.ok() || reply.error().code != ErrorCode::kUnavailable)) {
      pool_.give_back(std::move(connection));
    }
    return reply;
  }

  static bool wants_code(const GateOutcome& o, const GateRequest& request, StepUpIo& io) {
    if (o.final_verdict != Verdict::kStepUp || o.step_up.satisfied) return false;
    if (!request.allow_interactive || request.approvals_only) return false;
    if (o.decision.requirement && o.decision.requirement->method != StepUpMethod::kTotp) {
      return false;
    }
    return io.has_terminal();
  }

  AuthorityEndpoint endpoint_;
  ConnectionPool pool_;
  OnError on_error_;
  Value layers_;
  std::string front_end_;
};

/// The authority's policy: fetched and cached, or the cached copy when it is unreachable. The
/// cached copy counts only when it verifies against the pinned key (the user can write it).
struct FetchedPolicy {
  std::shared_ptr<const Policy> policy;
  std::unique_ptr<AuthorityConnection> connection;
  std::string unreachable;  // why not, when connection is null
};

std::shared_ptr<const Policy> policy_from_reply(const Value& reply) {
  auto policy = load_policy_text(reply.get_string("policy"), "the authority's policy");
  return policy.ok() ? std::move(*policy) : nullptr;
}

FetchedPolicy fetch_policy(const AuthorityEndpoint& endpoint, const Paths& paths) {
  FetchedPolicy out;
  const std::string cache = paths.state_dir + kPolicyCacheFile;
  auto connection = AuthorityConnection::connect(endpoint.socket);
  // Signed over a nonce: the policy is the authority's, and the connection is proven for the
  // decisions that follow on it. The signed copy is kept for when it cannot be reached.
  Result<Value> hello = connection.ok() ? call_authority(**connection, Value(Map{{"op", "hello"}}),
                                                         endpoint.public_key)
                                        : Result<Value>(connection.error());
  if (hello.ok()) {
    out.policy = policy_from_reply(*hello);
    if (out.policy) {
      (void)write_secret_file(cache, to_json(*hello));  // best effort: for on_error offline
      out.connection = std::move(*connection);
      return out;
    }
  }
  out.unreachable = !hello.ok() ? hello.error().message
                                : "the authority at " + endpoint.socket +
                                      " sent a policy that is unsigned or does not load";
  if (!endpoint.public_key.empty()) {
    auto text = read_file(cache, kMaxLayerBytes * 2);
    auto cached = text.ok() ? parse_json(*text) : Result<Value>(text.error());
    // Only a fresh copy: every policy the key ever signed verifies, and the user can put back a
    // copy kept from when the policy said on_error: allow. One from the last hour (by its signed
    // time) stands for the authority; an older one, or one without a time, does not.
    const int64_t issued = cached.ok() ? cached->get_int("issued_at", 0) : 0;
    const int64_t age = unix_now() - issued;
    if (cached.ok() && issued > 0 && age <= kCachedPolicyMaxAgeSeconds &&
        age >= -kClockSkewSeconds && verify_authority_signature(*cached, endpoint.public_key)) {
      out.policy = policy_from_reply(*cached);
    }
  }
  return out;
}

}  // namespace

Result<GateOutcome> outcome_from_value(const Value& v) {
  const Value* decision = v.find("decision");
  if (decision == nullptr || !decision->is_map()) {
    return invalid_argument("the authority's answer holds no decision");
  }
  GateOutcome out;
  out.decision = decision_from(*decision);
  out.final_verdict = verdict_from_name(v.get_string("final_verdict"));
  if (const Value* s = v.find("signals"); s != nullptr && s->is_map()) out.signals = *s;
  if (const Value* s = v.find("step_up"); s != nullptr && s->is_map()) {
    out.step_up.satisfied = s->get_bool("satisfied");
    out.step_up.method = s->get_string("method");
    out.step_up.identity = s->get_string("identity");
    out.step_up.instructions = s->get_string("instructions");
    out.step_up.challenge.id = s->get_string("challenge_id");
    // The short id stands for the challenge: the authority holds the rest.
    out.step_up.challenge_token = out.step_up.challenge.id;
    out.step_up.challenge.action_digest = out.decision.action_digest;
    out.step_up.challenge.expires_at = s->get_int("expires_at");
    out.step_up.challenge.created_at = s->get_int("created_at");
    if (const Value* p = s->find("problems"); p != nullptr && p->is_list()) {
      for (const Value& item : p->as_list()) {
        if (item.is_string()) out.step_up.problems.push_back(item.as_string());
      }
    }
  }
  out.exit_code = exit_code_of(out.final_verdict);
  return out;
}

Result<std::unique_ptr<Gate>> open_authority_gate(const GateOptions& options,
                                                  const AuthorityEndpoint& endpoint) {
  if (Status s = ensure_private_dir(options.paths.state_dir); !s.ok()) return s.error();
  FetchedPolicy fetched = fetch_policy(endpoint, options.paths);
  if (!fetched.policy) {
    auto fallback = load_policy_text(kFallbackPolicy, "fallback");
    if (!fallback.ok()) return fallback.error();
    fetched.policy = std::move(*fallback);
  }
  // The authority's own on_error (fetched, or a cached copy that verified); the fallback denies.
  const OnError on_error = fetched.policy->on_error;
  // The user's own store and log: the front-end's bookkeeping (hosts seen, its local copy of
  // held calls), never consulted for a decision.
  auto store = StateStore::open(options.paths.state_db, options.store_options);
  if (!store.ok()) return store.error();
  auto audit = AuditLog::open(options.paths.audit_log, options.audit_options);
  if (!audit.ok()) return audit.error();
  // The authority's policy supplies the settings; the client layers ride along so collectors
  // compute every signal a client layer reads (signals_read over all layers).
  std::vector<PolicyLayer> layers{PolicyLayer{"authority", fetched.policy}};
  Value sent = client_layers(options);
  for (const Value& layer : sent.as_list()) {
    auto policy = load_policy_text(layer.get_string("text"), layer.get_string("path"));
    if (policy.ok()) layers.push_back(PolicyLayer{layer.get_string("name"), std::move(*policy)});
  }
  auto gate = std::make_unique<Gate>(std::move(layers), std::move(store).value(),
                                     std::move(audit).value(), options.paths, options.front_end);
  gate->set_decision_source(std::make_unique<AuthoritySource>(
      endpoint, std::move(fetched.connection), fetched.unreachable, on_error, std::move(sent),
      options.front_end));
  return gate;
}

}  // namespace stepgate
