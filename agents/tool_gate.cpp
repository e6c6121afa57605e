// The tool-call gate: ToolCall -> tool.call Action -> Gate -> what the MCP client sees.
#include "tool_gate.h"

#include <utility>

#include "stepgate/approvals.h"
#include "stepgate/audit.h"
#include "stepgate/gate_failure.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

std::string reasons_text(const Decision& decision) {
  std::string out;
  for (const auto& r : decision.reasons) {
    if (r.shadow) continue;
    out += "\n- " + reason_text(r);
  }
  return out;
}

Value reasons_list(const Decision& decision) {
  List out;
  for (const auto& r : decision.reasons) {
    if (!r.shadow) out.emplace_back(reason_text(r));
  }
  return out;
}

/// What the approvals inbox shows for a held call, through the audit log's redaction (the page and
/// GET /v1/approvals show it to whoever opens them).
std::string summary_json(const Action& action, const GateOutcome& outcome, const ToolCall& call) {
  Value s = Map{};
  s["kind"] = action.kind;
  s["actor"] = action.actor;
  s["resource"] = action.resource;
  s["server"] = call.server;
  s["tool"] = call.tool;
  s["client"] = call.client;
  s["arguments"] = to_pretty_json(redact_secrets(call.arguments));
  s["reasons"] = reasons_list(outcome.decision);
  s["score"] = outcome.decision.score;
  s["digest"] = outcome.decision.action_digest;
  if (outcome.decision.requirement) s["method"] = method_name(outcome.decision.requirement->method);
  return to_json(redact_secrets(s));
}

std::string approve_url(const std::string& server_url, const std::string& id) {
  return server_url.empty() ? std::string() : server_url + "/approvals#" + id;
}

std::string approval_text(const ToolGateAnswer& answer, const Decision& decision) {
  std::string text = "stepgate: this call needs approval (challenge " + answer.challenge_id +
                     "). Ask the human to approve it: " + answer.approve_command;
  if (!answer.approve_url.empty()) text += " (or open " + answer.approve_url + ")";
  return text + ", then retry the identical call." + reasons_text(decision);
}

std::string refusal_text(const ChallengeRecord& record) {
  std::string text = "stepgate: this call was refused by " +
                     (record.decided_by.empty() ? std::string("an approver") : record.decided_by) +
                     " (challenge " + record.id + ")";
  if (!record.comment.empty()) text += ": " + record.comment;
  return text + ". Do not retry it.";
}

/// Registers the held call as a pending challenge (the core reuses one already pending, or
/// still denied, for this digest).
void hold_for_approval(Gate& gate, const Action& action, const ToolCall& call,
                       const std::string& server_url, UnixTime now, ToolGateAnswer& answer) {
  const GateOutcome& outcome = answer.outcome;
  if (gate.remote()) {
    // The authority holds the challenge and says how to approve it; nothing is kept here.
    answer.challenge_id = outcome.step_up.challenge.id;
    answer.challenge_token = outcome.step_up.challenge_token;
    answer.approve_command = "stepgate authority approve " + answer.challenge_id;
    answer.approve_url = approve_url(server_url, answer.challenge_id);
    answer.text = "stepgate: this call is held (challenge " + answer.challenge_id + "). " +
                  outcome.step_up.instructions + reasons_text(outcome.decision);
    return;
  }
  const Challenge& challenge = outcome.step_up.challenge;
  if (challenge.id.empty() || outcome.step_up.challenge_token.empty()) {
    answer.text = "stepgate: this call needs approval but no challenge could be made" +
                  reasons_text(outcome.decision);
    return;
  }
  Approvals approvals(gate.policy(), gate.store(), &gate.audit(), gate.paths());
  auto held = approvals.hold(challenge, outcome.step_up.challenge_token,
                             summary_json(action, outcome, call), now);
  if (!held.ok()) {
    answer.text = "stepgate: this call needs approval but the challenge could not be stored: " +
                  held.error().message;
    return;
  }
  answer.challenge_id = held->id;
  if (held->state == ChallengeState::kDenied) {
    answer.text = refusal_text(*held);
    return;
  }
  answer.challenge_token = held->token;
  // The short id names the challenge this store holds; `stepgate approve` looks it up.
  answer.approve_command = "stepgate approve " + held->id;
  answer.approve_url = approve_url(server_url, held->id);
  answer.text = approval_text(answer, outcome.decision);
}

void mark_hosts_seen(StateStore& store, const Value& signals) {
  const Value* hosts = signals.find("network_hosts");
  if (hosts == nullptr || !hosts->is_list()) return;
  for (const auto& h : hosts->as_list()) {
    if (h.is_string()) (void)store.mark_seen("host", h.as_string());
  }
}

ToolGateAnswer gate_tool_call_unguarded(Gate& gate, const ToolCall& call, const std::string& actor,
                                        const std::vector<std::string>& grants,
                                        const std::string& server_url, UnixTime now,
                                        const std::string& device);

}  // namespace

Action make_tool_action(const ToolCall& call, const std::string& actor) {
  Action action;
  action.kind = "tool.call";
  action.actor = actor;
  action.resource = call.server.empty() ? call.tool : call.server + "/" + call.tool;
  action.attributes = Map{};
  action.attributes["server"] = call.server;
  action.attributes["tool"] = call.tool;
  action.attributes["arguments"] = call.arguments.is_null() ? Value(Map{}) : call.arguments;
  return action;
}

bool held_for_approval(const ToolGateAnswer& answer) {
  return answer.outcome.final_verdict == Verdict::kStepUp && !answer.challenge_token.empty();
}

ToolGateAnswer gate_tool_call(Gate& gate, const ToolCall& call, const std::string& actor,
                              const std::vector<std::string>& grants, const std::string& server_url,
                              UnixTime now, const std::string& device) {
  // The boundary every agent front-end shares: an exception here must not take the shim, the
  // wrapper or the hook down; the call is refused instead (fail closed).
  try {
    return gate_tool_call_unguarded(gate, call, actor, grants, server_url, now, device);
  } catch (...) {
    ToolGateAnswer answer;
    answer.outcome.final_verdict = Verdict::kDeny;
    answer.outcome.exit_code = 1;
    answer.text = "stepgate: this call was refused because stepgate failed (" +
                  describe_exception(std::current_exception()) + ")";
    return answer;
  }
}

namespace {

ToolGateAnswer gate_tool_call_unguarded(Gate& gate, const ToolCall& call, const std::string& actor,
                                        const std::vector<std::string>& grants,
                                        const std::string& server_url, UnixTime now,
                                        const std::string& device) {
  ToolGateAnswer answer;
  GateRequest request;
  request.action = make_tool_action(call, actor);
  const SignalDemand demand = signals_read(gate.engine(), "tool.call");
  request.signals = collect_tool_signals(call, gate.policy(), &gate.store(), now, &demand);
  request.now = now;
  request.device = device;
  request.grants = grants;
  request.allow_interactive = false;
  request.server_url = server_url;
  request.retry_command = "the identical tool call";
  NoTerminalStepUpIo io;
  answer.outcome = gate.run(std::move(request), io);

  switch (answer.outcome.final_verdict) {
    case Verdict::kAllow:
      answer.forward = true;
      mark_hosts_seen(gate.store(), answer.outcome.signals);
      break;
    case Verdict::kDeny:
      answer.text =
          "stepgate: this call was denied by policy." + reasons_text(answer.outcome.decision);
      break;
    case Verdict::kStepUp:
      // The request was given up to run() (its action's attributes are in the audit record):
      // the same call makes the same action again.
      hold_for_approval(gate, make_tool_action(call, actor), call, server_url, now, answer);
      break;
  }
  return answer;
}

}  // namespace

}  // namespace stepgate
