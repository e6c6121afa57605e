#pragma once
// The shim's MCP side, shared by its three parts: shim_mcp.cpp (the /mcp routes: JSON-RPC checks,
// single calls and batches), shim_hold.cpp (gating a tools/call and holding it, on an event stream
// when the client can wait there) and shim_stateless.cpp (the 2026-07-28 stateless revision:
// input_required and the signed requestState). Internal to the shim.

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "shim.h"
#include "shim_upstream.h"
#include "tool_gate.h"

namespace stepgate::shim_mcp {

using nlohmann::json;

/// A JSON value as the gate's Value.
Value to_value(const json& j);
/// The message's id as JSON text ("null" when it has none).
std::string id_text(const json& m);
void answer_json(httplib::Response& res, int status, const std::string& body);
/// A tools/call result with isError and `text`: how a refused call is answered.
std::string tool_error_result(const json& id, const std::string& text);
/// The request to send upstream: `req`'s method and forwardable headers, with `body`.
ForwardRequest make_forward(const Upstream& upstream, const httplib::Request& req,
                            std::string body);
bool accepts_events(const httplib::Request& req);
/// The elicitation/create request asking the client to open the approve URL (2025-11-25).
json url_elicitation(const ToolGateAnswer& held);

/// One request's gate: the tools/call as a ToolCall, the decision, and hold mode's wait.
struct CallGate {
  ShimContext& context;
  const Upstream& upstream;
  const httplib::Request& req;

  [[nodiscard]] ToolCall tool_call(const json& m) const;
  /// Gates the call (the policy reloaded first when it changed), with the decision's metrics.
  [[nodiscard]] ToolGateAnswer run(const ToolCall& call) const;
  /// Hold mode: waits for the inbox to decide, then gates the identical call again.
  [[nodiscard]] ToolGateAnswer hold(const ToolCall& call, ToolGateAnswer answer) const;
  [[nodiscard]] bool holds(const ToolGateAnswer& answer) const;
  /// A refused call's local answer, or nullopt when the call may go on unchanged.
  [[nodiscard]] std::optional<std::string> check(const json& m) const;
};

/// The client's progress token for a tools/call, when it sent one and accepts an event stream.
std::optional<json> progress_token(const json& m, const httplib::Request& req);

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

/// A request of the stateless revision (2026-07-28 or later, by its _meta or its
/// MCP-Protocol-Version header): no server-to-client requests, held calls answer input_required.
bool stateless_revision(const json& m, const httplib::Request& req);

/// A tools/call of the stateless revision. A retry's requestState must be one this shim signed
/// for this very call; it is taken off before the call goes upstream. A held call is answered
/// input_required when the request declares URL elicitation, else as before (isError with how
/// to approve).
void handle_stateless_call(ShimContext& context, const Upstream& upstream,
                           const httplib::Request& req, httplib::Response& res, const json& m);

}  // namespace stepgate::shim_mcp
