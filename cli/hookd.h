#pragma once
// `stepgate daemon`: keeps gates open (policy loaded, state store and audit log open) and answers
// hook requests from the `stepgate-hook` client over a Unix socket, so the hooks that Claude Code
// runs before every tool call and git before every push cost one small process and one round
// trip. Each request is decided exactly as the in-process hook would decide it, in the client's
// environment and directory, but never with a terminal: the client runs a request that needs one
// (a step-up it could prompt for, a chained hook) itself.

#include <chrono>
#include <string>

#include "command.h"
#include "hookd_protocol.h"
#include "stepgate/gate.h"

namespace stepgate {

struct HookDaemonOptions {
  std::string socket_path;            // empty: hookd::default_socket_path()
  std::chrono::seconds idle_exit{0};  // exit after this long without a request; 0: never
};

/// Listens until SIGTERM or SIGINT (or idle_exit); sets context.exit_code (2 on a set-up error).
void run_hook_daemon(const HookDaemonOptions& options, CommandContext& context);

/// Answers one request with gates from `pool`. Runs in the request's environment and working
/// directory for its duration (the daemon is single-threaded), with no terminal.
hookd::Response serve_hook_request(const hookd::Request& request, GatePool& pool);

}  // namespace stepgate
