// Parses arbitrary bytes as JSON; whatever parses must print canonically and re-parse to an
// equal value with the same canonical text, and parse_json's fast path must give the answer of
// nlohmann's parser (parse_json_reference): the same acceptance, canonical text and error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "json_internal.h"
#include "stepgate/json.h"
#include "stepgate/limits.h"

namespace {

// The canonical text prints an integral double as an integer: compare the types as well.
bool same_types(const stepgate::Value& a, const stepgate::Value& b) {
  if (a.type() != b.type()) return false;
  if (a.is_list()) {
    for (std::size_t i = 0; i < a.as_list().size(); ++i) {
      if (!same_types(a.as_list()[i], b.as_list()[i])) return false;
    }
  }
  if (a.is_map()) {
    auto j = b.as_map().begin();
    for (const auto& [k, item] : a.as_map()) {
      if (!same_types(item, j->second)) return false;
      ++j;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  stepgate::Result<stepgate::Value> v = stepgate::parse_json(text);
  const stepgate::Result<stepgate::Value> reference = stepgate::parse_json_reference(text);
  if (v.ok() != reference.ok()) std::abort();
  if (!v.ok() && v.error().message != reference.error().message) std::abort();
  if (v.ok() &&
      (stepgate::to_json(*v) != stepgate::to_json(*reference) || !same_types(*v, *reference)))
    std::abort();
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
