#include "claude_hook.h"

#include "host_hook.h"

#include <istream>
#include <iterator>
#include <ostream>

#include "stepgate/collect.h"
#include "stepgate/gate.h"
#include "stepgate/gate_failure.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/stepup.h"

namespace stepgate {
namespace {

constexpr std::string_view kPreToolUse = "PreToolUse";
constexpr std::string_view kPermissionRequest = "PermissionRequest";

/// The events that name a tool call the gate decides.
bool gated_event(std::string_view name) {
  return name == kPreToolUse || name == kPermissionRequest;
}
constexpr std::string_view kMcpPrefix = "mcp__";

Status read_string_field(const Value& root, std::string_view key, std::string& out) {
  const Value* field = root.find(key);
  if (field == nullptr || field->is_null()) return {};
  if (!field->is_string()) {
    return invalid_argument("hook event: `" + std::string(key) + "` must be a string");
  }
  out = field->as_string();
  return {};
}

/// Reads all of `in` up to `limit` bytes; kResourceExhausted past it.
Result<std::string> read_limited(std::istream& in, std::size_t limit) {
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > limit) {
      return make_error(ErrorCode::kResourceExhausted,
                        "hook event is larger than " + std::to_string(limit) + " bytes");
    }
  }
  if (in.bad()) return make_error(ErrorCode::kUnavailable, "cannot read the hook event on stdin");
  return text;
}

/// Claude Code's own tools have fixed input shapes. A field of another type (a `command` that is
/// a number or an array) is input the gate cannot read: refused (exit 2, fail closed), never
/// turned into an empty string and allowed.
Status check_tool_input(const ClaudeHookEvent& event) {
  struct Field {
    std::string_view tool;
    std::string_view key;
    bool required;
  };
  static constexpr Field kFields[] = {
      {"Bash", "command", true},
      {"Read", "file_path", true},
      {"Write", "file_path", true},
      {"Write", "content", false},
      {"Edit", "file_path", true},
      {"MultiEdit", "file_path", true},
      {"NotebookEdit", "notebook_path", true},
      {"Glob", "pattern", true},
      {"Glob", "path", false},
      {"Grep", "pattern", true},
      {"Grep", "path", false},
      {"WebFetch", "url", true},
  };
  for (const Field& f : kFields) {
    if (f.tool != event.tool_name) continue;
    const Value* value = event.tool_input.find(f.key);
    const std::string where =
        "hook event: " + event.tool_name + " `tool_input." + std::string(f.key) + "`";
    if (value == nullptr || value->is_null()) {
      if (f.required) return invalid_argument(where + " is missing");
      continue;
    }
    if (!value->is_string()) return invalid_argument(where + " must be a string");
  }
  return {};
}

std::string join_reasons(const Decision& decision) {
  std::string text;
  for (const Reason& reason : decision.reasons) {
    if (reason.shadow || (reason.score == 0 && !reason.effect)) continue;
    if (!text.empty()) text += "; ";
    text += reason.message.empty() ? reason.rule_id : reason.message;
    text += " [" + reason.rule_id + "]";
  }
  return text;
}

std::string describe_call(const ToolCall& call) {
  if (call.server.empty()) return call.tool;
  // Name the tool the way the agent called it.
  if (call.client == "claude-code") return "mcp__" + call.server + "__" + call.tool;
  return call.server + "/" + call.tool;
}

std::string deny_reason(const ToolCall& call, const ToolGateAnswer& answer) {
  std::string why = join_reasons(answer.outcome.decision);
  if (why.empty()) why = answer.text.empty() ? "the policy refuses it" : answer.text;
  return "stepgate denied this " + describe_call(call) + " call: " + why +
         ". The policy does not allow it, so do not retry it as is: choose a safer way to reach "
         "the goal, or tell the user what you wanted to do and why.";
}

std::string step_up_reason(const ToolCall& call, const ToolGateAnswer& answer,
                           const std::string& server_url) {
  std::string why = join_reasons(answer.outcome.decision);
  std::string text = "stepgate held this " + describe_call(call) + " call for approval";
  if (!why.empty()) text += " (" + why + ")";
  text += ". Challenge " + (answer.challenge_id.empty() ? "?" : answer.challenge_id) + ".";
  // The short id and the inbox entry, not the token: the token is 1.3 KB of context the model
  // does not need, and a copy of it with the sentence's period broke its checksum.
  if (!answer.approve_command.empty()) {
    text += " Ask the user to approve it: " + answer.approve_command;
  }
  // The inbox the caller names, when the gate was not told of one.
  const std::string url = !answer.approve_url.empty() || server_url.empty()
                              ? answer.approve_url
                              : server_url + "/approvals#" + answer.challenge_id;
  if (!url.empty()) text += " (or open " + url + ")";
  text += ". Once it is approved, retry exactly the same call: it will then pass once.";
  return text;
}

}  // namespace

std::string agent_refusal_text(const ToolCall& call, const ToolGateAnswer& answer,
                               const std::string& server_url) {
  if (held_for_approval(answer)) return step_up_reason(call, answer, server_url);
  if (answer.outcome.final_verdict == Verdict::kDeny) return deny_reason(call, answer);
  // Step-up that cannot be asked for (an approver refused it, or no challenge could be made).
  return "stepgate refused this " + describe_call(call) + " call: " +
         (answer.text.empty() ? std::string("step-up could not be satisfied") : answer.text);
}

Result<ClaudeHookEvent> parse_claude_hook_event(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxClaudeEventBytes;
  Result<Value> root = parse_json(text, limits);
  if (!root.ok()) return Error{root.error().code, "hook event: " + root.error().message};
  if (!root->is_map()) return invalid_argument("hook event: expected a JSON object");
  ClaudeHookEvent event;
  for (auto [key, out] : {std::pair{"session_id", &event.session_id},
                          {"transcript_path", &event.transcript_path},
                          {"cwd", &event.cwd},
                          {"hook_event_name", &event.hook_event_name},
                          {"tool_name", &event.tool_name},
                          {"tool_use_id", &event.tool_use_id},
                          {"permission_mode", &event.permission_mode}}) {
    if (Status s = read_string_field(*root, key, *out); !s.ok()) return s.error();
  }
  if (event.hook_event_name.empty()) return invalid_argument("hook event: no `hook_event_name`");
  if (!gated_event(event.hook_event_name)) return event;
  if (event.tool_name.empty()) return invalid_argument("hook event: no `tool_name`");
  const Value* input = root->find("tool_input");
  if (input != nullptr && !input->is_null()) {
    if (!input->is_map()) return invalid_argument("hook event: `tool_input` must be an object");
    event.tool_input = *input;
  }
  if (Status s = check_tool_input(event); !s.ok()) return s.error();
  return event;
}

ToolCall tool_call_from_claude_event(const ClaudeHookEvent& event) {
  ToolCall call;
  call.client = "claude-code";
  call.session = event.session_id;
  call.cwd = event.cwd;
  call.tool = event.tool_name;
  if (event.tool_name == "Bash") {
    // Only the command matters; description/timeout change between retries of the same call
    // and would make an approval miss.
    Map arguments;
    arguments["command"] = Value(event.tool_input.get_string("command"));
    call.arguments = Value(std::move(arguments));
    return call;
  }
  call.arguments = event.tool_input;
  const std::string_view name = event.tool_name;
  if (name.starts_with(kMcpPrefix)) {
    const std::string_view rest = name.substr(kMcpPrefix.size());
    const std::size_t split = rest.find("__");
    if (split != std::string_view::npos && split > 0 && split + 2 < rest.size()) {
      call.server = std::string(rest.substr(0, split));
      call.tool = std::string(rest.substr(split + 2));
    }
  }
  return call;
}

std::string claude_permission_json(std::string_view decision, std::string_view reason) {
  Map inner;
  inner["hookEventName"] = Value(kPreToolUse);
  inner["permissionDecision"] = Value(decision);
  inner["permissionDecisionReason"] = Value(reason);
  Map outer;
  outer["hookSpecificOutput"] = Value(std::move(inner));
  return to_json(Value(std::move(outer)));
}

std::string claude_context_json(std::string_view event_name, std::string_view context) {
  Map inner;
  inner["hookEventName"] = Value(event_name);
  inner["additionalContext"] = Value(context);
  Map outer;
  outer["hookSpecificOutput"] = Value(std::move(inner));
  return to_json(Value(std::move(outer)));
}

ClaudeHookReply claude_hook_reply(const ToolCall& call, const ToolGateAnswer& answer,
                                  HoldMode step_up_response, const std::string& server_url,
                                  UnixTime now) {
  const HookAnswer a =
      hook_answer(call, answer, step_up_response, server_url, now == 0 ? unix_now() : now);
  switch (a.verdict) {
    case HookVerdict::kNone:
      return {};
    case HookVerdict::kAllow:
      // No permissionDecision: Claude Code's own permission rules and prompts still apply.
      return {0, claude_context_json(kPreToolUse, a.context) + "\n"};
    case HookVerdict::kDeny:
      return {0, claude_permission_json("deny", a.reason) + "\n"};
    case HookVerdict::kHeld:
      // `ask`: the policy lets the user confirm in Claude Code's own prompt; `defer`: a headless
      // (`claude -p`) session stops with the call pending, and the caller resumes it once the
      // challenge is approved (the hook then lets the identical call through once).
      if (a.defer) return {0, claude_permission_json("defer", a.reason) + "\n"};
      return {0, claude_permission_json(a.ask ? "ask" : "deny", a.reason) + "\n"};
  }
  return {0, claude_permission_json("deny", a.reason) + "\n"};
}

ClaudeHookReply claude_permission_request_reply(const ToolCall& call, const ToolGateAnswer& answer,
                                                HoldMode step_up_response,
                                                const std::string& server_url, UnixTime now) {
  const HookAnswer a =
      hook_answer(call, answer, step_up_response, server_url, now == 0 ? unix_now() : now);
  // An allow never answers for the user: Claude Code's dialog still asks them. A call the policy
  // lets the user confirm in Claude Code itself (`ask`) leaves the dialog to them too.
  if (a.verdict == HookVerdict::kNone || a.verdict == HookVerdict::kAllow) return {};
  if (a.verdict == HookVerdict::kHeld && a.ask) return {};
  Map decision;
  decision["behavior"] = Value("deny");
  decision["message"] = Value(a.reason);
  Map inner;
  inner["hookEventName"] = Value(kPermissionRequest);
  inner["decision"] = Value(std::move(decision));
  Map outer;
  outer["hookSpecificOutput"] = Value(std::move(inner));
  return {0, to_json(Value(std::move(outer))) + "\n"};
}

std::string claude_settings_json(const std::string& command) {
  Map hook;
  hook["type"] = Value("command");
  hook["command"] = Value(command);
  // Claude Code (2.1.295 and later) otherwise runs the call when the hook cannot start, crashes
  // or times out; stepgate's own errors already exit 2.
  hook["onFailure"] = Value("block");
  return claude_pretooluse_settings(std::move(hook));
}

std::string claude_pretooluse_settings(Map hook) {
  Map matcher;
  matcher["matcher"] = Value("*");
  matcher["hooks"] = Value(List{Value(std::move(hook))});
  Map hooks;
  hooks["PreToolUse"] = Value(List{Value(std::move(matcher))});
  Map root;
  root["hooks"] = Value(std::move(hooks));
  return to_pretty_json(Value(std::move(root)));
}

Result<HookGateResult> gate_hook_call(const ClaudeHookOptions& options, ToolCall call,
                                      const ProcessContext& process) {
  const Env& env = process.env;
  GateOptions gate_options;
  // A relative --policy is the hook command's, so it is read from the hook's directory.
  gate_options.policy_path = relative_to(options.policy_path, process.cwd);
  gate_options.cwd = call.cwd.empty() ? process.cwd : call.cwd;
  gate_options.env = env;
  gate_options.paths = process.paths();
  gate_options.front_end = "claude";
  std::shared_ptr<Gate> gate;  // the daemon's pooled gate, or one opened for this call
  // A gate that cannot be opened fails closed unless a policy that loads says on_error: allow.
  auto open_failure = [&](const Error& error) -> Result<HookGateResult> {
    GateFailure failure = gate_open_failure(error, gate_options, "tool call");
    if (!failure.allow) return make_error(error.code, failure.message);
    *process.err << "stepgate: warning: " << failure.message << "\n";
    HookGateResult allowed;
    allowed.unavailable_allowed = true;
    return allowed;
  };
  if (options.gates != nullptr) {
    Result<std::shared_ptr<Gate>> pooled = options.gates->get(gate_options);
    if (!pooled.ok()) return open_failure(pooled.error());
    gate = std::move(pooled).value();
  } else {
    Result<std::unique_ptr<Gate>> opened = Gate::open(gate_options);
    if (!opened.ok()) return open_failure(opened.error());
    gate = std::move(opened).value();
  }
  if (call.cwd.empty()) call.cwd = gate_options.cwd;
  call.home = env.get("HOME");
  call.env = env;
  HookGateResult out;
  out.server_url = options.server_url;
  if (out.server_url.empty()) out.server_url = env.get("STEPGATE_SERVER");
  const std::vector<std::string> grants = split_grants(env.get("STEPGATE_GRANT"));
  out.answer = gate_tool_call(*gate, call, default_actor(env), grants, out.server_url,
                              process.now(), device_fingerprint(env));
  out.step_up_response = gate->policy().agents.step_up_response;
  return out;
}

Result<std::string> read_hook_event(std::istream& in) {
  return read_limited(in, kMaxClaudeEventBytes);
}

namespace {

std::string self_path() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return "stepgate";
  return {buffer, static_cast<std::size_t>(n)};
}

/// The command Claude Code should run: with `daemon` (the default: Claude Code runs the hook before
/// every tool call of a long session, which a daemon serves in a third of the time), the
/// `stepgate-hook` client beside this binary (it asks `stepgate daemon`, starts one when none
/// runs, and runs the lean hook itself when no daemon answers); else
/// the lean `stepgate-claude-hook` beside this binary when it is installed (it loads neither
/// libgit2 nor cpp-httplib, and runs before every tool call), else `stepgate agent-hook claude`.
std::string lean_hook_command(const std::string& self, bool daemon) {
  const std::string dir = self.substr(0, self.rfind('/') + 1);
  if (daemon) {
    const std::string client = dir + "stepgate-hook";
    if (access(client.c_str(), X_OK) == 0) return shell_quote(client) + " claude";
  }
  if (self.size() >= 20 && self.compare(self.size() - 20, 20, "stepgate-claude-hook") == 0) {
    return shell_quote(self);
  }
  std::string lean = dir + "stepgate-claude-hook";
  if (access(lean.c_str(), X_OK) == 0) return shell_quote(lean);
  return shell_quote(self) + " agent-hook claude";
}

Result<ClaudeHookReply> gate_event(const ClaudeHookOptions& options, const ClaudeHookEvent& event,
                                   const ProcessContext& process) {
  const ToolCall call = tool_call_from_claude_event(event);
  Result<HookGateResult> gated = gate_hook_call(options, call, process);
  if (!gated.ok()) return gated.error();
  if (gated->unavailable_allowed) return ClaudeHookReply{0, ""};
  if (event.hook_event_name == kPermissionRequest) {
    return claude_permission_request_reply(call, gated->answer, gated->step_up_response,
                                           gated->server_url, process.now());
  }
  return claude_hook_reply(call, gated->answer, gated->step_up_response, gated->server_url,
                           process.now());
}

}  // namespace

void run_claude_hook(const ClaudeHookOptions& options, CommandContext& context) {
  if (options.print_config) {
    std::string command = lean_hook_command(self_path(), options.daemon);
    // Claude Code runs the command through a shell: a path with a blank must stay one word, or
    // the hook would not start and Claude Code would let the tool run.
    if (!options.policy_path.empty()) command += " --policy " + shell_quote(options.policy_path);
    *context.io.out << claude_settings_json(command) << "\n";
    context.exit_code = 0;
    return;
  }
  // Claude Code reads exit code 2 as "block the call, show stderr": every failure fails closed.
  auto fail = [&](const Error& error) {
    *context.io.err << "stepgate: " << error.message << "\n";
    context.exit_code = 2;
  };
  Result<std::string> text = read_hook_event(*context.io.in);
  if (!text.ok()) return fail(text.error());
  Result<ClaudeHookEvent> event = parse_claude_hook_event(*text);
  if (!event.ok()) return fail(event.error());
  if (!gated_event(event->hook_event_name)) {
    context.exit_code = 0;
    return;
  }
  Result<ClaudeHookReply> reply = gate_event(options, *event, context.io);
  if (!reply.ok()) return fail(reply.error());
  *context.io.out << reply->out;
  context.io.out->flush();
  context.exit_code = reply->exit_code;
}

}  // namespace stepgate
