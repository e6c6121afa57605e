// Checking the MCP routing headers against the JSON-RPC body they mirror.
#include "mcp_headers.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "stepgate/crypto.h"

namespace stepgate {
namespace {

using nlohmann::json;

constexpr std::string_view kBase64Prefix = "=?base64?";
constexpr std::string_view kBase64Suffix = "?=";

/// The body field that Mcp-Name mirrors for `method`: params.name or params.uri.
const char* name_field(const std::string& method) {
  static constexpr std::array<std::string_view, 2> kByName = {"tools/call", "prompts/get"};
  static constexpr std::array<std::string_view, 3> kByUri = {
      "resources/read", "resources/subscribe", "resources/unsubscribe"};
  if (std::find(kByName.begin(), kByName.end(), method) != kByName.end()) return "name";
  if (std::find(kByUri.begin(), kByUri.end(), method) != kByUri.end()) return "uri";
  return nullptr;
}

/// What Mcp-Name should say for this message, or nullopt when the message names nothing.
std::optional<std::string> body_name(const json& message, const std::string& method) {
  auto params = message.find("params");
  if (params == message.end() || !params->is_object()) return std::nullopt;
  // Methods the spec does not list: whichever of name/uri the message carries.
  const char* field = name_field(method);
  for (const char* key : {"name", "uri"}) {
    if (field != nullptr && std::string_view(key) != field) continue;
    auto value = params->find(key);
    if (value != params->end() && value->is_string()) return value->get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> name_mismatch(const json& body, const std::string& method,
                                         const std::string& header) {
  std::optional<std::string> decoded = decode_header_value(header);
  if (!decoded) return "the Mcp-Name header is not valid =?base64?...?= text";
  std::optional<std::string> expected = body_name(body, method);
  if (!expected) return "the Mcp-Name header names `" + *decoded + "` but the body names nothing";
  if (*expected != *decoded) {
    return "the Mcp-Name header `" + *decoded + "` does not match the body's `" + *expected + "`";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> decode_header_value(const std::string& value) {
  const std::string_view v(value);
  const std::size_t wrapper = kBase64Prefix.size() + kBase64Suffix.size();
  if (v.size() < wrapper || v.substr(0, kBase64Prefix.size()) != kBase64Prefix ||
      v.substr(v.size() - kBase64Suffix.size()) != kBase64Suffix) {
    return value;
  }
  // Standard base64 with padding; the core decoder speaks base64url without it.
  std::string text(v.substr(kBase64Prefix.size(), v.size() - wrapper));
  while (!text.empty() && text.back() == '=') text.pop_back();
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  Result<Bytes> bytes = base64url_decode(text);
  if (!bytes.ok()) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

std::optional<std::string> routing_header_mismatch(const json& body,
                                                   const RoutingHeaders& headers) {
  if (!headers.method && !headers.name) return std::nullopt;
  if (!body.is_object()) return "Mcp-Method and Mcp-Name describe one message, not a batch";
  auto method_it = body.find("method");
  const std::string method =
      method_it != body.end() && method_it->is_string() ? method_it->get<std::string>() : "";
  if (headers.method && *headers.method != method) {
    return "the Mcp-Method header `" + *headers.method + "` does not match the body's method `" +
           method + "`";
  }
  if (headers.name) return name_mismatch(body, method, *headers.name);
  return std::nullopt;
}

}  // namespace stepgate
