#pragma once
// Claude Code's HTTP hook form (`"type": "http"` in settings.json): Claude Code POSTs the hook
// event's JSON to a URL and reads the same JSON a command hook prints from a 2xx body.
// `stepgate daemon --http-port PORT` serves it on 127.0.0.1 with the daemon's open gates, behind
// a bearer token that `stepgate agent-hook claude --print-config --http` writes (0600).
//
// Claude Code treats a non-2xx answer, a refused connection and a timeout as a non-blocking error
// (the tool runs) unless the hook sets `"onFailure": "block"` (Claude Code 2.1.295 and later),
// which the printed block does. Everything stepgate itself can answer (a malformed event, a
// gate that cannot open) is a 2xx that blocks in the event's own terms, so only a daemon that is
// not there, or a refused token, depends on onFailure.

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "claude_hook.h"
#include "stepgate/gate.h"
#include "stepgate/paths.h"
#include "stepgate/process_context.h"
#include "stepgate/result.h"

namespace stepgate {

/// The port the HTTP hook listens on when --http-port names none.
inline constexpr int kDefaultClaudeHttpPort = 47731;
/// The one path served.
inline constexpr std::string_view kClaudeHttpPath = "/v1/claude/hook";
/// The variable the printed settings read the token from (Claude Code's allowedEnvVars), so the
/// token never sits in a settings file that may be committed.
inline constexpr std::string_view kClaudeHttpTokenEnv = "STEPGATE_HOOK_TOKEN";
/// Seconds Claude Code waits for the answer (a cold gate, a busy SQLite) before onFailure.
inline constexpr int kClaudeHttpTimeoutSeconds = 60;

/// secrets_dir/claude-hook.token
std::string claude_http_token_path(const Paths& paths);

/// The token in `path`. kNotFound when there is none; kFailedPrecondition when it is not a regular
/// file of this user with mode 0600 (another user could read it and answer for Claude Code);
/// kInvalidArgument when it is not 64 hex digits.
Result<std::string> read_claude_http_token(const std::string& path);

/// The token in `path`, written first when there is none: 32 bytes from the OS CSPRNG, hex, 0600.
/// Errors: read_claude_http_token's, and kUnavailable when it cannot be written.
Result<std::string> ensure_claude_http_token(const std::string& path);

/// True when `authorization` is "Bearer TOKEN" and TOKEN equals `token` (compared in constant
/// time). An empty `token` authorizes nothing.
bool claude_http_authorized(std::string_view authorization, std::string_view token);

/// An HTTP answer.
struct ClaudeHttpReply {
  int status = 200;
  std::string body;  // application/json; empty: nothing to say (Claude Code's own flow goes on)
};

/// Answers one authorized request body: the command hook's stdout with status 200 (an empty body
/// where it prints nothing). Where the command hook would exit 2 (an event it cannot read, a gate
/// that cannot open) the answer is still a 200, whose JSON blocks in the event's terms: a
/// PreToolUse `deny`, a PermissionRequest `behavior: deny`, else `decision: block`.
ClaudeHttpReply answer_claude_http(const ClaudeHookOptions& options, const std::string& body,
                                   const ProcessContext& process);

/// The settings.json block installing the HTTP hook at 127.0.0.1:`port`, token from
/// $STEPGATE_HOOK_TOKEN, onFailure: block.
std::string claude_http_settings_json(int port);

/// `stepgate agent-hook claude --print-config --http`: writes the token when there is none,
/// prints the block, and says on stderr where the token is and what else to run.
void run_claude_http_config(int port, CommandContext& context);

/// The listener `stepgate daemon --http-port` runs: 127.0.0.1 only, one request per connection,
/// bodies up to kMaxClaudeEventBytes (413 naming the limit past it), 401 without the token.
class ClaudeHttpListener {
 public:
  /// Binds 127.0.0.1:`port` (0: any free port) and serves on threads of its own, deciding with
  /// `pool` in `process`'s environment. kUnavailable when the port cannot be bound.
  static Result<std::unique_ptr<ClaudeHttpListener>> start(int port, std::string token,
                                                           GatePool& pool,
                                                           const ProcessContext& process);
  ~ClaudeHttpListener();
  ClaudeHttpListener(const ClaudeHttpListener&) = delete;
  ClaudeHttpListener& operator=(const ClaudeHttpListener&) = delete;

  /// The port bound.
  [[nodiscard]] int port() const;
  /// When the last request arrived (for the daemon's --idle-exit).
  [[nodiscard]] std::time_t last_request() const;
  /// Stops listening and waits for the requests in flight.
  void stop();

 private:
  struct Impl;
  explicit ClaudeHttpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepgate
