#pragma once
// `stepgate mcp-wrap -- COMMAND ARGS...`: a stdio MCP server wrapper. The client launches stepgate
// in place of the server; stepgate launches the server (argv, no shell) and copies
// newline-delimited JSON-RPC both ways, gating each tools/call on the way in. A refused call is
// answered by the wrapper with an isError tool result and never reaches the server; in hold mode
// a call that needs approval stays open until the inbox decides (mcp_wrap_hold.h).

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/process_context.h"
#include "tool_gate.h"

namespace stepgate {

/// Splits a byte stream into lines: feed() appends what a read returned, next_line() pops each
/// complete line (without its '\n'), rest() is what is left at end of stream.
class LineSplitter {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  /// The next complete line, or false when none is buffered yet.
  bool next_line(std::string& line);
  /// Takes what remains (a last line without a newline).
  std::string take_rest();

 private:
  std::string buffer_;
  std::size_t start_ = 0;
};

/// Asks the gate about one tool call (the wrapper passes a function so the pump is testable).
using ToolCallGate = std::function<ToolGateAnswer(const ToolCall&)>;

/// Request ids sent to the server and not yet answered, keyed by the id's JSON text.
class PendingRequests {
 public:
  void add(const std::string& id_json);
  void remove(const std::string& id_json);
  /// Removes and returns every pending id.
  std::vector<std::string> take_all();
  [[nodiscard]] bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::set<std::string> ids_;
};

/// A tools/call the wrapper holds open until the inbox decides (agents.step_up_response: hold).
struct HeldCall {
  std::string id_json;              // the request id, as JSON text
  std::string message;              // the request, forwarded unchanged once approved
  std::string progress_token_json;  // params._meta.progressToken as JSON text; empty: none
  ToolCall call;
  ToolGateAnswer answer;  // the first answer: challenge id and token, the text for a refusal
};

/// Takes over tools/call requests that wait for approval (see mcp_wrap_hold.h).
class CallHolder {
 public:
  virtual ~CallHolder() = default;
  /// True when it took the call over (and answers it later); false: answer it now.
  virtual bool hold(HeldCall call) = 0;
  /// True when `id_json` names a call it holds, which is then dropped unanswered (the client
  /// sent notifications/cancelled for it).
  virtual bool cancel(const std::string& id_json) = 0;
};

/// What to do with one line from the client.
struct ClientLineResult {
  std::string forward;  // bytes (without '\n') to send to the server; empty: nothing
  std::string reply;    // a JSON-RPC response line to send back to the client; empty: none
};

/// The client-to-server half of the wrapper: remembers clientInfo.name from initialize, records
/// forwarded request ids, and gates tools/call requests (also inside batches).
class ClientPump {
 public:
  ClientPump(std::string server_name, std::string session, std::string cwd, ToolCallGate gate,
             std::string server_url, PendingRequests& pending);

  ClientLineResult handle_line(std::string_view line);
  [[nodiscard]] const std::string& client_name() const { return client_name_; }
  /// Hold mode: calls needing approval go to `holder` (not owned; null: answered at once), and
  /// notifications/cancelled for a held call stops there.
  void set_holder(CallHolder* holder) { holder_ = holder; }

 private:
  struct Impl;
  std::string server_name_;
  std::string session_;
  std::string cwd_;
  ToolCallGate gate_;
  std::string server_url_;
  PendingRequests& pending_;
  std::string client_name_;
  CallHolder* holder_ = nullptr;
  friend struct Impl;
};

/// The ids of the JSON-RPC responses in a server line (an object or a batch), as JSON text.
std::vector<std::string> response_ids(std::string_view line);

/// {"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":TEXT}],"isError":true}}
std::string tool_error_result(const std::string& id_json, const std::string& text);

/// {"jsonrpc":"2.0","id":ID,"error":{"code":-32603,"message":MESSAGE}}
std::string internal_error_response(const std::string& id_json, const std::string& message);

struct McpWrapOptions {
  std::string name;        // server name in actions ("SERVER/TOOL"); default: command's basename
  std::string server_url;  // an inbox for approvals (printed in refusals)
  std::string policy_path;
  bool register_challenges = false;  // POST each new challenge to server_url/v1/challenges
  std::string hold;                  // --hold DURATION: overrides agents.hold (and turns hold on)
  std::vector<std::string> command;  // COMMAND ARGS...
};

/// Runs the wrapper on this process's stdin/stdout (fds 0 and 1); exits with the server's code
/// (128+signal when killed); 2 when the policy cannot be loaded or the command cannot start.
void run_mcp_wrap(const McpWrapOptions& options, CommandContext& context);

}  // namespace stepgate
