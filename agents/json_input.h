#pragma once
// JSON from outside (an HTTP body, a line from an MCP peer) parsed with nlohmann under the one
// nesting limit. nlohmann parses deep input without recursion, but its copy, compare and dump
// recurse (and so does any walk of the value), so a 50,000-deep array that parsed fine would
// overflow the stack a moment later.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "stepgate/limits.h"

namespace stepgate {

/// The JSON value of `text`, or a discarded value when it is not JSON or nests deeper than
/// kMaxNestingDepth; `why` (when given) then says which, naming the limit.
inline nlohmann::json parse_outside_json(std::string_view text, std::string* why = nullptr) {
  if (Status depth = check_json_nesting(text); !depth.ok()) {
    if (why != nullptr) *why = depth.error().message;
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() && why != nullptr) *why = "the body is not JSON";
  return j;
}

}  // namespace stepgate
