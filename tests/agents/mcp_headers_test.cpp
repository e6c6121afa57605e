#include "mcp_headers.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace stepgate {
namespace {

using nlohmann::json;

struct HeaderCase {
  const char* what;
  const char* body;
  std::optional<std::string> method;
  std::optional<std::string> name;
  const char* mismatch;  // a piece of the reason, or nullptr when the headers agree
};

const char* const kCall =
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
const char* const kRead =
    R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a","name":"x"}})";
const char* const kList = R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})";

}  // namespace

TEST_CASE("routing headers are checked against the body they mirror") {
  const HeaderCase cases[] = {
      {"no headers", kCall, std::nullopt, std::nullopt, nullptr},
      {"both agree", kCall, "tools/call", "echo", nullptr},
      {"method only", kCall, "tools/call", std::nullopt, nullptr},
      {"name only", kCall, std::nullopt, "echo", nullptr},
      {"other method", kCall, "tools/list", "echo", "Mcp-Method"},
      {"other tool", kCall, "tools/call", "get-env", "Mcp-Name"},
      {"resource by uri", kRead, "resources/read", "file:///a", nullptr},
      {"resource by name is wrong", kRead, "resources/read", "x", "Mcp-Name"},
      {"list names nothing", kList, "tools/list", "echo", "names nothing"},
      {"list without a name", kList, "tools/list", std::nullopt, nullptr},
      {"base64 name", kCall, "tools/call", "=?base64?ZWNobw==?=", nullptr},
      {"base64 other name", kCall, "tools/call", "=?base64?Z2V0LWVudg==?=", "get-env"},
      {"broken base64", kCall, "tools/call", "=?base64?***?=", "base64"},
      {"batch", R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])", "ping", std::nullopt, "batch"},
      {"a response", R"({"jsonrpc":"2.0","id":1,"result":{}})", "ping", std::nullopt, "Mcp-Method"},
  };
  for (const HeaderCase& c : cases) {
    CAPTURE(c.what);
    std::optional<std::string> why =
        routing_header_mismatch(json::parse(c.body), {c.method, c.name});
    if (c.mismatch == nullptr) {
      CHECK_FALSE(why.has_value());
    } else {
      REQUIRE(why.has_value());
      CHECK(why->find(c.mismatch) != std::string::npos);
    }
  }
}

TEST_CASE("header values in the =?base64?...?= form are decoded") {
  CHECK(decode_header_value("echo") == "echo");
  CHECK(decode_header_value("=?base64?w6ljaG8=?=") ==
        "\xC3\xA9"
        "cho");
  CHECK(decode_header_value("=?base64?"
                            "?=")
            .value_or("x")
            .empty());  // split: no trigraph
  CHECK(decode_header_value("=?base64?ab/+?=").has_value());
  CHECK_FALSE(decode_header_value("=?base64?not base64?=").has_value());
  CHECK(decode_header_value("=?base64?") == "=?base64?");  // too short to be the encoded form
}

}  // namespace stepgate
