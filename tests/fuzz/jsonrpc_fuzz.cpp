// A JSON-RPC body as the shim and the stdio wrapper receive it: parsed under the nesting limit
// (parse_outside_json), then copied, compared, dumped and checked against routing headers the
// way the front-ends do. Whatever the limit lets through must survive every recursive walk.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "json_input.h"
#include "mcp_headers.h"
#include "stepgate/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string why;
  nlohmann::json j = stepgate::parse_outside_json(body, &why);
  const bool nested_ok = stepgate::check_json_nesting(body).ok();
  if (j.is_discarded()) {
    if (why.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  if (!nested_ok) std::abort();  // the limit was not applied
  const nlohmann::json copy = j;
  if (copy != j) std::abort();
  const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)stepgate::routing_header_mismatch(j, {std::string("tools/call"), std::string("echo")});
  (void)stepgate::routing_header_mismatch(j, {});
  // What the gate sees of the arguments goes through the core parser, under the same limit.
  if (j.is_object() && j.contains("params") && j["params"].is_object()) {
    auto args = j["params"].find("arguments");
    if (args != j["params"].end()) {
      auto value = stepgate::parse_json(
          args->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      if (!value.ok() && value.error().code == stepgate::ErrorCode::kResourceExhausted)
        std::abort();  // nested arguments inside an accepted body cannot pass the limit
    }
  }
  return 0;
}
