#pragma once
// The MCP routing headers (Mcp-Method, Mcp-Name; protocol 2026-07-28, SEP-2243): a client mirrors
// the body's method and tool/prompt name or resource URI into headers so gateways can route and
// rate-limit without reading the body. The shim gates the body; a hop that routes or authorizes on
// the headers must see the same call, so a request whose headers disagree with its body is
// refused before anything is forwarded.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace stepgate {

/// A header value as it arrived, or nullopt when the request did not carry it.
struct RoutingHeaders {
  std::optional<std::string> method;  // Mcp-Method
  std::optional<std::string> name;    // Mcp-Name (may use the "=?base64?...?=" form)
};

/// Why the headers disagree with `body` (a parsed JSON-RPC message or batch), or nullopt when
/// they agree or are absent. Headers describe one message, so a batch with either is refused.
std::optional<std::string> routing_header_mismatch(const nlohmann::json& body,
                                                   const RoutingHeaders& headers);

/// The value of a header that may carry "=?base64?BASE64?=" (for non-ASCII values); nullopt when
/// that form is malformed.
std::optional<std::string> decode_header_value(const std::string& value);

}  // namespace stepgate
