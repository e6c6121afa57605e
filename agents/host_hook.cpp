// `stepgate agent-hook HOST`: what every host's hook shares (reading the event, the gate, the
// neutral answer, failing closed); the hosts' own shapes are in host_codex/cursor/gemini/copilot.
#include "host_hook.h"

#include <unistd.h>

#include <ostream>

#include "stepgate/json.h"

namespace stepgate {
namespace {

std::string elevation_context(const ToolGateAnswer& answer, UnixTime now) {
  const StepUpResult& step_up = answer.outcome.step_up;
  if (!step_up.satisfied || step_up.elevation_ends <= now) return {};
  // Whole minutes, rounded up: "ends in 0 min" would read as already over.
  const UnixTime minutes = (step_up.elevation_ends - now + 59) / 60;
  return "stepgate: this call was allowed under " +
         (step_up.identity.empty() ? std::string("the user") : step_up.identity) +
         "'s step-up elevation; the elevation ends in " + std::to_string(minutes) +
         " min, after which risky calls are held for approval again.";
}

}  // namespace

HookAnswer hook_answer(const ToolCall& call, const ToolGateAnswer& answer,
                       HoldMode step_up_response, const std::string& server_url, UnixTime now) {
  HookAnswer out;
  if (answer.forward) {
    out.context = elevation_context(answer, now);
    out.verdict = out.context.empty() ? HookVerdict::kNone : HookVerdict::kAllow;
    return out;
  }
  out.reason = agent_refusal_text(call, answer, server_url);
  if (held_for_approval(answer)) {
    out.verdict = HookVerdict::kHeld;
    out.ask = step_up_response == HoldMode::kAsk;
    out.defer = step_up_response == HoldMode::kDefer;
    return out;
  }
  out.verdict = HookVerdict::kDeny;
  return out;
}

Result<std::string> hook_string(const Value& root, std::string_view key, std::string_view host) {
  const Value* field = root.find(key);
  if (field == nullptr || field->is_null()) return std::string();
  if (!field->is_string()) {
    return invalid_argument(std::string(host) + " hook event: `" + std::string(key) +
                            "` must be a string");
  }
  return field->as_string();
}

Result<Value> hook_object(const Value& root, std::string_view key, std::string_view host) {
  const Value* field = root.find(key);
  if (field == nullptr || field->is_null()) return Value(Map{});
  const std::string where = std::string(host) + " hook event: `" + std::string(key) + "`";
  if (field->is_map()) return *field;
  if (!field->is_string()) return invalid_argument(where + " must be an object");
  // Some hosts send the arguments as JSON text; the same limits as the event apply.
  JsonLimits limits;
  limits.max_bytes = kMaxClaudeEventBytes;
  Result<Value> parsed = parse_json(field->as_string(), limits);
  if (!parsed.ok()) return invalid_argument(where + " is not JSON: " + parsed.error().message);
  if (!parsed->is_map()) return invalid_argument(where + " must hold a JSON object");
  return parsed;
}

Result<ToolCall> shell_call(const Value& input, std::string_view host) {
  const Value* command = input.find("command");
  const std::string where = std::string(host) + " hook event: the shell command";
  if (command == nullptr || command->is_null()) return invalid_argument(where + " is missing");
  if (!command->is_string()) return invalid_argument(where + " must be a string");
  ToolCall call;
  call.tool = "Bash";
  Map arguments;
  arguments["command"] = *command;
  call.arguments = Value(std::move(arguments));
  return call;
}

Value matcher_hooks_block(std::string_view event, const std::string& command, const Map& extra) {
  Map hook = extra;
  hook["type"] = Value("command");
  hook["command"] = Value(command);
  Map matcher;
  matcher["matcher"] = Value("*");
  matcher["hooks"] = Value(List{Value(std::move(hook))});
  Map hooks;
  hooks[std::string(event)] = Value(List{Value(std::move(matcher))});
  Map root;
  root["hooks"] = Value(std::move(hooks));
  return Value(std::move(root));
}

const HostAdapter* find_host_adapter(std::string_view host) {
  for (const HostAdapter* adapter :
       {&codex_host(), &cursor_host(), &gemini_host(), &copilot_host()}) {
    if (adapter->host == host) return adapter;
  }
  return nullptr;
}

std::vector<std::string_view> host_adapter_names() {
  return {codex_host().host, cursor_host().host, gemini_host().host, copilot_host().host};
}

namespace {

/// " --policy FILE --server URL" as given. Hosts run the command through a shell: a path with a
/// blank must stay one word, or the hook would not start.
std::string hook_arguments(const ClaudeHookOptions& options) {
  std::string out;
  if (!options.policy_path.empty()) out += " --policy " + shell_quote(options.policy_path);
  if (!options.server_url.empty()) out += " --server " + shell_quote(options.server_url);
  return out;
}

std::string self_exe() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return "stepgate";
  return {buffer, static_cast<std::size_t>(n)};
}

/// The command a host should run: with `options.daemon` (the default), the `stepgate-hook HOST`
/// client beside this binary (it asks `stepgate daemon`, starting one when none runs, and runs the
/// lean hook itself when none answers); else the lean hook binary's `--host HOST` when it runs or
/// is installed beside this one (it loads neither libgit2 nor cpp-httplib, and runs before every
/// tool call); else this binary's `agent-hook HOST`.
std::string host_hook_command(const HostAdapter& adapter, const ClaudeHookOptions& options) {
  std::string self = self_exe();
  const std::string client = self.substr(0, self.rfind('/') + 1) + "stepgate-hook";
  if (options.daemon && access(client.c_str(), X_OK) == 0) {
    return shell_quote(client) + " " + std::string(adapter.host) + hook_arguments(options);
  }
  constexpr std::string_view kLean = "stepgate-claude-hook";
  bool lean = self.size() >= kLean.size() &&
              self.compare(self.size() - kLean.size(), kLean.size(), kLean) == 0;
  if (!lean) {
    const std::string beside = self.substr(0, self.rfind('/') + 1) + std::string(kLean);
    if (access(beside.c_str(), X_OK) == 0) {
      self = beside;
      lean = true;
    }
  }
  return shell_quote(self) + (lean ? " --host " : " agent-hook ") + std::string(adapter.host) +
         hook_arguments(options);
}

}  // namespace

void run_host_hook(const HostAdapter& adapter, const ClaudeHookOptions& options,
                   CommandContext& context) {
  if (options.print_config) {
    *context.io.out << adapter.settings(host_hook_command(adapter, options)) << "\n";
    context.exit_code = 0;
    return;
  }
  auto answer = [&](const ClaudeHookReply& reply) {
    *context.io.out << reply.out;
    context.io.out->flush();
    context.exit_code = reply.exit_code;
  };
  // Whatever goes wrong, the host is given its blocking answer: fail closed.
  auto fail = [&](const Error& error) {
    *context.io.err << "stepgate: " << error.message << "\n";
    answer(adapter.failure("stepgate could not check this tool call, so it is blocked: " +
                           error.message));
  };
  Result<std::string> text = read_hook_event(*context.io.in);
  if (!text.ok()) return fail(text.error());
  JsonLimits limits;
  limits.max_bytes = kMaxClaudeEventBytes;
  Result<Value> root = parse_json(*text, limits);
  if (!root.ok()) {
    return fail(Error{root.error().code,
                      std::string(adapter.host) + " hook event: " + root.error().message});
  }
  if (!root->is_map()) {
    return fail(invalid_argument(std::string(adapter.host) + " hook event: expected an object"));
  }
  Result<HostEvent> event = adapter.parse(*root);
  if (!event.ok()) return fail(event.error());
  if (!event->gated) return answer(adapter.reply(*event, HookAnswer{}));
  event->call.client = std::string(adapter.host);
  Result<HookGateResult> gated = gate_hook_call(options, event->call, context.io);
  if (!gated.ok()) return fail(gated.error());
  if (gated->unavailable_allowed) return answer(adapter.reply(*event, HookAnswer{}));
  answer(adapter.reply(*event, hook_answer(event->call, gated->answer, gated->step_up_response,
                                           gated->server_url, context.io.now())));
}

}  // namespace stepgate
