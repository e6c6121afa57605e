#pragma once
/// The limits every parser of outside bytes (JSON, YAML, hook wire format, challenges, grants,
/// audit lines) holds its input to, in one place so that no parser picks its own.

#include <cstddef>
#include <string_view>

#include "stepgate/result.h"

namespace stepgate {

/// The deepest nesting of lists and maps (JSON arrays/objects, YAML sequences/maps) accepted
/// from outside. Far above any real MCP call, policy or manifest, far below what a recursive
/// walk of the parsed value could not survive on a thread's stack. JsonLimits' default.
inline constexpr int kMaxNestingDepth = 64;

/// The most nodes one YAML document may expand to, each alias counted at the size of what it
/// names: a few-kilobyte file of nested anchors can otherwise expand to gigabytes.
inline constexpr std::size_t kMaxYamlNodes = 100000;

/// Checks that JSON text nests no deeper than `max_depth` arrays/objects, in one pass with no
/// recursion and nothing built: for front-ends that hand outside JSON to a parser of their own
/// (nlohmann's copy, compare and dump recurse). Does not validate the rest of the syntax.
/// kResourceExhausted naming the limit and the byte offset where it was passed.
Status check_json_nesting(std::string_view text, int max_depth = kMaxNestingDepth);

}  // namespace stepgate
