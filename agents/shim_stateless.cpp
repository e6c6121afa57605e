// The stateless revision of MCP (2026-07-28): a held tools/call answers input_required with a
// signed requestState, and the retry carrying that state passes once the call is approved.
#include "shim_elicit.h"
#include "shim_mcp.h"
#include "stepgate/stepup.h"

namespace stepgate::shim_mcp {
namespace {

/// The request's params._meta, or nullptr.
const json* request_meta(const json& m) {
  auto params = m.find("params");
  if (params == m.end() || !params->is_object()) return nullptr;
  auto meta = params->find("_meta");
  return meta != params->end() && meta->is_object() ? &*meta : nullptr;
}

constexpr const char* kApprovalInput = "stepgate-approval";

/// 2026-07-28: a held call's input_required result, asking for the approve URL to be opened and
/// carrying a requestState bound to this call's digest and the challenge.
std::string input_required_result(const json& id, const ToolGateAnswer& held) {
  const std::string state =
      sign_request_state(held.outcome.decision.action_digest, held.challenge_id,
                         held.outcome.step_up.challenge.expires_at);
  json ask = {{"method", "elicitation/create"}, {"params", url_elicitation(held)}};
  json result = {{"resultType", "input_required"},
                 {"inputRequests", {{kApprovalInput, ask}}},
                 {"requestState", state}};
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}.dump();
}

}  // namespace

bool stateless_revision(const json& m, const httplib::Request& req) {
  constexpr std::string_view kStateless = "2026-07-28";
  std::string version = req.get_header_value("MCP-Protocol-Version");
  if (const json* meta = request_meta(m)) {
    auto v = meta->find("io.modelcontextprotocol/protocolVersion");
    if (v != meta->end() && v->is_string()) version = v->get<std::string>();
  }
  return !version.empty() && version >= kStateless;
}

void handle_stateless_call(ShimContext& context, const Upstream& upstream,
                           const httplib::Request& req, httplib::Response& res, const json& m) {
  CallGate gate{context, upstream, req};
  ToolCall call = gate.tool_call(m);
  std::string body = req.body;
  const json& params = m.contains("params") ? m["params"] : json::object();
  if (params.is_object() && params.contains("requestState")) {
    const json& state = params["requestState"];
    const std::string digest = action_digest(make_tool_action(call, context.options.actor));
    auto checked = state.is_string()
                       ? verify_request_state(state.get<std::string>(), digest, unix_now())
                       : Result<RequestState>(invalid_argument("requestState must be a string"));
    if (!checked.ok()) {
      answer_json(res, 200,
                  jsonrpc_error(id_text(m), -32602, "Invalid params: " + checked.error().message));
      return;
    }
    const json* responses = params.contains("inputResponses") ? &params["inputResponses"] : nullptr;
    if (responses != nullptr && responses->is_object() && responses->contains(kApprovalInput) &&
        (*responses)[kApprovalInput].is_object() &&
        (*responses)[kApprovalInput].value("action", "accept") != "accept") {
      answer_json(res, 200,
                  tool_error_result(m["id"],
                                    "stepgate: the user declined to approve this call "
                                    "(challenge " +
                                        checked->challenge_id + "); it was not run."));
      return;
    }
    json forwarded = m;
    forwarded["params"].erase("requestState");
    forwarded["params"].erase("inputResponses");
    body = forwarded.dump();
  }
  ToolGateAnswer answer = gate.run(call);
  const json* meta = request_meta(m);
  if (held_for_approval(answer) && !answer.approve_url.empty() && meta != nullptr &&
      meta_elicits_urls(to_value(*meta))) {
    answer_json(res, 200, input_required_result(m["id"], answer));
    return;
  }
  if (gate.holds(answer)) answer = gate.hold(call, std::move(answer));  // as before: hold mode
  if (answer.forward) {
    forward_to_upstream(context, make_forward(upstream, req, std::move(body)), res, id_text(m));
    return;
  }
  answer_json(res, 200, tool_error_result(m["id"], answer.text));
}

}  // namespace stepgate::shim_mcp
