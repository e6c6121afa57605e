#pragma once
/// The nesting and expansion limits for YAML from outside (policies, manifests), checked before
/// anything builds or expands the document.

#include <string>
#include <string_view>

#include "stepgate/result.h"

namespace stepgate {

/// Streams the first YAML document in `text` once, without building it, and checks that it
/// nests no deeper than kMaxNestingDepth and expands to at most kMaxYamlNodes nodes, each alias
/// counted at the size (and depth) of what its anchor names. `file` prefixes the messages.
/// kResourceExhausted "FILE:LINE:COL: ..." naming the limit; kInvalidArgument
/// "FILE:LINE:COL: ..." for text that is not YAML.
Status check_yaml_limits(std::string_view text, const std::string& file);

}  // namespace stepgate
