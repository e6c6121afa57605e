#pragma once
// The shipped policy packs (policies/*.yaml), compiled into the binary so `stepgate init` and
// `stepgate demo` work without the source tree. Generated at configure time from policies/.

#include <string>
#include <string_view>
#include <vector>

namespace stepgate {

/// Names of the embedded packs ("git", "model-deploy", "agent-tools"), sorted.
std::vector<std::string> embedded_pack_names();

/// The YAML text of a pack, or "" when there is no such pack.
std::string_view embedded_pack(std::string_view name);

/// The pack's test cases (policies/tests/NAME.yaml), or "" when it has none.
std::string_view embedded_pack_tests(std::string_view name);

}  // namespace stepgate
