// The MCP side of the shim: JSON-RPC checks, tools/call gating (single and batch), hold/instruct,
// and the /mcp routes.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "json_input.h"
#include "mcp_headers.h"
#include "shim.h"
#include "shim_elicit.h"
#include "shim_upstream.h"
#include "stepgate/stepup.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

using nlohmann::json;

constexpr auto kHoldPoll = std::chrono::milliseconds(250);

Value to_value(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return {};
    case json::value_t::boolean:
      return {j.get<bool>()};
    case json::value_t::number_integer:
      return {j.get<int64_t>()};
    case json::value_t::number_unsigned:
      return {j.get<uint64_t>()};
    case json::value_t::number_float:
      return {j.get<double>()};
    case json::value_t::string:
      return {j.get_ref<const std::string&>()};
    case json::value_t::array: {
      List list;
      list.reserve(j.size());
      for (const auto& item : j) list.push_back(to_value(item));
      return list;
    }
    case json::value_t::object: {
      Map map;
      for (const auto& [k, v] : j.items()) map.emplace(k, to_value(v));
      return map;
    }
    default:
      return {};
  }
}

bool is_valid_message(const json& m) {
  if (!m.is_object()) return false;
  auto v = m.find("jsonrpc");
  if (v == m.end() || *v != "2.0") return false;
  auto method = m.find("method");
  if (method != m.end()) return method->is_string();
  return m.contains("id") && (m.contains("result") || m.contains("error"));
}

std::string id_text(const json& m) {
  auto id = m.is_object() ? m.find("id") : m.end();
  return (m.is_object() && id != m.end()) ? id->dump() : "null";
}

void answer_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

std::string tool_error_result(const json& id, const std::string& text) {
  json answer = {
      {"jsonrpc", "2.0"},
      {"id", id},
      {"result",
       {{"content", json::array({{{"type", "text"}, {"text", text}}})}, {"isError", true}}}};
  return answer.dump();
}

bool is_tool_call(const json& m) {
  auto method = m.find("method");
  return method != m.end() && *method == "tools/call" && m.contains("id");
}

/// A refused call's local answer, or nullopt when the call may go on unchanged.
struct CallGate {
  ShimContext& context;
  const Upstream& upstream;
  const httplib::Request& req;

  ToolCall tool_call(const json& m) const {
    ToolCall call;
    call.server = upstream.name;
    const json& params = m.contains("params") ? m["params"] : json::object();
    if (params.is_object()) {
      call.tool = params.value("name", std::string());
      if (params.contains("arguments")) call.arguments = to_value(params["arguments"]);
    }
    if (!call.arguments.is_map()) call.arguments = Map{};
    call.session = req.get_header_value("Mcp-Session-Id");
    call.client = context.client_for(call.session);
    return call;
  }

  ToolGateAnswer run(const ToolCall& call) const {
    if (context.gate == nullptr) {  // started under on_error: allow with no gate (said at start)
      ToolGateAnswer pass;
      pass.forward = true;
      return pass;
    }
    if (auto reloaded = context.gate->refresh_policy(); !reloaded.ok()) {
      std::cerr << "stepgate shim: the changed policy does not load, the previous one stays in "
                   "force: "
                << reloaded.error().message << std::endl;
    }
    const auto start = std::chrono::steady_clock::now();
    auto grants = split_grants(req.get_header_value("Stepgate-Grant"));
    ToolGateAnswer answer =
        gate_tool_call(*context.gate, call, context.options.actor, grants, context.server_url,
                       context.options.process.now(), context.device);
    context.metrics.observe_decision(answer.outcome.final_verdict,
                                     std::chrono::steady_clock::now() - start);
    return answer;
  }

  /// Hold mode: wait for the inbox to decide, then gate the identical call again.
  ToolGateAnswer hold(const ToolCall& call, ToolGateAnswer answer) const {
    const auto deadline = std::chrono::steady_clock::now() + context.hold();
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(kHoldPoll);
      auto record = context.gate->find_challenge(answer.challenge_id);
      if (!record.ok() || !record->has_value()) break;
      if ((*record)->state != ChallengeState::kPending) return run(call);
    }
    answer.text += "\n(stepgate held this call for " + std::to_string(context.hold().count()) +
                   " s without a decision.)";
    return answer;
  }

  [[nodiscard]] bool holds(const ToolGateAnswer& answer) const {
    return !answer.forward && !answer.challenge_token.empty() &&
           context.hold_mode() == HoldMode::kHold && context.hold().count() > 0;
  }

  std::optional<std::string> check(const json& m) const {
    ToolCall call = tool_call(m);
    ToolGateAnswer answer = run(call);
    if (holds(answer)) answer = hold(call, std::move(answer));
    if (answer.forward) return std::nullopt;
    return tool_error_result(m["id"], answer.text);
  }
};

/// The client's progress token for a tools/call, when it sent one and accepts an event stream.
std::optional<json> progress_token(const json& m, const httplib::Request& req) {
  if (req.get_header_value("Accept").find("text/event-stream") == std::string::npos) {
    return std::nullopt;
  }
  if (!m.contains("params") || !m["params"].is_object()) return std::nullopt;
  const json& params = m["params"];
  if (!params.contains("_meta") || !params["_meta"].is_object()) return std::nullopt;
  const json& meta = params["_meta"];
  auto token = meta.find("progressToken");
  if (token == meta.end() || !(token->is_string() || token->is_number_integer())) {
    return std::nullopt;
  }
  return *token;
}

std::string sse_event(const std::string& data) {
  return "event: message\ndata: " + data + "\n\n";
}

/// The upstream's answer as events on the held call's stream (JSON bodies become one event).
std::string as_events(const UpstreamReply& reply) {
  auto type = reply.headers.find("Content-Type");
  if (type != reply.headers.end() && type->second.find("text/event-stream") != std::string::npos) {
    return reply.body;
  }
  return sse_event(reply.body);
}

/// How a held call waits on its event stream: notifications/progress for a client that sent a
/// progressToken (so its timeout keeps resetting), and/or an elicitation/create in URL mode for a
/// client that declared it (2025-11-25), answered with notifications/elicitation/complete once
/// the approval lands.
struct StreamHold {
  std::optional<json> token;
  bool elicit = false;
};

/// Answers with an event stream at once, waits there while the inbox decides, then sends the
/// upstream's answer (approved) or the refusal on the same stream.
void stream_hold(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                 httplib::Response& res, const json& m, StreamHold how, ToolCall call,
                 ToolGateAnswer first);

ForwardRequest make_forward(const Upstream& upstream, const httplib::Request& req,
                            std::string body) {
  ForwardRequest f;
  f.upstream = &upstream;
  f.method = req.method;
  f.headers = forwardable_request_headers(req);
  f.body = std::move(body);
  return f;
}

/// The elicitation/create request asking the client to open the approve URL (2025-11-25).
json url_elicitation(const ToolGateAnswer& held) {
  return {{"mode", "url"},
          {"message", "stepgate holds this tool call until it is approved (challenge " +
                          held.challenge_id + "). Open the page to approve it."},
          {"url", held.approve_url},
          {"elicitationId", held.challenge_id}};
}

/// What became of a held call while it waited: "decided", "gone", "declined" or "" (timed out).
std::string wait_for_decision(ShimContext& context, const ToolGateAnswer& first, bool elicit) {
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(kHoldPoll);
    auto record = context.gate->find_challenge(first.challenge_id);
    if (!record.ok() || !record->has_value()) return "gone";
    if ((*record)->state != ChallengeState::kPending) return "decided";
    if (elicit) {
      const std::string action = elicitation_answer(first.challenge_id);
      if (!action.empty() && action != "accept") return "declined";
    }
  }
  return {};
}

void stream_hold(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                 httplib::Response& res, const json& m, StreamHold how, ToolCall call,
                 ToolGateAnswer first) {
  ForwardRequest forward = make_forward(upstream, req, req.body);
  const json& id = m["id"];
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [&context, &upstream, &req, forward, id, how, call = std::move(call),
                            first = std::move(first)](size_t /*offset*/, httplib::DataSink& sink) {
        CallGate gate{context, upstream, req};
        const auto deadline = std::chrono::steady_clock::now() + context.hold();
        int beat = 0;
        auto say = [&sink](const std::string& text) {
          return sink.write(text.data(), text.size());
        };
        if (how.elicit) {
          json ask = {{"jsonrpc", "2.0"},
                      {"id", elicitation_request_id(first.challenge_id)},
                      {"method", "elicitation/create"},
                      {"params", url_elicitation(first)}};
          if (!say(sse_event(ask.dump()))) return false;
        }
        std::string outcome;
        while (std::chrono::steady_clock::now() < deadline && outcome.empty()) {
          if (how.token) {
            json note = {
                {"jsonrpc", "2.0"},
                {"method", "notifications/progress"},
                {"params",
                 {{"progressToken", *how.token},
                  {"progress", beat++},
                  {"message", "waiting for approval of challenge " + first.challenge_id}}}};
            if (!say(sse_event(note.dump()))) return false;  // the client went away
          }
          outcome = wait_for_decision(context, first, how.elicit);
        }
        ToolGateAnswer answer = outcome == "decided" ? gate.run(call) : first;
        if (how.elicit && outcome == "decided") {
          json done = {{"jsonrpc", "2.0"},
                       {"method", "notifications/elicitation/complete"},
                       {"params", {{"elicitationId", first.challenge_id}}}};
          say(sse_event(done.dump()));
        }
        if (answer.forward) {
          auto reply = forward_buffered(context, forward);
          say(reply.ok() ? as_events(*reply)
                         : sse_event(jsonrpc_error(id.dump(), -32603, reply.error().message)));
        } else {
          std::string text = answer.text;
          if (outcome == "declined") {
            text += "\n(The user declined to open the approval page; the call was not run.)";
          } else if (outcome.empty()) {
            text += "\n(stepgate held this call for " + std::to_string(context.hold().count()) +
                    " s without a decision.)";
          }
          say(sse_event(tool_error_result(id, text)));
        }
        sink.done();
        return true;
      });
}

void remember_initialize(ShimContext& context, const json& m, const httplib::Response& res) {
  if (!m.is_object() || m.value("method", "") != "initialize") return;
  std::string session = res.get_header_value("Mcp-Session-Id");
  if (session.empty()) return;
  std::string client;
  if (m.contains("params") && m["params"].is_object() && m["params"].contains("clientInfo")) {
    const json& info = m["params"]["clientInfo"];
    if (info.is_object()) client = info.value("name", "");
  }
  context.remember_client(session, client);
  if (m.contains("params") && m["params"].is_object()) {
    remember_url_elicitation(session, to_value(m["params"]));
  }
}

/// JSON answers of a forwarded partial batch, from a JSON or event-stream body.
std::vector<json> batch_answers(const UpstreamReply& reply) {
  std::vector<json> out;
  auto add = [&out](const std::string& text) {
    json j = parse_outside_json(text);
    if (j.is_array()) {
      for (auto& item : j) out.push_back(std::move(item));
    } else if (j.is_object()) {
      out.push_back(std::move(j));
    }
  };
  auto type = reply.headers.find("Content-Type");
  if (type == reply.headers.end() || type->second.find("text/event-stream") == std::string::npos) {
    add(reply.body);
    return out;
  }
  std::size_t pos = 0;
  while (pos < reply.body.size()) {
    std::size_t end = reply.body.find('\n', pos);
    if (end == std::string::npos) end = reply.body.size();
    std::string line = reply.body.substr(pos, end - pos);
    if (line.rfind("data:", 0) == 0) add(line.substr(line[5] == ' ' ? 6 : 5));
    pos = end + 1;
  }
  return out;
}

void handle_batch(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                  httplib::Response& res, const json& batch,
                  std::vector<std::optional<std::string>>& local) {
  json rest = json::array();
  std::vector<json> answers;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (local[i]) {
      answers.push_back(json::parse(*local[i]));
    } else {
      rest.push_back(batch[i]);
    }
  }
  if (!rest.empty()) {
    auto reply = forward_buffered(context, make_forward(upstream, req, rest.dump()));
    if (!reply.ok()) {
      answer_json(res, 502, jsonrpc_error("null", -32603, reply.error().message));
      return;
    }
    for (const char* name : {"Mcp-Session-Id", "MCP-Protocol-Version"}) {
      auto it = reply->headers.find(name);
      if (it != reply->headers.end()) res.set_header(name, it->second);
    }
    for (auto& a : batch_answers(*reply)) answers.push_back(std::move(a));
  }
  answer_json(res, 200, json(answers).dump());
}

RoutingHeaders routing_headers(const httplib::Request& req) {
  RoutingHeaders h;
  if (req.has_header("Mcp-Method")) h.method = req.get_header_value("Mcp-Method");
  if (req.has_header("Mcp-Name")) h.name = req.get_header_value("Mcp-Name");
  return h;
}

bool accepts_events(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
}

/// The request's params._meta, or nullptr.
const json* request_meta(const json& m) {
  auto params = m.find("params");
  if (params == m.end() || !params->is_object()) return nullptr;
  auto meta = params->find("_meta");
  return meta != params->end() && meta->is_object() ? &*meta : nullptr;
}

/// A request of the stateless revision (2026-07-28 or later, by its _meta or its
/// MCP-Protocol-Version header): no server-to-client requests, held calls answer input_required.
bool stateless_revision(const json& m, const httplib::Request& req) {
  constexpr std::string_view kStateless = "2026-07-28";
  std::string version = req.get_header_value("MCP-Protocol-Version");
  if (const json* meta = request_meta(m)) {
    auto v = meta->find("io.modelcontextprotocol/protocolVersion");
    if (v != meta->end() && v->is_string()) version = v->get<std::string>();
  }
  return !version.empty() && version >= kStateless;
}

/// The client's answer to one of the shim's elicitation requests: taken here (202), never
/// forwarded to an upstream that did not send the request.
bool answer_for_shim(const json& m, httplib::Response& res) {
  if (!m.is_object() || m.contains("method") || !m.contains("id")) return false;
  const bool has_result = m.contains("result");
  const Value result = has_result ? to_value(m["result"]) : Value();
  if (!take_elicitation_answer(to_value(m["id"]), has_result ? &result : nullptr,
                               m.contains("error"))) {
    return false;
  }
  res.status = 202;
  return true;
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

/// A tools/call of the stateless revision. A retry's requestState must be one this shim signed
/// for this very call; it is taken off before the call goes upstream. A held call is answered
/// input_required when the request declares URL elicitation, else as before (isError with how
/// to approve).
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

void handle_post(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                 httplib::Response& res) {
  std::string why;
  json body = parse_outside_json(req.body, &why);
  if (body.is_discarded()) {
    answer_json(res, 400, jsonrpc_error("null", -32700, "Parse error: " + why));
    return;
  }
  const bool batch = body.is_array();
  if ((batch && body.empty()) || (!batch && !is_valid_message(body))) {
    answer_json(res, 400, jsonrpc_error(id_text(body), -32600, "Invalid Request"));
    return;
  }
  if (auto why = routing_header_mismatch(body, routing_headers(req))) {
    answer_json(res, 400, jsonrpc_error(id_text(body), -32600, "Invalid Request: " + *why));
    return;
  }
  if (!batch && answer_for_shim(body, res)) return;
  CallGate gate{context, upstream, req};
  if (!batch && is_tool_call(body)) {
    if (stateless_revision(body, req)) {
      handle_stateless_call(context, upstream, req, res, body);
      return;
    }
    const std::optional<json> token = progress_token(body, req);
    const bool elicits =
        accepts_events(req) && session_elicits_urls(req.get_header_value("Mcp-Session-Id"));
    if (token || elicits) {
      ToolCall call = gate.tool_call(body);
      ToolGateAnswer answer = gate.run(call);
      // A client that takes URL elicitation is asked to open the approve URL whatever the
      // step-up response (2025-11-25); the others keep the progress hold of `hold` mode.
      const bool elicit = elicits && held_for_approval(answer) && !answer.approve_url.empty() &&
                          context.hold().count() > 0;
      if (elicit || (token && gate.holds(answer))) {
        stream_hold(context, upstream, req, res, body, StreamHold{token, elicit}, std::move(call),
                    std::move(answer));
        return;
      }
      if (!answer.forward) {
        answer_json(res, 200, tool_error_result(body["id"], answer.text));
        return;
      }
      forward_to_upstream(context, make_forward(upstream, req, req.body), res, id_text(body));
      return;
    }
  }
  std::vector<std::optional<std::string>> local(batch ? body.size() : 1);
  bool any_local = false;
  for (std::size_t i = 0; i < local.size(); ++i) {
    const json& m = batch ? body[i] : body;
    if (!is_valid_message(m)) {
      answer_json(res, 400, jsonrpc_error(id_text(m), -32600, "Invalid Request"));
      return;
    }
    if (is_tool_call(m)) local[i] = gate.check(m);
    any_local = any_local || local[i].has_value();
  }
  if (!any_local) {
    forward_to_upstream(context, make_forward(upstream, req, req.body), res, id_text(body));
    if (!batch) remember_initialize(context, body, res);
    return;
  }
  if (!batch) {
    answer_json(res, 200, *local[0]);
    return;
  }
  handle_batch(context, upstream, req, res, body, local);
}

void handle_other(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                  httplib::Response& res) {
  ForwardRequest f = make_forward(upstream, req, req.body);
  if (req.method == "GET") f.read_timeout = std::chrono::seconds(3600);
  forward_to_upstream(context, f, res, "null");
}

void mount_one(httplib::Server& server, ShimContext& context, const std::string& path,
               const Upstream& upstream) {
  server.Post(path, [&context, &upstream](const httplib::Request& req, httplib::Response& res) {
    context.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    handle_post(context, upstream, req, res);
  });
  auto other = [&context, &upstream](const httplib::Request& req, httplib::Response& res) {
    context.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    handle_other(context, upstream, req, res);
  };
  server.Get(path, other);
  server.Delete(path, other);
}

}  // namespace

void mount_proxy(httplib::Server& server, ShimContext& context) {
  const auto& upstreams = context.options.upstreams;
  if (!upstreams.empty()) mount_one(server, context, "/mcp", upstreams.front());
  for (const auto& u : upstreams) mount_one(server, context, "/mcp/" + u.name, u);
}

}  // namespace stepgate
