// The shim's server: options, the listener, Origin checks, metrics and the shared context.
#include "shim.h"

#include <httplib.h>
#include <re2/re2.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <ostream>
#include <sstream>

#include "approvals.h"
#include "shim_elicit.h"
#include "shim_upstream.h"
#include "stepgate/collect.h"
#include "stepgate/crypto.h"
#include "stepgate/gate_failure.h"
#include "worker_pool.h"

namespace stepgate {
namespace {

constexpr int kStoreCacheMs = 1000;  // StoreOptions: per-call lookups from memory, fresh within 1 s
constexpr int kPolicyCheckMs = 1000;  // an edited policy is in force within a second

httplib::Server* g_server = nullptr;  // for the signal handler

/// ":" and 1-5 digits.
bool is_port_suffix(const std::string& s) {
  return s.size() >= 2 && s.size() <= 6 && s[0] == ':' &&
         std::all_of(s.begin() + 1, s.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// A dotted-quad IPv4 literal in 127.0.0.0/8.
bool is_loopback_ipv4(const std::string& name) {
  in_addr addr{};
  return ::inet_pton(AF_INET, name.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

void stop_on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}

/// httplib serves one connection per task for the connection's whole keep-alive life, and MCP
/// clients hold event streams open: a fixed pool starves, so the listener's pool grows.
class ElasticQueue : public httplib::TaskQueue {
 public:
  explicit ElasticQueue(std::size_t max_threads) : pool_(max_threads) {}
  void enqueue(std::function<void()> fn) override { pool_.enqueue(std::move(fn)); }
  void shutdown() override { pool_.shutdown(); }

 private:
  WorkerPool pool_;
};

bool is_valid_upstream_name(const std::string& name) {
  static const RE2 kName("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  return RE2::FullMatch(name, kName);
}

/// True when a header's name or value holds a byte below 0x20 other than a tab, or DEL.
bool has_control_byte(const httplib::Headers& headers) {
  const auto control = [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  };
  return std::ranges::any_of(headers, [&](const auto& header) {
    return std::ranges::any_of(header.first, control) ||
           std::ranges::any_of(header.second, control);
  });
}

void configure_server(httplib::Server& server, ShimContext& context) {
  const auto& agents = context.policy().agents;
  server.new_task_queue = [threads = context.options.threads] {
    return new ElasticQueue(static_cast<std::size_t>(threads));
  };
  server.set_payload_max_length(static_cast<size_t>(agents.max_body_bytes));
  // Per read, as cpp-httplib counts it: a client that stalls mid-request is cut off; one that
  // trickles a byte per interval is bounded by the worker-thread cap instead.
  server.set_read_timeout(static_cast<time_t>(context.options.client_timeout.count()), 0);
  server.set_write_timeout(30, 0);
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(5);
  const int port = context.options.listen_port;
  const ShimOptions* options = &context.options;
  server.set_pre_routing_handler(
      [port, options](const httplib::Request& req, httplib::Response& res) {
        const char* refusal = nullptr;
        int status = 403;
        if (req.has_header("Transfer-Encoding")) {
          // cpp-httplib holds a chunked body to no limit (its payload limit reads Content-Length):
          // a body must say its length, which max_body_bytes then bounds. Before it is read.
          res.status = 411;
          res.set_header("Connection", "close");
          res.set_content(jsonrpc_error("null", -32600,
                                        "a request body must have a Content-Length, not "
                                        "Transfer-Encoding"),
                          "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (has_control_byte(req.headers)) {
          // cpp-httplib lets a bare CR (or a NUL) through in a header value; forwarded, a lenient
          // upstream would read the rest as a header of its own.
          refusal = "a header holds a control character (CR, LF or NUL)";
          status = 400;
        } else if (!host_allowed(req.get_header_value("Host"), *options)) {
          refusal =
              "forbidden: the Host header is not a loopback name or address (DNS rebinding?); a "
              "public name must be allowed with --public-name";
        } else if (!origin_allowed(req.get_header_value("Origin"), port)) {
          refusal = "forbidden: foreign Origin";
        }
        if (refusal == nullptr) return httplib::Server::HandlerResponse::Unhandled;
        res.status = status;
        res.set_content(jsonrpc_error("null", -32600, refusal), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      });
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      res.set_content(jsonrpc_error("null", -32600, "request body too large"), "application/json");
    } else if (res.status == 404) {
      res.set_content("not found\n", "text/plain");
    }
  });
}

}  // namespace

const double ShimMetrics::kBucketBounds[ShimMetrics::kBuckets] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0};

void ShimMetrics::observe_decision(Verdict verdict, std::chrono::nanoseconds elapsed) {
  switch (verdict) {
    case Verdict::kAllow:
      decisions_allow.fetch_add(1, std::memory_order_relaxed);
      break;
    case Verdict::kStepUp:
      decisions_step_up.fetch_add(1, std::memory_order_relaxed);
      break;
    case Verdict::kDeny:
      decisions_deny.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  for (int i = 0; i < kBuckets; ++i) {
    if (seconds <= kBucketBounds[i]) bucket_counts[i].fetch_add(1, std::memory_order_relaxed);
  }
  decision_count.fetch_add(1, std::memory_order_relaxed);
  decision_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string ShimMetrics::render(int64_t pending_approvals) const {
  std::ostringstream out;
  out << "# HELP stepgate_decisions_total Tool-call decisions by final verdict.\n"
      << "# TYPE stepgate_decisions_total counter\n"
      << "stepgate_decisions_total{verdict=\"allow\"} " << decisions_allow.load() << "\n"
      << "stepgate_decisions_total{verdict=\"step_up\"} " << decisions_step_up.load() << "\n"
      << "stepgate_decisions_total{verdict=\"deny\"} " << decisions_deny.load() << "\n"
      << "# HELP stepgate_decision_seconds Time to gate one tool call.\n"
      << "# TYPE stepgate_decision_seconds histogram\n";
  for (int i = 0; i < kBuckets; ++i) {
    out << "stepgate_decision_seconds_bucket{le=\"" << kBucketBounds[i] << "\"} "
        << bucket_counts[i].load() << "\n";
  }
  out << "stepgate_decision_seconds_bucket{le=\"+Inf\"} " << decision_count.load() << "\n"
      << "stepgate_decision_seconds_sum " << static_cast<double>(decision_micros.load()) / 1e6
      << "\n"
      << "stepgate_decision_seconds_count " << decision_count.load() << "\n"
      << "# HELP stepgate_pending_approvals Challenges waiting for a decision.\n"
      << "# TYPE stepgate_pending_approvals gauge\n"
      << "stepgate_pending_approvals " << pending_approvals << "\n"
      << "# HELP stepgate_upstream_errors_total Upstream requests that failed.\n"
      << "# TYPE stepgate_upstream_errors_total counter\n"
      << "stepgate_upstream_errors_total " << upstream_errors.load() << "\n"
      << "# HELP stepgate_requests_total MCP requests received.\n"
      << "# TYPE stepgate_requests_total counter\n"
      << "stepgate_requests_total " << requests.load() << "\n";
  return out.str();
}

const Policy& ShimContext::policy() const {
  static const Policy kDefaults;
  return gate != nullptr ? gate->policy() : kDefaults;
}

std::chrono::seconds ShimContext::hold() const {
  if (options.hold_override.count() >= 0) return options.hold_override;
  return policy().agents.hold;
}

HoldMode ShimContext::hold_mode() const {
  if (options.hold_override.count() > 0) return HoldMode::kHold;
  return policy().agents.step_up_response == HoldMode::kHold ? HoldMode::kHold
                                                             : HoldMode::kInstruct;
}

void ShimContext::remember_client(const std::string& session, const std::string& client) {
  std::lock_guard lock(sessions_mu);
  session_clients[session] = client;
}

std::string ShimContext::client_for(const std::string& session) {
  if (session.empty()) return {};
  std::lock_guard lock(sessions_mu);
  auto it = session_clients.find(session);
  return it == session_clients.end() ? std::string() : it->second;
}

Result<Upstream> parse_upstream(const std::string& text, const std::string& default_name) {
  std::string name = default_name;
  std::string url = text;
  auto eq = text.find('=');
  if (eq != std::string::npos && text.find("://") > eq) {
    name = text.substr(0, eq);
    url = text.substr(eq + 1);
  }
  if (!is_valid_upstream_name(name)) {
    return invalid_argument("upstream name `" + name + "` must be 1-64 of [A-Za-z0-9_.-]");
  }
  static const RE2 kUrl(R"((https?://[^/\s]+)(/[^\s]*)?)");
  std::string origin;
  std::string path;
  if (!RE2::FullMatch(url, kUrl, &origin, &path)) {
    return invalid_argument("upstream `" + url + "` is not an http:// or https:// URL");
  }
  return Upstream{name, origin, path.empty() ? std::string("/") : path};
}

bool host_allowed(const std::string& host, const ShimOptions& options) {
  if (host.empty()) return true;
  std::string name = host;
  if (name.front() == '[') {  // [v6]:port
    const auto close = name.find(']');
    if (close == std::string::npos) return false;
    const std::string rest = name.substr(close + 1);
    if (!rest.empty() && !is_port_suffix(rest)) return false;
    name = name.substr(0, close + 1);
  } else if (const auto colon = name.rfind(':'); colon != std::string::npos) {
    if (!is_port_suffix(name.substr(colon))) return false;
    name.resize(colon);
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "localhost" || name == "[::1]" || is_loopback_ipv4(name)) return true;
  if (name == options.listen_host) return true;
  return std::any_of(options.public_names.begin(), options.public_names.end(),
                     [&name](const std::string& allowed) {
                       return std::equal(name.begin(), name.end(), allowed.begin(), allowed.end(),
                                         [](char a, char b) {
                                           return a == std::tolower(static_cast<unsigned char>(b));
                                         });
                     });
}

bool origin_allowed(const std::string& origin, int port) {
  if (origin.empty()) return true;
  const std::string p = ":" + std::to_string(port);
  return origin == "http://127.0.0.1" + p || origin == "http://localhost" + p ||
         origin == "http://[::1]" + p;
}

Status run_shim(ShimOptions options, std::ostream& out) {
  if (options.upstreams.empty()) return invalid_argument("shim needs at least one --upstream");
  options.gate.front_end = "shim";
  options.gate.audit_options.fsync_batch_ms = 50;
  options.gate.store_options.cache_ms = kStoreCacheMs;
  options.gate.policy_check_ms = kPolicyCheckMs;
  auto gate = Gate::open(options.gate);
  std::unique_ptr<Gate> opened;
  if (gate.ok()) {
    opened = std::move(gate).value();
  } else {
    // The one on_error rule (core): fail closed, unless a policy that loads says on_error: allow.
    // Then the shim starts without a gate, as every front-end does: calls pass on unaudited
    // (said once here) and the approvals endpoints answer 503, since there is nothing to approve.
    GateFailure failure = gate_open_failure(gate.error(), options.gate, "tool calls");
    if (!failure.allow) return make_error(gate.error().code, failure.message);
    *options.process.err << "stepgate: warning: " << failure.message << "\n";
  }
  if (opened != nullptr && !options.authority_key.empty()) {
    // Found now rather than at the first approval, when a human is waiting on it.
    if (Status s = check_authority_key(*opened, options.authority_key); !s.ok()) return s;
  }
  if (opened != nullptr) {
    // Held 2026-07-28 calls carry a requestState; signed with a stored key, a state this shim
    // issued is still good after a restart (the challenge it names lives in the store too).
    auto key = load_request_state_key(options.gate.paths.secrets_dir);
    if (!key.ok()) return key.error();
    use_request_state_key(std::move(key).value());
  }
  auto csrf = random_id(20);
  if (!csrf.ok()) return csrf.error();

  auto context = std::make_unique<ShimContext>();
  context->options = std::move(options);
  context->gate = std::move(opened);
  context->csrf_token = *csrf;
  context->device = device_fingerprint(context->options.process.env);
  httplib::Server server;
  // Before binding: accepted sockets inherit TCP_NODELAY (httplib writes headers and body apart).
  server.set_socket_options([](socket_t sock) {
    httplib::default_socket_options(sock);
    int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  });
  const std::string& host = context->options.listen_host;
  int port = context->options.listen_port;
  if (port == 0) {
    port = server.bind_to_any_port(host);
    if (port < 0) return make_error(ErrorCode::kUnavailable, "cannot listen on " + host);
    context->options.listen_port = port;
  } else if (!server.bind_to_port(host, port)) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot listen on " + host + ":" + std::to_string(port) + " (in use?)");
  }
  context->server_url = "http://" + (host == "0.0.0.0" ? std::string("127.0.0.1") : host) + ":" +
                        std::to_string(port);
  configure_server(server, *context);  // after binding: the Origin check needs the port
  mount_proxy(server, *context);
  mount_approvals(server, *context);

  out << "stepgate shim listening on " << context->server_url << "\n";
  for (const auto& u : context->options.upstreams) {
    out << "  " << context->server_url << "/mcp/" << u.name << " -> " << u.origin << u.path << "\n";
  }
  out << "  approvals: " << context->server_url << "/approvals" << std::endl;
  g_server = &server;
  std::signal(SIGINT, stop_on_signal);
  std::signal(SIGTERM, stop_on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  server.listen_after_bind();
  g_server = nullptr;
  if (context->gate != nullptr) (void)context->gate->audit().flush();
  return {};
}

}  // namespace stepgate
