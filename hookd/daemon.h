#pragma once
// `stepgate daemon`: keeps gates open (policy loaded, state store and audit log open) and answers
// hook requests from the `stepgate-hook` client over a Unix socket, so the hooks that Claude Code
// runs before every tool call and git before every push cost one small process and one round
// trip. Each request is decided exactly as the in-process hook would decide it, in the client's
// environment and directory, but never with a terminal: the client runs a request that needs one
// (a push that may prompt for a code, a chained hook) itself. A request is served as a function
// of its own context (a ProcessContext built from it): the daemon's environment, working
// directory and streams are never switched for it, so requests are served on several threads.

#include <sys/types.h>

#include <chrono>
#include <string>

#include "protocol.h"
#include "stepgate/gate.h"
#include "stepgate/process_context.h"

namespace stepgate {

struct HookDaemonOptions {
  std::string socket_path;            // empty: hookd::default_socket_path()
  std::chrono::seconds idle_exit{0};  // exit after this long without a request; 0: never
  int http_port = -1;  // Claude Code's HTTP hook on 127.0.0.1 (claude_hook_http.h); -1: off
};

/// Listens until SIGTERM or SIGINT (or idle_exit), serving connections on one worker thread per
/// core; sets context.exit_code (2 on a set-up error).
void run_hook_daemon(const HookDaemonOptions& options, CommandContext& context);

/// What answers on a daemon socket: nothing, a daemon of this user running this very
/// `stepgate` (as the client trusts), or anything else.
struct DaemonPeer {
  enum class State { kNone, kOurs, kForeign };
  State state = State::kNone;
  pid_t pid = 0;  // the listener's, when the kernel says (SO_PEERCRED)
};
DaemonPeer find_daemon(const std::string& path);

/// `stepgate daemon --status`: exit 0 when this installation's daemon answers on `path`, else 1.
int run_daemon_status(const std::string& path, CommandContext& context);
/// `stepgate daemon --stop`: SIGTERM to this installation's daemon on `path`, and waits up to 5 s
/// for it to exit (0; 1 if it does not). Nothing running: 0. Anything else listening: 2, left
/// alone.
int run_daemon_stop(const std::string& path, CommandContext& context);

/// Answers one request with gates from `pool`, in the request's environment and working
/// directory (handed to the hook in a ProcessContext; nothing process-wide changes), with no
/// terminal. Thread-safe: the daemon's workers call it at once with one pool.
hookd::Response serve_hook_request(const hookd::Request& request, GatePool& pool);

}  // namespace stepgate
