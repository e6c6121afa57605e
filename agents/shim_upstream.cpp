// Forwarding to MCP upstreams: plain-HTTP ones on the request's own thread over connections
// pooled per thread (upstream_http.h); https:// ones through cpp-httplib's client on a reader
// thread. Event-stream responses are passed on as they arrive.
#include "shim_upstream.h"

#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "upstream_http.h"
#include "worker_pool.h"

namespace stepgate {
namespace {

constexpr time_t kConnectTimeoutSeconds = 2;
constexpr std::size_t kMaxIdlePerUpstream = 64;
constexpr std::size_t kMaxExchangeThreads = 1024;  // as many as the listener has connections

/// httplib writes headers and body separately: without TCP_NODELAY, Nagle and delayed ACKs add
/// 40 ms to each exchange.
void set_no_delay(socket_t sock) {
  httplib::default_socket_options(sock);
  int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/// Idle keep-alive clients per upstream origin; a request takes one and gives it back.
class ClientPool {
 public:
  std::unique_ptr<httplib::Client> acquire(const Upstream& upstream) {
    {
      std::lock_guard lock(mu_);
      auto& idle = idle_[upstream.origin];
      if (!idle.empty()) {
        auto client = std::move(idle.back());
        idle.pop_back();
        return client;
      }
    }
    auto client = std::make_unique<httplib::Client>(upstream.origin);
    client->set_keep_alive(true);
    client->set_socket_options(set_no_delay);
    client->set_connection_timeout(kConnectTimeoutSeconds, 0);
    client->set_write_timeout(30, 0);
    return client;
  }

  void release(const Upstream& upstream, std::unique_ptr<httplib::Client> client) {
    std::lock_guard lock(mu_);
    auto& idle = idle_[upstream.origin];
    if (idle.size() < kMaxIdlePerUpstream) idle.push_back(std::move(client));
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;
};

ClientPool& pool() {
  static auto* p = new ClientPool();  // lives for the process: detached stream threads use it
  return *p;
}

bool is_event_stream(const httplib::Headers& headers) {
  auto it = headers.find("Content-Type");
  return it != headers.end() && it->second.find("text/event-stream") != std::string::npos;
}

/// What the upstream thread and the client-facing handler share.
struct Exchange {
  std::mutex mu;
  std::condition_variable cv;
  bool headers_ready = false;
  bool done = false;
  bool cancelled = false;
  bool failed = false;
  std::string error;
  int status = 0;
  httplib::Headers headers;
  std::string pending;
};

void run_exchange(const std::shared_ptr<Exchange>& x, ForwardRequest request) {
  auto client = pool().acquire(*request.upstream);
  client->set_read_timeout(request.read_timeout.count(), 0);
  httplib::Request req;
  req.method = request.method;
  req.path = request.upstream->path;
  req.headers = std::move(request.headers);
  req.body = std::move(request.body);
  req.response_handler = [&x](const httplib::Response& r) {
    std::lock_guard lock(x->mu);
    x->status = r.status;
    x->headers = r.headers;
    x->headers_ready = true;
    x->cv.notify_all();
    return true;
  };
  req.content_receiver = [&x](const char* data, size_t n, uint64_t, uint64_t) {
    std::lock_guard lock(x->mu);
    if (x->cancelled) return false;
    x->pending.append(data, n);
    x->cv.notify_all();
    return true;
  };
  auto result = client->send(req);
  std::lock_guard lock(x->mu);
  x->done = true;
  if (!result && !x->cancelled) {
    x->failed = true;
    x->error = httplib::to_string(result.error());
  }
  x->cv.notify_all();
  if (result) pool().release(*request.upstream, std::move(client));
}

/// The threads that read upstream responses while handlers pass them on. Lives for the process:
/// a stream's reader may outlast the handler that started it.
WorkerPool& exchange_workers() {
  static auto* workers = new WorkerPool(kMaxExchangeThreads);
  return *workers;
}

std::shared_ptr<Exchange> start_exchange(const ForwardRequest& request) {
  auto x = std::make_shared<Exchange>();
  exchange_workers().enqueue([x, request]() { run_exchange(x, request); });
  return x;
}

void copy_response_headers(const httplib::Headers& from, httplib::Response& res) {
  for (const char* name : {"Mcp-Session-Id", "MCP-Protocol-Version", "WWW-Authenticate",
                           "Cache-Control", "Retry-After"}) {
    auto it = from.find(name);
    if (it != from.end()) res.set_header(name, it->second);
  }
}

void answer_unavailable(ShimContext& context, httplib::Response& res, const std::string& id,
                        const std::string& why) {
  context.metrics.upstream_errors.fetch_add(1, std::memory_order_relaxed);
  res.status = 502;
  res.set_content(jsonrpc_error(id, -32603, "upstream unavailable: " + why), "application/json");
}

void stream_response(const std::shared_ptr<Exchange>& x, httplib::Response& res) {
  auto content_type = x->headers.find("Content-Type")->second;
  res.set_chunked_content_provider(
      content_type,
      [x](size_t, httplib::DataSink& sink) {
        std::unique_lock lock(x->mu);
        while (x->pending.empty() && !x->done) {
          x->cv.wait_for(lock, std::chrono::seconds(1));
          if (x->pending.empty() && !x->done && !sink.is_writable()) {
            x->cancelled = true;
            return false;
          }
        }
        std::string chunk = std::move(x->pending);
        x->pending.clear();
        const bool finished = x->done;
        lock.unlock();
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) {
          std::lock_guard relock(x->mu);
          x->cancelled = true;
          return false;
        }
        if (finished) sink.done();
        return true;
      },
      [x](bool) {
        std::lock_guard lock(x->mu);
        x->cancelled = true;  // the client is gone or the stream ended: stop reading upstream
      });
}

/// The direct path's stream: read on this (the client's) thread as the client takes it; a quiet
/// upstream is checked on every second so a client that left is noticed.
void stream_call(std::unique_ptr<UpstreamCall> call, std::chrono::seconds read_timeout,
                 httplib::Response& res) {
  const std::string content_type = call->headers().find("Content-Type")->second;
  std::shared_ptr<UpstreamCall> shared(std::move(call));
  res.set_chunked_content_provider(content_type,
                                   [shared, read_timeout](size_t, httplib::DataSink& sink) {
                                     std::string chunk;
                                     auto quiet = std::chrono::seconds(0);
                                     while (chunk.empty() && !shared->finished()) {
                                       if (!shared->read_some(chunk, std::chrono::seconds(1)).ok())
                                         return false;
                                       if (!chunk.empty() || shared->finished()) break;
                                       quiet += std::chrono::seconds(1);
                                       if (!sink.is_writable() || quiet >= read_timeout)
                                         return false;
                                     }
                                     if (!chunk.empty() && !sink.write(chunk.data(), chunk.size()))
                                       return false;
                                     if (shared->finished()) sink.done();
                                     return true;
                                   });
}

bool is_plain_http(const Upstream& upstream) {
  return upstream.origin.rfind("http://", 0) == 0;
}

bool forward_direct(ShimContext& context, const ForwardRequest& request, httplib::Response& res,
                    const std::string& error_id) {
  auto call = UpstreamCall::start(*request.upstream, request.method, request.headers, request.body,
                                  request.read_timeout);
  if (!call.ok()) {
    answer_unavailable(context, res, error_id, call.error().message);
    return false;
  }
  res.status = (*call)->status();
  copy_response_headers((*call)->headers(), res);
  if (is_event_stream((*call)->headers())) {
    stream_call(std::move(call).value(), request.read_timeout, res);
    return true;
  }
  auto body = (*call)->read_all();
  if (!body.ok()) {
    answer_unavailable(context, res, error_id, body.error().message);
    return false;
  }
  const auto type = (*call)->headers().find("Content-Type");
  if (type != (*call)->headers().end()) {
    res.set_content(std::move(*body), type->second);
  } else if (!body->empty()) {
    res.set_content(std::move(*body), "application/json");
  }
  return true;
}

Result<UpstreamReply> forward_buffered_direct(ShimContext& context, const ForwardRequest& request) {
  auto call = UpstreamCall::start(*request.upstream, request.method, request.headers, request.body,
                                  request.read_timeout);
  Result<std::string> body = call.ok() ? (*call)->read_all() : Result<std::string>(call.error());
  if (!body.ok()) {
    context.metrics.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(ErrorCode::kUnavailable, "upstream unavailable: " + body.error().message);
  }
  return UpstreamReply{(*call)->status(), (*call)->headers(), std::move(body).value()};
}

}  // namespace

std::string jsonrpc_error(const std::string& id_json, int code, const std::string& message) {
  nlohmann::json error = {{"code", code}, {"message", message}};
  return R"({"jsonrpc":"2.0","id":)" + id_json + R"(,"error":)" + error.dump() + "}";
}

namespace {}  // namespace

httplib::Headers forwardable_request_headers(const httplib::Request& req) {
  // One pass over the request's headers (a lookup per name was two case-insensitive searches of
  // the header map each, 16 per forwarded call). Named headers keep their first value under the
  // spelling below, as get_header_value gave them.
  static constexpr std::string_view kNames[] = {
      "Mcp-Session-Id", "MCP-Protocol-Version", "Accept",     "Content-Type",
      "Last-Event-ID",  "Authorization",        "Mcp-Method", "Mcp-Name"};
  // Mcp-Param-*: tool arguments a server's schema asks to mirror in headers (2026-07-28).
  constexpr std::string_view kParam = "mcp-param-";
  httplib::Headers out;
  bool taken[std::size(kNames)] = {};
  for (const auto& [name, value] : req.headers) {
    if (name.size() > kParam.size() &&
        equals_ignoring_case(std::string_view(name).substr(0, kParam.size()), kParam)) {
      out.emplace(name, value);
      continue;
    }
    for (std::size_t i = 0; i < std::size(kNames); ++i) {
      if (!taken[i] && equals_ignoring_case(name, kNames[i])) {
        out.emplace(std::string(kNames[i]), value);
        taken[i] = true;
        break;
      }
    }
  }
  return out;
}

bool forward_to_upstream(ShimContext& context, const ForwardRequest& request,
                         httplib::Response& res, const std::string& error_id) {
  if (is_plain_http(*request.upstream)) return forward_direct(context, request, res, error_id);
  auto x = start_exchange(request);
  std::unique_lock lock(x->mu);
  x->cv.wait(lock, [&] { return x->headers_ready || x->done; });
  if (!x->headers_ready) {
    answer_unavailable(context, res, error_id, x->error);
    return false;
  }
  res.status = x->status;
  copy_response_headers(x->headers, res);
  if (is_event_stream(x->headers)) {
    lock.unlock();
    stream_response(x, res);
    return true;
  }
  x->cv.wait(lock, [&] { return x->done; });
  if (x->failed) {
    answer_unavailable(context, res, error_id, x->error);
    return false;
  }
  auto type = x->headers.find("Content-Type");
  if (type != x->headers.end()) {
    res.set_content(x->pending, type->second);
  } else if (!x->pending.empty()) {
    res.set_content(x->pending, "application/json");
  }
  return true;
}

Result<UpstreamReply> forward_buffered(ShimContext& context, const ForwardRequest& request) {
  if (is_plain_http(*request.upstream)) return forward_buffered_direct(context, request);
  auto client = pool().acquire(*request.upstream);
  client->set_read_timeout(request.read_timeout.count(), 0);
  httplib::Request req;
  req.method = request.method;
  req.path = request.upstream->path;
  req.headers = request.headers;
  req.body = request.body;
  auto result = client->send(req);
  if (!result) {
    context.metrics.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(ErrorCode::kUnavailable,
                      "upstream unavailable: " + httplib::to_string(result.error()));
  }
  UpstreamReply reply{result->status, result->headers, result->body};
  pool().release(*request.upstream, std::move(client));
  return reply;
}

}  // namespace stepgate
