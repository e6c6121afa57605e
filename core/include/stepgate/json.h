#pragma once
/// JSON text <-> Value, with size and depth limits, and the canonical form used for digests.

#include <cstddef>
#include <string>
#include <string_view>

#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// Limits applied while parsing untrusted JSON.
struct JsonLimits {
  std::size_t max_bytes = std::size_t{16} * 1024 * 1024;  // 16 MiB
  int max_depth = 64;
};

/// Parses JSON text. Errors (kInvalidArgument or kResourceExhausted) name line:column or the limit.
Result<Value> parse_json(std::string_view text, const JsonLimits& limits = {});

/// Compact JSON, map keys sorted (Value::Map is ordered), no insignificant whitespace:
/// the canonical form. Doubles that hold integers print without a fraction.
std::string to_json(const Value& value);

/// Appends to_json(value) to out.
void append_json(std::string& out, const Value& value);

/// Appends s as a JSON string (quoted and escaped; invalid UTF-8 replaced by U+FFFD), the bytes
/// to_json(Value(s)) makes, without copying s into a Value.
void append_json_string(std::string& out, std::string_view s);

/// Indented JSON for people.
std::string to_pretty_json(const Value& value);

}  // namespace stepgate
