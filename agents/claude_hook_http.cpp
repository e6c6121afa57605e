#include "claude_hook_http.h"

#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <ostream>
#include <sstream>
#include <thread>
#include <vector>

#include "stepgate/crypto.h"
#include "stepgate/gate_failure.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::string_view kBearer = "Bearer ";
constexpr time_t kStallSeconds = 10;  // a client that stalls mid-request is dropped

bool is_hex_token(std::string_view text) {
  if (text.size() != kTokenBytes * 2) return false;
  for (const char c : text) {
    if ((c < '0' || c > '9') && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

/// The blocking answer for an event stepgate could not decide, in the terms of its event.
std::string blocking_json(const std::string& body, const std::string& reason) {
  JsonLimits limits;
  limits.max_bytes = kMaxClaudeEventBytes;
  Result<Value> event = parse_json(body, limits);
  const std::string name =
      event.ok() && event->is_map() ? event->get_string("hook_event_name") : "";
  if (name == "PreToolUse") return claude_permission_json("deny", reason);
  Map root;
  if (name == "PermissionRequest") {
    Map decision;
    decision["behavior"] = Value("deny");
    decision["message"] = Value(reason);
    Map inner;
    inner["hookEventName"] = Value(name);
    inner["decision"] = Value(std::move(decision));
    root["hookSpecificOutput"] = Value(std::move(inner));
  } else {
    // The form every blocking event reads (an unreadable body has no event name to answer in).
    root["decision"] = Value("block");
    root["reason"] = Value(reason);
  }
  return to_json(Value(std::move(root)));
}

std::string error_json(const std::string& message) {
  Map root;
  root["error"] = Value(message);
  return to_json(Value(std::move(root)));
}

}  // namespace

std::string claude_http_token_path(const Paths& paths) {
  return paths.secrets_dir + "/claude-hook.token";
}

Result<std::string> read_claude_http_token(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::kNotFound, "no Claude Code HTTP hook token at " + path +
                                                " (run `stepgate agent-hook claude "
                                                "--print-config --http` to write one)");
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return make_error(ErrorCode::kFailedPrecondition,
                      path + " must be a file of yours that only you can read (chmod 600 " + path +
                          "): another user who reads it can answer for Claude Code's hook");
  }
  Result<std::string> text = read_secret_file(path);
  if (!text.ok()) return text.error();
  std::string token = *text;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (!is_hex_token(token)) {
    return invalid_argument(path + ": not a stepgate hook token (" +
                            std::to_string(kTokenBytes * 2) + " hex digits)");
  }
  return token;
}

Result<std::string> ensure_claude_http_token(const std::string& path) {
  Result<std::string> existing = read_claude_http_token(path);
  if (existing.ok() || existing.error().code != ErrorCode::kNotFound) return existing;
  Result<Bytes> random = random_bytes(kTokenBytes);
  if (!random.ok()) return random.error();
  const std::string token = hex_encode(*random);
  if (Status s = write_secret_file(path, token + "\n"); !s.ok()) return s.error();
  return token;
}

bool claude_http_authorized(std::string_view authorization, std::string_view token) {
  if (token.empty() || !authorization.starts_with(kBearer)) return false;
  return constant_time_equal(authorization.substr(kBearer.size()), token);
}

ClaudeHttpReply answer_claude_http(const ClaudeHookOptions& options, const std::string& body,
                                   const ProcessContext& process) {
  std::istringstream in(body);
  std::ostringstream out;
  std::ostringstream err;
  CommandContext context{process};
  context.io.in = &in;
  context.io.out = &out;
  context.io.err = &err;
  try {
    run_claude_hook(options, context);
  } catch (...) {
    context.exit_code = 2;
    err << "stepgate: " << describe_exception(std::current_exception()) << "\n";
  }
  if (context.exit_code == 0) return {200, out.str()};
  // Where the command hook exits 2 (Claude Code blocks and shows stderr), an HTTP hook can only
  // block through its body.
  std::string reason = err.str();
  while (!reason.empty() && reason.back() == '\n') reason.pop_back();
  if (reason.empty()) reason = "stepgate could not check this tool call";
  return {200, blocking_json(body, reason + "; tool call blocked (fail closed)")};
}

std::string claude_http_settings_json(int port) {
  Map headers;
  headers["Authorization"] = Value(std::string(kBearer) + "$" + std::string(kClaudeHttpTokenEnv));
  Map hook;
  hook["type"] = Value("http");
  hook["url"] = Value("http://127.0.0.1:" + std::to_string(port) + std::string(kClaudeHttpPath));
  hook["headers"] = Value(std::move(headers));
  hook["allowedEnvVars"] = Value(List{Value(kClaudeHttpTokenEnv)});
  hook["timeout"] = Value(int64_t{kClaudeHttpTimeoutSeconds});
  // Without it a refused connection (no daemon), a timeout or a non-2xx answer lets the tool run.
  hook["onFailure"] = Value("block");
  return claude_pretooluse_settings(std::move(hook));
}

void run_claude_http_config(int port, CommandContext& context) {
  const std::string path = claude_http_token_path(context.io.paths());
  Result<std::string> token = ensure_claude_http_token(path);
  if (!token.ok()) {
    context.exit_code = report_error(context, token.error());
    return;
  }
  *context.io.out << claude_http_settings_json(port) << "\n";
  *context.io.err << "stepgate: the hook's token is in " << path
                  << " (0600). Start Claude Code with it in its environment:\n  export "
                  << kClaudeHttpTokenEnv << "=\"$(cat " << shell_quote(path)
                  << ")\"\nand keep `stepgate daemon --http-port " << port
                  << "` running (systemd user unit or a terminal): with onFailure: block, Claude "
                     "Code 2.1.295 or later blocks every tool call while it is not.\n";
  context.exit_code = 0;
}

struct ClaudeHttpListener::Impl {
  httplib::Server server;
  std::thread thread;
  std::string token;
  GatePool* pool = nullptr;
  ProcessContext process;
  int port = 0;
  std::atomic<std::time_t> last{0};
};

ClaudeHttpListener::ClaudeHttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClaudeHttpListener::~ClaudeHttpListener() {
  stop();
}

int ClaudeHttpListener::port() const {
  return impl_->port;
}

std::time_t ClaudeHttpListener::last_request() const {
  return impl_->last.load();
}

void ClaudeHttpListener::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

Result<std::unique_ptr<ClaudeHttpListener>> ClaudeHttpListener::start(
    int port, std::string token, GatePool& pool, const ProcessContext& process) {
  auto impl = std::make_unique<Impl>();
  impl->token = std::move(token);
  impl->pool = &pool;
  impl->process = process;
  Impl* self = impl.get();
  httplib::Server& server = impl->server;
  server.set_payload_max_length(kMaxClaudeEventBytes);
  server.set_read_timeout(kStallSeconds, 0);
  server.set_write_timeout(kStallSeconds, 0);
  // One request per connection: a refused request's body is never read, so the connection
  // cannot carry another.
  server.set_keep_alive_max_count(1);
  // Before the body is read: a caller without the token is refused whatever it sends.
  server.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    self->last.store(std::time(nullptr));
    if (claude_http_authorized(req.get_header_value("Authorization"), self->token)) {
      if (!req.has_header("Transfer-Encoding")) return httplib::Server::HandlerResponse::Unhandled;
      // cpp-httplib holds a chunked body to no limit (its payload limit reads Content-Length).
      res.status = 411;
      res.set_content(
          error_json("a hook event must have a Content-Length (at most " +
                     std::to_string(kMaxClaudeEventBytes) + " bytes), not Transfer-Encoding"),
          "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(error_json("stepgate's Claude Code hook needs `Authorization: Bearer TOKEN` "
                               "with the token from `stepgate agent-hook claude --print-config "
                               "--http` (in $" +
                               std::string(kClaudeHttpTokenEnv) + ")"),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& /*req*/, httplib::Response& res) {
        if (res.status != 413) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(error_json("the hook event is larger than the HTTP hook's limit of " +
                                   std::to_string(kMaxClaudeEventBytes) + " bytes"),
                        "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.Post(std::string(kClaudeHttpPath),
              [self](const httplib::Request& req, httplib::Response& res) {
                ClaudeHookOptions options;
                options.gates = self->pool;
                const ClaudeHttpReply reply = answer_claude_http(options, req.body, self->process);
                res.status = reply.status;
                res.set_content(reply.body, "application/json");
              });
  impl->port = port == 0 ? server.bind_to_any_port("127.0.0.1")
                         : (server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (impl->port <= 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot listen on 127.0.0.1:" + std::to_string(port) +
                          " for Claude Code's HTTP hook (in use? choose another --http-port)");
  }
  impl->thread = std::thread([self] { self->server.listen_after_bind(); });
  return std::unique_ptr<ClaudeHttpListener>(new ClaudeHttpListener(std::move(impl)));
}

}  // namespace stepgate
