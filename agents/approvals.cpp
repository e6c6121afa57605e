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
  ApprovalRequest request;
  request.id = req.matches[1];
  request.approve = req.matches[2] == "approve";
  request.proof = {str(body, "approver"), str(body, "code"), str(body, "grant"),
                   http_proof_source(req)};
  request.comment = str(body, "comment");
  ApprovalOutcome out = shim_approvals(context).decide(request, context.options.process.now());
  if (!out.ok()) {
    reply(res, approval_http_status(out),
          json{{"error", out.message}, {"status", approval_status_name(out.status)}});
    return;
  }
  json j = out.record ? record_json(*out.record, context.server_url) : json::object();
  j["message"] = out.message;
  reply(res, 200, j);
}

void api_list(ShimContext& context, httplib::Response& res) {
  auto list = context.gate->store().list_challenges(ChallengeState::kPending,
                                                    context.options.process.now());
  if (!list.ok()) return reply_error(res, 500, list.error().message);
  json items = json::array();
  for (const auto& r : *list) items.push_back(record_json(r, context.server_url));
  reply(res, 200, json{{"approvals", items}});
}

void api_register_challenge(ShimContext& context, const httplib::Request& req,
                            httplib::Response& res) {
  json body;
  if (!parse_body(req, res, body)) return;
  auto registered =
      shim_approvals(context).register_token(str(body, "challenge"), context.options.process.now());
  if (!registered.ok()) {
    const ErrorCode code = registered.error().code;
    const bool bad = code == ErrorCode::kInvalidArgument || code == ErrorCode::kFailedPrecondition;
    return reply_error(res, bad ? 400 : 500, registered.error().message);
  }
  reply(res, registered->created ? 201 : 200, record_json(registered->record, context.server_url));
}

void api_get_challenge(ShimContext& context, const httplib::Request& req, httplib::Response& res) {
  auto record = shim_approvals(context).find(req.matches[1], context.options.process.now());
  if (!record.ok()) return reply_error(res, 500, record.error().message);
  if (!record->has_value()) return reply_error(res, 404, "no such challenge");
  reply(res, 200, record_json(**record, context.server_url));
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
    signals =
        collect_tool_signals(call, gate.policy(), &gate.store(), context.options.process.now());
  }
  CollectContext collect{context.options.process.now(), context.device, &gate.store()};
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

Approvals shim_approvals(ShimContext& context) {
  ApprovalsOptions options;
  options.authority_key = context.options.authority_key;
  options.front_end = "shim";
  return Approvals(context.gate->policy(), context.gate->store(), &context.gate->audit(),
                   context.gate->paths(), options);
}

int approval_http_status(const ApprovalOutcome& outcome) {
  auto code = approval_error_code(outcome.status);
  if (!code) return 200;
  switch (*code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kUnavailable:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

ProofSource http_proof_source(const httplib::Request& req) {
  ProofSource source;
  source.remote = true;
  const std::string session = inbox_session(req);
  source.id = session.empty() ? "peer:" + req.remote_addr : "session:" + session;
  return source;
}

void mount_approvals(httplib::Server& server, ShimContext& context) {
  ShimContext* c = &context;
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  if (context.gate == nullptr) {
    // Started under on_error: allow without a gate: nothing is held, so nothing to approve.
    auto unavailable = [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("stepgate shim: running without its gate (on_error: allow); no approvals\n",
                      "text/plain");
    };
    server.Get(R"(/(approvals|metrics|v1/.*))", unavailable);
    server.Post(R"(/(approvals|v1)/.*)", unavailable);
    return;
  }
  server.Get("/metrics", [c](const httplib::Request&, httplib::Response& res) {
    auto pending =
        c->gate->store().list_challenges(ChallengeState::kPending, c->options.process.now());
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
