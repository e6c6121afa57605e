#pragma once
// Forwarding to an MCP upstream: keep-alive connections (pooled per thread for http://), and
// responses passed back to the client as they arrive (event streams) or whole (JSON).

#include <httplib.h>

#include <chrono>
#include <string>

#include "shim.h"

namespace stepgate {

struct ForwardRequest {
  const Upstream* upstream = nullptr;
  std::string method;        // POST, GET, DELETE
  httplib::Headers headers;  // already filtered (forwardable request headers)
  std::string body;
  std::chrono::seconds read_timeout{300};
};

/// A whole upstream response.
struct UpstreamReply {
  int status = 0;
  httplib::Headers headers;
  std::string body;
};

/// The request headers an MCP client sends that the upstream must see.
httplib::Headers forwardable_request_headers(const httplib::Request& req);

/// Forwards and fills `res`: status and MCP headers passed through, an event stream streamed as
/// it arrives, anything else buffered. An unreachable upstream gives HTTP 502 with a JSON-RPC
/// error (id `error_id`, a JSON text such as "null" or "7"). Returns false when unreachable.
bool forward_to_upstream(ShimContext& context, const ForwardRequest& request,
                         httplib::Response& res, const std::string& error_id);

/// Forwards and reads the whole response (event streams included). kUnavailable when unreachable.
Result<UpstreamReply> forward_buffered(ShimContext& context, const ForwardRequest& request);

/// {"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MESSAGE}} with `id_json` as raw JSON.
std::string jsonrpc_error(const std::string& id_json, int code, const std::string& message);

}  // namespace stepgate
