// What the shim forwards of a client's request: the MCP headers (first value, canonical
// spelling) and every Mcp-Param-* header, nothing else.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "shim_upstream.h"

namespace stepgate {

TEST_CASE("forwardable_request_headers keeps the MCP headers and Mcp-Param-*, nothing else") {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  struct Case {
    const char* name;
    Pairs request;
    Pairs forwarded;  // in the header map's (case-insensitive) order
  };
  const std::vector<Case> cases = {
      {"none", {{"Host", "127.0.0.1"}, {"User-Agent", "x"}}, {}},
      {"canonical spelling, first value",
       {{"accept", "a"}, {"ACCEPT", "b"}, {"mcp-session-id", "s"}, {"Host", "h"}},
       {{"Accept", "a"}, {"Mcp-Session-Id", "s"}}},
      {"every named header",
       {{"Mcp-Session-Id", "1"},
        {"mcp-protocol-version", "2025-06-18"},
        {"Accept", "application/json"},
        {"Content-Type", "application/json"},
        {"last-event-id", "7"},
        {"authorization", "Bearer t"},
        {"MCP-METHOD", "tools/call"},
        {"Mcp-Name", "echo"},
        {"Cookie", "no"}},
       {{"Accept", "application/json"},
        {"Authorization", "Bearer t"},
        {"Content-Type", "application/json"},
        {"Last-Event-ID", "7"},
        {"Mcp-Method", "tools/call"},
        {"Mcp-Name", "echo"},
        {"MCP-Protocol-Version", "2025-06-18"},
        {"Mcp-Session-Id", "1"}}},
      {"Mcp-Param-* under its own name, every value",
       {{"Mcp-Param-Region", "eu"},
        {"mcp-param-x", "1"},
        {"mcp-param-x", "2"},
        {"MCP-PARAM-", "bare prefix"},
        {"Mcp-Paramx", "no"}},
       {{"Mcp-Param-Region", "eu"}, {"mcp-param-x", "1"}, {"mcp-param-x", "2"}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    httplib::Request req;
    for (const auto& [name, value] : c.request) req.headers.emplace(name, value);
    const httplib::Headers out = forwardable_request_headers(req);
    CHECK(Pairs(out.begin(), out.end()) == c.forwarded);
  }
}

}  // namespace stepgate
