// Loads arbitrary bytes as a policy (YAML or JSON). Errors are fine; crashes, hangs and
// sanitizer reports are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stepgate/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = stepgate::load_policy_text(text, "fuzz.yaml");
  (void)policy;
  return 0;
}
