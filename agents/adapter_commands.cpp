// The agent adapters' subcommands: `agent-hook claude|codex|cursor|gemini|copilot` (each host's
// pre-tool hook) and `mcp-wrap` (a stdio MCP server wrapper).
#include <CLI/CLI.hpp>
#include <memory>

#include "agent_commands.h"
#include "claude_hook.h"
#include "claude_hook_http.h"
#include "host_hook.h"
#include "mcp_wrap.h"

namespace stepgate {
namespace {

void setup_agent_hook(CLI::App& app, CommandContext& context) {
  CLI::App* hook = app.add_subcommand("agent-hook", "Gate an AI agent's tool calls from its hook");
  hook->require_subcommand(1);
  auto options = std::make_shared<ClaudeHookOptions>();
  CLI::App* claude = hook->add_subcommand(
      "claude", "Claude Code PreToolUse hook: reads the event on stdin, answers allow/deny/ask");
  claude->add_option("--policy", options->policy_path,
                     "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  claude->add_option("--server", options->server_url,
                     "Approvals inbox URL to point at ($STEPGATE_SERVER)");
  claude->add_flag("--print-config", options->print_config,
                   "Print the settings.json block that installs this hook");
  claude->add_flag("--daemon,!--no-daemon", options->daemon,
                   "With --print-config: install the `stepgate-hook` client, which asks "
                   "`stepgate daemon` (starting one when none runs) and decides in-process when "
                   "none answers (the default); --no-daemon: the in-process hook alone");
  auto http = std::make_shared<bool>(false);
  auto http_port = std::make_shared<int>(kDefaultClaudeHttpPort);
  claude->add_flag("--http", *http,
                   "With --print-config: the HTTP hook form served by `stepgate daemon "
                   "--http-port` (writes its token, 0600, when there is none)");
  claude->add_option("--http-port", *http_port, "With --http: the daemon's port")
      ->check(CLI::Range(1, 65535));
  claude->callback([options, http, http_port, &context] {
    if (*http && (!options->policy_path.empty() || !options->server_url.empty())) {
      // An HTTP request carries no arguments: the daemon's own layers and inbox apply.
      context.exit_code = report_error(
          context, invalid_argument("--http takes no --policy or --server: the daemon decides "
                                    "with its own policy layers ($STEPGATE_POLICY) and inbox "
                                    "($STEPGATE_SERVER)"));
      return;
    }
    if (*http && options->print_config) return run_claude_http_config(*http_port, context);
    if (*http) {
      context.exit_code = report_error(
          context, invalid_argument("--http goes with --print-config: Claude Code posts the "
                                    "events to `stepgate daemon --http-port`"));
      return;
    }
    run_claude_hook(*options, context);
  });
  for (std::string_view name : host_adapter_names()) {
    const HostAdapter* adapter = find_host_adapter(name);
    auto host_options = std::make_shared<ClaudeHookOptions>();
    CLI::App* host = hook->add_subcommand(
        std::string(name), std::string(name) + " hook: reads the event on stdin, answers in " +
                               std::string(name) + "'s own format (see README, agent hosts)");
    host->add_option("--policy", host_options->policy_path,
                     "Policy file (default: the layers in effect; see `stepgate policy explain`)");
    host->add_option("--server", host_options->server_url,
                     "Approvals inbox URL to point at ($STEPGATE_SERVER)");
    host->add_flag("--print-config", host_options->print_config,
                   "Print the settings block that installs this hook, fail-closed options on");
    host->add_flag("--daemon,!--no-daemon", host_options->daemon,
                   "With --print-config: install the `stepgate-hook` client, which asks "
                   "`stepgate daemon` and decides in-process when none answers (the default); "
                   "--no-daemon: the lean in-process hook alone");
    host->callback(
        [adapter, host_options, &context] { run_host_hook(*adapter, *host_options, context); });
  }
}

void setup_mcp_wrap(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<McpWrapOptions>();
  CLI::App* wrap = app.add_subcommand(
      "mcp-wrap", "Run a stdio MCP server behind the gate: stepgate mcp-wrap -- COMMAND ARGS...");
  wrap->add_option("--name", options->name, "Server name used in actions (default: command name)");
  wrap->add_option("--server", options->server_url, "Approvals inbox URL named in refusals");
  wrap->add_option("--policy", options->policy_path,
                   "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  wrap->add_flag("--register-challenges", options->register_challenges,
                 "POST each new challenge to SERVER/v1/challenges");
  wrap->add_option("--hold", options->hold,
                   "Hold calls needing approval open this long (e.g. 2m) instead of answering at "
                   "once (default: the policy's agents.step_up_response and agents.hold; 0: off)");
  wrap->add_option("command", options->command, "The MCP server command and its arguments")
      ->required();
  wrap->callback([options, &context] { run_mcp_wrap(*options, context); });
}

}  // namespace

void register_adapter_commands(CLI::App& app, CommandContext& context) {
  setup_agent_hook(app, context);
  setup_mcp_wrap(app, context);
}

}  // namespace stepgate
