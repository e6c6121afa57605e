// Parses arbitrary bytes as JSON; whatever parses must print canonically and re-parse to an
// equal value with the same canonical text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "stepgate/json.h"
#include "stepgate/limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  stepgate::Result<stepgate::Value> v = stepgate::parse_json(text);
  // The front-ends' pre-parse check and the core parser hold JSON to the same nesting limit.
  if (!v.ok()) {
    // Input this small can pass no size limit: kResourceExhausted is the nesting limit.
    if (v.error().code == stepgate::ErrorCode::kResourceExhausted &&
        stepgate::check_json_nesting(text).ok())
      std::abort();
    return 0;
  }
  if (!stepgate::check_json_nesting(text).ok()) std::abort();
  std::string canonical = stepgate::to_json(*v);
  stepgate::Result<stepgate::Value> again = stepgate::parse_json(canonical);
  if (!again.ok()) std::abort();  // the canonical form must always parse
  if (stepgate::to_json(*again) != canonical) std::abort();
  stepgate::Result<stepgate::Value> pretty = stepgate::parse_json(stepgate::to_pretty_json(*v));
  if (!pretty.ok() || stepgate::to_json(*pretty) != canonical) std::abort();
  return 0;
}
