// `stepgate daemon`: the hook daemon's command line (hookd/daemon.h).
#include "daemon_commands.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "daemon.h"
#include "stepgate/policy.h"

namespace stepgate {

void register_daemon_command(CLI::App& app, CommandContext& context) {
  struct Args {
    HookDaemonOptions options;
    std::string idle_exit = "0";
    bool status = false;
    bool stop = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* daemon = app.add_subcommand(
      "daemon", "Keep gates open and answer the `stepgate-hook` client (runs in the foreground)");
  daemon->add_option("--socket", args->options.socket_path,
                     "Unix socket (default: $STEPGATE_DAEMON_SOCKET, else "
                     "$XDG_RUNTIME_DIR/stepgate/hookd.sock, else /tmp/stepgate-UID/hookd.sock)");
  daemon->add_option("--idle-exit", args->idle_exit,
                     "Exit after this long without a request, e.g. 30m (default 0: never)");
  auto* status = daemon->add_flag(
      "--status", args->status,
      "Say whether this installation's daemon answers on the socket (exit 0 if so, 1 if not)");
  auto* stop = daemon->add_flag("--stop", args->stop,
                                "Stop this installation's daemon on the socket (SIGTERM; waits "
                                "up to 5 s); nothing running is not an error");
  daemon->add_option("--http-port", args->options.http_port,
                     "Also serve Claude Code's HTTP hook on 127.0.0.1:PORT (0: any free port, "
                     "printed) with the token `stepgate agent-hook claude --print-config --http` "
                     "writes; default: off");
  status->excludes(stop);
  daemon->callback([args, &context] {
    if (args->status || args->stop) {
      const std::string path = args->options.socket_path.empty() ? hookd::default_socket_path()
                                                                 : args->options.socket_path;
      context.exit_code =
          args->status ? run_daemon_status(path, context) : run_daemon_stop(path, context);
      return;
    }
    auto idle = parse_duration(args->idle_exit);
    if (!idle.ok()) {
      context.exit_code = report_error(context, idle.error());
      return;
    }
    args->options.idle_exit = *idle;
    run_hook_daemon(args->options, context);
  });
}

}  // namespace stepgate
