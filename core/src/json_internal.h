#pragma once
/// parse_json's reference path, for tests that hold its fast path to the same answers.

#include <string_view>

#include "stepgate/json.h"

namespace stepgate {

/// parse_json with nlohmann's parser alone: the answer parse_json must give for any text.
Result<Value> parse_json_reference(std::string_view text, const JsonLimits& limits = {});

}  // namespace stepgate
