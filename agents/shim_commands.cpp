// `stepgate shim`: the HTTP MCP proxy with the approvals inbox.

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>

#include "agent_commands.h"
#include "shim.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"

namespace stepgate {
namespace {

struct ShimCommandOptions {
  std::vector<std::string> upstreams;
  std::string listen = "127.0.0.1:8787";
  std::string name = "default";
  std::string hold;
  std::string authority_key;
  std::string policy;
  std::string actor;
  std::string client_timeout = "10s";
  int threads = 1024;
  std::vector<std::string> public_names;
};

Status parse_listen(const std::string& text, ShimOptions& options) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return invalid_argument("--listen must be HOST:PORT");
  options.listen_host = text.substr(0, colon);
  try {
    options.listen_port = std::stoi(text.substr(colon + 1));
  } catch (const std::exception&) {
    return invalid_argument("--listen port `" + text.substr(colon + 1) + "` is not a number");
  }
  if (options.listen_port < 0 || options.listen_port > 65535) {
    return invalid_argument("--listen port out of range");
  }
  return {};
}

Result<ShimOptions> make_options(const ShimCommandOptions& o, const CommandContext& context) {
  ShimOptions options;
  if (Status s = parse_listen(o.listen, options); !s.ok()) return s.error();
  options.public_names = o.public_names;
  for (std::size_t i = 0; i < o.upstreams.size(); ++i) {
    auto upstream =
        parse_upstream(o.upstreams[i], i == 0 ? o.name : "upstream" + std::to_string(i + 1));
    if (!upstream.ok()) return upstream.error();
    for (const auto& u : options.upstreams) {
      if (u.name == upstream->name) return invalid_argument("two upstreams named `" + u.name + "`");
    }
    options.upstreams.push_back(*upstream);
  }
  if (options.upstreams.empty()) return invalid_argument("shim needs --upstream URL");
  if (!o.hold.empty()) {
    auto hold = parse_duration(o.hold);
    if (!hold.ok()) return hold.error();
    options.hold_override = *hold;
  }
  auto client_timeout = parse_duration(o.client_timeout);
  if (!client_timeout.ok()) return client_timeout.error();
  if (client_timeout->count() < 1) return invalid_argument("--client-timeout must be at least 1s");
  options.client_timeout = *client_timeout;
  options.actor = o.actor.empty() ? default_actor(context.io.env) : o.actor;
  options.authority_key = o.authority_key;
  options.threads = o.threads;
  options.gate.policy_path = o.policy;
  options.gate.cwd = context.io.cwd;
  options.gate.env = context.io.env;
  options.gate.paths = context.io.paths();
  options.process = context.io;
  return options;
}

int run_shim_command(const ShimCommandOptions& o, CommandContext& context) {
  auto options = make_options(o, context);
  if (!options.ok()) return report_error(context, options.error());
  Status s = run_shim(std::move(options).value(), *context.io.out);
  if (!s.ok()) return report_error(context, s.error());
  return 0;
}

void setup_shim(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<ShimCommandOptions>();
  auto* sub = app.add_subcommand(
      "shim",
      "Gate AI agents' MCP tool calls: an HTTP proxy in front of MCP servers, with an "
      "approvals inbox at /approvals");
  sub->add_option("--upstream", o->upstreams,
                  "MCP server URL (Streamable HTTP), or NAME=URL; repeat for several (each at "
                  "/mcp/NAME, the first also at /mcp)")
      ->required();
  sub->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0: any free port)");
  sub->add_option("--public-name", o->public_names,
                  "A Host name (besides loopback ones) requests may use, e.g. the name a proxy "
                  "serves the shim under; repeat for several. Others are refused (DNS rebinding)");
  sub->add_option("--name", o->name, "Name of the first upstream (default: default)");
  sub->add_option(
      "--hold", o->hold,
      "Hold calls needing approval open this long (e.g. 2m) instead of answering at once");
  sub->add_option("--authority-key", o->authority_key,
                  "Approver id whose key (in the secrets dir) signs a grant after a TOTP approval");
  sub->add_option("--policy", o->policy,
                  "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  sub->add_option("--actor", o->actor,
                  "Who the agent acts for (default: $STEPGATE_ACTOR or the user)");
  sub->add_option("--client-timeout", o->client_timeout,
                  "Close a connection whose client sends nothing for this long in the middle of "
                  "a request (slow clients; default 10s)");
  sub->add_option("--threads", o->threads, "Most worker threads (default 1024)")
      ->check(CLI::Range(2, 4096));
  sub->callback([o, &context] { context.exit_code = run_shim_command(*o, context); });
}

}  // namespace

void register_shim_commands(CLI::App& app, CommandContext& context) {
  setup_shim(app, context);
}

}  // namespace stepgate
