// Deciding challenges (proof checks) and the JSON API: /v1/approvals, /v1/challenges, /v1/decide,
// /healthz, /metrics.
#include "approvals.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "json_input.h"
#include "shim_upstream.h"
#include "stepgate/collect.h"
#include "stepgate/stepup.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

using nlohmann::json;

ApprovalOutcome fail(int status, std::string message) {
  return ApprovalOutcome{status, std::move(message), ""};
}

/// Signs a grant with the shim's authority key for a TOTP-approved challenge.
Result<std::string> authority_grant(ShimContext& context, const Challenge& challenge) {
  const std::string& id = context.options.authority_key;
  const Policy& policy = context.gate->policy();
  if (policy.find_approver(id) == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "--authority-key `" + id + "` is not an approver in the policy");
  }
  auto key = load_approver_key(context.gate->paths().secrets_dir, id);
  if (!key.ok()) return key.error();
  auto jti = random_id(16);
  if (!jti.ok()) return jti.error();
  const UnixTime now = unix_now();
  Grant grant;
  grant.action_digest = challenge.action_digest;
  grant.approver = id;
  grant.actor = challenge.actor;
  grant.iat = now;
  grant.exp = now + policy.grant_ttl.count();
  grant.jti = *jti;
  grant.policy_revision = policy.revision;
  return sign_grant(grant, *key);
}

/// Checks a TOTP proof; returns the verified identity or a refusal.
Result<std::string> check_totp(ShimContext& context, const Challenge& challenge,
                               const ApprovalProof& proof) {
  const Policy& policy = context.gate->policy();
  if (!is_valid_principal_id(proof.approver))
    return invalid_argument("approver id is missing or invalid");
  const bool listed = policy.find_approver(proof.approver) != nullptr;
  const bool actor =
      proof.approver == challenge.actor && challenge.requirement.method == StepUpMethod::kTotp;
  if (!listed && !actor) {
    return make_error(ErrorCode::kPermissionDenied,
                      "`" + proof.approver + "` may not decide this challenge (not an approver " +
                          "in the policy, nor its actor for a TOTP step-up)");
  }
  auto enrollment = load_totp_enrollment(context.gate->paths().secrets_dir, proof.approver);
  if (!enrollment.ok()) {
    return make_error(ErrorCode::kPermissionDenied,
                      "no TOTP enrollment for `" + proof.approver + "`");
  }
  if (!enrollment->active) {
    return make_error(ErrorCode::kPermissionDenied,
                      "the TOTP enrollment of `" + proof.approver + "` is not activated");
  }
  auto check = verify_totp(context.gate->store(), *enrollment, proof.code, unix_now());
  if (!check.ok()) return check.error();
  if (*check != TotpCheck::kOk) {
    return make_error(ErrorCode::kPermissionDenied, totp_check_message(*check));
  }
  return proof.approver;
}

struct Proven {
  std::string identity;
  std::string grant;  // to store with an approval
};

Result<Proven> check_proof(ShimContext& context, const Challenge& challenge, bool approve,
                           const ApprovalProof& proof) {
  const Policy& policy = context.gate->policy();
  if (!proof.grant.empty()) {
    auto grant =
        verify_grant(proof.grant, policy, challenge.action_digest, challenge.actor, unix_now());
    if (grant.ok()) return Proven{grant->approver, proof.grant};
    // A well-signed refusal grant reaches this last check: it proves a listed approver refused.
    if (!approve && grant.error().message.find("refused this action") != std::string::npos) {
      return Proven{"approver (signed refusal)", ""};
    }
    return make_error(ErrorCode::kPermissionDenied, "grant refused: " + grant.error().message);
  }
  const bool needs_grant = approve && challenge.requirement.method == StepUpMethod::kApproval;
  if (needs_grant && context.options.authority_key.empty()) {
    return invalid_argument(
        "this action needs an approver's signed grant: paste one from `stepgate approve`, or "
        "start the shim with --authority-key");
  }
  auto who = check_totp(context, challenge, proof);
  if (!who.ok()) return who.error();
  // The authority key signs for whoever passed TOTP: without this check an approver listed in
  // the policy would turn their own TOTP into a grant for their own action.
  if (needs_grant && *who == challenge.actor && !policy.allow_self_approval) {
    return make_error(ErrorCode::kPermissionDenied,
                      "`" + *who +
                          "` cannot approve their own action (allow_self_approval is off); ask "
                          "another approver");
  }
  Proven proven{*who, ""};
  if (approve && !context.options.authority_key.empty()) {
    auto grant = authority_grant(context, challenge);
    if (!grant.ok()) return grant.error();
    proven.grant = *grant;
  }
  return proven;
}

json record_json(const ChallengeRecord& r, const std::string& server_url) {
  json j = {{"id", r.id},
            {"state", challenge_state_name(r.state)},
            {"digest", r.action_digest},
            {"decided_by", r.decided_by},
            {"comment", r.comment},
            {"grant", r.grant},
            {"created_at", r.created_at},
            {"expires_at", r.expires_at},
            {"approve_url", server_url + "/approvals#" + r.id}};
  json summary = json::parse(r.summary_json, nullptr, false);
  j["summary"] = summary.is_discarded() ? json::object() : summary;
  return j;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, json{{"error", message}});
}

bool parse_body(const httplib::Request& req, httplib::Response& res, json& out) {
  if (req.get_header_value("Content-Type").find("application/json") == std::string::npos) {
    reply_error(res, 415, "Content-Type must be application/json");
    return false;
  }
  out = parse_outside_json(req.body);
  if (out.is_discarded() || !out.is_object()) {
    reply_error(res, 400, "the body must be a JSON object");
    return false;
  }
  return true;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void api_decide_challenge(ShimContext& context, const httplib::Request& req,
                          httplib::Response& res) {
  json body;
  if (!parse_body(req, res, body)) return;
  const bool approve = req.matches[2] == "approve";
  ApprovalProof proof{str(body, "approver"), str(body, "code"), str(body, "grant")};
  ApprovalOutcome out =
      decide_approval(context, req.matches[1], approve, proof, str(body, "comment"));
  if (out.http_status != 200) {
    reply_error(res, out.http_status, out.message);
    return;
  }
  auto record = context.gate->store().get_challenge(req.matches[1]);
  json j = record.ok() && record->has_value() ? record_json(**record, context.server_url)
                                              : json::object();
  j["message"] = out.message;
  reply(res, 200, j);
}

void api_list(ShimContext& context, httplib::Response& res) {
  auto list = context.gate->store().list_challenges(ChallengeState::kPending, unix_now());
  if (!list.ok()) return reply_error(res, 500, list.error().message);
  json items = json::array();
  for (const auto& r : *list) items.push_back(record_json(r, context.server_url));
  reply(res, 200, json{{"approvals", items}});
}

void api_register_challenge(ShimContext& context, const httplib::Request& req,
                            httplib::Response& res) {
  json body;
  if (!parse_body(req, res, body)) return;
  auto challenge = decode_challenge(str(body, "challenge"));
  if (!challenge.ok()) return reply_error(res, 400, challenge.error().message);
  auto existing = context.gate->store().get_challenge(challenge->id);
  if (existing.ok() && existing->has_value()) {
    return reply(res, 200, record_json(**existing, context.server_url));
  }
  json summary = {{"kind", challenge->kind},
                  {"actor", challenge->actor},
                  {"resource", challenge->resource},
                  {"score", challenge->score},
                  {"reasons", challenge->reasons},
                  {"digest", challenge->action_digest},
                  {"method", method_name(challenge->requirement.method)},
                  {"arguments", to_pretty_json(challenge->attributes)}};
  ChallengeRecord record;
  record.id = challenge->id;
  record.token = str(body, "challenge");
  record.action_digest = challenge->action_digest;
  record.summary_json = summary.dump();
  record.created_at = challenge->created_at;
  record.expires_at = challenge->expires_at;
  if (record.expires_at <= unix_now()) return reply_error(res, 400, "the challenge has expired");
  if (Status s = context.gate->store().put_challenge(record); !s.ok()) {
    return reply_error(res, 500, s.error().message);
  }
  reply(res, 201, record_json(record, context.server_url));
}

void api_get_challenge(ShimContext& context, const httplib::Request& req, httplib::Response& res) {
  auto record = context.gate->store().get_challenge(req.matches[1]);
  if (!record.ok()) return reply_error(res, 500, record.error().message);
  if (!record->has_value()) return reply_error(res, 404, "no such challenge");
  json j = record_json(**record, context.server_url);
  if ((*record)->state == ChallengeState::kPending && (*record)->expires_at <= unix_now()) {
    j["state"] = "expired";
  }
  reply(res, 200, j);
}

/// Evaluates an action (no step-up) and audits the decision.
void api_decide(ShimContext& context, const httplib::Request& req, httplib::Response& res) {
  auto action = parse_action(req.body);
  if (!action.ok()) return reply_error(res, 400, action.error().message);
  Gate& gate = *context.gate;
  Value signals = Map{};
  if (action->kind == "tool.call") {
    // An agent framework asking directly gets the same tool signals as a proxied call.
    ToolCall call;
    call.server = action->attributes.get_string("server");
    call.tool = action->attributes.get_string("tool");
    if (const Value* args = action->attributes.find("arguments");
        args != nullptr && args->is_map()) {
      call.arguments = *args;
    }
    signals = collect_tool_signals(call, gate.policy(), &gate.store(), unix_now());
  }
  CollectContext collect{unix_now(), device_fingerprint(), &gate.store()};
  if (Status s = collect_common_signals(*action, gate.policy(), collect, signals); !s.ok()) {
    return reply_error(res, 500, s.error().message);
  }
  fill_signal_defaults(action->kind, signals);
  Decision decision = gate.engine().evaluate(*action, signals);
  Value record = Map{};
  record["front_end"] = "shim-api";
  record["action"] = action_to_value(*action);
  record["decision"] = decision_to_value(decision);
  record["final_verdict"] = verdict_name(decision.verdict);
  (void)gate.audit().append("decision", record);
  res.status = 200;
  res.set_content(to_json(decision_to_value(decision)), "application/json");
}

}  // namespace

Status check_authority_key(const Gate& gate, const std::string& id) {
  const Policy& policy = gate.policy();
  const Approver* approver = policy.find_approver(id);
  if (approver == nullptr) {
    return invalid_argument("--authority-key `" + id + "` is not an approver in " +
                            policy.source_path + " (add it under approvers: with its public_key)");
  }
  auto key = load_approver_key(gate.paths().secrets_dir, id);
  if (!key.ok()) return invalid_argument("--authority-key: " + key.error().message);
  auto listed = parse_public_key(approver->public_key);
  auto mine = ed25519_public_from_private(*key);
  if (!listed.ok() || !mine.ok() || *listed != *mine) {
    return invalid_argument("--authority-key: the key of `" + id +
                            "` does not match its public_key in " + policy.source_path);
  }
  return {};
}

ApprovalOutcome decide_approval(ShimContext& context, const std::string& id, bool approve,
                                const ApprovalProof& proof, const std::string& comment) {
  StateStore& store = context.gate->store();
  auto record = store.get_challenge(id);
  if (!record.ok()) return fail(500, record.error().message);
  if (!record->has_value()) return fail(404, "no such challenge `" + id + "`");
  const ChallengeRecord& r = **record;
  if (r.state != ChallengeState::kPending) {
    return fail(409, std::string("the challenge is already ") + challenge_state_name(r.state));
  }
  if (r.expires_at <= unix_now()) return fail(409, "the challenge has expired");
  auto challenge = decode_challenge(r.token);
  if (!challenge.ok())
    return fail(500, "stored challenge is unreadable: " + challenge.error().message);
  if (proof.grant.empty() && proof.code.empty()) {
    return fail(400, "a TOTP code (with approver) or a signed grant is required");
  }
  auto proven = check_proof(context, *challenge, approve, proof);
  if (!proven.ok()) {
    return fail(proven.error().code == ErrorCode::kInvalidArgument ? 400 : 403,
                proven.error().message);
  }
  auto state = approve ? ChallengeState::kApproved : ChallengeState::kDenied;
  auto decided = store.decide_challenge(id, state, proven->identity, comment, proven->grant);
  if (!decided.ok()) return fail(500, decided.error().message);
  if (!*decided) return fail(409, "the challenge was decided meanwhile");
  Value audit = Map{};
  audit["front_end"] = "shim";
  audit["challenge_id"] = id;
  audit["digest"] = r.action_digest;
  audit["decision"] = approve ? "approve" : "deny";
  audit["decided_by"] = proven->identity;
  audit["method"] = proof.grant.empty() ? "totp" : "grant";
  if (!comment.empty()) audit["comment"] = comment;
  (void)context.gate->audit().append("approval", audit);
  return ApprovalOutcome{200,
                         std::string(approve ? "approved" : "denied") + " by " + proven->identity,
                         challenge_state_name(state)};
}

void mount_approvals(httplib::Server& server, ShimContext& context) {
  ShimContext* c = &context;
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/metrics", [c](const httplib::Request&, httplib::Response& res) {
    auto pending = c->gate->store().list_challenges(ChallengeState::kPending, unix_now());
    const int64_t n = pending.ok() ? static_cast<int64_t>(pending->size()) : -1;
    res.set_content(c->metrics.render(n), "text/plain; version=0.0.4");
  });
  server.Get("/v1/approvals",
             [c](const httplib::Request&, httplib::Response& res) { api_list(*c, res); });
  server.Post(R"(/v1/approvals/([A-Za-z0-9_-]+)/(approve|deny))",
              [c](const httplib::Request& req, httplib::Response& res) {
                api_decide_challenge(*c, req, res);
              });
  server.Post("/v1/challenges", [c](const httplib::Request& req, httplib::Response& res) {
    api_register_challenge(*c, req, res);
  });
  server.Get(R"(/v1/challenges/([A-Za-z0-9_-]+))",
             [c](const httplib::Request& req, httplib::Response& res) {
               api_get_challenge(*c, req, res);
             });
  server.Post("/v1/decide", [c](const httplib::Request& req, httplib::Response& res) {
    api_decide(*c, req, res);
  });
  mount_inbox_page(server, context);
}

}  // namespace stepgate
