// The MCP side of the shim: the /mcp routes, JSON-RPC checks, and tools/call gating of single
// calls and batches. Holding a call is shim_hold.cpp's; the stateless revision
// shim_stateless.cpp's.
#include "shim_mcp.h"

#include "json_input.h"
#include "mcp_headers.h"
#include "shim_elicit.h"
#include "upstream_http.h"

namespace stepgate {
namespace shim_mcp {

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

ForwardRequest make_forward(const Upstream& upstream, const httplib::Request& req,
                            std::string body) {
  ForwardRequest f;
  f.upstream = &upstream;
  f.method = req.method;
  f.headers = forwardable_request_headers(req);
  f.body = std::move(body);
  return f;
}

bool accepts_events(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
}

namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// Why a POST's Content-Type is refused, or "" when it is JSON in UTF-8 (or absent). The shim
/// gates the body as UTF-8 JSON and forwards its bytes: an upstream that honoured another charset
/// (body-parser decodes charset=utf-7) would run a call other than the one gated.
std::string unacceptable_content_type(const httplib::Request& req) {
  if (!req.has_header("Content-Type")) return {};
  const std::string value = req.get_header_value("Content-Type");
  std::string_view rest = value;
  std::size_t semi = rest.find(';');
  if (!equals_ignoring_case(trimmed(rest.substr(0, semi)), "application/json")) {
    return "Content-Type must be application/json";
  }
  while (semi != std::string_view::npos) {
    rest.remove_prefix(semi + 1);
    semi = rest.find(';');
    const std::string_view param = trimmed(rest.substr(0, semi));
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    std::string_view v = eq == std::string_view::npos ? "" : trimmed(param.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (!equals_ignoring_case(trimmed(param.substr(0, eq)), "charset") ||
        !equals_ignoring_case(v, "utf-8")) {
      return "Content-Type may carry only charset=utf-8 (the body is read as UTF-8 JSON)";
    }
  }
  return {};
}

bool is_valid_message(const json& m) {
  if (!m.is_object()) return false;
  auto v = m.find("jsonrpc");
  if (v == m.end() || *v != "2.0") return false;
  auto method = m.find("method");
  if (method != m.end()) return method->is_string();
  return m.contains("id") && (m.contains("result") || m.contains("error"));
}

bool is_tool_call(const json& m) {
  auto method = m.find("method");
  return method != m.end() && *method == "tools/call" && m.contains("id");
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

void handle_post(ShimContext& context, const Upstream& upstream, const httplib::Request& req,
                 httplib::Response& res) {
  if (const std::string refused = unacceptable_content_type(req); !refused.empty()) {
    answer_json(res, 415, jsonrpc_error("null", -32600, "Invalid Request: " + refused));
    return;
  }
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
}  // namespace shim_mcp

void mount_proxy(httplib::Server& server, ShimContext& context) {
  const auto& upstreams = context.options.upstreams;
  if (!upstreams.empty()) shim_mcp::mount_one(server, context, "/mcp", upstreams.front());
  for (const auto& u : upstreams) shim_mcp::mount_one(server, context, "/mcp/" + u.name, u);
}

}  // namespace stepgate
