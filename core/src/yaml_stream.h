#pragma once
// Private to core: YAML read as a stream of parser events under the limits of
// check_yaml_limits (stepgate/yaml_limits.h), for a reader that builds its own tree in the same
// single pass (the policy loader) instead of checking first and loading again.

#include <string>
#include <string_view>

#include "stepgate/result.h"

namespace YAML {
class EventHandler;
}

namespace stepgate {

/// Parses the first document of `text` and hands each event, once it is within the limits, to
/// `next` (none when null). Stops at the first limit passed or syntax error, with the errors of
/// check_yaml_limits ("FILE:LINE:COL: ..."); `next` has then seen only part of the document.
Status stream_yaml_limited(std::string_view text, const std::string& file,
                           YAML::EventHandler* next);

}  // namespace stepgate
