// Gating one tools/call and holding it: hold mode's wait on the request thread, and the event
// stream a held call waits on (progress notifications, URL-mode elicitation).
#include <chrono>
#include <iostream>
#include <thread>

#include "shim_elicit.h"
#include "shim_mcp.h"

namespace stepgate::shim_mcp {
namespace {

constexpr auto kHoldPoll = std::chrono::milliseconds(250);

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

}  // namespace

ToolCall CallGate::tool_call(const json& m) const {
  ToolCall call;
  call.server = upstream.name;
  const json& params = m.contains("params") ? m["params"] : json::object();
  if (params.is_object()) {
    call.tool = params.value("name", std::string());
    if (params.contains("arguments")) call.arguments = to_value(params["arguments"]);
  }
  if (!call.arguments.is_map()) call.arguments = Map{};
  call.cwd = context.options.process.cwd;  // the shim's own, as before, without a getcwd a call
  call.session = req.get_header_value("Mcp-Session-Id");
  call.client = context.client_for(call.session);
  return call;
}

ToolGateAnswer CallGate::run(const ToolCall& call) const {
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

ToolGateAnswer CallGate::hold(const ToolCall& call, ToolGateAnswer answer) const {
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

bool CallGate::holds(const ToolGateAnswer& answer) const {
  return !answer.forward && !answer.challenge_token.empty() &&
         context.hold_mode() == HoldMode::kHold && context.hold().count() > 0;
}

std::optional<std::string> CallGate::check(const json& m) const {
  ToolCall call = tool_call(m);
  ToolGateAnswer answer = run(call);
  if (holds(answer)) answer = hold(call, std::move(answer));
  if (answer.forward) return std::nullopt;
  return tool_error_result(m["id"], answer.text);
}

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

/// The elicitation/create request asking the client to open the approve URL (2025-11-25).
json url_elicitation(const ToolGateAnswer& held) {
  return {{"mode", "url"},
          {"message", "stepgate holds this tool call until it is approved (challenge " +
                          held.challenge_id + "). Open the page to approve it."},
          {"url", held.approve_url},
          {"elicitationId", held.challenge_id}};
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

}  // namespace stepgate::shim_mcp
