#include "mcp_wrap.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "claude_hook.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/stepup.h"

extern char** environ;

namespace stepgate {

using nlohmann::json;

// ---- Lines and ids ----------------------------------------------------------------------------

bool LineSplitter::next_line(std::string& line) {
  const std::size_t end = buffer_.find('\n', start_);
  if (end == std::string::npos) {
    // Drop consumed bytes so a long stream does not grow the buffer.
    if (start_ > 0) {
      buffer_.erase(0, start_);
      start_ = 0;
    }
    return false;
  }
  line.assign(buffer_, start_, end - start_);
  start_ = end + 1;
  return true;
}

std::string LineSplitter::take_rest() {
  std::string rest = buffer_.substr(start_);
  buffer_.clear();
  start_ = 0;
  return rest;
}

void PendingRequests::add(const std::string& id_json) {
  std::lock_guard lock(mutex_);
  ids_.insert(id_json);
}

void PendingRequests::remove(const std::string& id_json) {
  std::lock_guard lock(mutex_);
  ids_.erase(id_json);
}

std::vector<std::string> PendingRequests::take_all() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> all(ids_.begin(), ids_.end());
  ids_.clear();
  return all;
}

bool PendingRequests::empty() const {
  std::lock_guard lock(mutex_);
  return ids_.empty();
}

namespace {

json parse_or_discarded(std::string_view line) {
  return json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
}

bool is_request(const json& message) {
  return message.is_object() && message.contains("method") && message.contains("id");
}

bool is_response(const json& message) {
  return message.is_object() && !message.contains("method") && message.contains("id") &&
         (message.contains("result") || message.contains("error"));
}

}  // namespace

std::vector<std::string> response_ids(std::string_view line) {
  std::vector<std::string> ids;
  const json message = parse_or_discarded(line);
  auto note = [&ids](const json& m) {
    if (is_response(m)) ids.push_back(m["id"].dump());
  };
  if (message.is_array()) {
    for (const json& m : message) note(m);
  } else {
    note(message);
  }
  return ids;
}

std::string tool_error_result(const std::string& id_json, const std::string& text) {
  json reply = {
      {"jsonrpc", "2.0"},
      {"id", json::parse(id_json, nullptr, false)},
      {"result",
       {{"content", json::array({{{"type", "text"}, {"text", text}}})}, {"isError", true}}}};
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string internal_error_response(const std::string& id_json, const std::string& message) {
  json reply = {{"jsonrpc", "2.0"},
                {"id", json::parse(id_json, nullptr, false)},
                {"error", {{"code", -32603}, {"message", message}}}};
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- Client -> server -------------------------------------------------------------------------

ClientPump::ClientPump(std::string server_name, std::string session, std::string cwd,
                       ToolCallGate gate, std::string server_url, PendingRequests& pending)
    : server_name_(std::move(server_name)),
      session_(std::move(session)),
      cwd_(std::move(cwd)),
      gate_(std::move(gate)),
      server_url_(std::move(server_url)),
      pending_(pending) {}

struct ClientPump::Impl {
  /// Gates one message; returns the refusal (a response object) or null when it may go on.
  static json gate_message(ClientPump& pump, const json& message) {
    if (!message.is_object()) return nullptr;
    const auto method = message.find("method");
    if (method == message.end() || !method->is_string()) return nullptr;
    if (*method == "initialize") remember_client(pump, message);
    if (*method != "tools/call") return nullptr;
    ToolCall call = tool_call(pump, message);
    ToolGateAnswer answer = pump.gate_(call);
    if (answer.forward) return nullptr;
    const std::string id = message.contains("id") ? message["id"].dump() : "null";
    std::string text = agent_refusal_text(call, answer, pump.server_url_);
    return json::parse(tool_error_result(id, text));
  }

  static void remember_client(ClientPump& pump, const json& message) {
    const json* name = find_path(message, {"params", "clientInfo", "name"});
    if (name != nullptr && name->is_string()) pump.client_name_ = name->get<std::string>();
  }

  static const json* find_path(const json& root, std::initializer_list<const char*> keys) {
    const json* node = &root;
    for (const char* key : keys) {
      if (!node->is_object()) return nullptr;
      auto it = node->find(key);
      if (it == node->end()) return nullptr;
      node = &*it;
    }
    return node;
  }

  static ToolCall tool_call(const ClientPump& pump, const json& message) {
    ToolCall call;
    call.server = pump.server_name_;
    call.client = pump.client_name_;
    call.session = pump.session_;
    call.cwd = pump.cwd_;
    const json* name = find_path(message, {"params", "name"});
    if (name != nullptr && name->is_string()) call.tool = name->get<std::string>();
    const json* arguments = find_path(message, {"params", "arguments"});
    if (arguments != nullptr && arguments->is_object()) {
      Result<Value> value =
          parse_json(arguments->dump(-1, ' ', false, json::error_handler_t::replace));
      if (value.ok()) call.arguments = std::move(*value);
    }
    return call;
  }

  static void note_forwarded(ClientPump& pump, const json& message) {
    if (is_request(message)) pump.pending_.add(message["id"].dump());
  }

  static ClientLineResult handle_batch(ClientPump& pump, std::string_view line, json& batch) {
    json forwarded = json::array();
    json replies = json::array();
    for (json& message : batch) {
      json refusal = gate_message(pump, message);
      if (refusal.is_null()) {
        note_forwarded(pump, message);
        forwarded.push_back(std::move(message));
      } else if (message.contains("id")) {
        replies.push_back(std::move(refusal));
      }
    }
    ClientLineResult result;
    if (replies.empty()) {
      result.forward = std::string(line);
      return result;
    }
    if (!forwarded.empty())
      result.forward = forwarded.dump(-1, ' ', false, json::error_handler_t::replace);
    result.reply = replies.dump(-1, ' ', false, json::error_handler_t::replace);
    return result;
  }
};

ClientLineResult ClientPump::handle_line(std::string_view line) {
  json message = parse_or_discarded(line);
  if (message.is_discarded()) return {std::string(line), {}};  // the server reports the error
  if (message.is_array() && !message.empty()) return Impl::handle_batch(*this, line, message);
  json refusal = Impl::gate_message(*this, message);
  if (refusal.is_null()) {
    Impl::note_forwarded(*this, message);
    return {std::string(line), {}};
  }
  if (!message.contains("id")) return {};  // a notification gets no answer
  return {{}, refusal.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// ---- The process ------------------------------------------------------------------------------

namespace {

std::atomic<pid_t> g_child{0};

void forward_signal(int sig) {
  const pid_t child = g_child.load();
  if (child > 0) kill(child, sig);
}

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

/// Writes everything (retrying short writes and EINTR); false when the peer is gone.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Our stdout, shared by both directions: one whole line per locked write.
class ClientOut {
 public:
  bool write_lines(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    return write_all(STDOUT_FILENO, bytes);
  }

 private:
  std::mutex mutex_;
};

struct Child {
  pid_t pid = -1;
  int to_child = -1;    // its stdin
  int from_child = -1;  // its stdout
};

Result<Child> spawn_child(const std::vector<std::string>& command) {
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return make_error(ErrorCode::kInternal, "pipe failed");
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return make_error(ErrorCode::kInternal, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  for (int sig : kForwardedSignals) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  Child child;
  const int rc = posix_spawnp(&child.pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return invalid_argument("cannot run `" + command[0] + "`: " + std::strerror(rc));
  }
  child.to_child = in_pipe[1];
  child.from_child = out_pipe[0];
  return child;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/// Child stdout -> our stdout, unchanged; answered request ids leave the pending set.
void pump_server(int from_child, ClientOut& out, PendingRequests& pending) {
  LineSplitter lines;
  char buffer[64 * 1024];
  std::string batch;
  std::string line;
  for (;;) {
    const ssize_t n = read(from_child, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines.feed({buffer, static_cast<std::size_t>(n)});
    batch.clear();
    while (lines.next_line(line)) {
      if (!pending.empty()) {
        for (const std::string& id : response_ids(line)) pending.remove(id);
      }
      batch.append(line).push_back('\n');
    }
    if (!batch.empty()) out.write_lines(batch);
  }
  const std::string rest = lines.take_rest();
  if (!rest.empty()) out.write_lines(rest + "\n");
}

/// Our stdin -> child stdin through the gate, until EOF or `stop_fd` becomes readable.
void pump_client(ClientPump& pump, int to_child, int stop_fd, ClientOut& out) {
  LineSplitter lines;
  char buffer[64 * 1024];
  std::string forward;
  std::string line;
  bool child_open = true;
  auto handle = [&](std::string_view text) {
    ClientLineResult result = pump.handle_line(text);
    if (!result.forward.empty()) forward.append(result.forward).push_back('\n');
    if (!result.reply.empty()) {
      // Keep order: what was forwarded before this line goes first.
      if (child_open && !forward.empty()) child_open = write_all(to_child, forward);
      forward.clear();
      out.write_lines(result.reply + "\n");
    }
  };
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) return;
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    lines.feed({buffer, static_cast<std::size_t>(n)});
    forward.clear();
    while (lines.next_line(line)) {
      if (!line.empty()) handle(line);
    }
    if (child_open && !forward.empty()) child_open = write_all(to_child, forward);
  }
  forward.clear();
  const std::string rest = lines.take_rest();
  if (!rest.empty()) handle(rest);
  if (child_open && !forward.empty()) write_all(to_child, forward);
}

void register_challenge(const std::string& server_url, const std::string& token) {
  httplib::Client client(server_url);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const std::string body = json{{"challenge", token}}.dump();
  auto response = client.Post("/v1/challenges", body, "application/json");
  if (!response || response->status >= 300) {
    std::string why = response ? "HTTP " + std::to_string(response->status) : "no answer";
    std::fprintf(stderr, "stepgate: could not register challenge with %s: %s\n", server_url.c_str(),
                 why.c_str());
  }
}

std::string basename_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

void run_mcp_wrap(const McpWrapOptions& options, CommandContext& context) {
  // Nothing is started when the configuration is bad: exit 2 with one line on stderr.
  auto fail = [&context](const std::string& message) {
    *context.io.err << "stepgate: " << message << "\n";
    context.exit_code = 2;
  };
  if (options.command.empty()) {
    return fail("mcp-wrap: no server command given (stepgate mcp-wrap -- COMMAND ARGS...)");
  }
  GateOptions gate_options;
  gate_options.policy_path = options.policy_path;
  gate_options.cwd = context.io.cwd;
  gate_options.front_end = "mcp-wrap";
  // A long-running process: fsyncs are batched (at most 50 ms of decisions at risk on a crash).
  gate_options.audit_options.fsync_batch_ms = 50;
  gate_options.store_options.cache_ms = 1000;  // see StoreOptions: signals fresh within 1 s
  Result<std::unique_ptr<Gate>> opened = Gate::open(gate_options);
  if (!opened.ok()) return fail(opened.error().message);
  Gate& gate = **opened;
  const std::string actor = agent_actor();
  const std::vector<std::string> grants = split_grants(env_or_empty("STEPGATE_GRANT"));
  ToolCallGate gate_fn = [&](const ToolCall& call) {
    ToolGateAnswer answer = gate_tool_call(gate, call, actor, grants, options.server_url);
    if (options.register_challenges && !options.server_url.empty() &&
        !answer.challenge_token.empty()) {
      register_challenge(options.server_url, answer.challenge_token);
    }
    return answer;
  };

  signal(SIGPIPE, SIG_IGN);
  Result<Child> child = spawn_child(options.command);
  if (!child.ok()) return fail(child.error().message);
  g_child.store(child->pid);
  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : kForwardedSignals) sigaction(sig, &action, nullptr);

  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) stop[0] = stop[1] = -1;
  PendingRequests pending;
  ClientOut out;
  const std::string name = options.name.empty() ? basename_of(options.command[0]) : options.name;
  ClientPump pump(name, "mcp-wrap:" + std::to_string(getpid()), context.io.cwd, gate_fn,
                  options.server_url, pending);
  std::thread client_thread([&] {
    pump_client(pump, child->to_child, stop[0], out);
    close(child->to_child);  // our stdin ended (or the server is gone): the server sees EOF
    child->to_child = -1;
  });
  pump_server(child->from_child, out, pending);
  const int code = wait_exit_code(child->pid);
  g_child.store(0);
  if (stop[1] >= 0) write_all(stop[1], "x");
  client_thread.join();
  close(child->from_child);
  if (stop[0] >= 0) close(stop[0]);
  if (stop[1] >= 0) close(stop[1]);
  const std::string message = "MCP server exited with code " + std::to_string(code);
  for (const std::string& id : pending.take_all()) {
    out.write_lines(internal_error_response(id, message) + "\n");
  }
  context.exit_code = code;
}

}  // namespace stepgate
