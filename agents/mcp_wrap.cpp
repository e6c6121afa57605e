#include "mcp_wrap.h"

#include <fcntl.h>
#include <unistd.h>

#include <httplib.h>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "claude_hook.h"
#include "json_input.h"
#include "mcp_wrap_hold.h"
#include "mcp_wrap_process.h"
#include "stepgate/collect.h"
#include "stepgate/gate.h"
#include "stepgate/gate_failure.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/stepup.h"

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
  return parse_outside_json(line);
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

namespace {

/// Where one client message goes.
enum class Route { kForward, kReply, kDrop };  // kDrop: held (answered later) or cancelled

struct Routed {
  Route route = Route::kForward;
  json reply;  // kReply: the refusal, a response object
};

}  // namespace

struct ClientPump::Impl {
  /// Gates one message. `raw` is its text as received (empty inside a batch).
  static Routed route_message(ClientPump& pump, const json& message, std::string_view raw) {
    if (!message.is_object()) return {};
    const auto method = message.find("method");
    if (method == message.end() || !method->is_string()) return {};
    if (*method == "initialize") remember_client(pump, message);
    if (*method == "notifications/cancelled" && cancels_held(pump, message)) {
      return {Route::kDrop, nullptr};  // the server never saw that request
    }
    if (*method != "tools/call") return {};
    ToolCall call = tool_call(pump, message);
    ToolGateAnswer answer = pump.gate_(call);
    if (answer.forward) return {};
    const std::string id = message.contains("id") ? message["id"].dump() : "null";
    if (pump.holder_ != nullptr && message.contains("id")) {
      HeldCall held{id, raw.empty() ? message.dump() : std::string(raw), progress_token(message),
                    call, answer};
      if (pump.holder_->hold(std::move(held))) return {Route::kDrop, nullptr};
    }
    std::string text = agent_refusal_text(call, answer, pump.server_url_);
    return {Route::kReply, json::parse(tool_error_result(id, text))};
  }

  static bool cancels_held(ClientPump& pump, const json& message) {
    const json* id = find_path(message, {"params", "requestId"});
    return pump.holder_ != nullptr && id != nullptr && pump.holder_->cancel(id->dump());
  }

  static std::string progress_token(const json& message) {
    const json* token = find_path(message, {"params", "_meta", "progressToken"});
    if (token == nullptr || !(token->is_string() || token->is_number_integer())) return {};
    return token->dump();
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
    const std::size_t size = batch.size();
    for (json& message : batch) {
      Routed routed = route_message(pump, message, {});
      if (routed.route == Route::kForward) {
        note_forwarded(pump, message);
        forwarded.push_back(std::move(message));
      } else if (routed.route == Route::kReply && message.contains("id")) {
        replies.push_back(std::move(routed.reply));
      }
    }
    ClientLineResult result;
    if (forwarded.size() == size) {
      result.forward = std::string(line);
      return result;
    }
    if (!forwarded.empty())
      result.forward = forwarded.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!replies.empty())
      result.reply = replies.dump(-1, ' ', false, json::error_handler_t::replace);
    return result;
  }
};

ClientLineResult ClientPump::handle_line(std::string_view line) {
  json message = parse_or_discarded(line);
  if (message.is_discarded()) {
    // Never forwarded: what cannot be read here cannot be gated, and a server may read it all
    // the same (Node's stdio transport turns invalid UTF-8 into U+FFFD and takes a lone
    // surrogate escape: a tools/call carrying either one ran ungated). A blank line holds no
    // message and goes on as before.
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return {std::string(line), {}};
    Status depth = check_json_nesting(line);
    const json refusal =
        depth.ok()
            ? json{{"jsonrpc", "2.0"},
                   {"id", nullptr},
                   {"error",
                    {{"code", -32700},
                     {"message",
                      "Parse error: not JSON in UTF-8 that stepgate can read, so not "
                      "forwarded (a lone surrogate escape or invalid UTF-8?)"}}}}
            : json{{"jsonrpc", "2.0"},
                   {"id", nullptr},
                   {"error",
                    {{"code", -32600}, {"message", "Invalid Request: " + depth.error().message}}}};
    return {{}, refusal.dump()};
  }
  if (message.is_array() && !message.empty()) return Impl::handle_batch(*this, line, message);
  Routed routed = Impl::route_message(*this, message, line);
  if (routed.route == Route::kForward) {
    Impl::note_forwarded(*this, message);
    return {std::string(line), {}};
  }
  if (routed.route == Route::kDrop || !message.contains("id")) return {};  // notifications: none
  return {{}, routed.reply.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// ---- The wrapper -------------------------------------------------------------------------------

namespace {

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

/// Hold mode's settings from the policy and --hold (as the shim reads them); timeout 0: off.
Result<HoldSettings> hold_settings(const McpWrapOptions& options, const Policy& policy) {
  HoldSettings settings;
  settings.server_url = options.server_url;
  std::chrono::seconds hold = policy.agents.hold;
  bool on = policy.agents.step_up_response == HoldMode::kHold;
  if (!options.hold.empty()) {
    auto parsed = parse_duration(options.hold);
    if (!parsed.ok()) return parsed.error();
    hold = *parsed;
    on = hold.count() > 0;
  }
  if (on) settings.timeout = hold;
  return settings;
}

/// Answers for calls still held when the wrapper stops.
HeldCalls::Farewell farewell(const std::string& why) {
  return [why](const HeldCall& held) { return internal_error_response(held.id_json, why); };
}

GateOptions gate_options_for(const McpWrapOptions& options, const ProcessContext& process) {
  GateOptions gate_options;
  gate_options.policy_path = options.policy_path;
  gate_options.cwd = process.cwd;
  gate_options.env = process.env;
  gate_options.paths = process.paths();
  gate_options.front_end = "mcp-wrap";
  // A long-running process: fsyncs are batched (at most 50 ms of decisions at risk on a crash).
  gate_options.audit_options.fsync_batch_ms = 50;
  gate_options.store_options.cache_ms = 1000;  // see StoreOptions: signals fresh within 1 s
  return gate_options;
}

/// Held calls write to the client and the server through the same locked pipes as the pumps.
HoldSinks hold_sinks(ClientOut& out, ServerIn& server_in, PendingRequests& pending) {
  HoldSinks sinks;
  sinks.to_client = [&out](const std::string& line) { out.write_lines(line + "\n"); };
  sinks.to_server = [&server_in, &pending](const HeldCall& held) {
    pending.add(held.id_json);
    if (server_in.write_lines(held.message + "\n")) return true;
    pending.remove(held.id_json);
    return false;
  };
  sinks.notice = [](const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); };
  return sinks;
}

/// Copies both ways until the server exits; returns its exit code. Every request still open
/// then (forwarded or held) is answered with an error.
int serve(const Child& child, ClientPump& pump, HeldCalls& held, ClientOut& out,
          ServerIn& server_in, PendingRequests& pending) {
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) stop[0] = stop[1] = -1;
  std::thread client_thread([&] {
    if (pump_client(pump, server_in, stop[0], out)) {
      held.stop(farewell("stepgate: the client closed its input while this call was held"));
    }
    server_in.close_input();  // our stdin ended (or the server is gone): the server sees EOF
  });
  pump_server(child.from_child, out, pending);
  const int code = wait_exit_code(child.pid);
  forward_signals_to(0);
  if (stop[1] >= 0) write_all(stop[1], "x");
  client_thread.join();
  const std::string message = "MCP server exited with code " + std::to_string(code);
  held.stop(farewell(message));
  close(child.from_child);
  if (stop[0] >= 0) close(stop[0]);
  if (stop[1] >= 0) close(stop[1]);
  for (const std::string& id : pending.take_all()) {
    out.write_lines(internal_error_response(id, message) + "\n");
  }
  return code;
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
  const GateOptions gate_options = gate_options_for(options, context.io);
  Result<std::unique_ptr<Gate>> opened = Gate::open(gate_options);
  if (!opened.ok()) {
    // The one on_error rule (core): only a policy that loads may say allow. Then the server
    // runs with every call passed on, and one warning says so; otherwise nothing starts.
    GateFailure failure = gate_open_failure(opened.error(), gate_options, "tool calls");
    if (!failure.allow) return fail(failure.message);
    *context.io.err << "stepgate: warning: " << failure.message << "\n";
  }
  Gate* gate = opened.ok() ? opened->get() : nullptr;
  static const Policy kNoGatePolicy;  // hold settings when there is no gate: nothing is held
  Result<HoldSettings> settings =
      hold_settings(options, gate != nullptr ? gate->policy() : kNoGatePolicy);
  if (!settings.ok()) return fail("--hold: " + settings.error().message);
  const ProcessContext& process = context.io;
  const std::string actor = default_actor(process.env);
  const std::string device = device_fingerprint(process.env);
  const std::vector<std::string> grants = split_grants(process.env.get("STEPGATE_GRANT"));
  ToolRecheck recheck = [&](const ToolCall& call, const std::vector<std::string>& extra) {
    if (gate == nullptr) {
      ToolGateAnswer allowed;
      allowed.forward = true;
      return allowed;
    }  // on_error: allow
    std::vector<std::string> all = grants;
    all.insert(all.end(), extra.begin(), extra.end());
    ToolGateAnswer answer =
        gate_tool_call(*gate, call, actor, all, options.server_url, process.now(), device);
    if (options.register_challenges && !options.server_url.empty() &&
        !answer.challenge_token.empty()) {
      register_challenge(options.server_url, answer.challenge_token);
    }
    return answer;
  };

  signal(SIGPIPE, SIG_IGN);
  Result<Child> child = spawn_child(options.command);
  if (!child.ok()) return fail(child.error().message);
  forward_signals_to(child->pid);
  PendingRequests pending;
  ClientOut out;
  ServerIn server_in(child->to_child);  // closes it
  const std::string name = options.name.empty() ? basename_of(options.command[0]) : options.name;
  ClientPump pump(
      name, "mcp-wrap:" + std::to_string(getpid()), context.io.cwd,
      [&recheck](const ToolCall& call) { return recheck(call, {}); }, options.server_url, pending);
  ChallengePoll poll = [](const HeldCall&) { return HoldPoll{HoldPoll::State::kDecided, {}, ""}; };
  if (gate != nullptr) {
    poll = store_challenge_poll(gate->store(), options.server_url,
                                [&process] { return process.now(); });
  }
  HeldCalls held(*settings, std::move(poll), recheck, hold_sinks(out, server_in, pending));
  if (settings->timeout.count() > 0) pump.set_holder(&held);
  context.exit_code = serve(*child, pump, held, out, server_in, pending);
}

}  // namespace stepgate
