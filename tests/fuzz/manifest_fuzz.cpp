// A deployment manifest (YAML or JSON) as `ci gate --manifest` reads it from the repository:
// parse_manifest, then the action it builds. Errors are fine; crashes, hangs and runaway memory
// (an alias bomb) are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = stepgate::ci::parse_manifest(text, "fuzz.yaml");
  if (!manifest.ok()) return 0;
  (void)stepgate::ci::manifest_resource(*manifest);
  (void)stepgate::ci::manifest_action(*manifest, "alice", stepgate::Value(stepgate::Map{}));
  return 0;
}
