#pragma once
// The agent shim: a local HTTP reverse proxy in front of MCP servers (Streamable HTTP) that gates
// every tools/call, plus the approvals inbox and its JSON API on the same listener.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stepgate/gate.h"
#include "stepgate/process_context.h"
#include "stepgate/result.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace stepgate {

/// One MCP server behind the shim, mounted at /mcp/NAME.
struct Upstream {
  std::string name;
  std::string origin;  // "http://127.0.0.1:3001"
  std::string path;    // "/mcp"
};

/// Parses "URL" or "NAME=URL" (http:// or https://). The name defaults to `default_name`.
Result<Upstream> parse_upstream(const std::string& text, const std::string& default_name);

struct ShimOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8787;
  /// Names (besides loopback ones) a request's Host may carry: the listener's public name, when
  /// a proxy or a team puts one in front of it (--public-name).
  std::vector<std::string> public_names;
  std::vector<Upstream> upstreams;          // the first is also mounted at /mcp
  std::string actor;                        // who the agent acts for (the human)
  std::string authority_key;                // approver id whose key signs grants for TOTP approvals
  std::chrono::seconds hold_override{-1};   // --hold: overrides agents.hold when >= 0
  int threads = 1024;                       // most worker threads (one per open connection)
  std::chrono::seconds client_timeout{10};  // a request's next bytes must come within this
  GateOptions gate;
  ProcessContext process;  // the command's environment and clock, for every request
};

/// Prometheus counters, updated without locks.
struct ShimMetrics {
  static constexpr int kBuckets = 12;
  static const double kBucketBounds[kBuckets];  // seconds
  std::atomic<uint64_t> decisions_allow{0}, decisions_step_up{0}, decisions_deny{0};
  std::atomic<uint64_t> bucket_counts[kBuckets] = {};
  std::atomic<uint64_t> decision_count{0};
  std::atomic<uint64_t> decision_micros{0};
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> requests{0};

  void observe_decision(Verdict verdict, std::chrono::nanoseconds elapsed);
  /// The Prometheus text exposition, with the pending-approvals gauge.
  [[nodiscard]] std::string render(int64_t pending_approvals) const;
};

/// What every handler shares; lives as long as the server.
struct ShimContext {
  ShimOptions options;
  /// Null only when the gate could not open and a policy that loads says on_error: allow: the
  /// shim then passes calls on unaudited and its approvals endpoints answer 503.
  std::unique_ptr<Gate> gate;
  std::string server_url;  // http://127.0.0.1:PORT
  std::string csrf_token;  // random per start
  std::string device;      // device_fingerprint of options.process.env
  ShimMetrics metrics;
  std::mutex sessions_mu;
  std::map<std::string, std::string> session_clients;  // Mcp-Session-Id -> client name

  /// The gate's policy, or the built-in defaults when running without a gate.
  [[nodiscard]] const Policy& policy() const;
  [[nodiscard]] std::chrono::seconds hold() const;
  [[nodiscard]] HoldMode hold_mode() const;
  void remember_client(const std::string& session, const std::string& client);
  std::string client_for(const std::string& session);
};

/// True when a request's Host header names this listener as only its own machine or its owner
/// can: a loopback name or address (localhost, 127.0.0.0/8, [::1]), the --listen host, or one of
/// `public_names` (any port). Anything else is refused: a web page whose DNS name was rebound to
/// 127.0.0.1 reaches a loopback listener with its own name in Host. An absent Host (HTTP/1.0
/// tools; browsers always send one) is allowed.
bool host_allowed(const std::string& host, const ShimOptions& options);

/// True when an Origin header value is absent or names this listener (127.0.0.1/localhost/[::1]).
bool origin_allowed(const std::string& origin, int port);

/// Mounts the MCP proxy routes (/mcp, /mcp/NAME) on `server`.
void mount_proxy(httplib::Server& server, ShimContext& context);

/// Mounts /approvals (HTML inbox) and the JSON API (/v1/...), /healthz and /metrics.
void mount_approvals(httplib::Server& server, ShimContext& context);

/// Runs the shim until it is stopped (SIGINT/SIGTERM). Errors: bad options, port in use.
Status run_shim(ShimOptions options, std::ostream& out);

}  // namespace stepgate
